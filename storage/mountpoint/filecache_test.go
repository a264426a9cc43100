package mountpoint

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"golang.org/x/sys/unix"

	"github.com/ezdfsd/ezdfsd/storage"
	"github.com/ezdfsd/ezdfsd/storage/storagetest"
)

// reusing is a mount point on root that reuses descriptors for a minute, with a clock the test
// moves (*now).
func reusing(t *testing.T, root string, fallback bool) (*MountPoint, *time.Time) {
	t.Helper()
	m := newMP(t, root, fallback)
	m.ReuseOpenFiles(time.Minute)
	now := time.Now()
	m.files.now = func() time.Time { return now }
	return m, &now
}

// read opens name and reads it whole through Range, as the handler does, and closes it; it
// returns the bytes and the descriptor that served them.
func read(t *testing.T, m *MountPoint, name string) ([]byte, *os.File, error) {
	t.Helper()
	ctx := context.Background()
	obj, err := m.Open(ctx, name)
	if err != nil {
		return nil, nil, err
	}
	defer obj.Close()
	r, err := obj.Range(ctx, 0, obj.Size())
	if err != nil {
		return nil, nil, err
	}
	b, err := io.ReadAll(r)
	return b, obj.(*object).f, err
}

func TestReuseConformance(t *testing.T) {
	modes(t, func(t *testing.T, fallback bool) {
		root := t.TempDir()
		m, _ := reusing(t, root, fallback)
		storagetest.TestBackend(t, m, func(t *testing.T, name string, data []byte) {
			t.Helper()
			writeFile(t, filepath.Join(root, name), data)
		})
	})
}

// TestReuse follows one name through the changes eZ and operators make to files, and checks
// after each that the bytes served are the file's bytes now, and whether the descriptor was
// reused.
func TestReuse(t *testing.T) {
	modes(t, func(t *testing.T, fallback bool) {
		root := t.TempDir()
		name := "var/site/storage/images/a/x.jpg"
		path := filepath.Join(root, name)
		m, now := reusing(t, root, fallback)
		writeFile(t, path, []byte("version 1"))

		const (
			no = iota
			yes
			either // the same inode: whether its times moved depends on the clock's granularity
		)
		check := func(step string, want string, reused int, prev *os.File) *os.File {
			t.Helper()
			got, f, err := read(t, m, name)
			if err != nil || string(got) != want {
				t.Fatalf("%s: read %q, %v; want %q", step, got, err, want)
			}
			if reused != either && (f == prev) != (reused == yes) {
				t.Errorf("%s: descriptor reused = %v, want %v", step, f == prev, reused == yes)
			}
			return f
		}
		f := check("first read", "version 1", no, nil)
		f = check("second read (from the start again)", "version 1", yes, f)

		// eZ stores a new version beside the file and renames it over the old one.
		writeFile(t, path+".tmp", []byte("version 2, longer"))
		if err := os.Rename(path+".tmp", path); err != nil {
			t.Fatal(err)
		}
		f = check("after a rename over it", "version 2, longer", no, f)

		// Rewritten in place with bytes of the same length: the same inode, read anew.
		if err := os.WriteFile(path, []byte("VERSION 2, LONGER"), 0o644); err != nil {
			t.Fatal(err)
		}
		f = check("after a rewrite in place", "VERSION 2, LONGER", either, f)

		// Truncated and rewritten shorter: size and times differ, so it is opened again.
		if err := os.WriteFile(path, []byte("v3"), 0o644); err != nil {
			t.Fatal(err)
		}
		f = check("after a shorter rewrite", "v3", no, f)

		*now = now.Add(time.Minute)
		f = check("a minute later", "v3", no, f)
		check("and just after", "v3", yes, f)

		if err := os.Remove(path); err != nil {
			t.Fatal(err)
		}
		if _, _, err := read(t, m, name); !errors.Is(err, storage.ErrNotExist) {
			t.Fatalf("after removal: %v, want storage.ErrNotExist", err)
		}
		if n := m.files.idleCount(); n != 0 {
			t.Errorf("%d descriptors still kept for the removed file", n)
		}
	})
}

// TestReuseNeverLeavesTheRoot: a directory on the path of a served (and kept) file is replaced
// by a symlink to a directory outside the root holding a file of the same name; the next
// request must not serve the outside file, from the kept descriptor or a new one.
func TestReuseNeverLeavesTheRoot(t *testing.T) {
	modes(t, func(t *testing.T, fallback bool) {
		base := t.TempDir()
		root := filepath.Join(base, "root")
		writeFile(t, filepath.Join(root, "var/site/storage/x.jpg"), []byte("inside"))
		writeFile(t, filepath.Join(base, "outside/x.jpg"), []byte("OUTSIDE"))
		m, _ := reusing(t, root, fallback)
		if got, _, err := read(t, m, "var/site/storage/x.jpg"); err != nil || string(got) != "inside" {
			t.Fatalf("read %q, %v", got, err)
		}
		if err := os.Rename(filepath.Join(root, "var/site/storage"), filepath.Join(base, "moved")); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(filepath.Join(base, "outside"), filepath.Join(root, "var/site/storage")); err != nil {
			t.Fatal(err)
		}
		got, _, err := read(t, m, "var/site/storage/x.jpg")
		if bytes.Contains(got, []byte("OUTSIDE")) || !errors.Is(err, storage.ErrNotExist) {
			t.Fatalf("through a symlink out of the root: read %q, %v; want storage.ErrNotExist", got, err)
		}
	})
}

