// Package storage gives the bytes of cluster files. A Backend is one place files live: the
// NFS/local mount point (sub-package mountpoint) or an S3 bucket (sub-package s3). Headers never
// come from here: type, size and mtime come from the metadata row.
//
// Nothing here knows about HTTP. Errors cross the package boundary as the sentinel values below,
// wrapped with %w and context.
package storage

import (
	"context"
	"errors"
	"io"
)

// ErrNotExist means the backend has no object for the name (NFS file missing, S3 NoSuchKey).
var ErrNotExist = errors.New("storage: object does not exist")

// ErrUnavailable means the backend could not answer (I/O error, S3 throttling or timeout,
// endpoint unreachable). Callers answer 503 and may retry later.
var ErrUnavailable = errors.New("storage: backend unavailable")

// Backend opens cluster files by name. Implementations must be safe for concurrent use and must
// never give access to anything outside their root (mount point directory, bucket).
type Backend interface {
	// Open prepares the named object for reading. It returns an error wrapping ErrNotExist if the
	// backend knows cheaply that the object is absent. Backends for which checking costs a remote
	// call (S3) may return an Object without contacting the remote side; errors then surface from
	// Object.Range, which the caller invokes before sending any response header.
	Open(ctx context.Context, name string) (Object, error)
}

// Object is an opened cluster file. It is used by one request at a time.
type Object interface {
	// Size returns the object's current size in bytes, or -1 if it is not known without a
	// remote call. The caller compares it with the metadata row to detect short files.
	Size() int64
	// Range returns a reader of exactly n bytes starting at offset off. Copy it with io.Copy
	// (not io.CopyN) so the mount point's reader, an *io.LimitedReader over an *os.File, keeps the
	// sendfile fast path. A reader that ends before n bytes returns io.ErrUnexpectedEOF.
	// The reader is valid until the next Range call or Close.
	Range(ctx context.Context, off, n int64) (io.Reader, error)
	// Close releases the object (file descriptor, response bodies).
	Close() error
}

// Writer stores objects (used by `ezdfsd import`).
type Writer interface {
	// Put stores size bytes from r under name, replacing any existing object, with the given
	// content type where the backend records one.
	Put(ctx context.Context, name string, r io.Reader, size int64, contentType string) error
}
