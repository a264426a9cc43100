package mountpoint

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ezdfsd/ezdfsd/dfs"
	"github.com/ezdfsd/ezdfsd/internal/testenv"
	"github.com/ezdfsd/ezdfsd/storage"
	"github.com/ezdfsd/ezdfsd/storage/storagetest"
)

// modes runs f once with openat2 and once with the component-by-component fallback.
func modes(t *testing.T, f func(t *testing.T, fallback bool)) {
	t.Run("openat2", func(t *testing.T) { f(t, false) })
	t.Run("fallback", func(t *testing.T) { f(t, true) })
}

func newMP(t *testing.T, root string, fallback bool) *MountPoint {
	t.Helper()
	m, err := New(root)
	if err != nil {
		t.Fatalf("New(%q): %v", root, err)
	}
	if m.noOpenat2.Load() && !fallback {
		// Not a plain Skip: on CI the openat2 mode is what production runs, so a runner
		// kernel without it must fail the build instead of testing only the fallback.
		testenv.Missing(t, "openat2 (Linux >= 5.6) for the openat2 mode; the fallback mode still runs")
	}
	if fallback {
		m.noOpenat2.Store(true)
	}
	t.Cleanup(func() {
		// The openat2 mode must really have used openat2 to the end: an ENOSYS met on the way
		// silently switches to the fallback walk, and the test would have proved nothing new.
		if !fallback && m.noOpenat2.Load() {
			t.Errorf("the openat2 mode fell back to the component walk (openat2 returned ENOSYS)")
		}
		m.Close()
	})
	return m
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestConformance(t *testing.T) {
	modes(t, func(t *testing.T, fallback bool) {
		root := t.TempDir()
		m := newMP(t, root, fallback)
		storagetest.TestBackend(t, m, func(t *testing.T, name string, data []byte) {
			t.Helper()
			writeFile(t, filepath.Join(root, name), data)
		})
	})
}

// TestConformanceViaPut runs the suite again with objects stored by Put.
func TestConformanceViaPut(t *testing.T) {
	modes(t, func(t *testing.T, fallback bool) {
		m := newMP(t, t.TempDir(), fallback)
		storagetest.TestBackend(t, m, func(t *testing.T, name string, data []byte) {
			t.Helper()
			if err := m.Put(context.Background(), name, bytes.NewReader(data), int64(len(data)), ""); err != nil {
				t.Fatalf("Put(%q): %v", name, err)
			}
		})
	})
}

func TestNew(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	writeFile(t, file, []byte("x"))
	tests := []struct {
		name    string
		root    string
		wantErr bool
	}{
		{"directory", dir, false},
		{"relative", ".", false},
		{"missing", filepath.Join(dir, "nope"), true},
		{"regular file", file, true},
		{"empty", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := New(tt.root)
			if (err != nil) != tt.wantErr {
				t.Fatalf("New(%q) error = %v, want error %v", tt.root, err, tt.wantErr)
			}
			if err == nil {
				if !filepath.IsAbs(m.Root()) {
					t.Errorf("Root() = %q, want an absolute path", m.Root())
				}
				if err := m.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
				if err := m.Close(); err != nil {
					t.Errorf("second Close: %v", err)
				}
			}
		})
	}
}

