package mountpoint

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/ezdfsd/ezdfsd/dfs"
	"github.com/ezdfsd/ezdfsd/storage"
)

// Put stores size bytes from r as name beneath the root, like eZFile::create: missing parent
// directories are created with mode 0755, the bytes go to a temporary file in the target
// directory, which is then renamed over name, so readers see the old file or the complete new
// one, never a partial one. The file gets mode 0644 whatever the umask. If size >= 0, r must
// give exactly size bytes (fewer: io.ErrUnexpectedEOF; more: an error), otherwise r is read to
// EOF. contentType is ignored: a file system records none. Directories are resolved beneath the
// root exactly as in Open. The data is not fsynced (eZ does not either).
func (m *MountPoint) Put(ctx context.Context, name string, r io.Reader, size int64, contentType string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("mountpoint: put %q: %w", name, err)
	}
	if err := dfs.CheckName(name); err != nil {
		return fmt.Errorf("mountpoint: put %q: %w", name, err)
	}
	dirPath, base := "", name
	if i := strings.LastIndexByte(name, '/'); i >= 0 {
		dirPath, base = name[:i], name[i+1:]
	}
	dir, err := m.mkdirAll(dirPath)
	if err != nil {
		return fmt.Errorf("mountpoint: put %q: %w", name, err)
	}
	if dir != m.rootFD {
		defer unix.Close(dir)
	}

	tmp, err := tempName(base)
	if err != nil {
		return fmt.Errorf("mountpoint: put %q: %w", name, err)
	}
	fd, err := retryEINTR(func() (int, error) {
		return unix.Openat(dir, tmp, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o644)
	})
	if err != nil {
		return fmt.Errorf("mountpoint: put %q: create temporary file: %w", name, classify(err))
	}
	f := os.NewFile(uintptr(fd), tmp)
	removeTmp := func() { unix.Unlinkat(dir, tmp, 0) }
	if err := f.Chmod(0o644); err != nil {
		f.Close()
		removeTmp()
		return fmt.Errorf("mountpoint: put %q: chmod: %w", name, classify(err))
	}
	if err := copyExactly(ctx, f, r, size); err != nil {
		f.Close()
		removeTmp()
		return fmt.Errorf("mountpoint: put %q: %w", name, err)
	}
	if err := f.Close(); err != nil {
		removeTmp()
		return fmt.Errorf("mountpoint: put %q: close: %w", name, classify(err))
	}
	if err := unix.Renameat(dir, tmp, dir, base); err != nil {
		removeTmp()
		return fmt.Errorf("mountpoint: put %q: rename: %w", name, classify(err))
	}
	return nil
}

// mkdirAll returns a descriptor (O_PATH) of dirPath beneath the root, creating missing
// directories with mode 0755. dirPath "" is the root itself (the root descriptor is returned
// and must not be closed).
func (m *MountPoint) mkdirAll(dirPath string) (int, error) {
	if m.rootFD < 0 {
		return -1, errClosed
	}
	if dirPath == "" {
		return m.rootFD, nil
	}
	const dirFlags = unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC
	fd, err := m.openBeneath(dirPath, dirFlags, 0)
	if err == nil {
		return fd, nil
	}
	if err != unix.ENOENT {
		return -1, fmt.Errorf("open directory %q: %w", dirPath, classify(err))
	}
	// Walk down from the root, creating what is missing. Each parent is opened beneath the
	// root, so mkdirat never lands outside it.
	parent := m.rootFD
	closeParent := func() {
		if parent != m.rootFD {
			unix.Close(parent)
		}
	}
	parts := strings.Split(dirPath, "/")
	for i, p := range parts {
		prefix := strings.Join(parts[:i+1], "/")
		if err := unix.Mkdirat(parent, p, 0o755); err != nil && err != unix.EEXIST {
			closeParent()
			return -1, fmt.Errorf("mkdir %q: %w", prefix, classify(err))
		}
		next, err := m.openBeneath(prefix, dirFlags, 0)
		closeParent()
		if err != nil {
			return -1, fmt.Errorf("open directory %q: %w", prefix, classify(err))
		}
		parent = next
	}
	return parent, nil
}

// tempName returns a hidden, unique name for a temporary file next to base.
func tempName(base string) (string, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("random temporary name: %w", err)
	}
	if len(base) > 200 {
		base = base[:200]
	}
	return "." + base + ".ezdfsd-tmp-" + hex.EncodeToString(b[:]), nil
}

// copyExactly copies r into w: exactly size bytes when size >= 0 (storage.ExactReader),
// everything otherwise.
func copyExactly(ctx context.Context, w io.Writer, r io.Reader, size int64) error {
	r = ctxReader{ctx: ctx, r: r}
	if size >= 0 {
		r = storage.ExactReader(r, size)
	}
	if _, err := io.Copy(w, r); err != nil {
		return fmt.Errorf("copy: %w", err)
	}
	return nil
}

// ctxReader stops a copy once ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
