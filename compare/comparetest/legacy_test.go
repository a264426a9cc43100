package comparetest

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestLegacyFollowsSpec pins the stand-in to the legacy column of spec §7 for the requests
// `ezdfsd compare` sends, on the spec's fixture (1000 bytes, mtime 1700000000), so a test
// that compares ezdfsd with it compares ezdfsd with index_cluster.php.
func TestLegacyFollowsSpec(t *testing.T) {
	const name = "var/ezdemo_site/storage/images/a/b/c/1-1-eng-GB/foo.jpg"
	body := []byte(strings.Repeat("0123456789", 100))
	l := &Legacy{ServedBy: "legacy", Files: map[string]File{
		name:                       {Datatype: "image/jpeg", MTime: 1700000000, Body: body},
		"var/s/storage/images/one": {Datatype: "image/png", MTime: 1700000000, Body: []byte("x")},
		"var/s/storage/images/q":   {Datatype: "image/png", MTime: 1700000000, Body: []byte("Q")},
	}}
	srv := httptest.NewServer(l)
	defer srv.Close()
	const lm = "Tue, 14 Nov 2023 22:13:20 GMT"
	tests := []struct {
		row, method, target string
		header              []string
		status              int
		contentRange        string
		length              int // body bytes (-1: not checked)
	}{
		{"1", "GET", "/" + name, nil, 200, "", 1000},
		{"2", "HEAD", "/" + name, nil, 200, "", 0},
		{"9", "GET", "/var/s/storage/images/q%3Fmark.jpg", nil, 200, "", 1},
		{"12", "GET", "/var/s/storage/images/nope.jpg", nil, 404, "", -1},
		{"24", "GET", "/" + name, []string{"If-None-Match", `"1700000000-1000"`}, 304, "", 0},
		{"25", "GET", "/" + name, []string{"If-None-Match", `"other"`}, 304, "", 0},
		{"26", "GET", "/" + name, []string{"If-None-Match", "1700000000-1000"}, 200, "", 1000},
		{"27", "GET", "/" + name, []string{"If-Modified-Since", lm}, 304, "", 0},
		{"28", "GET", "/" + name, []string{"If-Modified-Since", "Tue, 14 Nov 2023 22:13:19 GMT"}, 304, "", 0},
		{"29", "GET", "/" + name, []string{"If-Modified-Since", "Tue, 14 Nov 2023 22:13:21 GMT"}, 200, "", 1000},
		{"30", "GET", "/" + name, []string{"If-Modified-Since", "garbage"}, 304, "", 0},
		{"33", "GET", "/" + name, []string{"Range", "bytes=0-99"}, 206, "bytes 0-99/1000", 100},
		{"34", "GET", "/" + name, []string{"Range", "bytes=-100"}, 206, "bytes 900-999/1000", 100},
		{"35", "GET", "/" + name, []string{"Range", "bytes=0-0"}, 206, "bytes 0-999/1000", 1000},
		{"36", "GET", "/" + name, []string{"Range", "bytes=5-5"}, 416, "bytes */1000", -1},
		{"36 (1-byte file)", "GET", "/var/s/storage/images/one", []string{"Range", "bytes=0-99"}, 416, "bytes */1", -1},
		{"41", "GET", "/" + name, []string{"Range", "bytes=010-020"}, 206, "bytes 010-020/1000", 11},
		{"39", "GET", "/" + name, []string{"Range", "bytes=0-1,5-6"}, 200, "", 1000},
		{"HEAD + Range", "HEAD", "/" + name, []string{"Range", "bytes=0-99"}, 206, "bytes 0-99/1000", 0},
	}
	for _, tt := range tests {
		t.Run("row "+tt.row, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, srv.URL+tt.target, nil)
			if err != nil {
				t.Fatal(err)
			}
			for i := 0; i+1 < len(tt.header); i += 2 {
				req.Header.Set(tt.header[i], tt.header[i+1])
			}
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			got, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tt.status || resp.Header.Get("Content-Range") != tt.contentRange ||
				(tt.length >= 0 && len(got) != tt.length) {
				t.Errorf("%s %s %q: %d, Content-Range %q, %d bytes; want %d, %q, %d bytes", tt.method, tt.target, tt.header,
					resp.StatusCode, resp.Header.Get("Content-Range"), len(got), tt.status, tt.contentRange, tt.length)
			}
			if tt.status == 200 && (resp.Header.Get("ETag") != `"1700000000-1000"` && tt.row != "9" ||
				resp.Header.Get("Last-Modified") != lm) {
				t.Errorf("validators: ETag %q, Last-Modified %q", resp.Header.Get("ETag"), resp.Header.Get("Last-Modified"))
			}
		})
	}
}
