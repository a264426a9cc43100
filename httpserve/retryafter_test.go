package httpserve

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/ezdfsd/ezdfsd/config"
	"github.com/ezdfsd/ezdfsd/metadata"
)

// TestRetryAfterRounding: a --retry-after value, as the command line parses it, becomes the
// Retry-After header of every 503 rounded UP to whole seconds (the header has no fractions, and
// rounding down would tell clients to come back before the configured pause, 0 for any
// sub-second value). Both 503 paths are checked: a backend failure inside ServeHTTP and
// Handler.Unavailable (the concurrency limiter's answer).
func TestRetryAfterRounding(t *testing.T) {
	tests := []struct{ flag, want string }{
		{"0", "0"},
		{"0s", "0"},
		{"1ns", "1"},
		{"1ms", "1"},
		{"250ms", "1"},
		{"999ms", "1"},
		{"999999999ns", "1"},
		{"1s", "1"},
		{"1000000001ns", "2"},
		{"1.001s", "2"},
		{"1.5s", "2"},
		{"2500ms", "3"},
		{"2", "2"},
		{"59.9s", "60"},
		{"1m30.5s", "91"},
		{"3600", "3600"},
		{"1h0m0.000000001s", "3601"},
	}
	for _, tt := range tests {
		t.Run(tt.flag, func(t *testing.T) {
			c, err := config.Load([]string{"--retry-after", tt.flag}, nil)
			if err != nil {
				t.Fatalf("--retry-after %s: %v", tt.flag, err)
			}
			cfg := testConfig()
			cfg.RetryAfter = c.RetryAfter // what daemon.New passes on
			f := newFixture(t)
			h := f.handler(t, cfg)
			f.store.err = metadata.ErrUnavailable

			rec := httptest.NewRecorder()
			get(h, rec, imgPath)
			if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") != tt.want {
				t.Errorf("backend down: status %d, Retry-After %q; want 503, %q (--retry-after %s = %v)",
					rec.Code, rec.Header().Get("Retry-After"), tt.want, tt.flag, c.RetryAfter)
			}
			rec = httptest.NewRecorder()
			get(handlerFunc(h.Unavailable), rec, imgPath)
			if got := rec.Header().Values("Retry-After"); len(got) != 1 || got[0] != tt.want {
				t.Errorf("Unavailable: Retry-After %q; want exactly [%q]", got, tt.want)
			}
		})
	}
}
