package httpserve

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ezdfsd/ezdfsd/dfs"
	"github.com/ezdfsd/ezdfsd/metadata"
)

// TestPageSizes pins the legacy page sizes from spec §2.8.
func TestPageSizes(t *testing.T) {
	cases := []struct {
		name string
		page string
		want int
	}{
		{"404 without name", page404(""), 195},
		{"404 with name", page404("abc"), 198},
		{"416", page416, 188},
		{"500", page500, 163},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if len(c.page) != c.want {
				t.Errorf("len = %d, want %d", len(c.page), c.want)
			}
			if strings.HasSuffix(c.page, "\n") {
				t.Error("trailing newline")
			}
		})
	}
}

func TestHTMLSpecialChars(t *testing.T) {
	const fffd = "\uFFFD"
	cases := []struct {
		in, want string
	}{
		{"plain/path.jpg", "plain/path.jpg"},
		{`a&b"c'd<e>f`, "a&amp;b&quot;c&#039;d&lt;e&gt;f"},
		{"&amp;", "&amp;amp;"},
		{"caf\u00e9 \u20ac \U0001F600", "caf\u00e9 \u20ac \U0001F600"},
		{"\xff", fffd},
		{"a\x80b", "a" + fffd + "b"},
		{"\xc0\xaf", fffd + fffd},         // overlong lead bytes are single failures
		{"\xc3", fffd},                    // truncated 2-byte
		{"\xc3a", fffd + "a"},             // bad trail that is a lead: 1 byte consumed
		{"\xc3\xc3\xa9", fffd + "\u00e9"}, // next char survives
		{"\xe2\x82", fffd},                // truncated 3-byte at end: both bytes, one U+FFFD
		{"\xe2\x82a", fffd + "a"},         // 2 bytes consumed
		{"\xe2a\x82", fffd + "a" + fffd},
		{"\xed\xa0\x80", fffd},     // surrogate
		{"\xe0\x80\x80", fffd},     // non-shortest 3-byte
		{"\xf0\x9f\x98", fffd},     // truncated 4-byte
		{"\xf4\x90\x80\x80", fffd}, // beyond U+10FFFF
		{"\xf5\x80", fffd + fffd},  // invalid lead, stray trail
		{"<\xff>", "&lt;" + fffd + "&gt;"},
	}
	for _, c := range cases {
		t.Run(c.in, func(t *testing.T) {
			if got := htmlSpecialChars(c.in); got != c.want {
				t.Errorf("htmlSpecialChars(%q) = %q, want %q", c.in, got, c.want)
			}
		})
	}
}

func TestDisplayName(t *testing.T) {
	cases := []struct {
		name, target, want string
	}{
		{"decoded, slashes stripped", "//var/a%20b.jpg?x=1", "var/a b.jpg"},
		{"bad escapes kept", "/var/100%.jpg", "var/100%.jpg"},
		{"NUL replaced", "/var/a%00b", "var/a\uFFFDb"},
		{"dot-dot kept for display", "/var/%2e%2e/x", "var/../x"},
		{"capped", "/" + strings.Repeat("a", 3*dfs.MaxNameLength), strings.Repeat("a", dfs.MaxNameLength)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := displayName(c.target); got != c.want {
				t.Errorf("displayName(%q) = %q, want %q", truncate([]byte(c.target)), truncate([]byte(got)), truncate([]byte(c.want)))
			}
		})
	}
}

// TestUnavailableMatchesTheHandlers503: the 503 a front (ops.LimitConcurrency) sends through
// Handler.Unavailable is the one the handler sends when the metadata store is down.
func TestUnavailableMatchesTheHandlers503(t *testing.T) {
	f := newFixture(t)
	cfg := testConfig()
	cfg.RetryAfter = 2500 * time.Millisecond
	h := f.handler(t, cfg)
	f.store.err = metadata.ErrUnavailable
	fromHandler := httptest.NewRecorder()
	get(h, fromHandler, imgPath)
	for _, method := range []string{http.MethodGet, http.MethodHead} {
		rec := httptest.NewRecorder()
		serve(handlerFunc(h.Unavailable), rec, method, imgPath)
		if rec.Code != 503 || fromHandler.Code != 503 {
			t.Fatalf("%s: status %d (handler %d), want 503", method, rec.Code, fromHandler.Code)
		}
		for _, k := range []string{"Retry-After", "Content-Type", "Content-Length"} {
			if got, want := rec.Header().Get(k), fromHandler.Header().Get(k); got != want {
				t.Errorf("%s: %s = %q, the handler sends %q", method, k, got, want)
			}
		}
		if rec.Header().Get("Retry-After") != "3" {
			t.Errorf("%s: Retry-After %q, want 3 (2.5 s rounded up)", method, rec.Header().Get("Retry-After"))
		}
		wantBody := fromHandler.Body.String()
		if method == http.MethodHead {
			wantBody = ""
		}
		if rec.Body.String() != wantBody {
			t.Errorf("%s: body %q, want %q", method, rec.Body.String(), wantBody)
		}
	}
}
