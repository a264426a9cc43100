package preflight

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/ezdfsd/ezdfsd/dfs"
	"github.com/ezdfsd/ezdfsd/metadata"
	"github.com/ezdfsd/ezdfsd/ops"
	"github.com/ezdfsd/ezdfsd/storage"
)

// fakeMeta is a metadata store and row lister over a map of table → rows (in LiveNames order).
type fakeMeta map[string][]metadata.File

func (m fakeMeta) LiveNames(_ context.Context, table string, limit int) ([]string, error) {
	var out []string
	for _, f := range m[table] {
		if len(out) < limit {
			out = append(out, f.Name)
		}
	}
	return out, nil
}

func (m fakeMeta) Lookup(_ context.Context, key metadata.Key) (metadata.File, error) {
	for _, f := range m[key.Table] {
		if f.Name == key.Name {
			return f, nil
		}
	}
	return metadata.File{}, metadata.ErrNotFound
}

// fakeS3 holds objects whose size it does not know without a read, like the S3 backend; Range
// gives what it has, so a short object reads short.
type fakeS3 map[string][]byte

func (b fakeS3) Open(_ context.Context, name string) (storage.Object, error) {
	data, ok := b[name]
	if !ok {
		return nil, fmt.Errorf("open %s: %w", name, storage.ErrNotExist)
	}
	return fakeObject(data), nil
}

type fakeObject []byte

func (o fakeObject) Size() int64 { return -1 }
func (o fakeObject) Range(_ context.Context, off, n int64) (io.Reader, error) {
	if off > int64(len(o)) {
		return nil, fmt.Errorf("range past the end: %w", storage.ErrUnavailable)
	}
	return io.LimitReader(bytes.NewReader(o[off:]), n), nil
}
func (o fakeObject) Close() error { return nil }

// TestRunSamples covers what the MariaDB test cannot set up easily: a non-critical check only
// warns; a row whose name routes to the other table is reported as unservable; a file larger
// than MaxRead is checked by its last byte; an object shorter than its row fails; at most
// PerBackend rows per table and backend are read.
func TestRunSamples(t *testing.T) {
	tables := dfs.DefaultTables()
	meta := fakeMeta{
		"ezdfsfile": {
			{Name: "var/site/cache/misplaced.php", Size: 3, MTime: 5},
			{Name: "var/site/storage/big.bin", Size: 20, MTime: 4},
			{Name: "var/site/storage/short.jpg", Size: 10, MTime: 3},
			{Name: "var/site/storage/unsampled.jpg", Size: 1, MTime: 2},
		},
	}
	backend := fakeS3{
		"var/site/cache/misplaced.php": []byte("abc"),
		"var/site/storage/big.bin":     bytes.Repeat([]byte("x"), 20),
		"var/site/storage/short.jpg":   []byte("12345"),
	}
	rep := Run(context.Background(), Setup{
		Checks: []ops.Check{
			{Name: "metadata_mysql", Critical: true, Probe: func(context.Context) error { return nil }},
			{Name: "memcached", Probe: func(context.Context) error { return errors.New("dial tcp 10.0.0.9:11211: connection refused") }},
		},
		Rows: meta, Meta: meta,
		Backends: map[string]storage.Backend{dfs.S3Backend: backend},
		Tables:   tables, Dispatch: dfs.Dispatch{Default: dfs.S3Backend},
		MaxRead: 16,
	})
	var out strings.Builder
	rep.WriteTable(&out)
	t.Logf("\n%s", out.String())
	want := []Finding{
		{Check: "metadata_mysql", Result: Pass},
		{Check: "memcached", Result: Warn, Reason: "dial tcp 10.0.0.9:11211: connection refused"},
		{Check: "file var/site/cache/misplaced.php", Result: Fail, Reason: "row is in ezdfsfile, but serving looks the name up in ezdfsfile_cache and finds nothing"},
		{Check: "file var/site/storage/big.bin", Result: Pass, Reason: "ezdfsfile row, 20 bytes (last byte read) from the S3 bucket"},
		{Check: "file var/site/storage/short.jpg", Result: Fail, Reason: "ezdfsfile row says 10 bytes; the S3 bucket gave only 5"},
		{Check: "sample ezdfsfile_cache", Result: Skip, Reason: "no live rows"},
	}
	if len(rep) != len(want) {
		t.Fatalf("%d findings, want %d", len(rep), len(want))
	}
	for i, w := range want {
		g := rep[i]
		if g.Check != w.Check || g.Result != w.Result || (w.Reason != "" && g.Reason != w.Reason) || (g.Result == Fail || g.Result == Warn) == (g.Fix == "") {
			t.Errorf("finding %d = %+v, want %+v (with a fix when failing)", i, g, w)
		}
	}
	if rep.Failures() != 2 || rep.OK() {
		t.Errorf("Failures = %d, OK = %v; want 2, false (a warning is no failure)", rep.Failures(), rep.OK())
	}
}
