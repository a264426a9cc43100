// Package maint holds the cluster maintenance commands: Purge (what eZ's clusterpurge.php
// should do) and Fsck (rows against bytes, what dfscleanup.php finds and more). They walk the
// tables and the storage with package walk and act on one name at a time.
package maint

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"syscall"

	"github.com/ezdfsd/ezdfsd/dfs"
	"github.com/ezdfsd/ezdfsd/storage"
)

// Bytes is a place where cluster files' bytes live, as the maintenance commands use it: the
// mount point (MountPoint) or a bucket (storage/s3.S3).
type Bytes interface {
	// Stat returns the size of name's bytes, or an error wrapping storage.ErrNotExist.
	Stat(ctx context.Context, name string) (int64, error)
	// Remove removes name's bytes; a name already gone is not an error.
	Remove(ctx context.Context, name string) error
}

// MountPoint is the mount point as Bytes: every access is confined beneath its directory
// (os.Root: no "..", no symbolic link leads out). Remove also removes the directories it
// leaves empty, up to the mount point itself, as eZ's purge does.
type MountPoint struct {
	root *os.Root
}

// OpenMountPoint opens dir as a MountPoint. Close releases it.
func OpenMountPoint(dir string) (*MountPoint, error) {
	r, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("mount point: %w", err)
	}
	return &MountPoint{root: r}, nil
}

// Close releases the mount point's directory.
func (m *MountPoint) Close() error { return m.root.Close() }

// Dir returns the mount point's directory.
func (m *MountPoint) Dir() string { return m.root.Name() }

// Stat returns the size of the regular file name. It is one lstat of the joined path, not a
// walk beneath the root component by component (several system calls per component, which
// made an fsck of a million files several times slower): checkName has refused "..", so only a
// symbolic link inside the mount point could lead out, and a stat only reads a size. A
// symbolic link as the file itself counts as no file.
func (m *MountPoint) Stat(ctx context.Context, name string) (int64, error) {
	if err := checkName(ctx, name); err != nil {
		return 0, fmt.Errorf("mount point: stat %q: %w", name, err)
	}
	fi, err := os.Lstat(filepath.Join(m.root.Name(), filepath.FromSlash(name)))
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return 0, fmt.Errorf("mount point: stat %q: %w", name, storage.ErrNotExist)
	}
	if err != nil {
		return 0, fmt.Errorf("mount point: stat %q: %w: %w", name, storage.ErrUnavailable, err)
	}
	if !fi.Mode().IsRegular() {
		return 0, fmt.Errorf("mount point: stat %q: not a regular file: %w", name, storage.ErrNotExist)
	}
	return fi.Size(), nil
}

// Remove unlinks name, then each parent directory that is left empty, stopping at the first
// one that is not (a concurrent writer's new file keeps its directory).
func (m *MountPoint) Remove(ctx context.Context, name string) error {
	if err := checkName(ctx, name); err != nil {
		return fmt.Errorf("mount point: remove %q: %w", name, err)
	}
	err := m.root.Remove(name)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("mount point: remove %q: %w", name, err)
	}
	for dir := path.Dir(name); dir != "." && dir != "/"; dir = path.Dir(dir) {
		// rmdir fails on a directory that is not empty: exactly the test we want, atomically.
		if m.root.Remove(dir) != nil {
			break
		}
	}
	return nil
}

func checkName(ctx context.Context, name string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return dfs.CheckName(name)
}
