package ops

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

func TestMetricsScrape(t *testing.T) {
	reg := NewRegistry("1.2.3-test")
	r := NewReadiness([]Check{{Name: "mysql", Critical: true, Probe: func(context.Context) error { return nil }}},
		time.Hour, time.Second, reg, nil)
	r.Probe(context.Background())
	srv := httptest.NewServer(NewMux(reg, r, nil))
	defer srv.Close()

	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("scrape does not parse: %v", err)
	}
	gauge := func(name string, labels map[string]string) (float64, bool) {
		f, ok := fams[name]
		if !ok {
			return 0, false
		}
	next:
		for _, m := range f.GetMetric() {
			for k, v := range labels {
				found := false
				for _, lp := range m.GetLabel() {
					if lp.GetName() == k && lp.GetValue() == v {
						found = true
					}
				}
				if !found {
					continue next
				}
			}
			return m.GetGauge().GetValue(), true
		}
		return 0, false
	}
	for _, tc := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"ezdfsd_ready", nil, 1},
		{"ezdfsd_dependency_up", map[string]string{"dependency": "mysql"}, 1},
		{"ezdfsd_build_info", map[string]string{"version": "1.2.3-test"}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := gauge(tc.name, tc.labels)
			if !ok || got != tc.want {
				t.Fatalf("%s%v = %v (present %v), want %v", tc.name, tc.labels, got, ok, tc.want)
			}
		})
	}
	var goSeries, procSeries bool
	for name := range fams {
		goSeries = goSeries || strings.HasPrefix(name, "go_")
		procSeries = procSeries || strings.HasPrefix(name, "process_")
	}
	if !goSeries || !procSeries {
		t.Errorf("go_ series %v, process_ series %v; want both", goSeries, procSeries)
	}
	if _, ok := fams["go_goroutines"]; !ok {
		t.Error("go_goroutines missing")
	}
	if _, ok := fams["process_cpu_seconds_total"]; !ok {
		t.Error("process_cpu_seconds_total missing")
	}
}

func TestMetricsOpenMetricsNegotiation(t *testing.T) {
	h := NewMux(NewRegistry(""), nil, nil)
	req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
	req.Header.Set("Accept", "application/openmetrics-text;version=1.0.0")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/openmetrics-text") {
		t.Fatalf("Content-Type %q, want OpenMetrics", ct)
	}
	if !strings.HasSuffix(strings.TrimSpace(rec.Body.String()), "# EOF") {
		t.Fatal("OpenMetrics body does not end with # EOF")
	}
}

func TestMuxRoutes(t *testing.T) {
	reg := NewRegistry("v")
	for _, tc := range []struct {
		name     string
		opts     []MuxOption
		method   string
		path     string
		wantCode int
		wantBody string // substring
	}{
		{"healthz", nil, "GET", "/healthz", 200, "ok"},
		{"healthz head", nil, "HEAD", "/healthz", 200, ""},
		{"healthz post", nil, "POST", "/healthz", 405, ""},
		{"readyz nil readiness", nil, "GET", "/readyz", 200, `"status":"ready"`},
		{"metrics post", nil, "POST", "/metrics", 405, ""},
		{"unknown", nil, "GET", "/nope", 404, ""},
		{"pprof off", nil, "GET", "/debug/pprof/", 404, ""},
		{"pprof on", []MuxOption{WithPprof(true)}, "GET", "/debug/pprof/", 200, "goroutine"},
		{"pprof on cmdline", []MuxOption{WithPprof(true)}, "GET", "/debug/pprof/cmdline", 200, ""},
		{"pprof explicitly off", []MuxOption{WithPprof(false)}, "GET", "/debug/pprof/", 404, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			NewMux(reg, nil, nil, tc.opts...).ServeHTTP(rec, httptest.NewRequest(tc.method, tc.path, nil))
			body, _ := io.ReadAll(rec.Body)
			if rec.Code != tc.wantCode || !strings.Contains(string(body), tc.wantBody) {
				t.Fatalf("%s %s = %d %q, want %d containing %q", tc.method, tc.path, rec.Code, body, tc.wantCode, tc.wantBody)
			}
		})
	}
}

func TestMuxWithoutRegistry(t *testing.T) {
	rec := httptest.NewRecorder()
	NewMux(nil, nil, nil).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 404 {
		t.Fatalf("/metrics without registry = %d, want 404", rec.Code)
	}
}
