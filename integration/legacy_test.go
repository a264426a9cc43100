package integration

import (
	"bufio"
	"bytes"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ezdfsd/ezdfsd/internal/testenv"
	"github.com/ezdfsd/ezdfsd/internal/testkit"
	"github.com/ezdfsd/ezdfsd/metadata"
	"github.com/ezdfsd/ezdfsd/metadata/sqlstore"
)

// absent marks a header that must not be in the response.
const absent = "\x00absent"

// legacyCase is one row of spec §7 asserted end to end.
type legacyCase struct {
	row     string
	name    string
	method  string
	target  string
	headers []string
	code    int
	want    map[string]string // exact header values (or absent)
	body    []byte            // nil = not checked
	check   func(t *testing.T, r response)
}

// TestEzRootServesLegacyAnswers builds an eZ legacy root (config.php + file.ini override
// pointing at a fresh MariaDB database and an NFS directory), fills it with spec §7's fixture,
// runs the daemon with nothing but --ez-root and the listen addresses, and checks the legacy
// answers with a real HTTP client: this proves the eZ settings alone configure ezdfsd.
func TestEzRootServesLegacyAnswers(t *testing.T) {
	dsn := testenv.MySQLDatabase(t)
	legacyAnswers(t, splitDSN(t, dsn), testkit.MySQLStore(t, dsn), "", "mysql")
}

