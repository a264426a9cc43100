package integration

import (
	"bytes"
	"context"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/ezdfsd/ezdfsd/dfs"
	"github.com/ezdfsd/ezdfsd/internal/testenv"
	"github.com/ezdfsd/ezdfsd/internal/testkit"
	"github.com/ezdfsd/ezdfsd/metadata"
	"github.com/ezdfsd/ezdfsd/metadata/sqlstore"
)

// Names of the platform fixture (ibexa/core's layout: var/<site>/storage/images/…, aliases under
// images/_aliases/<alias>/…).
const (
	pSite  = "var/site/"
	pImg   = pSite + "storage/images/3/6/4/6/6463-1-eng-GB/kidding.png"
	pAlias = pSite + "storage/images/_aliases/large/3/6/4/6/6463-1-eng-GB/kidding.png"
	pDir   = pSite + "storage/images/x/"
)

// symfonyRoot writes a Symfony project root as an Ibexa DXP 5 install has it: .env from the
// recipe (a placeholder DFS_DATABASE_URL), .env.local with the site's real one and DFS_NFS_PATH,
// and a composer.lock naming ibexa/core v5.0.3 (so the table is ibexa_dfs_file). scheme is the
// Doctrine URL scheme of the site's database ("mysql", "postgresql").
func symfonyRoot(t *testing.T, scheme string, db dbParts, nfs string) string {
	t.Helper()
	root := t.TempDir()
	writeFile(t, filepath.Join(root, ".env"), []byte("# recipe defaults\nAPP_ENV=dev\nAPP_SECRET=x\n"+
		"DATABASE_NAME=ibexa\nDFS_DATABASE_URL=mysql://root:root@localhost:3306/${DATABASE_NAME}?serverVersion=8.0&charset=utf8mb4\n"+
		"DFS_NFS_PATH=/mnt/not-here\n"))
	u := url.URL{Scheme: scheme, User: url.UserPassword(db.User, db.Pass), Host: db.Host + ":" + strconv.Itoa(db.Port), Path: "/" + db.Name,
		RawQuery: "serverVersion=mariadb-10.11.0&charset=utf8mb4"}
	if scheme != "mysql" {
		u.RawQuery = "serverVersion=15&charset=utf8"
	}
	writeFile(t, filepath.Join(root, ".env.local"), []byte("APP_ENV=prod\nDFS_DATABASE_URL=\""+u.String()+"\"\nexport DFS_NFS_PATH='"+nfs+"' # NFS\n"))
	writeFile(t, filepath.Join(root, "composer.lock"), []byte(`{"packages":[{"name":"ibexa/core","version":"v5.0.3"}],"packages-dev":[]}`))
	return root
}

// platformRow is one row of the spec §4 table, with the bytes stored for it.
type platformRow struct {
	name    string
	mtime   int64
	expired bool
	data    []byte
}

func platformRows() []platformRow {
	return []platformRow{
		{name: pImg, mtime: mtime, data: content(1000)},
		{name: pAlias, mtime: mtime, data: []byte("alias bytes")},
		{name: pSite + "storage/images-versioned/1/2/v.png", mtime: mtime, data: []byte("versioned")},
		{name: pDir + "expired.png", mtime: mtime, expired: true, data: []byte("expired")},
		{name: pDir + "zero-mtime.png", mtime: 0, data: []byte("zero")},
		{name: pDir + "deleted.png", mtime: -mtime, data: []byte("deleted")},
		{name: pDir + "a%20b.png", mtime: mtime, data: []byte("percent")}, // the name holds "%20" itself
		{name: pDir + "100%25.png", mtime: mtime, data: []byte("hundred")},
		{name: pDir + "foo bar.png", mtime: mtime, data: []byte("space")},
		{name: pSite + "storage/original/application/x.pdf", mtime: mtime, data: []byte("pdf")},
		{name: pSite + "cache/public/x.css", mtime: mtime, data: []byte("a{}")},
	}
}

