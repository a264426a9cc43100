// Package testkit holds small helpers shared by the test packages that run the whole daemon
// (cmd/ezdfsd, integration, opstest, faults): a concurrency-safe log buffer, metric readers, the
// in-process daemon runner and fault proxies in front of real servers.
// It is imported only from tests.
package testkit

import (
	"bytes"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// SyncBuffer is a bytes.Buffer that a logger (or a command's output) and a test may use
// concurrently.
type SyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p.
func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns everything written so far.
func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// MetricSum sums every sample of the named counter or gauge (histograms: the sample count) whose
// labels include all of want. A family that is absent sums to 0. A failed Gather fails t.
func MetricSum(t testing.TB, g prometheus.Gatherer, name string, want map[string]string) float64 {
	t.Helper()
	sum, err := Sum(g, name, want)
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	return sum
}

// Sum is MetricSum returning the Gather error instead of failing a test, for goroutines
// other than the test's (which must not call t.Fatal).
func Sum(g prometheus.Gatherer, name string, want map[string]string) (float64, error) {
	mfs, err := g.Gather()
	if err != nil {
		return 0, err
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			matched := 0
			for _, lp := range m.GetLabel() {
				if v, ok := want[lp.GetName()]; ok && v == lp.GetValue() {
					matched++
				}
			}
			if matched != len(want) {
				continue
			}
			switch {
			case m.Counter != nil:
				sum += m.Counter.GetValue()
			case m.Gauge != nil:
				sum += m.Gauge.GetValue()
			case m.Histogram != nil:
				sum += float64(m.Histogram.GetSampleCount())
			}
		}
	}
	return sum, nil
}

// WaitIdle waits (up to five seconds) until ezdfsd_http_requests_in_flight in g is 0, so that
// every request already answered is counted. The HTTP metrics are recorded when the handler
// returns, which can be just after the client, or a proxy in front, has read the whole answer:
// a test that counts requests reads the counters after WaitIdle, not straight after a response.
func WaitIdle(t testing.TB, g prometheus.Gatherer) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for MetricSum(t, g, "ezdfsd_http_requests_in_flight", nil) != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("ezdfsd_http_requests_in_flight still %v after 5 s", MetricSum(t, g, "ezdfsd_http_requests_in_flight", nil))
		}
		time.Sleep(2 * time.Millisecond)
	}
}
