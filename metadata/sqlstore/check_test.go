package sqlstore_test

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ezdfsd/ezdfsd/metadata"
	"github.com/ezdfsd/ezdfsd/metadata/sqlstore"
)

// TestCheckSchema proves Check sees what serving needs on both engines: a complete schema
// passes; a dropped table is named with its database; a table that lacks serving columns is
// named with them; both problems at once are both reported; a table outside the configuration
// is refused.
func TestCheckSchema(t *testing.T) {
	stores(t, sqlstore.Config{}, func(t *testing.T, s *sqlstore.Store, _ *prometheus.Registry) {
		ctx := context.Background()
		if err := s.Check(ctx); err != nil {
			t.Fatalf("Check with eZ's schema: %v", err)
		}
		exec(t, s, "DROP TABLE ezdfsfile_cache")
		err := s.Check(ctx)
		var se *sqlstore.SchemaError
		if !errors.As(err, &se) || !errors.Is(err, sqlstore.ErrSchema) || errors.Is(err, metadata.ErrUnavailable) {
			t.Fatalf("Check without the cache table = %v, want a *SchemaError", err)
		}
		if se.Table != "ezdfsfile_cache" || len(se.Missing) != 0 ||
			!strings.HasPrefix(err.Error(), "table ezdfsfile_cache does not exist in ") || !strings.Contains(err.Error(), "database ") {
			t.Errorf("Check without the cache table = %q (%+v)", err, se)
		}
		t.Logf("missing table: %v", err)

		// A table that exists but is not an eZ DFS table: serving would fail on every lookup.
		exec(t, s, "DROP TABLE ezdfsfile")
		exec(t, s, "CREATE TABLE ezdfsfile (name TEXT, name_hash VARCHAR(34), Size BIGINT, mtime INT)")
		err = s.Check(ctx)
		want := "table ezdfsfile in "
		if err == nil || !strings.HasPrefix(err.Error(), want) ||
			!strings.Contains(err.Error(), "lacks the column(s) datatype, scope, expired that ezdfsd reads; table ezdfsfile_cache does not exist") {
			t.Errorf("Check with a bad table and no cache table = %v", err)
		}
		if !errors.Is(err, sqlstore.ErrSchema) {
			t.Errorf("Check = %v, want ErrSchema", err)
		}
		t.Logf("both: %v", err)
		if err := s.CheckTable(ctx, "other"); !errors.Is(err, sqlstore.ErrUnknownTable) {
			t.Errorf("CheckTable(other) = %v, want ErrUnknownTable", err)
		}
	})
}

// TestLiveNames lists only live rows (positive mtime, not expired), newest first, up to the limit.
func TestLiveNames(t *testing.T) {
	stores(t, sqlstore.Config{}, func(t *testing.T, s *sqlstore.Store, _ *prometheus.Registry) {
		ctx := context.Background()
		for _, f := range []metadata.File{
			{Name: "var/a", Size: 1, MTime: 100},
			{Name: "var/b", Size: 1, MTime: 300},
			{Name: "var/c", Size: 1, MTime: 200},
			{Name: "var/deleted", Size: 1, MTime: -400},
			{Name: "var/expired", Size: 1, MTime: 500, Expired: true},
		} {
			if err := s.Put(ctx, "ezdfsfile", f); err != nil {
				t.Fatal(err)
			}
		}
		got, err := s.LiveNames(ctx, "ezdfsfile", 2)
		if err != nil || !reflect.DeepEqual(got, []string{"var/b", "var/c"}) {
			t.Errorf("LiveNames(2) = %q, %v; want [var/b var/c]", got, err)
		}
		got, err = s.LiveNames(ctx, "ezdfsfile_cache", 2)
		if err != nil || len(got) != 0 {
			t.Errorf("LiveNames(empty table) = %q, %v", got, err)
		}
	})
}

func exec(t *testing.T, s *sqlstore.Store, q string) {
	t.Helper()
	if _, err := s.DB().ExecContext(context.Background(), q); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}