// legacyAnswers is TestEzRootServesLegacyAnswers on the database db, whose tables store
// writes: the eZ root's file.ini gets extraFileINI, and the daemon must have chosen the
// metadata store named metadataStore from the eZ settings alone.
func legacyAnswers(t *testing.T, db dbParts, store *sqlstore.Store, extraFileINI, metadataStore string) {
	root := newEZRoot(t, db, "", extraFileINI)

	data := content(1000)
	row := func(name, datatype string, size, mt int64, file []byte) {
		put(t, store, root.Mount, metadata.File{Name: name, Datatype: datatype, Scope: "image", Size: size, MTime: mt}, file)
	}
	row(img, "image/jpeg", 1000, mtime, data)
	row(imgX+"foo bar.jpg", "image/jpeg", 10, mtime, []byte("foo bar!!!"))
	row(imgX+`it's "q".jpg`, "image/jpeg", 5, mtime, []byte("quote"))
	row(imgX+"q?mark.jpg", "image/jpeg", 5, mtime, []byte("QMARK"))
	row(imgX+"q", "image/jpeg", 1, mtime, []byte("Q"))
	row(imgX+"deleted.jpg", "image/jpeg", 10, -mtime, []byte("0123456789"))
	put(t, store, root.Mount, metadata.File{Name: imgX + "expired.jpg", Datatype: "image/jpeg", Scope: "image", Size: 10,
		MTime: mtime, Expired: true}, []byte("0123456789"))
	row(imgX+"zero-mtime.jpg", "image/jpeg", 10, 0, []byte("0123456789"))
	writeFile(t, root.Mount+"/"+imgX+"only-file.jpg", []byte("0123456789"))
	row(imgX+"missing.jpg", "image/jpeg", 10, mtime, nil)
	row(imgX+"short.jpg", "image/jpeg", 1000, mtime, content(500))
	row(imgX+"long.jpg", "image/jpeg", 1000, mtime, content(2000))
	row(imgX+"empty.jpg", "image/jpeg", 0, mtime, []byte{})
	put(t, store, root.Mount, metadata.File{Name: cssName, Datatype: "text/css", Scope: "ezjscore", Size: 12, MTime: mtime},
		[]byte("body{margin}"))
	// A cache-path name whose row was (wrongly) written to ezdfsfile: the gateway never looks there.
	if err := store.Put(t.Context(), "ezdfsfile", metadata.File{Name: site + "cache/public/only-storage.css",
		Datatype: "text/css", Size: 3, MTime: mtime}); err != nil {
		t.Fatal(err)
	}
	writeFile(t, root.Mount+"/"+site+"cache/public/only-storage.css", []byte("a{}"))
	row(imgX+"misc.bin", "misc", 3, mtime, []byte("abc"))
	row(site+"storage/original/application/x.pdf", "application/pdf", 3, mtime, []byte("pdf"))

	d := testkit.StartDaemon(t, []string{"--ez-root", root.Dir, "--listen", "127.0.0.1:0", "--metrics-listen", ""}, nil)
	if d.Cfg.Metadata != metadataStore || d.Cfg.MountPoint != root.Mount || d.Cfg.DB.Name != db.Name {
		t.Fatalf("eZ settings not used: metadata=%s mount=%s db=%s", d.Cfg.Metadata, d.Cfg.MountPoint, d.Cfg.DB.Name)
	}
	host, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	client := newClient(t, 4)

	success := func(ctype string, length int) map[string]string {
		return map[string]string{
			"Content-Type":   ctype,
			"Content-Length": strconv.Itoa(length),
			"Last-Modified":  lastMod,
			"Etag":           fooETag,
			"Served-By":      host,
			"X-Powered-By":   "eZ Publish",
			"Accept-Ranges":  "bytes",
			"Cache-Control":  absent,
			"Vary":           absent,
		}
	}
	full := success("image/jpeg", 1000)
	ranged := func(cr string, n int) map[string]string {
		h := success("image/jpeg", n)
		h["Content-Range"] = cr
		return h
	}
	notFound := func(name string) (map[string]string, []byte) {
		body := page404(name)
		return map[string]string{
			"Content-Type": "text/html;charset=UTF-8", "Content-Length": strconv.Itoa(len(body)),
			"Served-By": absent, "X-Powered-By": absent, "Last-Modified": absent, "Etag": absent, "Expires": absent,
		}, body
	}
	notModified := map[string]string{"Etag": fooETag, "Last-Modified": lastMod, "Served-By": host,
		"X-Powered-By": "eZ Publish", "Content-Length": absent}

	var cases []legacyCase
	add := func(c legacyCase) { cases = append(cases, c) }
	miss := func(r, name, target, missing string) {
		h, b := notFound(missing)
		add(legacyCase{row: r, name: name, target: target, code: 404, want: h, body: b})
	}
	add(legacyCase{row: "1", name: "GET", target: "/" + img, code: 200, want: full, body: data})
	add(legacyCase{row: "2", name: "HEAD", method: "HEAD", target: "/" + img, code: 200, want: full, body: []byte{}})
	for _, m := range []string{"POST", "PUT", "DELETE"} {
		add(legacyCase{row: "3", name: m, method: m, target: "/" + img, code: 405,
			want: map[string]string{"Allow": "GET, HEAD", "Served-By": absent}})
	}
	add(legacyCase{row: "4", name: "query ignored", target: "/" + img + "?v=123", code: 200, want: full, body: data})
	add(legacyCase{row: "5", name: "extra leading slashes", target: "//" + img, code: 200, want: full, body: data})
	add(legacyCase{row: "6", name: "%20", target: "/" + imgX + "foo%20bar.jpg", code: 200, body: []byte("foo bar!!!"),
		want: map[string]string{"Etag": `"1700000000-10"`, "Content-Length": "10"}})
	miss("7", "+ not decoded", "/"+imgX+"foo+bar.jpg", imgX+"foo+bar.jpg")
	add(legacyCase{row: "8", name: "quotes", target: "/" + imgX + "it%27s%20%22q%22.jpg", code: 200, body: []byte("quote")})
	add(legacyCase{row: "9", name: "%3F stays in the name", target: "/" + imgX + "q%3Fmark.jpg", code: 200, body: []byte("QMARK")})
	add(legacyCase{row: "9", name: "raw ? is the query", target: "/" + imgX + "q?mark.jpg", code: 200, body: []byte("Q")})
	add(legacyCase{row: "10", name: "%2F decoded", target: "/var%2Fezdemo_site%2Fstorage/images/a/b/c/1-1-eng-GB/foo.jpg",
		code: 200, want: full, body: data})
	add(legacyCase{row: "11", name: "%00", target: "/" + imgX + "a%00.jpg", code: 404,
		want: map[string]string{"Served-By": absent, "Content-Type": "text/html;charset=UTF-8"}})
	add(legacyCase{row: "11", name: "dot-dot", target: "/" + imgX + "../x/q", code: 404, want: map[string]string{"Served-By": absent}})
	add(legacyCase{row: "11", name: "%2e%2e", target: "/" + imgX + "%2e%2e/x/q", code: 404})
	miss("12", "no row", "/"+imgX+"nope.jpg", imgX+"nope.jpg")
	miss("13", "deleted (mtime < 0)", "/"+imgX+"deleted.jpg", imgX+"deleted.jpg")
	add(legacyCase{row: "14", name: "expired=1 still served", target: "/" + imgX + "expired.jpg", code: 200, body: []byte("0123456789")})
	add(legacyCase{row: "15", name: "mtime 0", target: "/" + imgX + "zero-mtime.jpg", code: 200, body: []byte("0123456789"),
		want: map[string]string{"Last-Modified": "Thu, 01 Jan 1970 00:00:00 GMT", "Etag": `"0-10"`}})
	miss("16", "file without row", "/"+imgX+"only-file.jpg", imgX+"only-file.jpg")
	miss("17", "row without file", "/"+imgX+"missing.jpg", imgX+"missing.jpg")
	add(legacyCase{row: "18", name: "short file", target: "/" + imgX + "short.jpg", code: 503,
		want: map[string]string{"Retry-After": "5", "Served-By": absent, "Etag": absent}})
	add(legacyCase{row: "19", name: "long file", target: "/" + imgX + "long.jpg", code: 200,
		want: map[string]string{"Content-Length": "1000"}, body: content(2000)[:1000]})
	add(legacyCase{row: "20", name: "zero-byte file", target: "/" + imgX + "empty.jpg", code: 200,
		want: map[string]string{"Content-Length": "0", "Etag": `"1700000000-0"`}, body: []byte{}})
	add(legacyCase{row: "21", name: "cache table, text/css", target: "/" + cssName, code: 200,
		want: map[string]string{"Content-Type": "text/css;charset=UTF-8", "Etag": `"1700000000-12"`}, body: []byte("body{margin}")})
	miss("22", "cache path only in ezdfsfile", "/"+site+"cache/public/only-storage.css", site+"cache/public/only-storage.css")
	add(legacyCase{row: "23", name: "misc", target: "/" + imgX + "misc.bin", code: 200,
		want: map[string]string{"Content-Type": "misc"}, body: []byte("abc")})
	add(legacyCase{row: "24", name: "If-None-Match match", target: "/" + img, headers: []string{"If-None-Match", fooETag},
		code: 304, want: notModified, body: []byte{}})
	add(legacyCase{row: "27", name: "If-Modified-Since equal", target: "/" + img, headers: []string{"If-Modified-Since", lastMod},
		code: 304, want: notModified, body: []byte{}})
	rng := func(r, spec, cr string, from, to int) {
		add(legacyCase{row: r, name: spec, target: "/" + img, headers: []string{"Range", spec}, code: 206,
			want: ranged(cr, to-from), body: data[from:to]})
	}
	rng("33", "bytes=0-99", "bytes 0-99/1000", 0, 100)
	rng("34", "bytes=500-", "bytes 500-999/1000", 500, 1000)
	rng("34", "bytes=-100", "bytes 900-999/1000", 900, 1000)
	rng("34", "bytes=998-5000", "bytes 998-999/1000", 998, 1000)
	rng("35", "bytes=0-0", "bytes 0-0/1000", 0, 1)
	rng("36", "bytes=5-5", "bytes 5-5/1000", 5, 6)
	rng("36", "bytes=999-999", "bytes 999-999/1000", 999, 1000)
	rng("36", "bytes=-1", "bytes 999-999/1000", 999, 1000)
	for _, spec := range []string{"bytes=1000-", "bytes=2000-3000"} {
		add(legacyCase{row: "37", name: spec, target: "/" + img, headers: []string{"Range", spec}, code: 416,
			want: map[string]string{"Content-Range": "bytes */1000", "Content-Type": "text/html;charset=UTF-8"}})
	}
	rng("38", "bytes=-2000", "bytes 0-999/1000", 0, 1000)
	add(legacyCase{row: "39", name: "multi-range", target: "/" + img, headers: []string{"Range", "bytes=0-1,5-6"}, code: 206,
		want: map[string]string{"Served-By": host, "Etag": fooETag, "Content-Range": absent},
		check: func(t *testing.T, r response) {
			parts := multipartParts(t, r)
			want := []string{"bytes 0-1/1000", "bytes 5-6/1000"}
			bodies := [][]byte{data[0:2], data[5:7]}
			if len(parts) != len(want) {
				t.Fatalf("%d parts, want %d", len(parts), len(want))
			}
			for i, p := range parts {
				if p.contentRange != want[i] || !bytes.Equal(p.body, bodies[i]) || p.contentType != "image/jpeg" {
					t.Errorf("part %d: %q %q %x, want %q image/jpeg %x", i, p.contentRange, p.contentType, p.body, want[i], bodies[i])
				}
			}
		}})
	add(legacyCase{row: "44", name: "Range + non-matching If-None-Match", target: "/" + img,
		headers: []string{"Range", "bytes=0-99", "If-None-Match", `"other"`}, code: 206,
		want: ranged("bytes 0-99/1000", 100), body: data[:100]})
	h56, b56 := notFound(site + "storage/original/application/x.pdf")
	add(legacyCase{row: "56", name: "storage/original not served", target: "/" + site + "storage/original/application/x.pdf",
		code: 404, want: h56, body: b56})

	for _, c := range cases {
		t.Run("row"+c.row+"/"+c.name, func(t *testing.T) {
			method := c.method
			if method == "" {
				method = http.MethodGet
			}
			r := do(t, client, d.URL, method, c.target, c.headers...)
			if r.Code != c.code {
				t.Fatalf("status %d, want %d (body %.200q)", r.Code, c.code, r.Body)
			}
			for k, v := range c.want {
				got, ok := r.Header[http.CanonicalHeaderKey(k)]
				switch {
				case v == absent && ok:
					t.Errorf("%s: %q, want absent", k, got)
				case v != absent && (len(got) != 1 || got[0] != v):
					t.Errorf("%s: %q, want %q", k, got, v)
				}
			}
			if c.code == 200 || c.code == 206 || c.code == 304 {
				checkExpires(t, r.Header)
			}
			if c.body != nil && !bytes.Equal(r.Body, c.body) {
				t.Errorf("body %d bytes %.80q, want %d bytes %.80q", len(r.Body), r.Body, len(c.body), c.body)
			}
			if c.check != nil {
				c.check(t, r)
			}
		})
	}

	t.Run("header spelling on the wire", func(t *testing.T) {
		// Go's client canonicalises header names; read the raw bytes to see legacy's "Served-by"
		// and "ETag" (net/http would send "Served-By" and "Etag").
		raw := rawGET(t, d.URL, "/"+img)
		for _, line := range []string{"HTTP/1.1 200 OK\r\n", "\r\nServed-by: " + host + "\r\n",
			"\r\nX-Powered-By: eZ Publish\r\n", "\r\nETag: \"", "\r\nLast-Modified: ", "\r\nAccept-Ranges: bytes\r\n"} {
			if !strings.Contains(raw, line) {
				t.Errorf("response head lacks %q:\n%s", line, raw)
			}
		}
	})
	t.Logf("%d spec §7 cases served from eZ root %s (db %s on %s:%d, mount %s)", len(cases), root.Dir, db.Name, db.Host, db.Port, root.Mount)
}

