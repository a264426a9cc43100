package walk

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"strings"
	"time"
)

// File is one regular file below a mount point.
type File struct {
	// Name is the cluster name: the path relative to the mount point, with slashes.
	Name string
	// Temp reports a temporary file of a write (see IsTemp).
	Temp bool

	entry fs.DirEntry
}

// Info returns the file's size and modification time, with one lstat: the walk itself only
// reads directories, which on a million files is the difference between minutes and seconds.
func (f File) Info() (size int64, modTime time.Time, err error) {
	info, err := f.entry.Info()
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("walk mount point: %s: %w", f.Name, err)
	}
	return info.Size(), info.ModTime(), nil
}

// IsTemp reports whether name is a temporary file of a write, complete or interrupted: eZ's
// leftovers end in ".tmp" (EZP-23254), ezdfsd's own mount point writes use
// ".<base>.ezdfsd-tmp-<hex>".
func IsTemp(name string) bool {
	base := path.Base(name)
	return strings.HasSuffix(base, ".tmp") || strings.Contains(base, ".ezdfsd-tmp-")
}

// Files calls fn for every regular file below root whose cluster name starts with prefix
// ("" for all), in lexical order, descending only into the directories that can hold such
// names. Symbolic links are reported neither as files nor followed. A directory that vanishes
// during the walk (a purge removing it) is skipped; other errors stop the walk. Memory is
// bounded by the largest directory, not by the tree.
func Files(ctx context.Context, root, prefix string, fn func(File) error) error {
	start := "."
	if i := strings.LastIndexByte(prefix, '/'); i >= 0 {
		start = prefix[:i]
	}
	fsys := os.DirFS(root)
	err := fs.WalkDir(fsys, start, func(p string, d fs.DirEntry, err error) error {
		if cerr := ctx.Err(); cerr != nil {
			return cerr
		}
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if d.IsDir() {
			// Descend only where a name with the prefix can be.
			if p != "." && prefix != "" && !strings.HasPrefix(p+"/", prefix) && !strings.HasPrefix(prefix, p+"/") {
				return fs.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() || !strings.HasPrefix(p, prefix) {
			return nil
		}
		return fn(File{Name: p, Temp: IsTemp(p), entry: d})
	})
	if err != nil {
		return fmt.Errorf("walk mount point %s: %w", root, err)
	}
	return nil
}
