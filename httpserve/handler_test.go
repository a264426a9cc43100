package httpserve

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ezdfsd/ezdfsd/dfs"
	"github.com/ezdfsd/ezdfsd/metadata"
	"github.com/ezdfsd/ezdfsd/storage"
)

// The §7 fixture: foo.jpg, 1000 bytes, mtime 1700000000, image/jpeg.
const (
	img        = "var/ezdemo_site/storage/images/a/b/c/1-1-eng-GB/foo.jpg"
	imgPath    = "/" + img
	imgX       = "var/ezdemo_site/storage/images/x/"
	cssName    = "var/ezdemo_site/cache/public/stylesheets/x.css"
	s3Prefix   = "var/ezdemo_site/storage/images/s3/"
	mtime      = 1700000000
	lastMod    = "Tue, 14 Nov 2023 22:13:20 GMT"
	fooETag    = `"1700000000-1000"`
	servedBy   = "node1.example"
	expiresFix = "Tue, 02 Jan 2024 00:00:00 GMT" // fixedNow + 86400 s
)

var fixedNow = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// content returns n deterministic, position-dependent bytes.
func content(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i/251)
	}
	return b
}

type fixture struct {
	store *fakeStore
	mount *fakeMount
	s3    *fakeS3
	data  []byte // foo.jpg's bytes
}

// newFixture builds the rows and files used by the conformance table, in a new temp directory.
func newFixture(t *testing.T) *fixture {
	t.Helper()
	return newFixtureIn(t, "")
}

// newFixtureIn builds fresh fakes (rows, counters) over the files in root; an empty root is a
// new temp directory, populated first. Sharing root keeps the table fast.
func newFixtureIn(t *testing.T, root string) *fixture {
	t.Helper()
	mount := newFakeMount(t, root)
	writeFiles := root == ""
	f := &fixture{store: newFakeStore(), mount: mount, s3: newFakeS3(), data: content(1000)}
	write := func(name string, data []byte) {
		if writeFiles {
			f.mount.write(t, name, data)
		}
	}
	st, cache := dfs.DefaultStorageTable, dfs.DefaultCacheTable
	row := func(table, name, dt string, size, mt int64, data []byte) {
		f.store.put(table, metadata.File{Name: name, Datatype: dt, Scope: "image", Size: size, MTime: mt})
		if data != nil {
			write(name, data)
		}
	}
	row(st, img, "image/jpeg", 1000, mtime, f.data)
	row(st, imgX+"foo bar.jpg", "image/jpeg", 10, mtime, []byte("foo bar!!!"))
	row(st, imgX+`it's "q".jpg`, "image/jpeg", 5, mtime, []byte("quote"))
	row(st, imgX+"q?mark.jpg", "image/jpeg", 5, mtime, []byte("QMARK"))
	row(st, imgX+"q", "image/jpeg", 1, mtime, []byte("Q"))
	row(st, imgX+"deleted.jpg", "image/jpeg", 10, -mtime, []byte("0123456789"))
	f.store.put(st, metadata.File{Name: imgX + "expired.jpg", Datatype: "image/jpeg", Size: 10, MTime: mtime, Expired: true})
	write(imgX+"expired.jpg", []byte("0123456789"))
	row(st, imgX+"zero-mtime.jpg", "image/jpeg", 10, 0, []byte("0123456789"))
	write(imgX+"only-file.jpg", []byte("0123456789"))
	row(st, imgX+"missing.jpg", "image/jpeg", 10, mtime, nil)
	row(st, imgX+"short.jpg", "image/jpeg", 1000, mtime, content(500))
	row(st, imgX+"long.jpg", "image/jpeg", 1000, mtime, content(2000))
	row(st, imgX+"empty.jpg", "image/jpeg", 0, mtime, []byte{})
	row(cache, cssName, "text/css", 12, mtime, []byte("body{margin}"))
	row(st, "var/ezdemo_site/cache/public/only-storage.css", "text/css", 3, mtime, []byte("a{}"))
	row(st, imgX+"misc.bin", "misc", 3, mtime, []byte("abc"))
	row(st, imgX+"empty-type.bin", "", 3, mtime, []byte("abc"))
	row(st, imgX+"text.txt", "text/plain; charset=ISO-8859-1", 3, mtime, []byte("abc"))
	row(st, imgX+"charset-capital.css", "text/css; Charset=latin1", 3, mtime, []byte("a{}"))
	row(st, imgX+"upper-type.css", "TEXT/css", 3, mtime, []byte("a{}"))
	row(st, imgX+"charset-no-value.txt", "text/plain;charset", 3, mtime, []byte("abc"))
	row(st, "var/ezdemo_site/storage/original/application/x.pdf", "application/pdf", 3, mtime, []byte("pdf"))
	row(st, imgX+"negative-size.jpg", "image/jpeg", -5, mtime, []byte("abc"))
	row(st, s3Prefix+"img.png", "image/png", 8, mtime, nil)
	f.s3.objects[s3Prefix+"img.png"] = []byte("PNGBYTES")
	row(st, s3Prefix+"gone.png", "image/png", 8, mtime, nil)
	row(st, s3Prefix+"broken.png", "image/png", 8, mtime, nil)
	f.s3.rangeErr[s3Prefix+"broken.png"] = fmt.Errorf("fake s3: timeout: %w", storage.ErrUnavailable)
	return f
}