// TestContainment checks that nothing outside the root can be read, whatever the name or the
// symlinks inside the root, and that special files are refused without blocking.
func TestContainment(t *testing.T) {
	modes(t, func(t *testing.T, fallback bool) {
		base := t.TempDir()
		root := filepath.Join(base, "root")
		writeFile(t, filepath.Join(base, "secret.txt"), []byte("outside"))
		writeFile(t, filepath.Join(root, "var/site/storage/ok.txt"), []byte("inside"))
		writeFile(t, filepath.Join(root, "other/target.txt"), []byte("in-root target"))
		links := map[string]string{
			"var/passwd":               "/etc/passwd",
			"var/abs-inside":           filepath.Join(root, "other/target.txt"),
			"var/up":                   "../../secret.txt",
			"var/updir":                "../..",
			"var/site/rel-inside":      "../../other/target.txt",
			"var/site/storage-link":    "storage",
			"var/site/abs-dir":         "/etc",
			"var/site/proc-self-root":  "/proc/self/root/etc/passwd",
			"var/site/dangling":        "nothing-here",
			"var/site/dir-link-inside": "../../other",
		}
		for name, target := range links {
			if err := os.Symlink(target, filepath.Join(root, name)); err != nil {
				t.Fatal(err)
			}
		}
		if err := unix.Mkfifo(filepath.Join(root, "var/fifo"), 0o644); err != nil {
			t.Fatal(err)
		}
		m := newMP(t, root, fallback)

		inRootLink := "served (openat2 follows in-root symlinks)"
		if fallback {
			inRootLink = "not exist (fallback refuses every symlink)"
		}
		tests := []struct {
			name string
			want string // "inside", "in-root target" = content; otherwise an error kind
		}{
			{"var/site/storage/ok.txt", "inside"},
			{"var/passwd", "not exist"},
			{"var/abs-inside", "not exist"},
			{"var/up", "not exist"},
			{"var/updir/secret.txt", "not exist"},
			{"var/site/abs-dir/passwd", "not exist"},
			{"var/site/proc-self-root", "not exist"},
			{"var/site/dangling", "not exist"},
			{"var/fifo", "not exist"},
			{"var", "not exist"},
			{"var/site", "not exist"},
			{"../secret.txt", "invalid"},
			{"var/../../secret.txt", "invalid"},
			{"/etc/passwd", "invalid"},
			{"var/site/rel-inside", inRootLink},
			{"var/site/storage-link/ok.txt", inRootLink},
			{"var/site/dir-link-inside/target.txt", inRootLink},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				done := make(chan struct{})
				var got []byte
				var err error
				go func() {
					defer close(done)
					got, err = readAll(ctx, m, tt.name)
				}()
				select {
				case <-done:
				case <-ctx.Done():
					t.Fatalf("Open(%q) blocked", tt.name)
				}
				switch {
				case strings.HasPrefix(tt.want, "served"):
					if err != nil || string(got) != "in-root target" && string(got) != "inside" {
						t.Fatalf("got %q, %v; want the in-root file", got, err)
					}
				case strings.HasPrefix(tt.want, "not exist"):
					if !errors.Is(err, storage.ErrNotExist) {
						t.Fatalf("got %q, %v; want storage.ErrNotExist", got, err)
					}
				case tt.want == "invalid":
					if !errors.Is(err, storage.ErrNotExist) || !errors.Is(err, dfs.ErrInvalidName) {
						t.Fatalf("got %q, %v; want storage.ErrNotExist and dfs.ErrInvalidName", got, err)
					}
				default:
					if err != nil || string(got) != tt.want {
						t.Fatalf("got %q, %v; want %q", got, err, tt.want)
					}
				}
			})
		}
	})
}

// readAll opens name and reads Size() bytes of it.
func readAll(ctx context.Context, m *MountPoint, name string) ([]byte, error) {
	obj, err := m.Open(ctx, name)
	if err != nil {
		return nil, err
	}
	defer obj.Close()
	r, err := obj.Range(ctx, 0, obj.Size())
	if err != nil {
		return nil, err
	}
	return io.ReadAll(r)
}

func TestDeviceRefused(t *testing.T) {
	// /dev/null and /dev/zero opened through a root that contains them: character devices.
	m := newMP(t, "/dev", false)
	for _, name := range []string{"null", "zero", "stdin", "fd/0"} {
		t.Run(name, func(t *testing.T) {
			_, err := storagetest.ReadRange(context.Background(), m, name, 0, 10)
			if !errors.Is(err, storage.ErrNotExist) {
				t.Fatalf("error %v, want storage.ErrNotExist", err)
			}
		})
	}
}

