// Package storagetest is the conformance suite every storage.Backend must pass (mount point,
// S3 on a real server, S3 on a fake), in the spirit of gocloud.dev/blob/drivertest: the
// behaviour the HTTP layer relies on is pinned once, here, not per backend.
package storagetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/ezdfsd/ezdfsd/storage"
)

// Prefix is the directory (key prefix) under which the suite stores its objects.
const Prefix = "var/storagetest/"

// TestBackend runs the conformance suite against b. put must store data under name so that b
// serves it afterwards (failing the test if it cannot); the suite only writes names below
// Prefix. The suite checks that:
//
//   - an existing object reads back whole and by ranges (start, middle, end, one byte, empty);
//   - a missing object, or an invalid name, gives storage.ErrNotExist from Open or at the latest
//     from the first Range call;
//   - a range past the end of a shorter object never reads as a silent short body: Range or the
//     reader fails, a reader ending early with io.ErrUnexpectedEOF;
//   - names with spaces, quotes, UTF-8, "%", "?", "+", "#" and similar are stored verbatim and
//     do not collide ("a b" and "a%20b" are different objects);
//   - concurrent opens work, Close twice is safe, a second Range replaces the first, and a
//     cancelled context fails with an error wrapping context.Canceled.
func TestBackend(t *testing.T, b storage.Backend, put func(t *testing.T, name string, data []byte)) {
	t.Helper()
	s := &suite{b: b, put: put}
	t.Run("FullRead", s.testFullRead)
	t.Run("Ranges", s.testRanges)
	t.Run("Missing", s.testMissing)
	t.Run("InvalidNames", s.testInvalidNames)
	t.Run("ShortObject", s.testShortObject)
	t.Run("Names", s.testNames)
	t.Run("RangeTwice", s.testRangeTwice)
	t.Run("Concurrent", s.testConcurrent)
	t.Run("CloseTwice", s.testCloseTwice)
	t.Run("CanceledContext", s.testCanceled)
}

type suite struct {
	b   storage.Backend
	put func(t *testing.T, name string, data []byte)
}

// Data returns n deterministic pseudo-random bytes derived from seed, so that any misplaced
// offset shows up as a content mismatch.
func Data(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := 0; i < n; i += 8 {
		v := r.Uint64()
		for j := 0; j < 8 && i+j < n; j++ {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	return b
}

// ReadRange opens name, reads n bytes at off and closes the object.
func ReadRange(ctx context.Context, b storage.Backend, name string, off, n int64) ([]byte, error) {
	obj, err := b.Open(ctx, name)
	if err != nil {
		return nil, err
	}
	defer obj.Close()
	r, err := obj.Range(ctx, off, n)
	if err != nil {
		return nil, err
	}
	return io.ReadAll(r)
}

func (s *suite) testFullRead(t *testing.T) {
	for _, size := range []int{0, 1, 4095, 4096, 70 << 10, 1<<20 + 3} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			name := fmt.Sprintf("%sfull/%d.bin", Prefix, size)
			data := Data(uint64(size), size)
			s.put(t, name, data)
			ctx := context.Background()
			obj, err := s.b.Open(ctx, name)
			if err != nil {
				t.Fatalf("Open(%q): %v", name, err)
			}
			defer obj.Close()
			if got := obj.Size(); got != -1 && got != int64(size) {
				t.Errorf("Size() = %d, want %d or -1", got, size)
			}
			r, err := obj.Range(ctx, 0, int64(size))
			if err != nil {
				t.Fatalf("Range(0, %d): %v", size, err)
			}
			got, err := io.ReadAll(r)
			if err != nil {
				t.Fatalf("read: %v", err)
			}
			if !bytes.Equal(got, data) {
				t.Fatalf("read %d bytes, content differs from the %d stored", len(got), len(data))
			}
		})
	}
}

func (s *suite) testRanges(t *testing.T) {
	const size = 10000
	name := Prefix + "ranges/file.bin"
	data := Data(42, size)
	s.put(t, name, data)
	tests := []struct {
		name   string
		off, n int64
	}{
		{"start", 0, 100},
		{"middle", 4000, 2500},
		{"end", size - 777, 777},
		{"first byte", 0, 1},
		{"middle byte", 5000, 1},
		{"last byte", size - 1, 1},
		{"empty at start", 0, 0},
		{"empty in middle", 1234, 0},
		{"empty at end", size, 0},
		{"all", 0, size},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ReadRange(context.Background(), s.b, name, tt.off, tt.n)
			if err != nil {
				t.Fatalf("range off=%d n=%d: %v", tt.off, tt.n, err)
			}
			want := data[tt.off : tt.off+tt.n]
			if !bytes.Equal(got, want) {
				t.Fatalf("range off=%d n=%d: got %d bytes, content differs from the %d wanted", tt.off, tt.n, len(got), len(want))
			}
		})
	}
}

