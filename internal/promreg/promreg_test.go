package promreg

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func counter() prometheus.Counter {
	return prometheus.NewCounter(prometheus.CounterOpts{Name: "x_total", Help: "x"})
}

func TestSharedReturnsTheRegisteredCollector(t *testing.T) {
	reg := prometheus.NewRegistry()
	first, err := Shared(reg, counter())
	if err != nil {
		t.Fatal(err)
	}
	second, err := Shared(reg, counter())
	if err != nil {
		t.Fatal(err)
	}
	second.Inc()
	if got := testutil.ToFloat64(first); got != 1 {
		t.Errorf("second instance counted into its own collector: first = %v, want 1", got)
	}
}

func TestSharedNilRegistry(t *testing.T) {
	c := counter()
	got, err := Shared(nil, c)
	if err != nil || got != c {
		t.Errorf("Shared(nil) = %v, %v; want the collector itself", got, err)
	}
}

func TestSharedClashOfTypes(t *testing.T) {
	reg := prometheus.NewRegistry()
	if _, err := Shared(reg, counter()); err != nil {
		t.Fatal(err)
	}
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "x_total", Help: "x"})
	got, err := Shared[prometheus.Gauge](reg, g)
	if err == nil || got != g {
		t.Errorf("a gauge under a counter's name: %v, %v; want the gauge back with an error", got, err)
	}
}
