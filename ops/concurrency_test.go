package ops

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

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

	type answer struct {
		code int
		took time.Duration
	}
	var wg sync.WaitGroup
	answers := make(chan answer, 5)
	for range 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rec := httptest.NewRecorder()
			start := time.Now()
			h.ServeHTTP(rec, httptest.NewRequest("GET", "/x", nil))
			took := time.Since(start)
			if rec.Code == http.StatusServiceUnavailable && rec.Header().Get("Retry-After") != "3" {
				t.Errorf("503 not from the reject handler: Retry-After %q", rec.Header().Get("Retry-After"))
			}
			answers <- answer{rec.Code, took}
		}()
	}
	// Three requests find no slot and are rejected after the queue wait (a lower bound, which
	// load cannot break); then release the two.
	rejected := 0
	for rejected < 3 {
		select {
		case a := <-answers:
			if a.code != http.StatusServiceUnavailable {
				t.Fatalf("got %d before release", a.code)
			}
			if a.took < DefaultQueueWait {
				t.Errorf("503 after %v, want a wait of at least DefaultQueueWait (%v) for a slot", a.took, DefaultQueueWait)
			}
			rejected++
		case <-time.After(30 * time.Second):
			close(release)
			t.Fatalf("%d of 3 excess requests rejected after 30 s", rejected)
		}
	}
	close(release)
	wg.Wait()
	close(answers)
	for a := range answers {
		if a.code != http.StatusOK {
			t.Errorf("admitted request got %d", a.code)
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
