package httpserve

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/ezdfsd/ezdfsd/dfs"
	"github.com/ezdfsd/ezdfsd/metadata"
)

// platformConfig is what the daemon sets for --profile platform: the app's header set (no
// Expires, X-Powered-By or Served-by), the profile switch doing the rest.
func platformConfig() Config {
	c := DefaultConfig()
	c.Profile = dfs.ProfilePlatform
	c.PoweredBy, c.ServedBy, c.Expires = "", "", false
	return c
}

// TestPlatformProfile checks the eZ Platform / Ibexa rules of spec §4 on the shared fixture:
// names are not URL-decoded, rows with expired=1 or mtime 0 are missing, and the headers are
// BinaryStreamResponse's plus ezdfsd's validators.
func TestPlatformProfile(t *testing.T) {
	data := content(1000)
	appHeaders := map[string]string{
		"Content-Type":   "image/jpeg",
		"Content-Length": "1000",
		"Last-Modified":  lastMod,
		"Accept-Ranges":  "bytes",
		"Cache-Control":  "public",
		"ETag":           fooETag,
		"Expires":        absent,
		"X-Powered-By":   absent,
		"Served-by":      absent,
		"Vary":           absent,
	}
	cases := []struct {
		name    string
		method  string
		target  string
		headers []string
		code    int
		want    map[string]string
		body    []byte
	}{
		{name: "found", target: imgPath, code: 200, want: appHeaders, body: data},
		{name: "HEAD", method: http.MethodHead, target: imgPath, code: 200, want: appHeaders, body: noBody},
		{name: "expired=1 is missing", target: "/" + imgX + "expired.jpg", code: 404},
		{name: "mtime 0 is missing", target: "/" + imgX + "zero-mtime.jpg", code: 404},
		{name: "deleted is missing", target: "/" + imgX + "deleted.jpg", code: 404},
		{name: "%20 is not decoded", target: "/" + imgX + "foo%20bar.jpg", code: 404},
		{name: "literal %20 in the name", target: "/" + imgX + "a%20b.jpg", code: 200, body: []byte("pct")},
		{name: "%25 stays %25", target: "/" + imgX + "100%25.jpg", code: 200, body: []byte("100")},
		{name: "304", target: imgPath, headers: []string{"If-None-Match", fooETag}, code: 304,
			want: map[string]string{"ETag": fooETag, "Cache-Control": "public", "Expires": absent, "Content-Length": absent}},
		{name: "Range", target: imgPath, headers: []string{"Range", "bytes=0-9"}, code: 206,
			want: map[string]string{"Content-Range": "bytes 0-9/1000", "Cache-Control": "public"}, body: data[:10]},
		{name: "If-Range mismatch sends all", target: imgPath, headers: []string{"Range", "bytes=0-9", "If-Range", `"x"`}, code: 200},
		{name: "datatype verbatim (no charset added)", target: "/" + imgX + "text.css", code: 200,
			want: map[string]string{"Content-Type": "text/css"}},
		{name: "empty datatype", target: "/" + imgX + "empty-type.bin", code: 200,
			want: map[string]string{"Content-Type": "application/octet-stream"}},
		{name: "416 has no Cache-Control", target: imgPath, headers: []string{"Range", "bytes=5000-"}, code: 416,
			want: map[string]string{"Cache-Control": absent}},
		{name: "traversal", target: "/" + imgX + "%2e%2e/%2e%2e/x.jpg", code: 404},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t)
			st := dfs.DefaultStorageTable
			for name, b := range map[string]string{"a%20b.jpg": "pct", "100%25.jpg": "100", "text.css": "a{}"} {
				dt := "image/jpeg"
				if name == "text.css" {
					dt = "text/css"
				}
				f.store.put(st, metadata.File{Name: imgX + name, Datatype: dt, Size: int64(len(b)), MTime: mtime})
				f.mount.write(t, imgX+name, []byte(b))
			}
			h := f.handler(t, platformConfig())
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
		})
	}
}