// openErr returns the error of opening name and reading n bytes from it: from Open, from Range
// or from the reader, whichever comes first.
func (s *suite) openErr(ctx context.Context, name string, n int64) (stage string, err error) {
	obj, err := s.b.Open(ctx, name)
	if err != nil {
		return "Open", err
	}
	defer obj.Close()
	r, err := obj.Range(ctx, 0, n)
	if err != nil {
		return "Range", err
	}
	_, err = io.ReadAll(r)
	return "read", err
}

func (s *suite) testMissing(t *testing.T) {
	s.put(t, Prefix+"missing/present.txt", []byte("here"))
	for _, name := range []string{
		Prefix + "missing/absent.txt",
		Prefix + "missing/present.txt/below",
		Prefix + "no-such-dir/absent.txt",
		Prefix + "missing/PRESENT.txt",
	} {
		t.Run(name, func(t *testing.T) {
			stage, err := s.openErr(context.Background(), name, 1)
			if stage == "read" || !errors.Is(err, storage.ErrNotExist) {
				t.Fatalf("%s: error %v, want storage.ErrNotExist from Open or Range", stage, err)
			}
		})
	}
}

func (s *suite) testInvalidNames(t *testing.T) {
	s.put(t, Prefix+"invalid/x", []byte("x"))
	for _, name := range []string{
		"",
		"/" + Prefix + "invalid/x",
		Prefix + "invalid/../invalid/x",
		Prefix + "invalid/./x",
		Prefix + "invalid//x",
		"../../../../../../etc/passwd",
		Prefix + "invalid/x\x00",
	} {
		t.Run(fmt.Sprintf("%q", name), func(t *testing.T) {
			stage, err := s.openErr(context.Background(), name, 1)
			if stage == "read" || !errors.Is(err, storage.ErrNotExist) {
				t.Fatalf("%s: error %v, want storage.ErrNotExist from Open or Range", stage, err)
			}
		})
	}
}

func (s *suite) testShortObject(t *testing.T) {
	const size = 1000
	name := Prefix + "short/file.bin"
	data := Data(7, size)
	s.put(t, name, data)
	tests := []struct {
		name   string
		off, n int64
	}{
		{"whole plus one", 0, size + 1},
		{"tail overlapping end", size - 10, 20},
		{"starting at end", size, 5},
		{"starting past end", size + 100, 5},
		{"much longer", 0, 10 * size},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			obj, err := s.b.Open(ctx, name)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer obj.Close()
			r, err := obj.Range(ctx, tt.off, tt.n)
			if err != nil {
				if errors.Is(err, storage.ErrNotExist) {
					t.Fatalf("Range error %v: the object exists, want another error", err)
				}
				return // refused up front: fine
			}
			got, err := io.ReadAll(r)
			if err == nil {
				t.Fatalf("read %d of %d bytes with no error: silent short body", len(got), tt.n)
			}
			if int64(len(got)) >= tt.n {
				t.Fatalf("read %d bytes, want fewer than %d", len(got), tt.n)
			}
			if lo := min(tt.off, size); !bytes.Equal(got, data[lo:lo+int64(len(got))]) {
				t.Errorf("the %d bytes read before the error differ from the stored ones", len(got))
			}
			if !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Logf("reader error %v (not io.ErrUnexpectedEOF; allowed but less precise)", err)
			}
		})
	}
}

// Names returns the awkward but valid cluster names the suite stores, each below Prefix.
func Names() []string {
	names := []string{
		"with space.jpg",
		"a b",
		"a%20b",
		"a+b",
		"percent%.txt",
		"percent%25.txt",
		"question?mark.png",
		"question%3Fmark.png",
		"hash#frag.css",
		"amp&eq=semi;colon",
		`single'quote`,
		`double"quote`,
		"back`tick",
		"tilde~star*bang!",
		"paren(1)[2]{3}",
		"dollar$at@comma,",
		"utf8/été/ファイル.jpg",
		"utf8/Ä.png",
		"utf8/A\u0308.png", // decomposed Ä: a different name
		"emoji/😀.gif",
		"trailing.dot.",
		"-leading-dash",
		".hidden",
		"deep/a/b/c/d/e/f/g/h/i/j/file",
		"var/ezdemo_site/storage/images/media/images/x/123-1-eng-GB/x_reference.jpg",
	}
	for i, n := range names {
		names[i] = Prefix + "names/" + n
	}
	return names
}

