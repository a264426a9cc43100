package walk_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/ezdfsd/ezdfsd/dfs"
	"github.com/ezdfsd/ezdfsd/internal/testenv"
	"github.com/ezdfsd/ezdfsd/internal/testkit"
	"github.com/ezdfsd/ezdfsd/maint/walk"
	"github.com/ezdfsd/ezdfsd/metadata"
	"github.com/ezdfsd/ezdfsd/metadata/sqlstore"
	"github.com/ezdfsd/ezdfsd/storage/s3"
)

func stores(t *testing.T, f func(t *testing.T, s *sqlstore.Store)) {
	t.Run("sqlite", func(t *testing.T) {
		s, err := sqlstore.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "dfs.sqlite"),
			sqlstore.Config{Tables: dfs.DefaultTables().Names()}, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		f(t, s)
	})
	t.Run("mysql", func(t *testing.T) {
		f(t, testkit.MySQLStore(t, testenv.MySQLDatabase(t)))
	})
	t.Run("postgres", func(t *testing.T) {
		s, err := sqlstore.OpenPostgres(context.Background(), testenv.PostgresDatabase(t), sqlstore.Config{Tables: dfs.DefaultTables().Names()}, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		if err := s.CreateSchema(context.Background()); err != nil {
			t.Fatal(err)
		}
		f(t, s)
	})
}

func put(t *testing.T, s *sqlstore.Store, name, scope string, mtime int64) {
	t.Helper()
	if err := s.Put(context.Background(), dfs.DefaultStorageTable, metadata.File{Name: name, Scope: scope, Size: 3, MTime: mtime}); err != nil {
		t.Fatal(err)
	}
}

