package migrate

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"hash/crc64"
	"io"
	"io/fs"
	"os"
	"strconv"
	"syscall"
	"time"

	"github.com/ezdfsd/ezdfsd/dfs"
	"github.com/ezdfsd/ezdfsd/maint"
	"github.com/ezdfsd/ezdfsd/metadata/sqlstore"
	"github.com/ezdfsd/ezdfsd/storage"
	"github.com/ezdfsd/ezdfsd/storage/mountpoint"
	"github.com/ezdfsd/ezdfsd/storage/s3"
)

// Backend is one place cluster files live, as migrate reads, writes, proves and removes them.
// The two implementations are MountBackend and S3Backend.
type Backend interface {
	// Class is the eZ backend class name (dfs.MountPointBackend, dfs.S3Backend).
	Class() string
	// Open prepares name for reading (storage.Backend.Open).
	Open(ctx context.Context, name string) (storage.Object, error)
	// Put stores exactly r.Size bytes from body as r.Name, stamped with the row's mtime, then
	// checks that what the backend now holds has the checksum sum() returns once body is read
	// (CRC64NVME of the bytes read from the source): a mismatch wraps ErrMismatch. It returns
	// the bytes it read back from the backend for that check.
	Put(ctx context.Context, r sqlstore.Row, body io.Reader, sum func() uint64) (int64, error)
	// Stat describes name's bytes without reading them, or returns an error wrapping
	// storage.ErrNotExist.
	Stat(ctx context.Context, name string) (Info, error)
	// Proves reports whether info, from Stat, shows r's version of the file as a verified copy
	// left it (see the implementations for what is checked).
	Proves(info Info, r sqlstore.Row) bool
	// Remove removes name's bytes; a name already gone is not an error.
	Remove(ctx context.Context, name string) error
}

// absentAware is a Backend that can list, once for a whole run, the names it holds, and store
// a name only while it is still absent. Names a run finds unlisted are uploaded at once,
// without asking the target about each (a HeadObject per file, as many requests as the copies
// themselves); one that appeared since the listing (eZ storing it after the switch) makes the
// upload fail with s3.ErrExists, and is then handled as any name found in the target.
// S3Backend is one.
type absentAware interface {
	Backend
	// Listed returns the names under prefix, or complete=false when there are more than limit.
	Listed(ctx context.Context, prefix string, limit int) (names map[string]struct{}, complete bool, err error)
	// CanPutIfAbsent reports whether r can be stored with PutIfAbsent.
	CanPutIfAbsent(r sqlstore.Row) bool
	// PutIfAbsent is Put that stores nothing, and fails wrapping s3.ErrExists, if the name
	// exists in the backend by then.
	PutIfAbsent(ctx context.Context, r sqlstore.Row, body io.Reader, sum func() uint64) (int64, error)
}

// Info describes a file or object without its bytes.
type Info struct {
	// Size in bytes.
	Size int64
	// Modified is the file's modification time (an object's Last-Modified).
	Modified time.Time
	// Stamp is the row mtime a verified copy recorded ("" none): x-amz-meta-ezdfs-mtime with a
	// stored checksum on S3; on the mount point, every file's modification time in Unix seconds.
	Stamp string
}

// ErrMismatch means a copy's bytes differ from the source's (checksum or size).
var ErrMismatch = errors.New("content mismatch")

// crcTable is CRC-64/NVME, the checksum S3 computes for ChecksumAlgorithm CRC64NVME
// (x-amz-checksum-crc64nvme): reflected polynomial 0x9a6c9329ac4bc9b5, init and xorout all
// ones, as hash/crc64 computes it.
var crcTable = crc64.MakeTable(0x9a6c9329ac4bc9b5)

func newHash() hash.Hash64 { return crc64.New(crcTable) }

// crcBase64 is sum as S3 writes it: the big-endian bytes in base64.
func crcBase64(sum uint64) string {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], sum)
	return base64.StdEncoding.EncodeToString(b[:])
}

// MetaMTime is the x-amz-meta key holding the row's mtime a copy was made from.
const MetaMTime = "ezdfs-mtime"

// S3Backend is a bucket as migrate's target or source. Objects are written with the key the eZ
// S3 backend uses (the name), the Content-Type the AWS PHP SDK gives a file upload (ContentType),
// the row's mtime as x-amz-meta-ezdfs-mtime, and a CRC64NVME full-object checksum that S3
// verifies on upload and stores.
type S3Backend struct {
	S3 *s3.S3
	// ACL is a canned ACL sent with every upload ("" none; "public-read" as eZ's backend).
	ACL string
}

