package ops

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestLimitConcurrency(t *testing.T) {
	release := make(chan struct{})
	var running, peak int
	var mu sync.Mutex
	slow := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		running++
		peak = max(peak, running)
		mu.Unlock()
		<-release
		mu.Lock()
		running--
		mu.Unlock()
		io.WriteString(w, "ok")
	})
	reg := prometheus.NewRegistry()
	reject := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "3")
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	h := LimitConcurrency(slow, 2, reject, reg)

	var wg sync.WaitGroup
	codes := make(chan int, 5)
	for range 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest("GET", "/x", nil))
			if rec.Code == http.StatusServiceUnavailable && rec.Header().Get("Retry-After") != "3" {
				t.Errorf("503 not from the reject handler: Retry-After %q", rec.Header().Get("Retry-After"))
			}
			codes <- rec.Code
		}()
	}
	// Three requests find no slot and are rejected after the queue wait; then release the two.
	rejected := 0
	for rejected < 3 {
		if c := <-codes; c == http.StatusServiceUnavailable {
			rejected++
		} else {
			t.Fatalf("got %d before release", c)
		}
	}
	close(release)
	wg.Wait()
	close(codes)
	for c := range codes {
		if c != http.StatusOK {
			t.Errorf("admitted request got %d", c)
		}
	}
	if peak != 2 {
		t.Errorf("peak concurrency = %d, want 2", peak)
	}
	want := "# HELP ezdfsd_http_overload_rejected_total Requests answered 503 because max-concurrent-fetches requests were already running.\n" +
		"# TYPE ezdfsd_http_overload_rejected_total counter\nezdfsd_http_overload_rejected_total 3\n"
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "ezdfsd_http_overload_rejected_total"); err != nil {
		t.Error(err)
	}
	if LimitConcurrency(slow, 0, reject, nil) == nil {
		t.Fatal("nil handler for max=0")
	}
}
