// Package mountpoint is the eZDFSFileHandlerDFSBackend storage backend: the cluster file
// named name is the file MountPointPath + "/" + name on a local or NFS directory.
//
// Every lookup is resolved beneath the root directory opened once by New, so a name or a symlink
// can never reach a file outside it:
//
//   - On Linux ≥ 5.6 names are opened with openat2(RESOLVE_BENEATH|RESOLVE_NO_MAGICLINKS).
//     Symlinks anywhere in the path, the last component included, are followed as long as they
//     stay inside the root (real eZ sites symlink var/ directories inside the mount; the legacy
//     gateway's fopen follows them too). Relative symlinks that climb out of the root and all
//     absolute symlinks (even ones pointing back inside) are refused, so O_NOFOLLOW is not used:
//     it would only refuse in-root links that RESOLVE_BENEATH already makes safe.
//   - Where openat2 is missing (ENOSYS: old kernels, some seccomp filters) the path is walked
//     component by component with openat(O_NOFOLLOW): every symlink is then refused. That is
//     stricter than the openat2 mode, never looser.
//
// Only regular files are served; directories, FIFOs, sockets and devices are reported as
// storage.ErrNotExist (files are opened O_NONBLOCK, so a FIFO never blocks the open).
//
// Files are opened without registering them in the runtime poller, and Object.Range returns an
// *io.LimitedReader over the *os.File, so io.Copy into a net/http ResponseWriter uses sendfile.
//
// The package is Linux-only (openat2, O_PATH).
package mountpoint

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sys/unix"

	"github.com/ezdfsd/ezdfsd/dfs"
	"github.com/ezdfsd/ezdfsd/storage"
)

// MountPoint serves and stores cluster files under one root directory. It is safe for
// concurrent use. The zero value is not usable; call New.
type MountPoint struct {
	root   string
	rootFD int // O_PATH|O_DIRECTORY descriptor of root; -1 once closed

	// noOpenat2 is set when the kernel lacks openat2; names are then walked with openat.
	noOpenat2 atomic.Bool

	closeOnce sync.Once
	closeErr  error

	// pinging is set while a Ping's syscalls are still running, so a hung NFS mount costs at
	// most one stuck goroutine.
	pinging atomic.Bool
	// checkFn is the health check Ping runs (m.check; replaced in tests).
	checkFn func() error

	// files keeps descriptors of served files for reuse (nil: every Open opens).
	files *fileCache
	// opened and reused count the objects Open returned over a new descriptor and over a kept
	// one.
	opened, reused atomic.Uint64
}

// Compile-time checks that MountPoint is a backend and a writer.
var (
	_ storage.Backend = (*MountPoint)(nil)
	_ storage.Writer  = (*MountPoint)(nil)
)