// TestReuseConcurrent: requests of one name at the same time each get a descriptor of their
// own (sendfile moves the offset) and all read the whole file.
func TestReuseConcurrent(t *testing.T) {
	root := t.TempDir()
	data := storagetest.Data(7, 64<<10)
	writeFile(t, filepath.Join(root, "var/x.bin"), data)
	m, _ := reusing(t, root, false)
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				obj, err := m.Open(ctx, "var/x.bin")
				if err != nil {
					errs <- err
					return
				}
				off := int64(i * 100)
				r, err := obj.Range(ctx, off, int64(len(data))-off)
				if err != nil {
					errs <- err
					return
				}
				got, err := io.ReadAll(r)
				obj.Close()
				if err != nil || !bytes.Equal(got, data[off:]) {
					errs <- errors.New("a concurrent reader got other bytes than the file's")
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if n := m.files.idleCount(); n < 1 || n > 8 {
		t.Errorf("%d descriptors kept after 8 concurrent readers, want 1 to 8", n)
	}
}

// TestReuseReleases: descriptors not reused within the age are closed by the sweep, at most
// MaxIdleFiles wait, and Close closes the rest.
func TestReuseReleases(t *testing.T) {
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "var/a.txt"), []byte("a"))
	writeFile(t, filepath.Join(root, "var/b.txt"), []byte("b"))
	m, now := reusing(t, root, false)
	_, fa, _ := read(t, m, "var/a.txt")
	*now = now.Add(30 * time.Second)
	_, fb, _ := read(t, m, "var/b.txt")
	*now = now.Add(40 * time.Second) // a is 70 s old, b 40 s
	m.files.sweep()
	if _, err := fa.Stat(); !errors.Is(err, os.ErrClosed) {
		t.Errorf("the descriptor past its age is still open (%v)", err)
	}
	if _, err := fb.Stat(); err != nil {
		t.Errorf("the young descriptor was closed: %v", err)
	}
	if n := m.files.idleCount(); n != 1 {
		t.Errorf("%d descriptors kept, want 1", n)
	}

	m.files.maxIdle = 5 // the real bound (MaxIdleFiles) could exceed a test runner's descriptor limit
	for i := range m.files.maxIdle + 10 {
		f, err := os.Open(filepath.Join(root, "var/a.txt"))
		if err != nil {
			t.Fatal(err)
		}
		st := statOf(t, f)
		m.files.put("var/a.txt", f, idOfStat(&st), *now)
		if i == m.files.maxIdle+9 {
			if _, err := f.Stat(); !errors.Is(err, os.ErrClosed) {
				t.Errorf("a descriptor beyond the bound was kept")
			}
		}
	}
	if n := m.files.idleCount(); n != m.files.maxIdle {
		t.Errorf("%d descriptors kept, want the bound (%d)", n, m.files.maxIdle)
	}
	m.Close()
	if _, err := fb.Stat(); !errors.Is(err, os.ErrClosed) {
		t.Errorf("Close left a kept descriptor open (%v)", err)
	}
	if n := m.files.idleCount(); n != 0 {
		t.Errorf("%d descriptors kept after Close", n)
	}
}

func statOf(t *testing.T, f *os.File) unix.Stat_t {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		t.Fatal(err)
	}
	return st
}

// TestReuseMetrics: the collectors count new and reused descriptors and the idle ones.
func TestReuseMetrics(t *testing.T) {
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "var/a.txt"), []byte("a"))
	m, _ := reusing(t, root, false)
	reg := prometheus.NewPedanticRegistry()
	for _, c := range m.Collectors() {
		if err := reg.Register(c); err != nil {
			t.Fatal(err)
		}
	}
	for range 3 {
		if _, _, err := read(t, m, "var/a.txt"); err != nil {
			t.Fatal(err)
		}
	}
	want := `
# HELP ezdfsd_mountpoint_files_total Files the mount point opened for requests, by descriptor: opened anew, or reused (open-file-reuse).
# TYPE ezdfsd_mountpoint_files_total counter
ezdfsd_mountpoint_files_total{descriptor="opened"} 1
ezdfsd_mountpoint_files_total{descriptor="reused"} 2
# HELP ezdfsd_mountpoint_idle_descriptors Descriptors of served files kept open for the next request of the same name (open-file-reuse).
# TYPE ezdfsd_mountpoint_idle_descriptors gauge
ezdfsd_mountpoint_idle_descriptors 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
}
