package walk

import (
	"context"
	"fmt"
	"time"
)

// Object is one object of a bucket.
type Object struct {
	// Key is the object key, which is the cluster name (spec §3.3).
	Key string
	// Size is the object's size in bytes.
	Size int64
	// Modified is the object's last modification time.
	Modified time.Time
}

// Lister lists a bucket page by page (storage/s3.S3.List).
type Lister interface {
	List(ctx context.Context, prefix string, fn func(key string, size int64, modified time.Time) error) error
}

// Objects calls fn for every object whose key starts with prefix ("" for all), in key order;
// one listing page is held in memory at a time.
func Objects(ctx context.Context, l Lister, prefix string, fn func(Object) error) error {
	err := l.List(ctx, prefix, func(key string, size int64, modified time.Time) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		return fn(Object{Key: key, Size: size, Modified: modified})
	})
	if err != nil {
		return fmt.Errorf("walk bucket: %w", err)
	}
	return nil
}