// checkPlatformAnswers asserts spec §4's table against a running daemon in the platform profile.
func checkPlatformAnswers(t *testing.T, base string) {
	c := newClient(t, 4)
	data := content(1000)
	app := map[string]string{
		"Content-Type": "image/png", "Content-Length": "1000", "Last-Modified": lastMod, "Accept-Ranges": "bytes",
		"Cache-Control": "public", "ETag": `"1700000000-1000"`,
		"Expires": absent, "X-Powered-By": absent, "Served-by": absent, "Vary": absent,
	}
	cases := []struct {
		name, method, target string
		headers              []string
		code                 int
		want                 map[string]string
		body                 []byte
	}{
		{name: "found", target: "/" + pImg, code: 200, want: app, body: data},
		{name: "HEAD", method: "HEAD", target: "/" + pImg, code: 200, want: app, body: []byte{}},
		{name: "query ignored", target: "/" + pImg + "?v=2", code: 200, body: data},
		{name: "image alias", target: "/" + pAlias, code: 200, body: []byte("alias bytes")},
		{name: "images-versioned", target: "/" + pSite + "storage/images-versioned/1/2/v.png", code: 200, body: []byte("versioned")},
		{name: "expired=1", target: "/" + pDir + "expired.png", code: 404},
		{name: "mtime 0", target: "/" + pDir + "zero-mtime.png", code: 404},
		{name: "deleted", target: "/" + pDir + "deleted.png", code: 404},
		{name: "no row", target: "/" + pDir + "nope.png", code: 404},
		{name: "%20 in the name, not decoded", target: "/" + pDir + "a%20b.png", code: 200, body: []byte("percent")},
		{name: "%25 in the name", target: "/" + pDir + "100%25.png", code: 200, body: []byte("hundred")},
		{name: "%20 is not a space", target: "/" + pDir + "foo%20bar.png", code: 404},
		{name: "storage/original is not served", target: "/" + pSite + "storage/original/application/x.pdf", code: 404},
		{name: "cache/public is not served", target: "/" + pSite + "cache/public/x.css", code: 404},
		{name: "Range", target: "/" + pImg, headers: []string{"Range", "bytes=10-19"}, code: 206,
			want: map[string]string{"Content-Range": "bytes 10-19/1000", "Content-Length": "10", "Cache-Control": "public"}, body: data[10:20]},
		{name: "multi-range", target: "/" + pImg, headers: []string{"Range", "bytes=0-1,900-901"}, code: 206,
			want: map[string]string{"Content-Range": absent}},
		{name: "416", target: "/" + pImg, headers: []string{"Range", "bytes=5000-"}, code: 416,
			want: map[string]string{"Content-Range": "bytes */1000", "Cache-Control": absent}},
		{name: "If-Range mismatch", target: "/" + pImg, headers: []string{"Range", "bytes=0-9", "If-Range", `"old"`}, code: 200, body: data},
		{name: "If-Range match", target: "/" + pImg, headers: []string{"Range", "bytes=0-9", "If-Range", `"1700000000-1000"`}, code: 206, body: data[:10]},
		{name: "304 If-None-Match", target: "/" + pImg, headers: []string{"If-None-Match", `"1700000000-1000"`}, code: 304,
			want: map[string]string{"ETag": `"1700000000-1000"`, "Cache-Control": "public", "Content-Length": absent}, body: []byte{}},
		{name: "304 If-Modified-Since", target: "/" + pImg, headers: []string{"If-Modified-Since", lastMod}, code: 304},
		{name: "traversal", target: "/" + pDir + "../../../../../etc/passwd", code: 404},
		{name: "encoded traversal", target: "/" + pDir + "%2e%2e/%2e%2e/%2e%2e/etc/passwd", code: 404},
		{name: "POST", method: "POST", target: "/" + pImg, code: 405},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			method := tc.method
			if method == "" {
				method = "GET"
			}
			r := do(t, c, base, method, tc.target, tc.headers...)
			if r.Code != tc.code {
				t.Fatalf("%s %s: status %d, want %d; body %.200q", method, tc.target, r.Code, tc.code, r.Body)
			}
			for k, v := range tc.want {
				got := r.Header.Values(k)
				ok := len(got) > 0
				switch {
				case v == absent && ok:
					t.Errorf("%s: %q, want none", k, got)
				case v != absent && (len(got) != 1 || got[0] != v):
					t.Errorf("%s: %q, want %q", k, got, v)
				}
			}
			if tc.body != nil && !bytes.Equal(r.Body, tc.body) {
				t.Errorf("body %.80q, want %.80q", r.Body, tc.body)
			}
		})
	}
}

// platformStore creates ibexa_dfs_file in the test database (MariaDB dsn) and writes the rows.
func platformStore(t *testing.T, dsn string, rows []platformRow) {
	t.Helper()
	s, err := sqlstore.OpenMySQL(context.Background(), dsn, sqlstore.Config{Tables: []string{dfs.IbexaTable}}, nil)
	if err != nil {
		t.Fatalf("open MariaDB: %v", err)
	}
	putPlatformRows(t, s, rows)
}

// putPlatformRows creates ibexa_dfs_file in s's database and writes the rows; s is closed when
// the test ends.
func putPlatformRows(t *testing.T, s *sqlstore.Store, rows []platformRow) {
	t.Helper()
	ctx := context.Background()
	t.Cleanup(func() { s.Close() })
	if err := s.CreateSchema(ctx); err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		f := metadata.File{Name: r.name, Datatype: "image/png", Scope: "image", Size: int64(len(r.data)), MTime: r.mtime, Expired: r.expired}
		if err := s.Put(ctx, dfs.IbexaTable, f); err != nil {
			t.Fatalf("put %s: %v", r.name, err)
		}
	}
}