// Class is dfs.S3Backend.
func (b *S3Backend) Class() string { return dfs.S3Backend }

// Open opens the object name.
func (b *S3Backend) Open(ctx context.Context, name string) (storage.Object, error) {
	return b.S3.Open(ctx, name)
}

// Put uploads exactly r.Size bytes with a CRC64NVME checksum (S3 refuses an upload whose bytes
// do not match it), then compares the checksum S3 computed from what it stored with sum: end to
// end, from the bytes read from the source to the bytes the bucket holds. The upload's answer
// carries that checksum; when a server leaves it out, HeadObject fetches it (and the size).
func (b *S3Backend) Put(ctx context.Context, r sqlstore.Row, body io.Reader, sum func() uint64) (int64, error) {
	return b.put(ctx, r, body, sum, false)
}

// Listed returns the keys of the bucket that start with prefix, or complete=false (and no
// keys) when there are more than limit of them.
func (b *S3Backend) Listed(ctx context.Context, prefix string, limit int) (keys map[string]struct{}, complete bool, err error) {
	keys = make(map[string]struct{})
	errTooMany := errors.New("too many keys")
	err = b.S3.List(ctx, prefix, func(key string, _ int64, _ time.Time) error {
		if len(keys) >= limit {
			return errTooMany
		}
		keys[key] = struct{}{}
		return nil
	})
	if errors.Is(err, errTooMany) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return keys, true, nil
}

// CanPutIfAbsent reports whether r is small enough for a conditional upload (one PutObject).
func (b *S3Backend) CanPutIfAbsent(r sqlstore.Row) bool {
	return r.Size < BigFile && r.Size < b.S3.PartSize()
}

// PutIfAbsent is Put with If-None-Match: *: if the key exists by the time S3 receives the
// upload, nothing is stored and the error wraps s3.ErrExists.
func (b *S3Backend) PutIfAbsent(ctx context.Context, r sqlstore.Row, body io.Reader, sum func() uint64) (int64, error) {
	return b.put(ctx, r, body, sum, true)
}

func (b *S3Backend) put(ctx context.Context, r sqlstore.Row, body io.Reader, sum func() uint64, ifAbsent bool) (int64, error) {
	opts := s3.PutOptions{
		ContentType: ContentType(r.Name),
		Metadata:    map[string]string{MetaMTime: strconv.FormatInt(r.MTime, 10)},
		ACL:         b.ACL,
		Checksum:    true,
		IfAbsent:    ifAbsent,
	}
	if r.Size < BigFile {
		// Read the file first and send the checksum of what was read with the upload: S3
		// checks the bytes it receives against it, and the SDK need not hash them again.
		buf := make([]byte, r.Size)
		if _, err := io.ReadFull(body, buf); err != nil {
			return 0, fmt.Errorf("read the source: %w", err)
		}
		body = bytes.NewReader(buf)
		opts.CRC64NVME = crcBase64(sum())
	}
	res, err := b.S3.PutWith(ctx, r.Name, body, r.Size, opts)
	if err != nil {
		return 0, err
	}
	stored := res.CRC64NVME
	if stored == "" {
		info, err := b.S3.Head(ctx, r.Name)
		if err != nil {
			return 0, fmt.Errorf("check the copy: %w", err)
		}
		if info.Size != r.Size {
			return 0, fmt.Errorf("s3 holds %d bytes, the row says %d: %w", info.Size, r.Size, ErrMismatch)
		}
		stored = info.CRC64NVME
	}
	if want := crcBase64(sum()); stored != want {
		return 0, fmt.Errorf("s3 stored checksum %q, the source's bytes give %q: %w", stored, want, ErrMismatch)
	}
	return 0, nil
}

// Stat is HeadObject (with the stored checksum).
func (b *S3Backend) Stat(ctx context.Context, name string) (Info, error) {
	oi, err := b.S3.Head(ctx, name)
	if err != nil {
		return Info{}, err
	}
	info := Info{Size: oi.Size, Modified: oi.Modified}
	if oi.CRC64NVME != "" {
		info.Stamp = oi.Metadata[MetaMTime]
	}
	return info, nil
}

// Proves: the object has the row's size, was stamped with the row's mtime, and carries a
// full-object checksum, i.e. it was written by a migrate upload that S3 verified. eZ changes a
// row's mtime whenever it stores a name again, so an equal mtime means the same version; bytes
// changed behind migrate's back are --verify's job.
func (b *S3Backend) Proves(info Info, r sqlstore.Row) bool {
	return info.Size == r.Size && info.Stamp == strconv.FormatInt(r.MTime, 10)
}

