package sqlstore_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ezdfsd/ezdfsd/metadata"
	"github.com/ezdfsd/ezdfsd/metadata/sqlstore"
)

// TestRowAndRowLock: Row reads one row afresh; WithRowLock hands fn the row and holds it
// against a store of the same name (eZ's upsert) until fn returns, and returns fn's error.
func TestRowAndRowLock(t *testing.T) {
	stores(t, sqlstore.Config{Tables: []string{"ezdfsfile"}}, func(t *testing.T, s *sqlstore.Store, _ *prometheus.Registry) {
		ctx := context.Background()
		name := "var/site/storage/images/a b/é'+%.png"
		if _, found, err := s.Row(ctx, "ezdfsfile", name); err != nil || found {
			t.Fatalf("Row of a missing name: found %v, %v", found, err)
		}
		if err := s.Put(ctx, "ezdfsfile", metadata.File{Name: name, Scope: "image", Size: 7, MTime: 100}); err != nil {
			t.Fatal(err)
		}
		r, found, err := s.Row(ctx, "ezdfsfile", name)
		if err != nil || !found || r.Name != name || r.Size != 7 || r.MTime != 100 || r.NameHash != metadata.NameHash(name) {
			t.Fatalf("Row: %+v, %v, %v", r, found, err)
		}
		stored := make(chan error, 1)
		err = s.WithRowLock(ctx, "ezdfsfile", metadata.NameHash(name), func(r sqlstore.Row, found bool) error {
			if !found || r.MTime != 100 {
				t.Errorf("locked row %+v, found %v", r, found)
			}
			go func() {
				stored <- s.Put(ctx, "ezdfsfile", metadata.File{Name: name, Scope: "image", Size: 7, MTime: 200})
			}()
			select {
			case err := <-stored:
				t.Errorf("a store of the locked row committed while the lock was held (%v)", err)
				stored <- err // for the wait below
			case <-time.After(300 * time.Millisecond):
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := <-stored; err != nil {
			t.Fatalf("the store after the lock: %v", err)
		}
		if r, _, _ := s.Row(ctx, "ezdfsfile", name); r.MTime != 200 {
			t.Errorf("after the lock: mtime %d, want the store's 200", r.MTime)
		}
		boom := errors.New("boom")
		if err := s.WithRowLock(ctx, "ezdfsfile", metadata.NameHash("nothing"), func(_ sqlstore.Row, found bool) error {
			if found {
				t.Error("found a row for a missing name")
			}
			return boom
		}); !errors.Is(err, boom) {
			t.Errorf("fn's error not returned: %v", err)
		}
	})
}
