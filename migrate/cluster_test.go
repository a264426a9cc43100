package migrate_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/ezdfsd/ezdfsd/dfs"
	"github.com/ezdfsd/ezdfsd/internal/testenv"
	"github.com/ezdfsd/ezdfsd/internal/testkit"
	"github.com/ezdfsd/ezdfsd/metadata"
	"github.com/ezdfsd/ezdfsd/metadata/sqlstore"
	"github.com/ezdfsd/ezdfsd/migrate"
	"github.com/ezdfsd/ezdfsd/storage/s3"
)

// cluster is a MariaDB database with eZ's tables, a mount point and a versitygw bucket, with
// migrate's backends on them; everything is removed when the test ends.
type cluster struct {
	t      *testing.T
	dsn    string
	store  *sqlstore.Store
	db     *sql.DB
	dir    string
	mount  *migrate.MountBackend
	srv    testenv.S3
	admin  *awss3.Client
	bucket string
	s3     *migrate.S3Backend
	// live maps the live names to their current bytes.
	live map[string][]byte
}

func newCluster(t *testing.T) *cluster {
	t.Helper()
	srv := testenv.S3Server(t)
	dsn := testenv.MySQLDatabase(t)
	c := &cluster{t: t, dsn: dsn, store: testkit.MySQLStore(t, dsn), dir: t.TempDir(), srv: srv,
		admin: testkit.S3Admin(srv), live: map[string][]byte{}}
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	c.db = db
	c.bucket = testkit.NewBucket(t, srv, c.admin, "migrate-")
	if c.mount, err = migrate.OpenMountBackend(c.dir); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.mount.Close() })
	b, err := s3.New(context.Background(), c.s3Config(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	c.s3 = &migrate.S3Backend{S3: b}
	return c
}

// throughProxy points the cluster's S3 backend, with the canned ACL acl, at a proxy in front of
// versitygw: front sees each request first and hands it on with next.ServeHTTP, and
// modifyResponse (if not nil) may rewrite versitygw's answers on the way back.
func (c *cluster) throughProxy(acl string, front func(w http.ResponseWriter, r *http.Request, next http.Handler),
	modifyResponse func(*http.Response) error) {
	c.t.Helper()
	target, err := url.Parse(c.srv.Endpoint)
	if err != nil {
		c.t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.ModifyResponse = modifyResponse
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { front(w, r, proxy) }))
	c.t.Cleanup(srv.Close)
	cfg := c.s3Config()
	cfg.Endpoint = srv.URL
	b, err := s3.New(context.Background(), cfg, nil, nil)
	if err != nil {
		c.t.Fatal(err)
	}
	c.s3 = &migrate.S3Backend{S3: b, ACL: acl}
}

func (c *cluster) s3Config() s3.Config {
	return s3.Config{Bucket: c.bucket, Endpoint: c.srv.Endpoint, PathStyle: true, Region: "us-east-1",
		AccessKeyID: c.srv.AccessKey, SecretAccessKey: c.srv.SecretKey, PartSize: s3.MinPartSize}
}

// add stores name as eZ does on the mount point: the file (with the row's mtime as its own
// unless fileMTime says otherwise) and the row.
func (c *cluster) add(name, datatype string, data []byte, mtime int64) {
	c.t.Helper()
	p := filepath.Join(c.dir, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		c.t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		c.t.Fatal(err)
	}
	tm := time.Unix(abs(mtime), 0)
	if err := os.Chtimes(p, tm, tm); err != nil {
		c.t.Fatal(err)
	}
	scope := "image"
	if strings.Contains(name, "/cache/") {
		scope = "viewcache"
	}
	f := metadata.File{Name: name, Datatype: datatype, Scope: scope, Size: int64(len(data)), MTime: mtime, Expired: mtime < 0}
	if err := c.store.Put(context.Background(), dfs.DefaultTables().For(name), f); err != nil {
		c.t.Fatal(err)
	}
	if mtime > 0 {
		c.live[name] = data
	} else {
		delete(c.live, name)
	}
}

// migrator is a Migrator on the cluster from source with the target rules d.
func (c *cluster) migrator(source migrate.Backend, d dfs.Dispatch) *migrate.Migrator {
	return &migrate.Migrator{Store: c.store, Tables: dfs.DefaultTables().Names(), Dispatch: d, Source: source,
		Targets: map[string]migrate.Backend{dfs.MountPointBackend: c.mount, dfs.S3Backend: c.s3}, Concurrency: 4,
		OnError: func(table, name string, err error) { c.t.Errorf("%s %s: %v", table, name, err) }}
}

func (c *cluster) run(m *migrate.Migrator) migrate.Report {
	c.t.Helper()
	rep, err := m.Run(context.Background())
	if err != nil {
		c.t.Fatalf("migrate: %v", err)
	}
	return rep
}

// object returns the bytes of key in the bucket, nil when there is none.
func (c *cluster) object(key string) ([]byte, *awss3.GetObjectOutput) {
	c.t.Helper()
	out, err := c.admin.GetObject(context.Background(), &awss3.GetObjectInput{Bucket: aws.String(c.bucket), Key: aws.String(key)})
	if err != nil {
		return nil, nil
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	return b, out
}

// daemonArgs are the settings of ezdfsd serve on the cluster, plus extra.
func (c *cluster) daemonArgs(extra ...string) []string {
	return append([]string{"--listen=127.0.0.1:0", "--metrics-listen=", "--metadata=mysql", "--mysql-dsn=" + c.dsn,
		"--mount-point=" + c.dir, "--s3-bucket=" + c.bucket, "--s3-endpoint=" + c.srv.Endpoint, "--s3-path-style",
		"--s3-access-key-id=" + c.srv.AccessKey, "--s3-secret-access-key=" + c.srv.SecretKey, "--cache-ttl=0s",
		"--cache-negative-ttl=0s"}, extra...)
}

// answers fetches every name of names from a daemon started with args: status, the headers a
// client sees (not Date, Expires or the request id) and the body.
func (c *cluster) answers(args []string, names []string) map[string]string {
	c.t.Helper()
	d := testkit.StartDaemon(c.t, args, nil)
	defer d.Stop()
	out := map[string]string{}
	for _, name := range names {
		var b strings.Builder
		for _, rng := range []string{"", "bytes=1-10"} {
			req, err := http.NewRequest(http.MethodGet, d.URL+"/"+escapePath(name), nil)
			if err != nil {
				c.t.Fatal(err)
			}
			if rng != "" {
				req.Header.Set("Range", rng)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				c.t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			b.WriteString(resp.Status + "\n")
			for _, h := range []string{"Content-Type", "Content-Length", "Content-Range", "Last-Modified", "ETag", "Accept-Ranges"} {
				b.WriteString(h + ": " + resp.Header.Get(h) + "\n")
			}
			b.WriteString(hashOf(body) + "\n")
		}
		out[name] = b.String()
	}
	return out
}

func escapePath(name string) string {
	parts := strings.Split(name, "/")
	for i, p := range parts {
		parts[i] = url.PathEscape(p)
	}
	return strings.Join(parts, "/")
}

func hashOf(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func randomBytes(t *testing.T, n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func abs(n int64) int64 {
	if n < 0 {
		return -n
	}
	return n
}

// same reports whether the file name on the mount point holds want.
func (c *cluster) fileIs(name string, want []byte) bool {
	got, err := os.ReadFile(filepath.Join(c.dir, filepath.FromSlash(name)))
	return err == nil && bytes.Equal(got, want)
}
