package cache

import (
	"crypto/md5"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/ezdfsd/ezdfsd/metadata"
)

// codecVersion is the first byte of every memcached value. Values with another version are
// ignored (treated as a miss), so a format change only needs a new number.
const codecVersion = 1

const (
	flagFound   = 1 << 0
	flagExpired = 1 << 1
)

// encodeEntry lays out an entry for memcached:
//
//	version(1) flags(1) fetchedAt-unix-nanos(8) size(8) mtime(8)
//	uvarint len + name, uvarint len + datatype, uvarint len + scope
//
// name is the requested name (metadata.Key.Name), kept in full (also for negative entries) to
// detect two names sharing an md5: decodeEntry answers only to that same name. It is never the
// row's name column, which the store does not read (an old site's double-encoded name differs
// from the requested one and must still be served from this tier).
func encodeEntry(name string, e Entry) []byte {
	f := e.File
	b := make([]byte, 0, 26+3*binary.MaxVarintLen16+len(name)+len(f.Datatype)+len(f.Scope))
	var flags byte
	if e.Found {
		flags |= flagFound
		if f.Expired {
			flags |= flagExpired
		}
	}
	b = append(b, codecVersion, flags)
	b = binary.BigEndian.AppendUint64(b, uint64(e.FetchedAt.UnixNano()))
	b = binary.BigEndian.AppendUint64(b, uint64(f.Size))
	b = binary.BigEndian.AppendUint64(b, uint64(f.MTime))
	for _, s := range [...]string{name, f.Datatype, f.Scope} {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	return b
}

var errCollision = errors.New("memcached value is for another name")

// decodeEntry parses a value written by encodeEntry and checks that it belongs to name.
func decodeEntry(name string, b []byte) (Entry, error) {
	if len(b) < 26 {
		return Entry{}, fmt.Errorf("memcached value: %d bytes, too short", len(b))
	}
	if b[0] != codecVersion {
		return Entry{}, fmt.Errorf("memcached value: version %d, want %d", b[0], codecVersion)
	}
	flags := b[1]
	e := Entry{
		Found:     flags&flagFound != 0,
		FetchedAt: time.Unix(0, int64(binary.BigEndian.Uint64(b[2:10]))),
	}
	size := int64(binary.BigEndian.Uint64(b[10:18]))
	mtime := int64(binary.BigEndian.Uint64(b[18:26]))
	rest := b[26:]
	var strs [3]string
	for i := range strs {
		n, k := binary.Uvarint(rest)
		if k <= 0 || n > uint64(len(rest)-k) {
			return Entry{}, errors.New("memcached value: truncated string")
		}
		strs[i] = string(rest[k : k+int(n)])
		rest = rest[k+int(n):]
	}
	if len(rest) != 0 {
		return Entry{}, fmt.Errorf("memcached value: %d trailing bytes", len(rest))
	}
	if strs[0] != name {
		return Entry{}, errCollision
	}
	if e.Found {
		e.File = metadata.File{Name: strs[0], Datatype: strs[1], Scope: strs[2], Size: size, MTime: mtime, Expired: flags&flagExpired != 0}
	}
	return e, nil
}

// itemKey returns the memcached key for key: prefix + table + ":" + md5(name). A table name
// that is not usable in a memcached key (spaces, control bytes, very long) is hashed too.
func itemKey(prefix string, key metadata.Key) string {
	table := key.Table
	if len(table) > 64 || !legalKeyPart(table) {
		sum := md5.Sum([]byte(table))
		table = "t" + hex.EncodeToString(sum[:])
	}
	return prefix + table + ":" + metadata.NameHash(key.Name)
}

// legalKeyPart reports whether s may appear in a memcached text-protocol key.
func legalKeyPart(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] == 0x7f {
			return false
		}
	}
	return true
}
