// Package metadata answers "what is this cluster file": the row eZ Publish keeps for it in the
// ezdfsfile (or ezdfsfile_cache) table. Implementations live in sub-packages: SQL stores
// (MySQL/MariaDB, embedded SQLite) and caching decorators (in-process, memcached) around any Store.
//
// Nothing here knows about HTTP. Errors cross the package boundary as the sentinel values below,
// wrapped with %w and context, so callers test them with errors.Is.
package metadata

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
)

// ErrNotFound means the table holds no row for the name. A row that exists but is marked deleted
// (negative mtime) is NOT ErrNotFound: Lookup returns it and the caller applies eZ's rules.
var ErrNotFound = errors.New("metadata: no such file")

// ErrUnavailable means the store could not answer (database down, timeout, pool exhausted).
// It says nothing about whether the file exists.
var ErrUnavailable = errors.New("metadata: store unavailable")

// File is one row of ezdfsfile / ezdfsfile_cache, as far as serving needs it.
type File struct {
	// Name is the cluster path relative to the eZ root, without a leading slash,
	// e.g. "var/ezdemo_site/storage/images/a/b/foo.jpg".
	Name string
	// Datatype is the MIME type (or eZ label such as "misc") recorded at store time.
	Datatype string
	// Scope is eZ's file category ("image", "binaryfile", "viewcache", ...).
	Scope string
	// Size is the byte size recorded at store time.
	Size int64
	// MTime is the Unix modification time; negative means deleted (eZ sets mtime=-ABS(mtime)).
	MTime int64
	// Expired mirrors the expired column (true = 1).
	Expired bool
}

// Deleted reports whether eZ has deleted the file (negative mtime), which the legacy gateway
// answers with 404.
func (f File) Deleted() bool { return f.MTime < 0 }

// Key identifies a row: the table it lives in and the cluster name.
type Key struct {
	// Table is the configured table name (ezdfsfile, ezdfsfile_cache, ibexa_dfs_file, ...).
	Table string
	// Name is the cluster name, exactly as stored in the name column.
	Name string
}

// Store looks rows up. Implementations must be safe for concurrent use.
type Store interface {
	// Lookup returns the row for key, ErrNotFound if there is none, or an error wrapping
	// ErrUnavailable if the store cannot answer.
	Lookup(ctx context.Context, key Key) (File, error)
}

// Writer stores rows, as eZ's DFS handler does (used by `ezdfsd import` and tests).
type Writer interface {
	// Put inserts or replaces the row for f.Name in table, setting name_hash = md5(name),
	// name_trunk, and expired from f.Expired.
	Put(ctx context.Context, table string, f File) error
}

// NameHash returns eZ's name_hash for a cluster name: the lower-case hex MD5 of its bytes.
func NameHash(name string) string {
	sum := md5.Sum([]byte(name))
	return hex.EncodeToString(sum[:])
}
