package ops

import (
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/valyala/fasthttp"
)

func TestLimitConcurrency(t *testing.T) {
	release := make(chan struct{})
	var running, peak int
	var mu sync.Mutex
	slow := func(rc *fasthttp.RequestCtx) {
		mu.Lock()
		running++
		peak = max(peak, running)
		mu.Unlock()
		<-release
		mu.Lock()
		running--
		mu.Unlock()
		rc.SetBodyString("ok")
	}
	reg := prometheus.NewRegistry()
	reject := func(rc *fasthttp.RequestCtx) {
		rc.Response.Header.Set("Retry-After", "3")
		rc.SetStatusCode(http.StatusServiceUnavailable)
	}
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
			var req fasthttp.Request
			req.SetRequestURI("/x")
			var rc fasthttp.RequestCtx
			rc.Init(&req, nil, nil)
			start := time.Now()
			h(&rc)
			took := time.Since(start)
			code := rc.Response.StatusCode()
			if ra := string(rc.Response.Header.Peek("Retry-After")); code == http.StatusServiceUnavailable && ra != "3" {
				t.Errorf("503 not from the reject handler: Retry-After %q", ra)
			}
			answers <- answer{code, took}
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
