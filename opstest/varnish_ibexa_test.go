package opstest

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/ezdfsd/ezdfsd/dfs"
	"github.com/ezdfsd/ezdfsd/internal/testenv"
	"github.com/ezdfsd/ezdfsd/metadata"
)

// TestIbexaVCLBackendChoice runs varnishd with deploy/varnish/ezdfsd-ibexa.vcl in front of the
// daemon in the platform profile and a stand-in Ibexa app: image storage (with a session
// cookie) goes to ezdfsd and is cached (second request a hit, no Vary), while binary files,
// the legacy cache paths and the rest go to the app.
func TestIbexaVCLBackendChoice(t *testing.T) {
	testenv.RequireSlow(t)
	fx := newFixture(t)
	d := startDaemon(t, fx.args("--profile=platform", "--table="+dfs.PlatformTable)...)
	var appHits atomic.Int64
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		appHits.Add(1)
		w.WriteHeader(http.StatusTeapot)
		w.Write([]byte("app"))
	}))
	t.Cleanup(app.Close)
	appPort, err := strconv.Atoi(app.URL[strings.LastIndexByte(app.URL, ':')+1:])
	if err != nil {
		t.Fatal(err)
	}
	v := startShippedVarnish(t, "ezdfsd-ibexa.vcl", d.FilesAddr, strings.TrimPrefix(d.MetricsURL, "http://"), appPort)
	c := newClient(t)

	const img = "var/site/storage/images/_aliases/large/3/6/1-1-eng-GB/pic.jpg"
	body := content(3000, 3)
	fx.put(t, metadata.File{Name: img, Datatype: "image/jpeg", Scope: "image", Size: int64(len(body)), MTime: 1700000000}, body)
	r1 := do(t, c, http.MethodGet, v.URL+"/"+img, "Cookie", "eZSESSID=abc")
	r2 := do(t, c, http.MethodGet, v.URL+"/"+img, "Cookie", "eZSESSID=other")
	if r1.Code != 200 || !bytes.Equal(r1.Body, body) || r2.Code != 200 || !bytes.Equal(r2.Body, body) {
		t.Fatalf("image through Varnish: %d / %d", r1.Code, r2.Code)
	}
	if !isHit(r2) {
		t.Errorf("second GET with another cookie: X-Varnish %q, want a hit", r2.Header.Get("X-Varnish"))
	}
	if r1.Header.Get("Cache-Control") != "public" || r1.Header.Get("Vary") != "" || r1.Header.Get("Expires") != "" {
		t.Errorf("headers: Cache-Control %q Vary %q Expires %q", r1.Header.Get("Cache-Control"), r1.Header.Get("Vary"), r1.Header.Get("Expires"))
	}
	for _, path := range []string{"/var/site/storage/original/application/a.pdf", "/var/site/cache/public/x.css", "/content/download/1/2", "/"} {
		before := appHits.Load()
		r := do(t, c, http.MethodGet, v.URL+path)
		if r.Code != http.StatusTeapot || appHits.Load() != before+1 {
			t.Errorf("%s: %d (app hits %d → %d), want the app's 418", path, r.Code, before, appHits.Load())
		}
	}
}