// unprivilegedRootEnv names the directory a re-executed TestPermissionDenied works in.
const unprivilegedRootEnv = "EZDFSD_MOUNTPOINT_TEST_UNPRIVILEGED_ROOT"

// nobody is the uid and gid the permission test drops to when it runs as root (CI does).
const nobody = 65534

// TestPermissionDenied: a file or directory the daemon may not read is ErrUnavailable (503, an
// operator must fix it), never ErrNotExist (404, cached by Varnish). Root ignores file modes, and
// CI runs as root, so as root the test re-executes its own binary as nobody (65534:65534).
func TestPermissionDenied(t *testing.T) {
	root := os.Getenv(unprivilegedRootEnv)
	if root == "" && os.Geteuid() == 0 {
		runAsNobody(t)
		return
	}
	if os.Geteuid() == 0 {
		t.Fatalf("%s is set but the test still runs as root", unprivilegedRootEnv)
	}
	if root == "" {
		root = t.TempDir()
		writeFile(t, filepath.Join(root, "locked"), []byte("x"))
		writeFile(t, filepath.Join(root, "shut", "inside"), []byte("x"))
		lock(t, root)
	}
	modes(t, func(t *testing.T, fallback bool) {
		m := newMP(t, root, fallback)
		for _, name := range []string{"locked", "shut/inside"} {
			_, err := m.Open(context.Background(), name)
			if !errors.Is(err, storage.ErrUnavailable) || !errors.Is(err, unix.EACCES) {
				t.Errorf("Open(%q) as uid %d: error %v, want storage.ErrUnavailable wrapping EACCES", name, os.Geteuid(), err)
			}
		}
	})
}

// lock makes root/locked unreadable and root/shut untraversable.
func lock(t *testing.T, root string) {
	t.Helper()
	for _, p := range []string{"locked", "shut"} {
		if err := os.Chmod(filepath.Join(root, p), 0); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { os.Chmod(filepath.Join(root, "shut"), 0o755) }) // let TempDir remove it
}

// runAsNobody runs TestPermissionDenied again in a copy of the test binary as uid/gid nobody,
// on a tree nobody can reach but not read, and fails t if the child fails or does not run it.
func runAsNobody(t *testing.T) {
	t.Helper()
	// t.TempDir and go test's own work directory are 0700: nobody could not reach them.
	dir, err := os.MkdirTemp("", "ezdfsd-mountpoint-nobody-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(filepath.Join(dir, "root", "shut"), 0o755); os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(dir, "root")
	writeFile(t, filepath.Join(root, "locked"), []byte("x"))
	writeFile(t, filepath.Join(root, "shut", "inside"), []byte("x"))
	lock(t, root)

	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "mountpoint.test")
	data, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-test.run=^TestPermissionDenied$", "-test.v", "-test.count=1")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), unprivilegedRootEnv+"="+root)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
	out, err := cmd.CombinedOutput()
	t.Logf("as uid %d:\n%s", nobody, out)
	if err != nil {
		t.Fatalf("TestPermissionDenied as uid %d: %v", nobody, err)
	}
	if !strings.Contains(string(out), "--- PASS: TestPermissionDenied/openat2") ||
		!strings.Contains(string(out), "--- PASS: TestPermissionDenied/fallback") {
		t.Fatalf("the re-executed test did not run both modes")
	}
}

func TestClassify(t *testing.T) {
	tests := []struct {
		errno unix.Errno
		want  error
	}{
		{unix.ENOENT, storage.ErrNotExist},
		{unix.ENOTDIR, storage.ErrNotExist},
		{unix.ELOOP, storage.ErrNotExist},
		{unix.EXDEV, storage.ErrNotExist},
		{unix.ENAMETOOLONG, storage.ErrNotExist},
		{unix.EACCES, storage.ErrUnavailable},
		{unix.EPERM, storage.ErrUnavailable},
		{unix.EIO, storage.ErrUnavailable},
		{unix.ESTALE, storage.ErrUnavailable},
		{unix.EMFILE, storage.ErrUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.errno.Error(), func(t *testing.T) {
			err := classify(tt.errno)
			if !errors.Is(err, tt.want) || !errors.Is(err, tt.errno) {
				t.Fatalf("classify(%v) = %v, want it to wrap %v and the errno", tt.errno, err, tt.want)
			}
		})
	}
}

