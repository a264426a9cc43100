package storage

import (
	"context"
	"errors"
	"io"
)

// Keyed is a backend whose object names are derived from cluster names by Key, e.g. the
// eZ Platform / Ibexa S3 layout (prefix + SPI id) where the legacy layout uses the cluster
// name itself. It writes through Key too when the underlying backend is a Writer.
type Keyed struct {
	// Backend holds the objects.
	Backend Backend
	// Key turns a cluster name into the backend's object name.
	Key func(name string) string
}

// Open opens the object of the cluster name.
func (k Keyed) Open(ctx context.Context, name string) (Object, error) {
	return k.Backend.Open(ctx, k.Key(name))
}

// Put stores the object of the cluster name; it fails if the backend cannot write.
func (k Keyed) Put(ctx context.Context, name string, r io.Reader, size int64, contentType string) error {
	w, ok := k.Backend.(Writer)
	if !ok {
		return errors.New("storage: backend cannot write")
	}
	return w.Put(ctx, k.Key(name), r, size, contentType)
}
