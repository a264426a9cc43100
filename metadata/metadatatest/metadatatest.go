// Package metadatatest is the conformance suite every metadata.Store must pass, run against
// each implementation's own test set-up (SQL stores on real servers, caching decorators around
// them, fakes).
package metadatatest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/ezdfsd/ezdfsd/metadata"
)

// Tables the suite writes to and reads from; newStore must configure both.
const (
	StorageTable = "ezdfsfile"
	CacheTable   = "ezdfsfile_cache"
)

// TestStore runs the conformance suite. newStore is called once per subtest and returns a
// Store and a Writer over the same, initially empty, data holding StorageTable and
// CacheTable; cleanup is registered on t by newStore. The Writer's Put must be visible to the
// next Lookup (caching decorators pass a Writer that invalidates or writes through).
//
// What the suite requires of a Store, beyond metadata.Store's doc:
//   - rows come back field for field as put (Name, Datatype, Scope, Size, MTime, Expired),
//     for any name bytes (spaces, quotes, %, ?, UTF-8 incl. 4-byte characters, case);
//   - a deleted row (negative mtime) is returned, not ErrNotFound; mtime 0 is a row too;
//   - sizes above 4 GiB survive; empty datatype and scope survive;
//   - tables are separate: a row in one is ErrNotFound in the other;
//   - Put replaces a row, including clearing Expired;
//   - a cancelled context gives an error wrapping context.Canceled, neither ErrNotFound nor
//     ErrUnavailable, whether or not the row exists;
//   - concurrent Lookups are safe (run the suite with -race).
func TestStore(t *testing.T, newStore func(t *testing.T) (metadata.Store, metadata.Writer)) {
	t.Run("Found", func(t *testing.T) {
		s, w := newStore(t)
		f := metadata.File{
			Name: "var/ezdemo_site/storage/images/a/b/c/foo.jpg", Datatype: "image/jpeg",
			Scope: "image", Size: 70 * 1024, MTime: 1700000000,
		}
		put(t, w, StorageTable, f)
		want(t, s, StorageTable, f)
	})

	t.Run("NotFound", func(t *testing.T) {
		s, w := newStore(t)
		put(t, w, StorageTable, file("var/site/storage/images/present.png"))
		for _, name := range []string{
			"var/site/storage/images/absent.png",
			"var/site/storage/images/present.png ", // trailing space is another name
			"var/site/storage/images/Present.png",  // so is another case
			"",
		} {
			wantNotFound(t, s, StorageTable, name)
		}
	})

	t.Run("Names", func(t *testing.T) {
		s, w := newStore(t)
		names := []string{
			"var/site/storage/images/with space/a b.jpg",
			"var/site/storage/images/quote's/o'brien.jpg",
			`var/site/storage/images/dq/say "hi".jpg`,
			`var/site/storage/images/bs/back\slash.jpg`,
			"var/site/storage/images/pct/100%_done%25.jpg",
			"var/site/storage/images/q/what?.jpg",
			"var/site/storage/images/semi/a;b--c`d.jpg",
			"var/site/storage/images/utf8/café-Ünïcødé.jpg",
			"var/site/storage/images/utf8/日本語.png",
			"var/site/storage/images/utf8/emoji-😀.png",
			"var/site/storage/images/case/Foo.JPG",
			"var/site/storage/images/case/foo.jpg",
			"var/site/storage/images/long/" + strings.Repeat("x", 900) + ".jpg",
		}
		for i, n := range names {
			f := file(n)
			f.Size = int64(i + 1) // distinct rows, so a mixed-up lookup shows
			f.Datatype = fmt.Sprintf("image/x-%d", i)
			put(t, w, StorageTable, f)
		}
		for i, n := range names {
			f := file(n)
			f.Size = int64(i + 1)
			f.Datatype = fmt.Sprintf("image/x-%d", i)
			t.Run(fmt.Sprintf("%d", i), func(t *testing.T) { want(t, s, StorageTable, f) })
		}
	})

	t.Run("Rows", func(t *testing.T) {
		s, w := newStore(t)
		cases := []struct {
			desc string
			f    metadata.File
		}{
			{"deleted: negative mtime is a row", metadata.File{Name: "var/site/storage/images/deleted.jpg",
				Datatype: "image/jpeg", Scope: "image", Size: 10, MTime: -1700000000, Expired: true}},
			{"mtime -1 (eZ's store of an mtime-0 file)", metadata.File{Name: "var/site/storage/images/minus-one.jpg",
				Datatype: "image/jpeg", Scope: "image", Size: 10, MTime: -1, Expired: true}},
			{"mtime 0", metadata.File{Name: "var/site/storage/images/epoch.jpg",
				Datatype: "image/jpeg", Scope: "image", Size: 10, MTime: 0}},
			{"mtime 0 deleted (-ABS(0) = 0)", metadata.File{Name: "var/site/storage/images/epoch-deleted.jpg",
				Datatype: "image/jpeg", Scope: "image", Size: 10, MTime: 0, Expired: true}},
			{"expired with positive mtime", metadata.File{Name: "var/site/storage/images/expired.jpg",
				Datatype: "image/jpeg", Scope: "image", Size: 10, MTime: 1600000000, Expired: true}},
			{"size above 4 GiB", metadata.File{Name: "var/site/storage/original/video/big.mp4",
				Datatype: "video/mp4", Scope: "binaryfile", Size: 5<<30 + 123, MTime: 1600000000}},
			{"size 0, empty datatype and scope (.generating row)", metadata.File{
				Name: "var/site/cache/public/a.css.generating", MTime: 1600000000}},
			{"max int32 mtime", metadata.File{Name: "var/site/storage/images/y2038.jpg",
				Datatype: "misc", Scope: "UNKNOWN_SCOPE", Size: 1, MTime: 1<<31 - 1}},
		}
		for _, c := range cases {
			put(t, w, StorageTable, c.f)
		}
		for _, c := range cases {
			t.Run(c.desc, func(t *testing.T) {
				got := want(t, s, StorageTable, c.f)
				if got.Deleted() != (c.f.MTime < 0) {
					t.Errorf("Deleted() = %v for mtime %d", got.Deleted(), got.MTime)
				}
			})
		}
	})

	t.Run("TableSeparation", func(t *testing.T) {
		s, w := newStore(t)
		inStorage := file("var/site/storage/images/only-in-storage.jpg")
		inCache := file("var/site/cache/public/only-in-cache.css")
		inCache.Datatype = "text/css"
		put(t, w, StorageTable, inStorage)
		put(t, w, CacheTable, inCache)
		want(t, s, StorageTable, inStorage)
		want(t, s, CacheTable, inCache)
		wantNotFound(t, s, CacheTable, inStorage.Name)
		wantNotFound(t, s, StorageTable, inCache.Name)

		// The same name in both tables holds two independent rows.
		both := file("var/site/cache/public/both.css")
		a, b := both, both
		a.Datatype, b.Datatype = "text/css", "text/plain"
		a.Size, b.Size = 1, 2
		put(t, w, StorageTable, a)
		put(t, w, CacheTable, b)
		want(t, s, StorageTable, a)
		want(t, s, CacheTable, b)
	})

	t.Run("PutReplaces", func(t *testing.T) {
		s, w := newStore(t)
		name := "var/site/storage/images/replaced.jpg"
		steps := []metadata.File{
			{Name: name, Datatype: "image/jpeg", Scope: "image", Size: 100, MTime: 1600000000},
			{Name: name, Datatype: "image/jpeg", Scope: "image", Size: 100, MTime: -1600000000, Expired: true},
			{Name: name, Datatype: "image/png", Scope: "image", Size: 6 << 30, MTime: 1700000000},
		}
		for i, f := range steps {
			put(t, w, StorageTable, f)
			t.Run(fmt.Sprintf("step%d", i), func(t *testing.T) { want(t, s, StorageTable, f) })
		}
	})

	t.Run("ContextCanceled", func(t *testing.T) {
		s, w := newStore(t)
		present := file("var/site/storage/images/cancel-present.jpg")
		put(t, w, StorageTable, present)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		for _, name := range []string{present.Name, "var/site/storage/images/cancel-absent.jpg"} {
			_, err := s.Lookup(ctx, metadata.Key{Table: StorageTable, Name: name})
			switch {
			case err == nil:
				t.Errorf("Lookup(%q) with cancelled context: no error", name)
			case !errors.Is(err, context.Canceled):
				t.Errorf("Lookup(%q) with cancelled context: %v, want it to wrap context.Canceled", name, err)
			case errors.Is(err, metadata.ErrNotFound), errors.Is(err, metadata.ErrUnavailable):
				t.Errorf("Lookup(%q) with cancelled context: %v, must be neither ErrNotFound nor ErrUnavailable", name, err)
			}
		}
		// The store still works afterwards.
		want(t, s, StorageTable, present)
	})

	t.Run("Concurrent", func(t *testing.T) {
		s, w := newStore(t)
		const n = 16
		files := make([]metadata.File, n)
		for i := range files {
			files[i] = file(fmt.Sprintf("var/site/storage/images/concurrent/%d.jpg", i))
			files[i].Size = int64(i)
			put(t, w, StorageTable, files[i])
		}
		var wg sync.WaitGroup
		errs := make(chan error, 8*n)
		for g := 0; g < 8; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range files {
					f := files[(i+g)%n]
					got, err := s.Lookup(context.Background(), metadata.Key{Table: StorageTable, Name: f.Name})
					if err != nil {
						errs <- err
						continue
					}
					if got != f {
						errs <- fmt.Errorf("Lookup(%q) = %+v, want %+v", f.Name, got, f)
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
	})
}

// file returns a plain, served image row for name.
func file(name string) metadata.File {
	return metadata.File{Name: name, Datatype: "image/jpeg", Scope: "image", Size: 1234, MTime: 1700000000}
}

func put(t *testing.T, w metadata.Writer, table string, f metadata.File) {
	t.Helper()
	if err := w.Put(context.Background(), table, f); err != nil {
		t.Fatalf("Put(%s, %q): %v", table, f.Name, err)
	}
}

// want looks f up in table and fails unless it comes back field for field.
func want(t *testing.T, s metadata.Store, table string, f metadata.File) metadata.File {
	t.Helper()
	got, err := s.Lookup(context.Background(), metadata.Key{Table: table, Name: f.Name})
	if err != nil {
		t.Fatalf("Lookup(%s, %q): %v", table, f.Name, err)
	}
	if got != f {
		t.Errorf("Lookup(%s, %q)\n got %+v\nwant %+v", table, f.Name, got, f)
	}
	return got
}

func wantNotFound(t *testing.T, s metadata.Store, table, name string) {
	t.Helper()
	got, err := s.Lookup(context.Background(), metadata.Key{Table: table, Name: name})
	if !errors.Is(err, metadata.ErrNotFound) {
		t.Errorf("Lookup(%s, %q) = %+v, %v; want ErrNotFound", table, name, got, err)
	}
	if errors.Is(err, metadata.ErrUnavailable) {
		t.Errorf("Lookup(%s, %q): %v wraps ErrUnavailable as well", table, name, err)
	}
}