// New opens root (which must exist and be a directory) once and returns a MountPoint serving
// the files beneath it. The descriptor is kept for the MountPoint's life: if another file
// system is later mounted over root, the MountPoint keeps serving the directory it opened and
// Ping reports the change.
func New(root string) (*MountPoint, error) {
	if root == "" {
		return nil, errors.New("mountpoint: empty root path")
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("mountpoint: root %q: %w", root, err)
	}
	fd, err := retryEINTR(func() (int, error) {
		return unix.Open(abs, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	})
	if err != nil {
		return nil, rootError(abs, err)
	}
	m := &MountPoint{root: abs, rootFD: fd}
	m.checkFn = m.check
	// Probe openat2 once so the choice is made at start-up, not per request.
	if pfd, err := unix.Openat2(fd, ".", &unix.OpenHow{
		Flags:   unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_MAGICLINKS,
	}); err == nil {
		unix.Close(pfd)
	} else if errors.Is(err, unix.ENOSYS) {
		m.noOpenat2.Store(true)
	}
	return m, nil
}

// ReuseOpenFiles makes Open reuse the descriptor of a file opened less than maxAge ago, once
// the object holding it is closed, as long as the name still leads to the same file (same
// inode, device, size, mtime and ctime: checked with one statx per Open). Up to MaxIdleFiles
// descriptors wait between requests; those not reused within maxAge are closed. maxAge <= 0
// leaves every Open opening the file. Call it once, before serving; Close releases the
// descriptors.
func (m *MountPoint) ReuseOpenFiles(maxAge time.Duration) {
	if maxAge > 0 && m.files == nil {
		m.files = newFileCache(maxAge)
	}
}

// Collectors returns the mount point's metrics, for the caller to register:
// ezdfsd_mountpoint_files_total{descriptor="opened"|"reused"} (objects Open returned over a new
// descriptor or over a kept one) and ezdfsd_mountpoint_idle_descriptors (descriptors kept
// between requests).
func (m *MountPoint) Collectors() []prometheus.Collector {
	const name, help = "ezdfsd_mountpoint_files_total", "Files the mount point opened for requests, by descriptor: opened anew, or reused (open-file-reuse)."
	return []prometheus.Collector{
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help, ConstLabels: prometheus.Labels{"descriptor": "opened"}},
			func() float64 { return float64(m.opened.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help, ConstLabels: prometheus.Labels{"descriptor": "reused"}},
			func() float64 { return float64(m.reused.Load()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "ezdfsd_mountpoint_idle_descriptors",
			Help: "Descriptors of served files kept open for the next request of the same name (open-file-reuse)."},
			func() float64 {
				if m.files == nil {
					return 0
				}
				return float64(m.files.idleCount())
			}),
	}
}

// Root returns the absolute path of the root directory given to New.
func (m *MountPoint) Root() string { return m.root }

// Close releases the root directory descriptor. Objects already opened stay readable. Calling
// Close more than once returns the first call's result. Close must not run concurrently with
// Open, Put or Ping (shut the server down first).
func (m *MountPoint) Close() error {
	m.closeOnce.Do(func() {
		if m.files != nil {
			m.files.close()
		}
		if err := unix.Close(m.rootFD); err != nil {
			m.closeErr = fmt.Errorf("mountpoint: close root %q: %w", m.root, err)
		}
		m.rootFD = -1
	})
	return m.closeErr
}

// Open opens the regular file name beneath the root. Names failing dfs.CheckName, missing
// files, non-regular files and paths escaping the root give errors wrapping storage.ErrNotExist;
// permission and I/O errors wrap storage.ErrUnavailable. A cancelled ctx is reported before any
// system call; once started, the open itself cannot be interrupted.
func (m *MountPoint) Open(ctx context.Context, name string) (storage.Object, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("mountpoint: open %q: %w", name, err)
	}
	if err := dfs.CheckName(name); err != nil {
		return nil, fmt.Errorf("mountpoint: open %q: %w: %w", name, storage.ErrNotExist, err)
	}
	if obj := m.reuse(name); obj != nil {
		m.reused.Add(1)
		return obj, nil
	}
	fd, err := m.openBeneath(name, unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NONBLOCK|unix.O_NOCTTY, 0)
	if err != nil {
		return nil, fmt.Errorf("mountpoint: open %q: %w", name, classify(err))
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("mountpoint: stat %q: %w", name, classify(err))
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		unix.Close(fd)
		return nil, fmt.Errorf("mountpoint: %q is not a regular file (mode %#o): %w", name, st.Mode&unix.S_IFMT, storage.ErrNotExist)
	}
	// O_NONBLOCK only guarded the open against FIFOs; clear it so os.NewFile treats the fd as a
	// plain blocking file (no poller registration attempt). The only F_SETFL flag the open set
	// is O_NONBLOCK, so setting the flags to 0 clears exactly it, in one fcntl instead of
	// unix.SetNonblock's read-modify-write pair.
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETFL, 0); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("mountpoint: fcntl %q: %w", name, classify(err))
	}
	m.opened.Add(1)
	o := &object{f: os.NewFile(uintptr(fd), name), size: st.Size, atStart: true}
	if m.files != nil {
		o.files, o.name, o.id, o.opened = m.files, name, idOfStat(&st), m.files.now()
	}
	return o, nil
}

// reuse returns an object over an idle descriptor of name whose file is still the one the name
// leads to, or nil (no cache, nothing idle, or the file changed or is gone).
func (m *MountPoint) reuse(name string) *object {
	if m.files == nil || m.rootFD < 0 || !m.files.has(name) {
		return nil // a name with nothing kept costs no statx: it is opened anyway
	}
	var st unix.Statx_t
	const want = unix.STATX_TYPE | unix.STATX_NLINK | unix.STATX_INO | unix.STATX_SIZE | unix.STATX_MTIME | unix.STATX_CTIME
	// No links left: the file is deleted, though the name still resolved to it (an NFS client's
	// cached lookup, with an NFSv4 server keeping the file for the descriptor open here).
	if err := unix.Statx(m.rootFD, name, unix.AT_STATX_FORCE_SYNC, want, &st); err != nil ||
		st.Mask&want != want || st.Mode&unix.S_IFMT != unix.S_IFREG || st.Nlink == 0 {
		m.files.take(name, nil) // whatever was kept for name is not that file any more
		return nil
	}
	id := idOfStatx(&st)
	f, opened, ok := m.files.take(name, &id)
	if !ok {
		return nil
	}
	return &object{f: f, size: id.size, files: m.files, name: name, id: id, opened: opened}
}

