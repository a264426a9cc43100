// Package testkit holds small helpers shared by the test packages that run the whole daemon
// (cmd/ezdfsd, integration, opstest, faults): a concurrency-safe log buffer and a metric reader.
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
// labels include all of want. A family that is absent sums to 0.
func MetricSum(t testing.TB, g prometheus.Gatherer, name string, want map[string]string) float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
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
	return sum
}

// MetricSettles polls MetricSum until it equals want or two seconds pass, and returns the last
// value read. The HTTP metrics are recorded when the handler returns, which can be just after
// the client (or a proxy in front) has read the whole response, so a test that counts requests
// must wait for the count rather than read it once.
func MetricSettles(t testing.TB, g prometheus.Gatherer, name string, labels map[string]string, want float64) float64 {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for {
		got := MetricSum(t, g, name, labels)
		if got == want || time.Now().After(deadline) {
			return got
		}
		time.Sleep(5 * time.Millisecond)
	}
}
