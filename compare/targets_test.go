package compare

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestReadAccessLog feeds nginx and Apache combined-format lines and checks the URL set: only
// served cluster names (the daemon's own allow-list), only GET/HEAD answered 200/206/304, query
// strings dropped, each URL once, in first-seen order.
func TestReadAccessLog(t *testing.T) {
	const log = `192.0.2.1 - - [02/Dec/2026:10:00:00 +0000] "GET /var/site/storage/images/a/1-1-eng-GB/photo.jpg HTTP/1.1" 200 1000 "-" "Mozilla/5.0"
192.0.2.2 - - [02/Dec/2026:10:00:01 +0000] "GET /var/site/storage/images/a/1-1-eng-GB/photo.jpg?v=2 HTTP/1.1" 304 0 "https://example.com/" "Mozilla/5.0 (X11)"
192.0.2.3 - - [02/Dec/2026:10:00:02 +0000] "HEAD /var/site/cache/public/stylesheets/site.css?1700000000 HTTP/1.1" 200 0 "-" "curl/8"
192.0.2.4 - frank [02/Dec/2026:10:00:03 +0000] "GET /var/storage/images-versioned/b/x.png HTTP/2.0" 206 100 "-" "\"quoted\" agent"
192.0.2.5 - - [02/Dec/2026:10:00:04 +0000] "GET /var/site/cache/texttoimage/t%20x.png HTTP/1.1" 200 5 "-" "-"
192.0.2.6 - - [02/Dec/2026:10:00:05 +0000] "GET /var/site/storage/images/a/q%3Fmark.jpg HTTP/1.1" 200 5 "-" "-"
192.0.2.7 - - [02/Dec/2026:10:00:06 +0000] "POST /var/site/storage/images/a/post.jpg HTTP/1.1" 200 1000 "-" "-"
192.0.2.8 - - [02/Dec/2026:10:00:07 +0000] "GET /var/site/storage/images/a/gone.jpg HTTP/1.1" 404 195 "-" "-"
192.0.2.9 - - [02/Dec/2026:10:00:08 +0000] "GET /var/site/storage/original/application/a.pdf HTTP/1.1" 200 3 "-" "-"
192.0.2.10 - - [02/Dec/2026:10:00:09 +0000] "GET /index.php/eng/content/view/full/2 HTTP/1.1" 200 5123 "-" "-"
192.0.2.11 - - [02/Dec/2026:10:00:10 +0000] "GET /var/site/cache/template/x.php HTTP/1.1" 200 3 "-" "-"
192.0.2.12 - - [02/Dec/2026:10:00:11 +0000] "GET /var/site/storage/images/a/fail.jpg HTTP/1.1" 500 163 "-" "-"
192.0.2.13 - - [02/Dec/2026:10:00:12 +0000] "GET http://www.example.com/var/site/storage/images/a/abs.jpg HTTP/1.1" 200 9 "-" "-"
192.0.2.14 - - [02/Dec/2026:10:00:13 +0000] "-" 400 0 "-" "-"
this is not a log line
192.0.2.15 - - [02/Dec/2026:10:00:14 +0000] "GET /var/site/storage/images/a/1-1-eng-GB/photo.jpg HTTP/1.1" 200 1000 "-" "-"

`
	got, skipped, err := ReadAccessLog(strings.NewReader(log))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"/var/site/storage/images/a/1-1-eng-GB/photo.jpg",
		"/var/site/cache/public/stylesheets/site.css",
		"/var/storage/images-versioned/b/x.png",
		"/var/site/cache/texttoimage/t%20x.png",
		"/var/site/storage/images/a/q%3Fmark.jpg",
		"/var/site/storage/images/a/abs.jpg",
	}
	if !slices.Equal(got, want) {
		t.Errorf("URLs from the log:\n got %q\nwant %q", got, want)
	}
	if skipped != 2 {
		t.Errorf("skipped = %d, want 2 (the 400 with no request line and the free text)", skipped)
	}
}