// openBeneath opens path relative to the root without ever leaving it.
func (m *MountPoint) openBeneath(path string, flags int, mode uint32) (int, error) {
	if m.rootFD < 0 {
		return -1, errClosed
	}
	if !m.noOpenat2.Load() {
		how := unix.OpenHow{
			Flags:   uint64(flags),
			Mode:    uint64(mode),
			Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_MAGICLINKS,
		}
		var fd int
		var err error
		// EAGAIN: the kernel could not rule out a ".." race (a symlink target with ".."
		// while a rename happened); the man page says to retry.
		for range 4 {
			fd, err = unix.Openat2(m.rootFD, path, &how)
			if err != unix.EINTR && err != unix.EAGAIN {
				break
			}
		}
		if err != unix.ENOSYS {
			return fd, err
		}
		m.noOpenat2.Store(true)
	}
	return m.walkNoFollow(path, flags, mode)
}

// walkNoFollow opens path one component at a time with O_NOFOLLOW, so no symlink is followed
// and, with CheckName having refused "." and ".." segments, nothing outside the root is reached.
func (m *MountPoint) walkNoFollow(path string, flags int, mode uint32) (int, error) {
	parts := strings.Split(path, "/")
	if slices.ContainsFunc(parts, func(p string) bool { return p == "" || p == "." || p == ".." }) {
		return -1, unix.EXDEV
	}
	dir := m.rootFD
	closeDir := func() {
		if dir != m.rootFD {
			unix.Close(dir)
		}
	}
	for _, p := range parts[:len(parts)-1] {
		next, err := retryEINTR(func() (int, error) {
			return unix.Openat(dir, p, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		})
		closeDir()
		if err != nil {
			return -1, err
		}
		dir = next
	}
	fd, err := retryEINTR(func() (int, error) {
		return unix.Openat(dir, parts[len(parts)-1], flags|unix.O_NOFOLLOW, mode)
	})
	closeDir()
	return fd, err
}

// Ping reports whether the root is still usable: it reads one directory entry from it (which
// makes an NFS client talk to its server) and checks that the root path still names the
// directory opened by New (a file system mounted over it afterwards is reported). It returns
// an error wrapping storage.ErrUnavailable when ctx ends first; the stuck system call is left to
// finish in the background, and further Pings fail at once until it does.
func (m *MountPoint) Ping(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("mountpoint: ping %q: %w: %w", m.root, storage.ErrUnavailable, err)
	}
	if !m.pinging.CompareAndSwap(false, true) {
		return fmt.Errorf("mountpoint: ping %q: previous check still blocked: %w", m.root, storage.ErrUnavailable)
	}
	done := make(chan error, 1)
	go func() {
		defer m.pinging.Store(false)
		done <- m.checkFn()
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("mountpoint: ping %q: %w: %w", m.root, storage.ErrUnavailable, ctx.Err())
	}
}