// Remove deletes the object.
func (b *S3Backend) Remove(ctx context.Context, name string) error { return b.S3.Remove(ctx, name) }

// MountBackend is the mount point as migrate's target or source. Writes are atomic (a
// temporary file renamed over the name, storage/mountpoint.Put), read back and compared with
// the source's checksum, then given the row's mtime as their modification time.
type MountBackend struct {
	MP *mountpoint.MountPoint
	// Root is the mount point directory, for stat and chtimes beneath it.
	Root *os.Root
	// Bytes removes files and the directories they leave empty, as purge does.
	Bytes *maint.MountPoint
}

// OpenMountBackend opens the mount point dir. Close releases it.
func OpenMountBackend(dir string) (*MountBackend, error) {
	mp, err := mountpoint.New(dir)
	if err != nil {
		return nil, fmt.Errorf("mount point: %w", err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		mp.Close()
		return nil, fmt.Errorf("mount point: %w", err)
	}
	b, err := maint.OpenMountPoint(dir)
	if err != nil {
		mp.Close()
		root.Close()
		return nil, err
	}
	return &MountBackend{MP: mp, Root: root, Bytes: b}, nil
}

// Close releases the mount point.
func (b *MountBackend) Close() error {
	return errors.Join(b.MP.Close(), b.Root.Close(), b.Bytes.Close())
}

// Class is dfs.MountPointBackend.
func (b *MountBackend) Class() string { return dfs.MountPointBackend }

// Open opens the file name.
func (b *MountBackend) Open(ctx context.Context, name string) (storage.Object, error) {
	return b.MP.Open(ctx, name)
}

// Put writes the file atomically, reads it back and compares its checksum with sum, then sets
// its modification time to the row's mtime (the stamp Proves checks). A file killed before the
// stamp is not proven and is copied again.
func (b *MountBackend) Put(ctx context.Context, r sqlstore.Row, body io.Reader, sum func() uint64) (int64, error) {
	if err := b.MP.Put(ctx, r.Name, body, r.Size, ""); err != nil {
		return 0, err
	}
	f, err := b.Root.Open(r.Name)
	if err != nil {
		return 0, fmt.Errorf("read back: %w", err)
	}
	h := newHash()
	n, err := io.Copy(h, ctxReader{ctx, f})
	f.Close()
	if err != nil {
		return n, fmt.Errorf("read back: %w", err)
	}
	if want := sum(); n != r.Size || h.Sum64() != want {
		return n, fmt.Errorf("the mount point holds %d bytes with checksum %s, the source gave %d with %s: %w",
			n, crcBase64(h.Sum64()), r.Size, crcBase64(want), ErrMismatch)
	}
	t := time.Unix(abs(r.MTime), 0)
	if err := b.Root.Chtimes(r.Name, t, t); err != nil {
		return n, fmt.Errorf("stamp the copy: %w", err)
	}
	return n, nil
}

// Stat is one lstat of the regular file name.
func (b *MountBackend) Stat(ctx context.Context, name string) (Info, error) {
	if err := ctx.Err(); err != nil {
		return Info{}, err
	}
	if err := dfs.CheckName(name); err != nil {
		return Info{}, fmt.Errorf("mount point: stat %q: %w", name, err)
	}
	fi, err := b.Root.Lstat(name)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return Info{}, fmt.Errorf("mount point: stat %q: %w", name, storage.ErrNotExist)
	}
	if err != nil {
		return Info{}, fmt.Errorf("mount point: stat %q: %w", name, err)
	}
	if !fi.Mode().IsRegular() {
		return Info{}, fmt.Errorf("mount point: stat %q: not a regular file: %w", name, storage.ErrNotExist)
	}
	return Info{Size: fi.Size(), Modified: fi.ModTime(), Stamp: strconv.FormatInt(fi.ModTime().Unix(), 10)}, nil
}

// Proves: a regular file of the row's size whose modification time is the row's mtime.
// migrate stamps a file so only after reading it back; eZ's own files get the time of their
// write, usually the row's mtime too, and then hold that version.
func (b *MountBackend) Proves(info Info, r sqlstore.Row) bool {
	return info.Size == r.Size && info.Stamp == strconv.FormatInt(abs(r.MTime), 10)
}

// Remove unlinks the file and the directories it leaves empty.
func (b *MountBackend) Remove(ctx context.Context, name string) error {
	return b.Bytes.Remove(ctx, name)
}

func abs(n int64) int64 {
	if n < 0 {
		return -n
	}
	return n
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