// checkExpires asserts an Expires header about now + 86400 s (CLUSTER_EXPIRY_TIMEOUT's default).
func checkExpires(t *testing.T, h http.Header) {
	t.Helper()
	v := h.Get("Expires")
	e, err := http.ParseTime(v)
	if err != nil {
		t.Errorf("Expires %q: %v", v, err)
		return
	}
	if d := time.Until(e) - 86400*time.Second; d < -time.Minute || d > time.Minute {
		t.Errorf("Expires %q is not now + 86400 s (off by %v)", v, d)
	}
}

type part struct {
	contentType, contentRange string
	body                      []byte
}

// multipartParts parses a multipart/byteranges response.
func multipartParts(t *testing.T, r response) []part {
	t.Helper()
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/byteranges" || params["boundary"] == "" {
		t.Fatalf("Content-Type %q: not multipart/byteranges (%v)", r.Header.Get("Content-Type"), err)
	}
	if cl := r.Header.Get("Content-Length"); cl != strconv.Itoa(len(r.Body)) {
		t.Errorf("Content-Length %s, body %d bytes", cl, len(r.Body))
	}
	mr := multipart.NewReader(bytes.NewReader(r.Body), params["boundary"])
	var parts []part
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			return parts
		}
		if err != nil {
			t.Fatalf("multipart: %v", err)
		}
		b, err := io.ReadAll(p)
		if err != nil {
			t.Fatalf("multipart part: %v", err)
		}
		parts = append(parts, part{p.Header.Get("Content-Type"), p.Header.Get("Content-Range"), b})
	}
}