// TestRowsKeyset walks 50 rows 7 at a time while the callback deletes every row it is handed
// (as a purge does): keyset paging must visit every row exactly once, in name_hash order.
// OFFSET paging skips rows here (the page after a deleting page starts too far).
func TestRowsKeyset(t *testing.T) {
	stores(t, func(t *testing.T, s *sqlstore.Store) {
		ctx := context.Background()
		var want []string
		for i := range 50 {
			name := fmt.Sprintf("var/site/storage/images/%02d.jpg", i)
			put(t, s, name, "image", -1000-int64(i))
			want = append(want, metadata.NameHash(name))
		}
		put(t, s, "var/site/storage/live.jpg", "image", 5) // not expired: not visited
		slices.Sort(want)
		var got []string
		err := walk.Rows(ctx, s, dfs.DefaultStorageTable, sqlstore.PageFilter{ExpiredOnly: true}, 7, func(r sqlstore.Row) error {
			got = append(got, r.NameHash)
			_, err := s.PurgeRows(ctx, dfs.DefaultStorageTable, []string{r.NameHash}, func(sqlstore.Row) error { return nil })
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("visited %d rows, want %d in name_hash order:\ngot  %v\nwant %v", len(got), len(want), got, want)
		}
	})
}

// TestRowsFilter checks scope, prefix (exact bytes, LIKE metacharacters literal, case
// sensitive) and original-mtime filters.
func TestRowsFilter(t *testing.T) {
	stores(t, func(t *testing.T, s *sqlstore.Store) {
		ctx := context.Background()
		put(t, s, "var/a_b/1", "mediafile", -100)
		put(t, s, "var/aXb/2", "mediafile", -100) // "_" must not match X
		put(t, s, "var/A_b/3", "mediafile", -100) // case differs
		put(t, s, "var/a_b/4", "image", -300)
		put(t, s, "var/a_b/5", "viewcache", -100)
		collect := func(f sqlstore.PageFilter) []string {
			var names []string
			if err := walk.Rows(ctx, s, dfs.DefaultStorageTable, f, 2, func(r sqlstore.Row) error {
				names = append(names, r.Name)
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			slices.Sort(names)
			return names
		}
		cases := []struct {
			f    sqlstore.PageFilter
			want []string
		}{
			{sqlstore.PageFilter{NamePrefix: "var/a_b/"}, []string{"var/a_b/1", "var/a_b/4", "var/a_b/5"}},
			{sqlstore.PageFilter{Scopes: []string{"mediafile", "image"}, NamePrefix: "var/a_b/"}, []string{"var/a_b/1", "var/a_b/4"}},
			{sqlstore.PageFilter{MTimeBefore: 200}, []string{"var/A_b/3", "var/aXb/2", "var/a_b/1", "var/a_b/5"}},
		}
		for _, c := range cases {
			if got := collect(c.f); !slices.Equal(got, c.want) {
				t.Errorf("filter %+v: got %v, want %v", c.f, got, c.want)
			}
		}
	})
}

func TestFiles(t *testing.T) {
	root := t.TempDir()
	for _, n := range []string{"var/s/storage/a.jpg", "var/s/storage/b/c.jpg", "var/s/cache/x.php",
		"var/s/storage/.c.jpg.ezdfsd-tmp-0011", "var/s/storage/d.jpg.tmp", "var/other/z"} {
		p := filepath.Join(root, n)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(n), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("/etc/passwd", filepath.Join(root, "var/s/storage/link")); err != nil {
		t.Fatal(err)
	}
	list := func(prefix string) []string {
		var out []string
		err := walk.Files(context.Background(), root, prefix, func(f walk.File) error {
			if size, _, err := f.Info(); err != nil || size != int64(len(f.Name)) {
				t.Errorf("%s: size %d, %v", f.Name, size, err)
			}
			out = append(out, fmt.Sprintf("%s temp=%v", f.Name, f.Temp))
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	want := []string{"var/s/storage/.c.jpg.ezdfsd-tmp-0011 temp=true", "var/s/storage/a.jpg temp=false",
		"var/s/storage/b/c.jpg temp=false", "var/s/storage/d.jpg.tmp temp=true"}
	if got := list("var/s/storage/"); !slices.Equal(got, want) {
		t.Errorf("prefix var/s/storage/:\ngot  %q\nwant %q", got, want)
	}
	if got := list(""); len(got) != 6 {
		t.Errorf("whole mount: %d files %q, want 6", len(got), got)
	}
	if got := list("var/s/stor"); len(got) != 4 {
		t.Errorf("prefix var/s/stor: %q", got)
	}
	if got := list("nothing/here/"); len(got) != 0 {
		t.Errorf("missing prefix: %q", got)
	}
	stop := errors.New("stop")
	if err := walk.Files(context.Background(), root, "", func(walk.File) error { return stop }); !errors.Is(err, stop) {
		t.Errorf("callback error not returned: %v", err)
	}
}

// TestObjects lists 2,500 keys (three ListObjectsV2 pages) of a versitygw bucket by prefix.
func TestObjects(t *testing.T) {
	srv := testenv.S3Server(t)
	admin := testkit.S3Admin(srv)
	bucket := testkit.NewBucket(t, srv, admin, "walk-")
	ctx := context.Background()
	n := 25
	if testenv.Slow() {
		n = 2500
	}
	for i := range n {
		key := fmt.Sprintf("var/s/storage/%04d", i)
		if _, err := admin.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key),
			Body: strings.NewReader("abc")}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := admin.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("var/s/cache/x"),
		Body: strings.NewReader("x")}); err != nil {
		t.Fatal(err)
	}
	b, err := s3.New(ctx, s3.Config{Bucket: bucket, Endpoint: srv.Endpoint, PathStyle: true,
		AccessKeyID: srv.AccessKey, SecretAccessKey: srv.SecretKey, Region: "us-east-1"}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	count := 0
	err = walk.Objects(ctx, b, "var/s/storage/", func(o walk.Object) error {
		if want := fmt.Sprintf("var/s/storage/%04d", count); o.Key != want || o.Size != 3 {
			t.Fatalf("object %d: %s (%d bytes), want %s (3)", count, o.Key, o.Size, want)
		}
		count++
		return nil
	})
	if err != nil || count != n {
		t.Fatalf("listed %d objects, err %v; want %d", count, err, n)
	}
}