func (m *MountPoint) check() error {
	if m.rootFD < 0 {
		return fmt.Errorf("mountpoint: ping %q: %w: %w", m.root, storage.ErrUnavailable, errClosed)
	}
	var held, now unix.Stat_t
	if err := unix.Fstat(m.rootFD, &held); err != nil {
		return fmt.Errorf("mountpoint: ping: fstat %q: %w: %w", m.root, storage.ErrUnavailable, err)
	}
	if err := unix.Stat(m.root, &now); err != nil {
		return rootError(m.root, err)
	}
	if now.Mode&unix.S_IFMT != unix.S_IFDIR {
		return rootError(m.root, unix.ENOTDIR)
	}
	if held.Dev != now.Dev || held.Ino != now.Ino {
		return fmt.Errorf("mount point %s now names another directory than the one opened at start (mounted over? restart ezdfsd): %w", m.root, storage.ErrUnavailable)
	}
	fd, err := retryEINTR(func() (int, error) {
		return unix.Openat(m.rootFD, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	})
	if err != nil {
		return rootError(m.root, err)
	}
	defer unix.Close(fd)
	var buf [512]byte
	if _, err := unix.Getdents(fd, buf[:]); err != nil {
		return fmt.Errorf("mount point %s cannot be listed: %w: %w", m.root, storage.ErrUnavailable, err)
	}
	return nil
}

// ErrRoot means the mount point directory itself is unusable: missing, not a directory, or not
// readable by the daemon's user. Errors from New and Ping wrap it (and storage.ErrUnavailable)
// with a reason meant for operators, e.g. "mount point /mnt/nfs does not exist".
var ErrRoot = errors.New("mount point unusable")

// rootError turns a failure to reach the root directory into an operator's reason.
func rootError(root string, err error) error {
	var why string
	switch {
	case errors.Is(err, unix.ENOENT):
		why = "does not exist"
	case errors.Is(err, unix.ENOTDIR):
		why = "is not a directory"
	case errors.Is(err, unix.EACCES), errors.Is(err, unix.EPERM):
		why = fmt.Sprintf("is not readable by this process (uid %d)", os.Geteuid())
	default:
		why = "cannot be opened"
	}
	return &rootErr{msg: fmt.Sprintf("mount point %s %s", root, why), err: err}
}

// rootErr is rootError's value: the reason followed by the system error; it wraps ErrRoot,
// storage.ErrUnavailable and the system error.
type rootErr struct {
	msg string
	err error
}

func (e *rootErr) Error() string   { return e.msg + ": " + e.err.Error() }
func (e *rootErr) Unwrap() []error { return []error{ErrRoot, storage.ErrUnavailable, e.err} }

var errClosed = errors.New("mountpoint: closed")

// classify wraps a system call error in the storage sentinel it stands for.
func classify(err error) error {
	var errno unix.Errno
	if !errors.As(err, &errno) {
		return fmt.Errorf("%w: %w", storage.ErrUnavailable, err)
	}
	switch errno {
	case unix.ENOENT, unix.ENOTDIR, unix.ELOOP, unix.EXDEV, unix.ENAMETOOLONG, unix.EISDIR, unix.ENXIO:
		// EXDEV: RESOLVE_BENEATH refused an escape; ELOOP: a refused symlink; ENXIO: a socket
		// or a FIFO without writer opened for writing.
		return fmt.Errorf("%w: %w", storage.ErrNotExist, err)
	default:
		// EACCES, EPERM, EIO, ESTALE, EMFILE, ...
		return fmt.Errorf("%w: %w", storage.ErrUnavailable, err)
	}
}

func retryEINTR(f func() (int, error)) (int, error) {
	for {
		fd, err := f()
		if err != unix.EINTR {
			return fd, err
		}
	}
}

// object is an opened regular file.
type object struct {
	f      *os.File
	size   int64
	closed bool
	// atStart is true until the first Range: the file offset is then known to be 0, and a
	// Range from offset 0 needs no lseek.
	atStart bool

	// files, when set, takes the descriptor back at Close for the next Open of name; id and
	// opened describe the file as it was opened.
	files  *fileCache
	name   string
	id     fileID
	opened time.Time
}

// Size returns the file's size when it was opened.
func (o *object) Size() int64 { return o.size }

// Range positions the file at off and returns a reader of n bytes. When the file (as opened)
// holds all n bytes, the reader is exactly an *io.LimitedReader over the *os.File: net/http then
// copies it with sendfile. If the file shrinks after Open, that fast reader ends early without
// an error; callers compare Size() with the metadata row before sending headers, and net/http
// notices a body shorter than Content-Length and closes the connection. When the file is
// already known to be too short, a slower reader is returned that ends with io.ErrUnexpectedEOF.
func (o *object) Range(ctx context.Context, off, n int64) (io.Reader, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("mountpoint: range %q: %w", o.f.Name(), err)
	}
	if o.closed {
		return nil, fmt.Errorf("mountpoint: range %q: %w", o.f.Name(), os.ErrClosed)
	}
	if off < 0 || n < 0 {
		return nil, fmt.Errorf("mountpoint: range %q: invalid range off=%d n=%d", o.f.Name(), off, n)
	}
	if !o.atStart || off != 0 {
		if _, err := o.f.Seek(off, io.SeekStart); err != nil {
			return nil, fmt.Errorf("mountpoint: seek %q: %w", o.f.Name(), classify(err))
		}
	}
	o.atStart = false
	lr := &io.LimitedReader{R: o.f, N: n}
	if off+n <= o.size {
		return lr, nil
	}
	return &shortReader{lr: lr, name: o.f.Name(), want: n}, nil
}

// Close closes the file. Later calls return nil.
func (o *object) Close() error {
	if o.closed {
		return nil
	}
	o.closed = true
	var err error
	if o.files != nil {
		err = o.files.put(o.name, o.f, o.id, o.opened) // kept, or closed when it cannot be
	} else {
		err = o.f.Close()
	}
	if err != nil {
		return fmt.Errorf("mountpoint: close %q: %w", o.f.Name(), err)
	}
	return nil
}

// shortReader reads a range the file cannot fill and turns the early EOF into
// io.ErrUnexpectedEOF. It hides the *os.File on purpose: sendfile would end silently.
type shortReader struct {
	lr   *io.LimitedReader
	name string
	want int64
}

func (s *shortReader) Read(p []byte) (int, error) {
	if s.lr.N <= 0 {
		return 0, io.EOF
	}
	n, err := s.lr.Read(p)
	if err == io.EOF {
		return n, fmt.Errorf("mountpoint: %q ended %d bytes before the requested %d: %w", s.name, s.lr.N, s.want, io.ErrUnexpectedEOF)
	}
	if err != nil {
		return n, fmt.Errorf("mountpoint: read %q: %w", s.name, classify(err))
	}
	return n, nil
}