func TestShrunkFile(t *testing.T) {
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "f"), storagetest.Data(1, 1000))
	m := newMP(t, root, false)
	ctx := context.Background()
	obj, err := m.Open(ctx, "f")
	if err != nil {
		t.Fatal(err)
	}
	defer obj.Close()
	if obj.Size() != 1000 {
		t.Fatalf("Size() = %d, want 1000", obj.Size())
	}
	// Fast path: the range fits in the size seen at Open.
	r, err := obj.Range(ctx, 100, 900)
	if err != nil {
		t.Fatal(err)
	}
	lr, ok := r.(*io.LimitedReader)
	if !ok {
		t.Fatalf("Range returned %T, want *io.LimitedReader", r)
	}
	if _, ok := lr.R.(*os.File); !ok {
		t.Fatalf("LimitedReader wraps %T, want *os.File", lr.R)
	}
	// Slow path: past the end, the reader is not the bare LimitedReader and ends with
	// io.ErrUnexpectedEOF.
	r, err = obj.Range(ctx, 900, 200)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := r.(*io.LimitedReader); ok {
		t.Fatalf("Range past the end returned the sendfile reader")
	}
	got, err := io.ReadAll(r)
	if len(got) != 100 || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("read %d bytes, %v; want 100 bytes and io.ErrUnexpectedEOF", len(got), err)
	}
	if _, err := obj.Range(ctx, -1, 5); err == nil {
		t.Errorf("Range(-1, 5): no error")
	}
}

func TestPut(t *testing.T) {
	root := t.TempDir()
	m := newMP(t, root, false)
	ctx := context.Background()
	old := unix.Umask(0o077)
	defer unix.Umask(old)

	name := "var/site/storage/images/a/b/c.jpg"
	if err := m.Put(ctx, name, strings.NewReader("first"), 5, "image/jpeg"); err != nil {
		t.Fatalf("Put: %v", err)
	}
	if err := m.Put(ctx, name, strings.NewReader("second!"), -1, ""); err != nil {
		t.Fatalf("Put over: %v", err)
	}
	got, err := os.ReadFile(filepath.Join(root, name))
	if err != nil || string(got) != "second!" {
		t.Fatalf("file = %q, %v; want %q", got, err, "second!")
	}
	st, err := os.Stat(filepath.Join(root, name))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o644 {
		t.Errorf("file mode %v, want 0644", st.Mode().Perm())
	}
	for _, d := range []string{"var", "var/site/storage", "var/site/storage/images/a/b"} {
		st, err := os.Stat(filepath.Join(root, d))
		if err != nil {
			t.Fatal(err)
		}
		// mkdirat applies the umask (0077 here), as eZ's mkdir does.
		if !st.IsDir() || st.Mode().Perm()&^0o755 != 0 {
			t.Errorf("%s: mode %v, want a directory within 0755", d, st.Mode())
		}
	}

	failures := []struct {
		name string
		data string
		size int64
	}{
		{"short source", "abc", 10},
		{"long source", "abcdef", 3},
	}
	for _, tt := range failures {
		t.Run(tt.name, func(t *testing.T) {
			err := m.Put(ctx, name, strings.NewReader(tt.data), tt.size, "")
			if err == nil {
				t.Fatalf("Put succeeded")
			}
			got, _ := os.ReadFile(filepath.Join(root, name))
			if string(got) != "second!" {
				t.Fatalf("failed Put changed the file to %q", got)
			}
		})
	}
	entries, err := os.ReadDir(filepath.Join(root, "var/site/storage/images/a/b"))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries, want only c.jpg (temporary files left behind?)", len(entries))
	}
	if err := m.Put(ctx, "../escape", strings.NewReader("x"), 1, ""); !errors.Is(err, dfs.ErrInvalidName) {
		t.Errorf("Put(../escape) error %v, want dfs.ErrInvalidName", err)
	}
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	if err := m.Put(canceled, "x", strings.NewReader("x"), 1, ""); !errors.Is(err, context.Canceled) {
		t.Errorf("Put with cancelled context: %v", err)
	}
}

