package integration

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/ezdfsd/ezdfsd/dfs"
	"github.com/ezdfsd/ezdfsd/metadata"
	"github.com/ezdfsd/ezdfsd/metadata/sqlstore"
)

// The spec §7 fixture.
const (
	site    = "var/ezdemo_site/"
	img     = site + "storage/images/a/b/c/1-1-eng-GB/foo.jpg"
	imgX    = site + "storage/images/x/"
	cssName = site + "cache/public/stylesheets/x.css"
	mtime   = 1700000000
	lastMod = "Tue, 14 Nov 2023 22:13:20 GMT"
	fooETag = `"1700000000-1000"`
)

// content returns n deterministic, position-dependent bytes.
func content(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i/251)
	}
	return b
}

// page404 is index_cluster.php's 404 body (spec §2.8) for a name needing no HTML escaping.
func page404(name string) []byte {
	return []byte(`<!DOCTYPE HTML PUBLIC "-//IETF//DTD HTML 2.0//EN">` + "\n<html><head>\n<title>404 Not Found</title>\n" +
		"</head><body>\n<H1>Not Found</H1>\n<p>The requested URL " + name + " was not found on this server.<p>\n</body></html>")
}

// newClient returns an HTTP client that keeps no connections past the test and never
// follows redirects or adds Accept-Encoding.
func newClient(t *testing.T, maxConns int) *http.Client {
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		MaxConnsPerHost:     maxConns,
		MaxIdleConnsPerHost: maxConns,
		DisableCompression:  true,
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// response is a finished HTTP exchange.
type response struct {
	Code    int
	Header  http.Header
	Body    []byte
	Elapsed time.Duration
}

// do sends method target (a raw request target, sent byte for byte) with header pairs.
func do(t *testing.T, c *http.Client, base, method, target string, headers ...string) response {
	t.Helper()
	resp, err := try(c, base, method, target, headers...)
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	return resp
}

// try is do without failing the test.
func try(c *http.Client, base, method, target string, headers ...string) (response, error) {
	if strings.HasPrefix(target, "//") {
		// net/http would send this as an absolute-form "http://var/..." target; write it raw.
		return rawDo(base, method, target, headers...)
	}
	req, err := http.NewRequest(method, base+"/", nil)
	if err != nil {
		return response{}, err
	}
	req.URL.Opaque = target // keep escapes exactly as given: the daemon reads the raw target
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Add(headers[i], headers[i+1])
	}
	start := time.Now()
	resp, err := c.Do(req)
	if err != nil {
		return response{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return response{}, fmt.Errorf("read body: %w", err)
	}
	return response{Code: resp.StatusCode, Header: resp.Header, Body: body, Elapsed: time.Since(start)}, nil
}

// rawDo sends one request over a new TCP connection, the target written byte for byte.
func rawDo(base, method, target string, headers ...string) (response, error) {
	c, err := net.DialTimeout("tcp", strings.TrimPrefix(base, "http://"), 5*time.Second)
	if err != nil {
		return response{}, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	var req strings.Builder
	req.WriteString(method + " " + target + " HTTP/1.1\r\nHost: ezdfsd.test\r\nConnection: close\r\n")
	for i := 0; i+1 < len(headers); i += 2 {
		req.WriteString(headers[i] + ": " + headers[i+1] + "\r\n")
	}
	req.WriteString("\r\n")
	start := time.Now()
	if _, err := io.WriteString(c, req.String()); err != nil {
		return response{}, err
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), &http.Request{Method: method})
	if err != nil {
		return response{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return response{}, fmt.Errorf("read body: %w", err)
	}
	return response{Code: resp.StatusCode, Header: resp.Header, Body: body, Elapsed: time.Since(start)}, nil
}

// dbParts splits a go-sql-driver DSN into the pieces eZ's config.php holds.
type dbParts struct {
	Host             string
	Port             int
	User, Pass, Name string
}

func splitDSN(t *testing.T, dsn string) dbParts {
	t.Helper()
	c, err := mysql.ParseDSN(dsn)
	if err != nil {
		t.Fatalf("parse DSN: %v", err)
	}
	host, port, err := net.SplitHostPort(c.Addr)
	if err != nil {
		t.Fatalf("DSN address %q: %v", c.Addr, err)
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		t.Fatalf("DSN port %q: %v", port, err)
	}
	return dbParts{Host: host, Port: p, User: c.User, Pass: c.Passwd, Name: c.DBName}
}

// phpString quotes s as a PHP single-quoted string literal.
func phpString(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

// ezRoot is an eZ Publish legacy root written the way a real install has it.
type ezRoot struct {
	Dir   string
	DB    dbParts
	Mount string
}

// newEZRoot writes config.php (CLUSTER_* constants) and settings/override/file.ini.append.php
// ([ClusteringSettings], [eZDFSClusteringSettings] mirroring config.php, then extraFileINI, raw
// INI text such as a [DispatchableDFS] group) in a new temp directory, with a new empty mount
// point directory.
func newEZRoot(t *testing.T, db dbParts, dfsBackend, extraFileINI string) *ezRoot {
	t.Helper()
	r := &ezRoot{Dir: t.TempDir(), DB: db, Mount: t.TempDir()}
	r.write(t, "config.php", "<?php\n"+
		"// Cluster settings for index_cluster.php (eZ Publish legacy config.php)\n"+
		"define( 'CLUSTER_STORAGE_BACKEND', 'dfsmysqli' );\n"+
		"define( 'CLUSTER_STORAGE_HOST', "+phpString(db.Host)+" );\n"+
		"define( 'CLUSTER_STORAGE_PORT', "+strconv.Itoa(db.Port)+" );\n"+
		"define( 'CLUSTER_STORAGE_USER', "+phpString(db.User)+" );\n"+
		"define( 'CLUSTER_STORAGE_PASS', "+phpString(db.Pass)+" );\n"+
		"define( 'CLUSTER_STORAGE_DB', "+phpString(db.Name)+" );\n"+
		"define( 'CLUSTER_STORAGE_CHARSET', 'utf8' );\n"+
		"define( 'CLUSTER_MOUNT_POINT_PATH', "+phpString(r.Mount)+" );\n"+
		"?>\n")
	backendLine := ""
	if dfsBackend != "" {
		backendLine = "DFSBackend=" + dfsBackend + "\n"
	}
	r.write(t, "settings/override/file.ini.append.php", "<?php /* #?ini charset=\"utf-8\"?\n\n"+
		"[ClusteringSettings]\nFileHandler=eZDFSFileHandler\n\n"+
		"[eZDFSClusteringSettings]\n"+
		"MountPointPath="+r.Mount+"\n"+
		"DBBackend=eZDFSFileHandlerMySQLiBackend\n"+
		"DBHost="+db.Host+"\n"+
		"DBPort="+strconv.Itoa(db.Port)+"\n"+
		"DBName="+db.Name+"\n"+
		"DBUser="+db.User+"\n"+
		"DBPassword="+db.Pass+"\n"+
		"MetaDataTableNameCache=ezdfsfile_cache\n"+
		backendLine+
		"\n"+extraFileINI+
		"\n*/ ?>\n")
	return r
}

func (r *ezRoot) write(t *testing.T, rel, text string) {
	t.Helper()
	writeFile(t, filepath.Join(r.Dir, filepath.FromSlash(rel)), []byte(text))
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// put writes a row into the table dfs routes its name to, and, if data is not nil, its file
// below mount.
func put(t *testing.T, s *sqlstore.Store, mount string, f metadata.File, data []byte) {
	t.Helper()
	if err := s.Put(context.Background(), dfs.DefaultTables().For(f.Name), f); err != nil {
		t.Fatalf("put %s: %v", f.Name, err)
	}
	if data != nil {
		writeFile(t, filepath.Join(mount, filepath.FromSlash(f.Name)), data)
	}
}