// TestPlatformProfileFromSymfonyProject runs the daemon configured only by a generated Symfony
// project root (--project-root; .env + .env.local with DFS_DATABASE_URL and DFS_NFS_PATH,
// composer.lock for the table) against MariaDB and the mount point, and checks spec §4's table.
func TestPlatformProfileFromSymfonyProject(t *testing.T) {
	dsn := testenv.MySQLDatabase(t)
	nfs := t.TempDir()
	rows := platformRows()
	platformStore(t, dsn, rows)
	for _, r := range rows {
		writeFile(t, filepath.Join(nfs, filepath.FromSlash(r.name)), r.data)
	}
	root := symfonyRoot(t, "mysql", splitDSN(t, dsn), nfs)
	d := testkit.StartDaemon(t, []string{"--project-root", root, "--listen", "127.0.0.1:0", "--metrics-listen", ""}, nil)
	if d.Cfg.Profile != dfs.ProfilePlatform || d.Cfg.Table != dfs.IbexaTable || d.Cfg.MountPoint != nfs || d.Cfg.DB.Name != splitDSN(t, dsn).Name {
		t.Fatalf("project settings not used: profile=%s table=%s mount=%s db=%s", d.Cfg.Profile, d.Cfg.Table, d.Cfg.MountPoint, d.Cfg.DB.Name)
	}
	checkPlatformAnswers(t, d.URL)
}

// TestPlatformProfileFromSymfonyProjectPostgres is the same with the site's DFS database on
// PostgreSQL: DFS_DATABASE_URL=postgresql://… in .env.local selects the PostgreSQL store.
func TestPlatformProfileFromSymfonyProjectPostgres(t *testing.T) {
	u := testenv.PostgresDatabase(t)
	s, err := sqlstore.OpenPostgres(context.Background(), u, sqlstore.Config{Tables: []string{dfs.IbexaTable}}, nil)
	if err != nil {
		t.Fatalf("open PostgreSQL: %v", err)
	}
	nfs := t.TempDir()
	rows := platformRows()
	putPlatformRows(t, s, rows)
	for _, r := range rows {
		writeFile(t, filepath.Join(nfs, filepath.FromSlash(r.name)), r.data)
	}
	db := splitPostgresURL(t, u)
	root := symfonyRoot(t, "postgresql", db, nfs)
	d := testkit.StartDaemon(t, []string{"--project-root", root, "--listen", "127.0.0.1:0", "--metrics-listen", ""}, nil)
	if d.Cfg.Profile != dfs.ProfilePlatform || d.Cfg.Metadata != "postgres" || d.Cfg.Table != dfs.IbexaTable {
		t.Fatalf("project settings not used: profile=%s metadata=%s table=%s", d.Cfg.Profile, d.Cfg.Metadata, d.Cfg.Table)
	}
	checkPlatformAnswers(t, d.URL)
}

// TestPlatformProfileS3 is the same table with the bytes in versitygw under the awss3v3
// adapter's keys (prefix + "/" + SPI id, e.g. "site-prefix/images/_aliases/large/…"). Ibexa's
// S3 documentation sets bucket, prefix and keys in YAML, not in .env, so the S3 settings come
// from ezdfsd's own environment variables; the database and table still come from the project.
func TestPlatformProfileS3(t *testing.T) {
	srv := testenv.S3Server(t)
	dsn := testenv.MySQLDatabase(t)
	admin := testkit.S3Admin(srv)
	bucket := testkit.NewBucket(t, srv, admin, "ezdfsd-platform-")
	rows := platformRows()
	platformStore(t, dsn, rows)
	for _, r := range rows {
		key := "site-prefix/" + strings.TrimPrefix(r.name, pSite+"storage/")
		if _, err := admin.PutObject(t.Context(), &awss3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key),
			Body: bytes.NewReader(r.data), ContentLength: aws.Int64(int64(len(r.data)))}); err != nil {
			t.Fatalf("put %s: %v", key, err)
		}
	}
	// A copy at the legacy key (the cluster name itself) must not be what is served.
	if _, err := admin.PutObject(t.Context(), &awss3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(pDir + "only-legacy-key.png"),
		Body: bytes.NewReader([]byte("legacy"))}); err != nil {
		t.Fatal(err)
	}
	root := symfonyRoot(t, "mysql", splitDSN(t, dsn), t.TempDir())
	environ := []string{
		"EZDFSD_DEFAULT_BACKEND=" + dfs.S3Backend, "EZDFSD_S3_BUCKET=" + bucket, "EZDFSD_S3_PREFIX=/site-prefix/",
		"EZDFSD_S3_ENDPOINT=" + srv.Endpoint, "EZDFSD_S3_PATH_STYLE=true", "EZDFSD_S3_REGION=us-east-1",
		"EZDFSD_S3_ACCESS_KEY_ID=" + srv.AccessKey, "EZDFSD_S3_SECRET_ACCESS_KEY=" + srv.SecretKey,
	}
	d := testkit.StartDaemon(t, []string{"--project-root", root, "--listen", "127.0.0.1:0", "--metrics-listen", ""}, environ)
	checkPlatformAnswers(t, d.URL)
}
