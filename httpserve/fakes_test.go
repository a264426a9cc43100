package httpserve

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/ezdfsd/ezdfsd/metadata"
	"github.com/ezdfsd/ezdfsd/storage"
)

// fakeStore is an in-memory metadata.Store keyed by (table, name), so table routing is tested.
type fakeStore struct {
	mu      sync.Mutex
	rows    map[metadata.Key]metadata.File
	err     error // returned by every Lookup when set
	lookups int
}

func newFakeStore() *fakeStore { return &fakeStore{rows: map[metadata.Key]metadata.File{}} }

func (s *fakeStore) put(table string, f metadata.File) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rows[metadata.Key{Table: table, Name: f.Name}] = f
}

func (s *fakeStore) Lookup(_ context.Context, key metadata.Key) (metadata.File, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lookups++
	if s.err != nil {
		return metadata.File{}, fmt.Errorf("fake lookup %q: %w", key.Name, s.err)
	}
	f, ok := s.rows[key]
	if !ok {
		return metadata.File{}, fmt.Errorf("fake lookup %q in %s: %w", key.Name, key.Table, metadata.ErrNotFound)
	}
	return f, nil
}

// fakeMount behaves like the mount-point backend: files under a temp directory, Open stats the
// file, Range seeks and returns an *io.LimitedReader over the *os.File.
type fakeMount struct {
	root string

	mu          sync.Mutex
	opens       map[string]int
	rangeCalls  int
	beforeOpen  func(name string, attempt int) // attempt counts from 1
	beforeRange func(name string)
	openErr     map[string]error
}

// newFakeMount serves root, or a new temp directory when root is "".
func newFakeMount(t *testing.T, root string) *fakeMount {
	if root == "" {
		root = t.TempDir()
	}
	return &fakeMount{root: root, opens: map[string]int{}, openErr: map[string]error{}}
}

func (m *fakeMount) write(t *testing.T, name string, data []byte) {
	t.Helper()
	p := filepath.Join(m.root, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func (m *fakeMount) openCount(name string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.opens[name]
}

func (m *fakeMount) Open(_ context.Context, name string) (storage.Object, error) {
	m.mu.Lock()
	m.opens[name]++
	attempt := m.opens[name]
	hook := m.beforeOpen
	oerr := m.openErr[name]
	m.mu.Unlock()
	if hook != nil {
		hook(name, attempt)
	}
	if oerr != nil {
		return nil, oerr
	}
	f, err := os.Open(filepath.Join(m.root, filepath.FromSlash(name)))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("fake mount %q: %w", name, storage.ErrNotExist)
	}
	if err != nil {
		return nil, fmt.Errorf("fake mount %q: %w: %v", name, storage.ErrUnavailable, err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("fake mount %q: %w: %v", name, storage.ErrUnavailable, err)
	}
	return &mountObject{m: m, name: name, f: f, size: st.Size()}, nil
}

type mountObject struct {
	m    *fakeMount
	name string
	f    *os.File
	size int64
}

func (o *mountObject) Size() int64 { return o.size }

func (o *mountObject) Range(_ context.Context, off, n int64) (io.Reader, error) {
	o.m.mu.Lock()
	o.m.rangeCalls++
	hook := o.m.beforeRange
	o.m.mu.Unlock()
	if hook != nil {
		hook(o.name)
	}
	if _, err := o.f.Seek(off, io.SeekStart); err != nil {
		return nil, fmt.Errorf("fake mount seek: %w: %v", storage.ErrUnavailable, err)
	}
	return &io.LimitedReader{R: o.f, N: n}, nil
}

func (o *mountObject) Close() error { return o.f.Close() }

// fakeS3 behaves like the S3 backend: Open makes no remote call (Size is -1); a missing object
// or a failure surfaces from Range.
type fakeS3 struct {
	mu       sync.Mutex
	objects  map[string][]byte
	rangeErr map[string]error
	ranges   [][2]int64
}

func newFakeS3() *fakeS3 { return &fakeS3{objects: map[string][]byte{}, rangeErr: map[string]error{}} }

func (s *fakeS3) Open(_ context.Context, name string) (storage.Object, error) {
	return &s3Object{s: s, name: name}, nil
}

type s3Object struct {
	s    *fakeS3
	name string
}

func (o *s3Object) Size() int64 { return -1 }

func (o *s3Object) Range(_ context.Context, off, n int64) (io.Reader, error) {
	o.s.mu.Lock()
	defer o.s.mu.Unlock()
	o.s.ranges = append(o.s.ranges, [2]int64{off, n})
	if err := o.s.rangeErr[o.name]; err != nil {
		return nil, err
	}
	data, ok := o.s.objects[o.name]
	if !ok {
		return nil, fmt.Errorf("fake s3 GetObject %q: NoSuchKey: %w", o.name, storage.ErrNotExist)
	}
	if off > int64(len(data)) {
		off = int64(len(data))
	}
	end := min(off+n, int64(len(data)))
	return &exactReader{r: bytes.NewReader(data[off:end]), left: n}, nil
}

func (o *s3Object) Close() error { return nil }

// exactReader returns io.ErrUnexpectedEOF when r ends before left bytes, as storage.Object
// readers must.
type exactReader struct {
	r    io.Reader
	left int64
}

func (e *exactReader) Read(p []byte) (int, error) {
	if e.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > e.left {
		p = p[:e.left]
	}
	n, err := e.r.Read(p)
	e.left -= int64(n)
	if err == io.EOF && e.left > 0 {
		return n, io.ErrUnexpectedEOF
	}
	if e.left == 0 && err == nil {
		return n, nil
	}
	return n, err
}