func (f *fixture) routing(t *testing.T) Routing {
	t.Helper()
	allow, err := dfs.NewAllowList(dfs.DefaultServedPatterns)
	if err != nil {
		t.Fatal(err)
	}
	return Routing{
		Allow:  allow,
		Tables: dfs.DefaultTables(),
		Dispatch: dfs.Dispatch{
			Rules:   []dfs.Rule{{Key: "storage/images/s3/", Backend: dfs.S3Backend}},
			Default: dfs.MountPointBackend,
		},
	}
}

func (f *fixture) handler(t *testing.T, cfg Config) *Handler {
	t.Helper()
	h, err := New(cfg, f.routing(t), f.store,
		map[string]storage.Backend{dfs.MountPointBackend: f.mount, dfs.S3Backend: f.s3}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	h.now = func() time.Time { return fixedNow }
	h.sleep = func(ctx context.Context, d time.Duration) error { return ctx.Err() } // no wall-clock waits
	return h
}

func testConfig() Config {
	c := DefaultConfig()
	c.ServedBy = servedBy
	return c
}

// absent marks a header that must not be present.
const absent = "\x00absent"

// successHeaders are §7's common success headers (H) for foo.jpg.
func successHeaders(ctype string, length int) map[string]string {
	return map[string]string{
		"Content-Type":   ctype,
		"Served-by":      servedBy,
		"X-Powered-By":   "eZ Publish",
		"Last-Modified":  lastMod,
		"Expires":        expiresFix,
		"ETag":           fooETag,
		"Accept-Ranges":  "bytes",
		"Content-Length": strconv.Itoa(length),
		"Cache-Control":  absent,
		"Vary":           absent,
		"Connection":     absent,
	}
}

// noEZHeaders are what 404 pages must not carry.
var noEZHeaders = map[string]string{
	"Content-Type":  "text/html;charset=UTF-8",
	"Served-by":     absent,
	"X-Powered-By":  absent,
	"Last-Modified": absent,
	"ETag":          absent,
	"Expires":       absent,
	"Accept-Ranges": absent,
}

func merge(ms ...map[string]string) map[string]string {
	out := map[string]string{}
	for _, m := range ms {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}

type conformanceCase struct {
	row      string // §7 row number(s)
	name     string
	method   string
	target   string
	headers  []string // key, value pairs
	cfg      func(*Config)
	storeErr error // every Lookup fails with it
	code     int
	want     map[string]string // exact header values, or absent
	body     []byte            // nil: not checked; use noBody for "empty"
	check    func(t *testing.T, f *fixture, rec *httptest.ResponseRecorder)
}

var noBody = []byte{}

func TestConformance(t *testing.T) {
	data := content(1000)
	page404For := func(name string) []byte { return []byte(page404(name)) }
	notModified := map[string]string{
		"ETag": fooETag, "Last-Modified": lastMod, "Expires": expiresFix, "Served-by": servedBy,
		"X-Powered-By": "eZ Publish", "Content-Type": absent, "Content-Length": absent,
	}
	ranged := func(cr string, n int) map[string]string {
		return merge(successHeaders("image/jpeg", n), map[string]string{"Content-Range": cr})
	}
	full := merge(successHeaders("image/jpeg", 1000), map[string]string{"Content-Range": absent})
	unsat := merge(successHeaders("text/html;charset=UTF-8", len(page416)),
		map[string]string{"Content-Range": "bytes */1000"})

	cases := []conformanceCase{
		{row: "1", name: "GET", target: imgPath, code: 200, want: full, body: data},
		{row: "2", name: "HEAD", method: "HEAD", target: imgPath, code: 200, want: full, body: noBody,
			check: func(t *testing.T, f *fixture, _ *httptest.ResponseRecorder) {
				if f.mount.rangeCalls != 0 {
					t.Errorf("HEAD read the file: %d Range calls", f.mount.rangeCalls)
				}
			}},
		{row: "3", name: "POST", method: "POST", target: imgPath, code: 405,
			want: map[string]string{"Allow": "GET, HEAD", "Served-by": absent}, body: []byte(page405)},
		{row: "3", name: "PUT", method: "PUT", target: imgPath, code: 405, want: map[string]string{"Allow": "GET, HEAD"}},
		{row: "3", name: "DELETE", method: "DELETE", target: imgPath, code: 405, want: map[string]string{"Allow": "GET, HEAD"}},
		{row: "3", name: "OPTIONS", method: "OPTIONS", target: imgPath, code: 405},
		{row: "4", name: "query ignored", target: imgPath + "?v=123", code: 200, body: data},
		{row: "5", name: "extra leading slashes", target: "//" + img, code: 200, body: data},
		{row: "6", name: "%20 decoded", target: "/" + imgX + "foo%20bar.jpg", code: 200, body: []byte("foo bar!!!")},
		{row: "7", name: "+ not decoded", target: "/" + imgX + "foo+bar.jpg", code: 404,
			want: noEZHeaders, body: page404For(imgX + "foo+bar.jpg")},
		{row: "8", name: "quotes", target: "/" + imgX + "it%27s%20%22q%22.jpg", code: 200, body: []byte("quote")},
		{row: "9", name: "%3F stays in the name", target: "/" + imgX + "q%3Fmark.jpg", code: 200, body: []byte("QMARK")},
		{row: "9", name: "raw ? cuts", target: "/" + imgX + "q?mark.jpg", code: 200, body: []byte("Q")},
		{row: "10", name: "%2F decoded", target: "/var%2Fezdemo_site%2Fstorage/images/a/b/c/1-1-eng-GB/foo.jpg", code: 200, body: data},
		{row: "11", name: "%00", target: "/" + imgX + "a%00.jpg", code: 404, want: noEZHeaders,
			check: lookups(0)},
		{row: "11", name: "dot-dot", target: "/" + imgX + "../x/q", code: 404, want: noEZHeaders, check: lookups(0)},
		{row: "11", name: "%2e%2e", target: "/" + imgX + "%2e%2e/x/q", code: 404, check: lookups(0)},
		{row: "12", name: "no row", target: "/" + imgX + "nope.jpg", code: 404, want: noEZHeaders,
			body: page404For(imgX + "nope.jpg")},
		{row: "12", name: "404 escapes the name", target: "/" + imgX + "%3Cb%3E%26%22%27.jpg", code: 404,
			body: []byte(page404Head + imgX + "&lt;b&gt;&amp;&quot;&#039;.jpg" + page404Tail)},
		{row: "12", name: "404 replaces invalid UTF-8", target: "/" + imgX + "%FF.jpg", code: 404,
			body: []byte(page404Head + imgX + "\uFFFD.jpg" + page404Tail)},
		{row: "13", name: "deleted", target: "/" + imgX + "deleted.jpg", code: 404, want: noEZHeaders,
			body: page404For(imgX + "deleted.jpg")},
		{row: "14", name: "expired served", target: "/" + imgX + "expired.jpg", code: 200, body: []byte("0123456789")},
		{row: "14", name: "expired strict", target: "/" + imgX + "expired.jpg", cfg: func(c *Config) { c.StrictExpiry = true },
			code: 404, want: noEZHeaders},
		{row: "15", name: "mtime 0", target: "/" + imgX + "zero-mtime.jpg", code: 200,
			want: map[string]string{"Last-Modified": "Thu, 01 Jan 1970 00:00:00 GMT", "ETag": `"0-10"`}, body: []byte("0123456789")},
		{row: "15", name: "mtime 0 strict", target: "/" + imgX + "zero-mtime.jpg", cfg: func(c *Config) { c.StrictExpiry = true },
			code: 404},
		{row: "16", name: "file without row", target: "/" + imgX + "only-file.jpg", code: 404, want: noEZHeaders},
		{row: "17", name: "row without file", target: "/" + imgX + "missing.jpg", code: 404, want: noEZHeaders,
			body: page404For(imgX + "missing.jpg"),
			check: func(t *testing.T, f *fixture, _ *httptest.ResponseRecorder) {
				if got := f.mount.openCount(imgX + "missing.jpg"); got != 1+DefaultMissingRetries {
					t.Errorf("opens = %d, want %d (1 + retries)", got, 1+DefaultMissingRetries)
				}
			}},
		{row: "18", name: "short file", target: "/" + imgX + "short.jpg", code: 503,
			want: merge(noEZHeaders, map[string]string{"Retry-After": "5", "Content-Length": strconv.Itoa(len(page503))}),
			body: []byte(page503)},
		{row: "19", name: "long file", target: "/" + imgX + "long.jpg", code: 200,
			want: map[string]string{"Content-Length": "1000"}, body: content(2000)[:1000]},
		{row: "20", name: "zero-byte file", target: "/" + imgX + "empty.jpg", code: 200,
			want: map[string]string{"Content-Length": "0", "ETag": fmt.Sprintf(`"%d-0"`, mtime)}, body: noBody},
		{row: "21", name: "cache table, text/css", target: "/" + cssName, code: 200,
			want: map[string]string{"Content-Type": "text/css;charset=UTF-8"}, body: []byte("body{margin}")},
		{row: "21", name: "text/* with charset untouched", target: "/" + imgX + "text.txt", code: 200,
			want: map[string]string{"Content-Type": "text/plain; charset=ISO-8859-1"}},
		// PHP's default_charset test is case-sensitive: strncmp(type, "text/", 5) and strstr(type, "charset=").
		{row: "21", name: "Charset= is not charset=", target: "/" + imgX + "charset-capital.css", code: 200,
			want: map[string]string{"Content-Type": "text/css; Charset=latin1;charset=UTF-8"}},
		{row: "21", name: "TEXT/ is not text/", target: "/" + imgX + "upper-type.css", code: 200,
			want: map[string]string{"Content-Type": "TEXT/css"}},
		{row: "21", name: "charset without =", target: "/" + imgX + "charset-no-value.txt", code: 200,
			want: map[string]string{"Content-Type": "text/plain;charset;charset=UTF-8"}},
		{row: "22", name: "cache path only in storage table", target: "/var/ezdemo_site/cache/public/only-storage.css", code: 404},
		{row: "23", name: "misc", target: "/" + imgX + "misc.bin", code: 200, want: map[string]string{"Content-Type": "misc"}},
		{row: "23", name: "empty datatype", target: "/" + imgX + "empty-type.bin", code: 200,
			want: map[string]string{"Content-Type": "application/octet-stream"}},
		{row: "24", name: "INM match", target: imgPath, headers: []string{"If-None-Match", fooETag}, code: 304,
			want: notModified, body: noBody},
		{row: "25", name: "INM other", target: imgPath, headers: []string{"If-None-Match", `"other"`}, code: 200, body: data},
		{row: "25", name: "INM star", target: imgPath, headers: []string{"If-None-Match", "*"}, code: 304, want: notModified},
		{row: "25", name: "INM weak", target: imgPath, headers: []string{"If-None-Match", "W/" + fooETag}, code: 304},
		{row: "25", name: "INM list", target: imgPath, headers: []string{"If-None-Match", `"a", ` + fooETag}, code: 304},
		{row: "26", name: "INM bare", target: imgPath, headers: []string{"If-None-Match", "1700000000-1000"}, code: 200},
		{row: "27", name: "IMS equal", target: imgPath, headers: []string{"If-Modified-Since", lastMod}, code: 304, want: notModified},
		{row: "28", name: "IMS older", target: imgPath, headers: []string{"If-Modified-Since", "Tue, 14 Nov 2023 22:13:19 GMT"}, code: 200},
		{row: "29", name: "IMS newer", target: imgPath, headers: []string{"If-Modified-Since", "Wed, 15 Nov 2023 00:00:00 GMT"}, code: 304},
		{row: "30", name: "IMS garbage", target: imgPath, headers: []string{"If-Modified-Since", "yesterday-ish"}, code: 200},
		{row: "31", name: "IMS ;length", target: imgPath, headers: []string{"If-Modified-Since", lastMod + "; length=1000"}, code: 304},
		{row: "31", name: "IMS ;length older", target: imgPath,
			headers: []string{"If-Modified-Since", "Tue, 14 Nov 2023 22:13:19 GMT; length=1000"}, code: 200},
		{row: "32", name: "INM decides over IMS", target: imgPath,
			headers: []string{"If-None-Match", `"other"`, "If-Modified-Since", lastMod}, code: 200},
		{row: "33", name: "bytes=0-99", target: imgPath, headers: []string{"Range", "bytes=0-99"}, code: 206,
			want: ranged("bytes 0-99/1000", 100), body: data[:100]},
		{row: "34", name: "bytes=500-", target: imgPath, headers: []string{"Range", "bytes=500-"}, code: 206,
			want: ranged("bytes 500-999/1000", 500), body: data[500:]},
		{row: "34", name: "bytes=-100", target: imgPath, headers: []string{"Range", "bytes=-100"}, code: 206,
			want: ranged("bytes 900-999/1000", 100), body: data[900:]},
		{row: "34", name: "bytes=998-5000", target: imgPath, headers: []string{"Range", "bytes=998-5000"}, code: 206,
			want: ranged("bytes 998-999/1000", 2), body: data[998:]},
		{row: "35", name: "bytes=0-0", target: imgPath, headers: []string{"Range", "bytes=0-0"}, code: 206,
			want: ranged("bytes 0-0/1000", 1), body: data[:1]},
		{row: "36", name: "bytes=5-5", target: imgPath, headers: []string{"Range", "bytes=5-5"}, code: 206,
			want: ranged("bytes 5-5/1000", 1), body: data[5:6]},
		{row: "36", name: "bytes=999-999", target: imgPath, headers: []string{"Range", "bytes=999-999"}, code: 206,
			want: ranged("bytes 999-999/1000", 1), body: data[999:]},
		{row: "36", name: "bytes=-1", target: imgPath, headers: []string{"Range", "bytes=-1"}, code: 206,
			want: ranged("bytes 999-999/1000", 1), body: data[999:]},
		{row: "37", name: "bytes=1000-", target: imgPath, headers: []string{"Range", "bytes=1000-"}, code: 416,
			want: unsat, body: []byte(page416)},
		{row: "37", name: "bytes=2000-3000", target: imgPath, headers: []string{"Range", "bytes=2000-3000"}, code: 416, want: unsat},
		{row: "37", name: "bytes=100-50 invalid", target: imgPath, headers: []string{"Range", "bytes=100-50"}, code: 200, want: full},
		{row: "38", name: "suffix longer than file", target: imgPath, headers: []string{"Range", "bytes=-2000"}, code: 206,
			want: ranged("bytes 0-999/1000", 1000), body: data},
		{row: "39", name: "multi-range", target: imgPath, headers: []string{"Range", "bytes=0-1,5-6"}, code: 206,
			check: multipartCheck(data, []string{"bytes 0-1/1000", "bytes 5-6/1000"}, [][]byte{data[0:2], data[5:7]})},
		{row: "39", name: "multi-range overlapping coalesced", target: imgPath, headers: []string{"Range", "bytes=0-10,5-20"}, code: 206,
			want: ranged("bytes 0-20/1000", 21), body: data[:21]},
		{row: "39", name: "more than MaxRanges", target: imgPath,
			headers: []string{"Range", "bytes=" + strings.Repeat("0-1,", 16) + "9-9"}, code: 200, want: full},
		{row: "40", name: "Bytes unit is case-sensitive (legacy)", target: imgPath, headers: []string{"Range", "Bytes=0-99"}, code: 200, want: full},
		{row: "40", name: "items unit", target: imgPath, headers: []string{"Range", "items=0-5"}, code: 200, want: full},
		{row: "41", name: "space after =", target: imgPath, headers: []string{"Range", "bytes= 10-20"}, code: 200, want: full},
		{row: "41", name: "leading zeros are valid digits", target: imgPath, headers: []string{"Range", "bytes=010-020"}, code: 206,
			want: ranged("bytes 10-20/1000", 11), body: data[10:21]},
		{row: "41", name: "1e2", target: imgPath, headers: []string{"Range", "bytes=1e2-200"}, code: 200, want: full},
		{row: "42", name: "bytes=", target: imgPath, headers: []string{"Range", "bytes="}, code: 200, want: full},
		{row: "42", name: "bytes=-", target: imgPath, headers: []string{"Range", "bytes=-"}, code: 200, want: full},
		{row: "42", name: "bytes=-0", target: imgPath, headers: []string{"Range", "bytes=-0"}, code: 416, want: unsat},
		{row: "42", name: "bytes=abc-def", target: imgPath, headers: []string{"Range", "bytes=abc-def"}, code: 200, want: full},
		{row: "43", name: "zero-byte file bytes=0-", target: "/" + imgX + "empty.jpg", headers: []string{"Range", "bytes=0-"}, code: 416,
			want: map[string]string{"Content-Range": "bytes */0"}, body: []byte(page416)},
		{row: "44", name: "Range + non-matching INM", target: imgPath,
			headers: []string{"Range", "bytes=0-99", "If-None-Match", `"other"`}, code: 206, want: ranged("bytes 0-99/1000", 100)},
		{row: "44", name: "Range + matching INM", target: imgPath,
			headers: []string{"Range", "bytes=0-99", "If-None-Match", fooETag}, code: 304},
		{row: "47", name: "If-Range etag match", target: imgPath,
			headers: []string{"Range", "bytes=0-99", "If-Range", fooETag}, code: 206},
		{row: "47", name: "If-Range etag mismatch", target: imgPath,
			headers: []string{"Range", "bytes=0-99", "If-Range", `"1700000000-999"`}, code: 200, want: full},
		{row: "47", name: "If-Range weak etag", target: imgPath,
			headers: []string{"Range", "bytes=0-99", "If-Range", "W/" + fooETag}, code: 200},
		{row: "47", name: "If-Range date exact", target: imgPath,
			headers: []string{"Range", "bytes=0-99", "If-Range", lastMod}, code: 206},
		{row: "47", name: "If-Range date newer", target: imgPath,
			headers: []string{"Range", "bytes=0-99", "If-Range", "Wed, 15 Nov 2023 00:00:00 GMT"}, code: 200},
		{row: "48", name: "HTTP cache off", target: imgPath, headers: []string{"If-None-Match", fooETag, "If-Modified-Since", lastMod},
			cfg: func(c *Config) { c.HTTPCache = false }, code: 200,
			want: map[string]string{"Last-Modified": absent, "Expires": absent, "ETag": absent, "Served-by": servedBy}, body: data},
		{row: "49", name: "ranges off", target: imgPath, headers: []string{"Range", "bytes=0-99"},
			cfg: func(c *Config) { c.Ranges = false }, code: 200,
			want: map[string]string{"Accept-Ranges": "none", "Content-Range": absent, "Content-Length": "1000"}, body: data},
		{row: "50", name: "expiry false", target: imgPath, cfg: func(c *Config) { c.Expires = false }, code: 200,
			want: map[string]string{"Expires": absent, "Last-Modified": lastMod}},
		{row: "50", name: "expiry N", target: imgPath, cfg: func(c *Config) { c.ExpiryTimeout = 3600 * time.Second }, code: 200,
			want: map[string]string{"Expires": "Mon, 01 Jan 2024 01:00:00 GMT"}},
		{row: "50", name: "expiry 0 is now", target: imgPath, cfg: func(c *Config) { c.ExpiryTimeout = 0 }, code: 200,
			want: map[string]string{"Expires": "Mon, 01 Jan 2024 00:00:00 GMT"}},
		{row: "50", name: "expiry 0 max-age 0", target: imgPath, cfg: func(c *Config) { c.ExpiryTimeout, c.CacheControl = 0, true }, code: 200,
			want: map[string]string{"Expires": "Mon, 01 Jan 2024 00:00:00 GMT", "Cache-Control": "public, max-age=0"}},
		{row: "51", name: "no X-Powered-By", target: imgPath, cfg: func(c *Config) { c.PoweredBy = "" }, code: 200,
			want: map[string]string{"X-Powered-By": absent}},
		{row: "51", name: "no Served-by", target: imgPath, cfg: func(c *Config) { c.ServedBy = "" }, code: 200,
			want: map[string]string{"Served-by": absent}},
		{row: "53", name: "metadata unavailable", target: imgPath, code: 503,
			storeErr: fmt.Errorf("dial tcp: refused: %w", metadata.ErrUnavailable),
			want:     merge(noEZHeaders, map[string]string{"Retry-After": "5"}), body: []byte(page503),
			check: func(t *testing.T, f *fixture, rec *httptest.ResponseRecorder) {
				// One lookup (the store makes its own connect tries), then nothing: no file
				// is opened without a row to check it against.
				lookups(1)(t, f, rec)
				if n := f.mount.openCount(img); n != 0 {
					t.Errorf("storage opened %d times with metadata down, want 0", n)
				}
			}},
		{row: "-", name: "corrupt row (negative size)", target: "/" + imgX + "negative-size.jpg", code: 503,
			want: map[string]string{"Retry-After": "5", "Served-by": absent}},
		{row: "55", name: "Cache-Control opt-in", target: imgPath, cfg: func(c *Config) { c.CacheControl = true }, code: 200,
			want: map[string]string{"Cache-Control": "public, max-age=86400", "Vary": absent}},
		{row: "55", name: "Cache-Control on 304", target: imgPath, headers: []string{"If-None-Match", fooETag},
			cfg: func(c *Config) { c.CacheControl = true }, code: 304, want: map[string]string{"Cache-Control": "public, max-age=86400"}},
		{row: "55", name: "no Cache-Control on 416", target: imgPath, headers: []string{"Range", "bytes=5000-"},
			cfg: func(c *Config) { c.CacheControl = true }, code: 416, want: map[string]string{"Cache-Control": absent}},
		{row: "56", name: "outside allow-list", target: "/var/ezdemo_site/storage/original/application/x.pdf", code: 404,
			want: noEZHeaders, check: lookups(0)},
		{row: "57", name: "S3 GET", target: "/" + s3Prefix + "img.png", code: 200,
			want: map[string]string{"Content-Type": "image/png", "Content-Length": "8", "ETag": fmt.Sprintf(`"%d-8"`, mtime)},
			body: []byte("PNGBYTES")},
		{row: "57", name: "S3 range passed through", target: "/" + s3Prefix + "img.png", headers: []string{"Range", "bytes=3-"}, code: 206,
			want: map[string]string{"Content-Range": "bytes 3-7/8"}, body: []byte("BYTES"),
			check: func(t *testing.T, f *fixture, _ *httptest.ResponseRecorder) {
				if len(f.s3.ranges) != 1 || f.s3.ranges[0] != [2]int64{3, 5} {
					t.Errorf("S3 ranges = %v, want [[3 5]]", f.s3.ranges)
				}
			}},
		{row: "57", name: "S3 NoSuchKey", target: "/" + s3Prefix + "gone.png", code: 404, want: noEZHeaders,
			body: page404For(s3Prefix + "gone.png")},
		{row: "57", name: "S3 unavailable", target: "/" + s3Prefix + "broken.png", code: 503,
			want: merge(noEZHeaders, map[string]string{"Retry-After": "5"})},
		{row: "57", name: "S3 HEAD makes no range call", target: "/" + s3Prefix + "img.png", method: "HEAD", code: 200,
			want: map[string]string{"Content-Length": "8"}, body: noBody,
			check: func(t *testing.T, f *fixture, _ *httptest.ResponseRecorder) {
				if len(f.s3.ranges) != 0 {
					t.Errorf("HEAD made S3 range calls: %v", f.s3.ranges)
				}
			}},
		{row: "-", name: "412 If-Match mismatch", target: imgPath, headers: []string{"If-Match", `"other"`}, code: 412,
			body: []byte(page412)},
		{row: "-", name: "If-Match match", target: imgPath, headers: []string{"If-Match", fooETag}, code: 200},
		{row: "-", name: "412 If-Unmodified-Since older", target: imgPath,
			headers: []string{"If-Unmodified-Since", "Tue, 14 Nov 2023 22:13:19 GMT"}, code: 412},
		{row: "-", name: "HEAD 404 no body", method: "HEAD", target: "/" + imgX + "nope.jpg", code: 404, body: noBody,
			want: map[string]string{"Content-Length": strconv.Itoa(len(page404(imgX + "nope.jpg")))}},
		{row: "-", name: "HEAD ignores Range", method: "HEAD", target: imgPath, headers: []string{"Range", "bytes=0-9"}, code: 200,
			want: full, body: noBody},
		// README "Differences": names eZ never writes are refused before any lookup (the legacy
		// gateway would look them up, and serve a row if one existed).
		{row: "11", name: "dot segment", target: "/" + imgX + "./q", code: 404, want: noEZHeaders, check: lookups(0)},
		{row: "11", name: "encoded dot segment", target: "/" + imgX + "%2e/q", code: 404, check: lookups(0)},
		{row: "11", name: "empty segment", target: "/" + imgX + "a//q", code: 404, want: noEZHeaders, check: lookups(0)},
		{row: "11", name: "trailing slash", target: "/" + imgX + "q/", code: 404, check: lookups(0)},
		{row: "11", name: "control byte", target: "/" + imgX + "q%01.jpg", code: 404, want: noEZHeaders, check: lookups(0)},
		{row: "11", name: "DEL byte", target: "/" + imgX + "q%7F.jpg", code: 404, check: lookups(0)},
		{row: "-", name: "X-Request-Id taken and echoed", target: imgPath, headers: []string{"X-Request-Id", "edge-42"}, code: 200,
			want: map[string]string{"X-Request-Id": "edge-42"}},
		{row: "-", name: "absolute-form target", target: "http://example.com" + imgPath + "?x=1", code: 200, body: data},
	}
	root := newFixture(t).mount.root
	for _, c := range cases {
		t.Run("row"+c.row+"/"+c.name, func(t *testing.T) {
			f := newFixtureIn(t, root)
			cfg := testConfig()
			if c.cfg != nil {
				c.cfg(&cfg)
			}
			f.store.err = c.storeErr
			h := f.handler(t, cfg)
			method := c.method
			if method == "" {
				method = http.MethodGet
			}
			rec := httptest.NewRecorder()
			serve(h, rec, method, c.target, c.headers...)
			if rec.Code != c.code {
				t.Fatalf("status = %d, want %d; body %q", rec.Code, c.code, truncate(rec.Body.Bytes()))
			}
			checkHeaders(t, rec.Header(), c.want)
			if c.body != nil && !bytes.Equal(rec.Body.Bytes(), c.body) {
				t.Errorf("body = %q, want %q", truncate(rec.Body.Bytes()), truncate(c.body))
			}
			if cl := rec.Header().Get("Content-Length"); cl != "" && method != http.MethodHead {
				if cl != strconv.Itoa(rec.Body.Len()) {
					t.Errorf("Content-Length %s but body has %d bytes", cl, rec.Body.Len())
				}
			}
			if id := rec.Header().Get("X-Request-Id"); id == "" {
				t.Error("no X-Request-Id")
			}
			if c.check != nil {
				c.check(t, f, rec)
			}
		})
	}
}

func lookups(n int) func(t *testing.T, f *fixture, _ *httptest.ResponseRecorder) {
	return func(t *testing.T, f *fixture, _ *httptest.ResponseRecorder) {
		t.Helper()
		if f.store.lookups != n {
			t.Errorf("metadata lookups = %d, want %d", f.store.lookups, n)
		}
	}
}

func multipartCheck(data []byte, wantRanges []string, wantParts [][]byte) func(*testing.T, *fixture, *httptest.ResponseRecorder) {
	return func(t *testing.T, _ *fixture, rec *httptest.ResponseRecorder) {
		t.Helper()
		mt, params, err := mime.ParseMediaType(rec.Header().Get("Content-Type"))
		if err != nil || mt != "multipart/byteranges" {
			t.Fatalf("Content-Type = %q (%v)", rec.Header().Get("Content-Type"), err)
		}
		if cl := rec.Header().Get("Content-Length"); cl != strconv.Itoa(rec.Body.Len()) {
			t.Errorf("Content-Length %s, body %d bytes", cl, rec.Body.Len())
		}
		if rec.Header().Get("Content-Range") != "" {
			t.Error("multipart response has a top-level Content-Range")
		}
		mr := multipart.NewReader(bytes.NewReader(rec.Body.Bytes()), params["boundary"])
		for i := 0; ; i++ {
			p, err := mr.NextPart()
			if err == io.EOF {
				if i != len(wantParts) {
					t.Errorf("%d parts, want %d", i, len(wantParts))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if i >= len(wantParts) {
				t.Fatalf("unexpected part %d", i)
			}
			if got := p.Header.Get("Content-Range"); got != wantRanges[i] {
				t.Errorf("part %d Content-Range = %q, want %q", i, got, wantRanges[i])
			}
			if got := p.Header.Get("Content-Type"); got != "image/jpeg" {
				t.Errorf("part %d Content-Type = %q", i, got)
			}
			b, _ := io.ReadAll(p)
			if !bytes.Equal(b, wantParts[i]) {
				t.Errorf("part %d = %q, want %q", i, b, wantParts[i])
			}
		}
	}
}

func checkHeaders(t *testing.T, h http.Header, want map[string]string) {
	t.Helper()
	for k, v := range want {
		got, ok := h[k]
		// The legacy spellings must be kept: those keys are assigned as is.
		if canon := http.CanonicalHeaderKey(k); canon != k {
			if _, sent := h[canon]; sent {
				t.Errorf("%s sent canonicalised as %s", k, canon)
			}
		}
		switch {
		case v == absent && ok:
			t.Errorf("header %s = %q, want absent", k, got)
		case v != absent && (!ok || len(got) != 1 || got[0] != v):
			t.Errorf("header %s = %q, want %q", k, got, v)
		}
	}
}

func truncate(b []byte) []byte {
	if len(b) > 120 {
		return append(b[:120:120], "..."...)
	}
	return b
}