func TestPutContainment(t *testing.T) {
	modes(t, func(t *testing.T, fallback bool) {
		base := t.TempDir()
		root := filepath.Join(base, "root")
		if err := os.MkdirAll(filepath.Join(root, "var"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(base, filepath.Join(root, "var/out")); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink("../..", filepath.Join(root, "var/up")); err != nil {
			t.Fatal(err)
		}
		m := newMP(t, root, fallback)
		for _, name := range []string{"var/out/pwned", "var/up/pwned", "var/out/new/pwned"} {
			t.Run(name, func(t *testing.T) {
				err := m.Put(context.Background(), name, strings.NewReader("x"), 1, "")
				if err == nil {
					t.Fatalf("Put(%q) succeeded", name)
				}
				for _, p := range []string{"pwned", "new"} {
					if _, err := os.Lstat(filepath.Join(base, p)); err == nil {
						t.Fatalf("Put wrote %s outside the root", p)
					}
				}
			})
		}
	})
}

func TestPing(t *testing.T) {
	base := t.TempDir()
	root := filepath.Join(base, "root")
	if err := os.Mkdir(root, 0o755); err != nil {
		t.Fatal(err)
	}
	m := newMP(t, root, false)
	ctx := context.Background()
	if err := m.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	if err := m.Ping(canceled); !errors.Is(err, storage.ErrUnavailable) {
		t.Errorf("Ping with cancelled context: %v, want storage.ErrUnavailable", err)
	}
	// Replace the directory behind the path (as a mount over it would): Ping must notice.
	if err := os.Rename(root, root+".old"); err != nil {
		t.Fatal(err)
	}
	if err := m.Ping(ctx); !errors.Is(err, storage.ErrUnavailable) {
		t.Errorf("Ping with root moved away: %v, want storage.ErrUnavailable", err)
	}
	if err := os.Mkdir(root, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := m.Ping(ctx); !errors.Is(err, storage.ErrUnavailable) {
		t.Errorf("Ping with another directory at root: %v, want storage.ErrUnavailable", err)
	}
	m.Close()
	if err := m.Ping(ctx); !errors.Is(err, storage.ErrUnavailable) {
		t.Errorf("Ping after Close: %v, want storage.ErrUnavailable", err)
	}
}

// TestPingBounded: a check stuck in the kernel (hung NFS server) does not hold Ping beyond its
// context, and while it stays stuck further Pings fail at once instead of piling up goroutines.
func TestPingBounded(t *testing.T) {
	m := newMP(t, t.TempDir(), false)
	release := make(chan struct{})
	m.checkFn = func() error { <-release; return nil }
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := m.Ping(ctx); !errors.Is(err, storage.ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Ping with a stuck check: %v, want ErrUnavailable and DeadlineExceeded", err)
	}
	if err := m.Ping(context.Background()); !errors.Is(err, storage.ErrUnavailable) {
		t.Fatalf("second Ping while the first is stuck: %v, want ErrUnavailable at once", err)
	}
	close(release)
	for m.pinging.Load() {
		time.Sleep(time.Millisecond)
	}
	m.checkFn = m.check
	if err := m.Ping(context.Background()); err != nil {
		t.Fatalf("Ping after the check returned: %v", err)
	}
}