func (s *suite) testNames(t *testing.T) {
	names := Names()
	for i, name := range names {
		s.put(t, name, append([]byte(name+"\n"), Data(uint64(i), 100)...))
	}
	for i, name := range names {
		t.Run(name, func(t *testing.T) {
			want := append([]byte(name+"\n"), Data(uint64(i), 100)...)
			got, err := ReadRange(context.Background(), s.b, name, 0, int64(len(want)))
			if err != nil {
				t.Fatalf("read: %v", err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("content of %q is %q…, want its own content", name, got[:min(len(got), 80)])
			}
		})
	}
}

func (s *suite) testRangeTwice(t *testing.T) {
	name := Prefix + "twice/file.bin"
	data := Data(3, 5000)
	s.put(t, name, data)
	ctx := context.Background()
	obj, err := s.b.Open(ctx, name)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer obj.Close()
	for i, rg := range [][2]int64{{100, 50}, {4000, 1000}, {0, 10}, {0, 5000}} {
		r, err := obj.Range(ctx, rg[0], rg[1])
		if err != nil {
			t.Fatalf("Range #%d %v: %v", i, rg, err)
		}
		// Read only part of the first ranges: the next Range must not depend on it.
		limit := rg[1]
		if i < 2 {
			limit = rg[1] / 2
		}
		got, err := io.ReadAll(io.LimitReader(r, limit))
		if err != nil {
			t.Fatalf("read #%d: %v", i, err)
		}
		if !bytes.Equal(got, data[rg[0]:rg[0]+limit]) {
			t.Fatalf("Range #%d %v: content differs", i, rg)
		}
	}
}

func (s *suite) testConcurrent(t *testing.T) {
	const files, workers, rounds = 4, 16, 8
	datas := make([][]byte, files)
	for i := range datas {
		datas[i] = Data(uint64(100+i), 20000+i)
		s.put(t, fmt.Sprintf("%sconcurrent/%d", Prefix, i), datas[i])
	}
	var wg sync.WaitGroup
	errs := make(chan error, workers*rounds)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range rounds {
				i := (w + r) % files
				off := int64(r * 1000)
				n := int64(len(datas[i])) - off
				got, err := ReadRange(context.Background(), s.b, fmt.Sprintf("%sconcurrent/%d", Prefix, i), off, n)
				if err != nil {
					errs <- fmt.Errorf("worker %d file %d: %w", w, i, err)
					continue
				}
				if !bytes.Equal(got, datas[i][off:]) {
					errs <- fmt.Errorf("worker %d file %d: content differs", w, i)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func (s *suite) testCloseTwice(t *testing.T) {
	name := Prefix + "close/file.txt"
	s.put(t, name, []byte("close me twice"))
	ctx := context.Background()
	t.Run("unused", func(t *testing.T) {
		obj, err := s.b.Open(ctx, name)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		if err := obj.Close(); err != nil {
			t.Errorf("first Close: %v", err)
		}
		if err := obj.Close(); err != nil {
			t.Errorf("second Close: %v", err)
		}
	})
	t.Run("after partial read", func(t *testing.T) {
		obj, err := s.b.Open(ctx, name)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		r, err := obj.Range(ctx, 0, 14)
		if err != nil {
			t.Fatalf("Range: %v", err)
		}
		if _, err := io.ReadFull(r, make([]byte, 3)); err != nil {
			t.Fatalf("read: %v", err)
		}
		if err := obj.Close(); err != nil {
			t.Errorf("first Close: %v", err)
		}
		if err := obj.Close(); err != nil {
			t.Errorf("second Close: %v", err)
		}
		if _, err := obj.Range(ctx, 0, 1); err == nil {
			t.Errorf("Range after Close: no error")
		}
	})
}

func (s *suite) testCanceled(t *testing.T) {
	name := Prefix + "cancel/file.txt"
	s.put(t, name, []byte("cancelled"))
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	t.Run("Open", func(t *testing.T) {
		stage, err := s.openErr(canceled, name, 9)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("%s: error %v, want one wrapping context.Canceled", stage, err)
		}
	})
	t.Run("Range", func(t *testing.T) {
		obj, err := s.b.Open(context.Background(), name)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		defer obj.Close()
		r, err := obj.Range(canceled, 0, 9)
		if err == nil {
			_, err = io.ReadAll(r)
		}
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("error %v, want one wrapping context.Canceled", err)
		}
	})
}
