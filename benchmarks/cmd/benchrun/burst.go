package main

import (
	"context"
	"io"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// burstResult is what a burst of concurrent GETs measured.
type burstResult struct {
	lat     []time.Duration
	status  map[string]int64 // by status code, or "error"
	ok      int64            // 200s whose whole body arrived
	bytes   int64
	elapsed time.Duration
}

// burst sends n GETs of url at the same instant (all goroutines wait on one gate) and reads
// every body to the end. A request counts as ok only with status 200, no error, and as many body
// bytes as its Content-Length announced.
func burst(ctx context.Context, client *http.Client, url string, n int) burstResult {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		total atomic.Int64
		ok    atomic.Int64
		res   = burstResult{status: map[string]int64{}}
	)
	gate := make(chan struct{})
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-gate
			t0 := time.Now()
			key := "error"
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
			if err == nil {
				var resp *http.Response
				if resp, err = client.Do(req); err == nil {
					var got int64
					got, err = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					total.Add(got)
					key = strconv.Itoa(resp.StatusCode)
					if err == nil && resp.StatusCode == http.StatusOK && (resp.ContentLength < 0 || got == resp.ContentLength) {
						ok.Add(1)
					}
				}
			}
			if err != nil {
				key = "error"
			}
			mu.Lock()
			res.lat = append(res.lat, time.Since(t0))
			res.status[key]++
			mu.Unlock()
		}()
	}
	start := time.Now()
	close(gate)
	wg.Wait()
	res.elapsed = time.Since(start)
	res.ok, res.bytes = ok.Load(), total.Load()
	return res
}
