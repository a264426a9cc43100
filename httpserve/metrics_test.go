package httpserve

import (
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
)

// doneUncached is what metrics.done did before it cached children: the reference its
// registry output must match.
func doneUncached(m *metrics, code int, backend, method string, bytes int64, seconds float64) {
	m.requests.WithLabelValues(codeLabel(code), backend, methodLabel(method)).Inc()
	m.duration.WithLabelValues(codeClass(code), backend).Observe(seconds)
	if bytes > 0 {
		m.bytes.WithLabelValues(backend).Add(float64(bytes))
	}
	m.inFlight.Dec()
}

// doneCall is one finished request, as metrics.done gets it.
type doneCall struct {
	code            int
	backend, method string
	bytes           int64
	seconds         float64
}

// doneMix is every combination of status codes (the handler's, others, out of range), backend
// labels (with one this package never sets) and methods, with and without bytes. Durations
// are multiples of 1/1024 s, so histogram sums do not depend on the order of additions.
func doneMix() []doneCall {
	var calls []doneCall
	i := 0
	for _, code := range []int{0, 99, 100, 200, 206, 302, 304, 404, 405, 412, 416, 500, 503, 599, 600, 999} {
		for _, backend := range append(backendLabels[:], "custom") {
			for _, method := range []string{"GET", "HEAD", "POST", "get", ""} {
				i++
				calls = append(calls, doneCall{code, backend, method, int64(i%3) * 1000, float64(i%700) / 1024})
			}
		}
	}
	return calls
}

// gatherText is the registry's exposition text.
func gatherText(t *testing.T, reg *prometheus.Registry) string {
	t.Helper()
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, f := range fams {
		if _, err := expfmt.MetricFamilyToText(&b, f); err != nil {
			t.Fatal(err)
		}
	}
	return b.String()
}

// TestMetricsDoneCached: done with its cached children leaves the registry exactly as
// WithLabelValues on every request did (same series, same values), for a mix of requests
// recorded concurrently and some series never used.
func TestMetricsDoneCached(t *testing.T) {
	calls := doneMix()
	want := func(calls []doneCall) string {
		reg := prometheus.NewRegistry()
		m, err := newMetrics(reg)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range calls {
			m.start()
			doneUncached(m, c.code, c.backend, c.method, c.bytes, c.seconds)
		}
		return gatherText(t, reg)
	}
	got := func(calls []doneCall) string {
		reg := prometheus.NewRegistry()
		m, err := newMetrics(reg)
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for g := range 4 {
			wg.Go(func() {
				for r := range 3 { // every child is used again once cached
					for i, c := range calls {
						if (i+r)%4 == g {
							m.start()
							m.done(c.code, c.backend, c.method, c.bytes, c.seconds)
						}
					}
				}
			})
		}
		wg.Wait()
		return gatherText(t, reg)
	}
	thrice := append(append(calls[:len(calls):len(calls)], calls...), calls...)
	if w, g := want(thrice), got(calls); g != w {
		t.Errorf("registry after the mix differs:\n--- cached\n%s\n--- WithLabelValues\n%s", g, w)
	}
	// A few requests only: the series never used must not appear.
	few := []doneCall{{200, labelMountPoint, "GET", 70 << 10, 0.5}, {404, labelNone, "HEAD", 0, 0.25}}
	if w, g := want(append(few[:2:2], append(few, few...)...)), got(few); g != w {
		t.Errorf("registry after a few requests differs:\n--- cached\n%s\n--- WithLabelValues\n%s", g, w)
	}
}

// BenchmarkMetricsDone compares recording a finished request before (WithLabelValues for
// every request) and after (cached children).
func BenchmarkMetricsDone(b *testing.B) {
	for _, c := range []struct {
		name string
		done func(m *metrics, code int, backend, method string, bytes int64, seconds float64)
	}{
		{"WithLabelValues", doneUncached},
		{"cached", (*metrics).done},
	} {
		b.Run(c.name, func(b *testing.B) {
			m, err := newMetrics(prometheus.NewRegistry())
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				m.start()
				c.done(m, 200, labelMountPoint, methodGet, 70<<10, 0.0005)
			}
		})
	}
}
