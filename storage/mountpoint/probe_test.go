package mountpoint

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/ezdfsd/ezdfsd/storage"
)

// TestRootReasons: New and Ping (the readiness probe) name what is wrong with the mount point
// in operator terms, and wrap ErrRoot and storage.ErrUnavailable.
func TestRootReasons(t *testing.T) {
	ctx := context.Background()
	check := func(t *testing.T, what string, err error, want string) {
		t.Helper()
		if err == nil || !strings.HasPrefix(err.Error(), want) || !errors.Is(err, ErrRoot) || !errors.Is(err, storage.ErrUnavailable) {
			t.Errorf("%s = %v, want %q... wrapping ErrRoot and ErrUnavailable", what, err, want)
		}
	}
	base := t.TempDir()
	missing := filepath.Join(base, "missing")
	_, err := New(missing)
	check(t, "New(missing)", err, "mount point "+missing+" does not exist")
	file := filepath.Join(base, "file")
	writeFile(t, file, []byte("x"))
	_, err = New(file)
	check(t, "New(file)", err, "mount point "+file+" is not a directory")

	root := filepath.Join(base, "root")
	if err := os.Mkdir(root, 0o755); err != nil {
		t.Fatal(err)
	}
	m := newMP(t, root, false)
	if err := m.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	// The NFS share unmounted and its mount point directory removed.
	if err := os.Remove(root); err != nil {
		t.Fatal(err)
	}
	check(t, "Ping after the directory was removed", m.Ping(ctx), "mount point "+root+" does not exist")
	// A file where the directory was.
	writeFile(t, root, []byte("x"))
	check(t, "Ping with a file at the root path", m.Ping(ctx), "mount point "+root+" is not a directory")
}

// TestRootUnreadable: a mount point the daemon's user cannot read is reported as such by New
// and Ping. Root reads everything, so under root the check runs in a copy of this test binary
// started as nobody (uid 65534).
func TestRootUnreadable(t *testing.T) {
	if dir := os.Getenv("EZDFSD_MOUNTPOINT_HELPER"); dir != "" {
		m, err := New(dir)
		if err == nil {
			err = m.Ping(context.Background())
		}
		fmt.Printf("errors.Is(ErrRoot)=%v\n%v\n", errors.Is(err, ErrRoot), err)
		return
	}
	base, err := os.MkdirTemp("", "ezdfsd-unreadable-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	if err := os.Chmod(base, 0o755); err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(base, "root")
	if err := os.Mkdir(root, 0o700); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() != 0 {
		if err := os.Chmod(root, 0o100); err != nil { // searchable, not readable
			t.Fatal(err)
		}
		m := newMP(t, root, false)
		err := m.Ping(context.Background())
		if !errors.Is(err, ErrRoot) || !strings.HasPrefix(err.Error(), "mount point "+root+" is not readable by this process") {
			t.Fatalf("Ping of an unreadable root = %v", err)
		}
		return
	}
	// Root: run a copy of the test binary, readable by nobody, as nobody.
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(base, "mountpoint.test")
	copyFile(t, self, bin)
	cmd := exec.Command(bin, "-test.run=^TestRootUnreadable$", "-test.count=1")
	cmd.Env = []string{"EZDFSD_MOUNTPOINT_HELPER=" + root, "PATH=/usr/bin:/bin"}
	cmd.Dir = base
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("helper as nobody: %v\n%s", err, out)
	}
	want := "mount point " + root + " is not readable by this process (uid 65534)"
	if !strings.Contains(string(out), "errors.Is(ErrRoot)=true\n"+want) {
		t.Fatalf("helper output:\n%s\nwant %q", out, want)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	src, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
}