// TestReadURLs reads paths and full URLs, comments and duplicates, keeping targets verbatim.
func TestReadURLs(t *testing.T) {
	got, err := ReadURLs(strings.NewReader(`# cutover list
/var/site/storage/images/a/photo.jpg
  https://www.example.com/var/site/storage/images/a/q%3Fmark.jpg?x=1

/var/site/storage/images/a/photo.jpg
http://www.example.com?only-query
`))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"/var/site/storage/images/a/photo.jpg", "/var/site/storage/images/a/q%3Fmark.jpg?x=1", "/?only-query"}
	if !slices.Equal(got, want) {
		t.Errorf("ReadURLs = %q, want %q", got, want)
	}
	if _, err := ReadURLs(strings.NewReader("var/no-slash.jpg\n")); err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Errorf("a target without leading slash: err = %v, want a line 1 error", err)
	}
}

// TestRequestsGoOutVerbatim checks that both servers receive the target byte for byte
// (percent-escapes not normalised, extra leading slashes kept, the base URL's path prefix
// added), with the probe's headers.
func TestRequestsGoOutVerbatim(t *testing.T) {
	var mu sync.Mutex
	seen := map[string][]string{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen[r.Host] = append(seen[r.Host], r.Method+" "+r.RequestURI+" "+r.Header.Get("Range"))
		mu.Unlock()
		w.Header().Set("ETag", `"1-3"`)
		w.Write([]byte("abc"))
	}))
	defer srv.Close()
	base, _ := url.Parse(srv.URL + "/prefix/")
	targets := []string{"/var/s/storage/images/q%3Fmark%2Fx.jpg?v=1", "//var/s/storage/images/a.jpg"}
	for _, target := range targets {
		for _, p := range append([]Probe{{Kind: "get", Target: target, Method: http.MethodGet}}, probesFor(target, Observation{})...) {
			o := do(context.Background(), srv.Client(), base, p)
			if o.Err != "" || o.Status != 200 {
				t.Fatalf("%s %s: %+v", p.Kind, target, o)
			}
		}
	}
	got := seen[base.Host]
	want := []string{
		"GET /prefix/var/s/storage/images/q%3Fmark%2Fx.jpg?v=1 ",
		"HEAD /prefix/var/s/storage/images/q%3Fmark%2Fx.jpg?v=1 ",
		"GET /prefix/var/s/storage/images/q%3Fmark%2Fx.jpg?v=1 bytes=0-99",
		"GET /prefix/var/s/storage/images/q%3Fmark%2Fx.jpg?v=1 bytes=0-0",
		"HEAD /prefix/var/s/storage/images/q%3Fmark%2Fx.jpg?v=1 bytes=0-99",
	}
	if !slices.Equal(got[:len(want)], want) {
		t.Errorf("requests seen:\n got %q\nwant %q", got[:len(want)], want)
	}
	if last := got[len(got)-1]; !strings.HasPrefix(last, "HEAD ") || !strings.Contains(last, "/prefix//var/s/storage/images/a.jpg bytes=0-99") {
		t.Errorf("a target with two leading slashes arrived as %q", last)
	}
}

// TestRunBoundsConcurrency checks that no more than Concurrency URLs are in flight at a server.
func TestRunBoundsConcurrency(t *testing.T) {
	var mu sync.Mutex
	inFlight, most := 0, 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		inFlight++
		most = max(most, inFlight)
		mu.Unlock()
		// Linger a little so that, were the bound not kept, requests would overlap.
		for range 20 {
			mu.Lock()
			n := inFlight
			mu.Unlock()
			if n > 4 {
				break
			}
			time.Sleep(time.Millisecond)
		}
		w.Write([]byte("x"))
		mu.Lock()
		inFlight--
		mu.Unlock()
	}))
	defer srv.Close()
	u, _ := url.Parse(srv.URL)
	var targets []string
	for i := range 12 {
		targets = append(targets, "/var/storage/images/"+strconv.Itoa(i)+".jpg")
	}
	// Reference and candidate are the same server: two requests per probe at most, so with
	// two URLs at a time the server never sees more than four.
	sum, err := Run(context.Background(), Config{Reference: u, Candidate: u, Concurrency: 2, Rate: 1e6}, targets, func(URLResult) {})
	if err != nil {
		t.Fatal(err)
	}
	if sum.URLs[Matched] != 12 || !sum.Clean() {
		t.Errorf("summary %+v, want 12 matched", sum.URLs)
	}
	if most > 4 {
		t.Errorf("%d requests in flight at once, want at most 4 (2 URLs × 2 servers)", most)
	}
}