// rawGET sends a GET over a plain TCP connection and returns the response head as sent.
func rawGET(t *testing.T, base, target string) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", strings.TrimPrefix(base, "http://"), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, "GET "+target+" HTTP/1.1\r\nHost: ezdfsd.test\r\nConnection: close\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	var head strings.Builder
	for {
		line, err := br.ReadString('\n')
		head.WriteString(line)
		if err != nil || line == "\r\n" {
			return head.String()
		}
	}
}

// TestEzRootExpiryTimeoutZero: CLUSTER_EXPIRY_TIMEOUT 0 means "Expires: now" in the legacy
// gateway (time() + 0), not the one-day default it used to fall back to.
func TestEzRootExpiryTimeoutZero(t *testing.T) {
	dsn := testenv.MySQLDatabase(t)
	root := newEZRoot(t, splitDSN(t, dsn), "", "")
	configPHP := filepath.Join(root.Dir, "config.php")
	text, err := os.ReadFile(configPHP)
	if err != nil {
		t.Fatal(err)
	}
	root.write(t, "config.php", strings.Replace(string(text), "?>", "define( 'CLUSTER_EXPIRY_TIMEOUT', 0 );\n?>", 1))
	const name = "var/ezdemo_site/storage/images/x/now.jpg"
	put(t, testkit.MySQLStore(t, dsn), root.Mount, metadata.File{Name: name, Datatype: "image/jpeg", Scope: "image", Size: 10, MTime: 1700000000},
		[]byte("0123456789"))

	d := testkit.StartDaemon(t, []string{"--ez-root", root.Dir, "--listen", "127.0.0.1:0", "--metrics-listen", ""}, nil)
	if d.Cfg.ExpiryTimeout != 0 || !d.Cfg.Expires {
		t.Fatalf("config: expires %v, expiry-timeout %v; want Expires on with 0", d.Cfg.Expires, d.Cfg.ExpiryTimeout)
	}
	r := do(t, newClient(t, 1), d.URL, http.MethodGet, "/"+name)
	if r.Code != 200 {
		t.Fatalf("GET: %d", r.Code)
	}
	expires, err := http.ParseTime(r.Header.Get("Expires"))
	if err != nil {
		t.Fatalf("Expires %q: %v", r.Header.Get("Expires"), err)
	}
	date, err := http.ParseTime(r.Header.Get("Date"))
	if err != nil {
		t.Fatalf("Date %q: %v", r.Header.Get("Date"), err)
	}
	if d := expires.Sub(date); d < -time.Second || d > time.Second {
		t.Errorf("Expires %s is %v from Date %s, want now", r.Header.Get("Expires"), d, r.Header.Get("Date"))
	}
}
