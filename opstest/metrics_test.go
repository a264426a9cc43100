package opstest

import (
	"context"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/valyala/fasthttp"

	"github.com/ezdfsd/ezdfsd/config"
	"github.com/ezdfsd/ezdfsd/daemon"
	"github.com/ezdfsd/ezdfsd/internal/testenv"
	"github.com/ezdfsd/ezdfsd/internal/testkit"
	"github.com/ezdfsd/ezdfsd/metadata"
)

// TestMetricsScrape sends one request of each interesting kind to the real daemon, scrapes
// /metrics over HTTP as Prometheus would, parses it with expfmt, and checks the series issue 5
// names exist with the values that traffic implies; no label value carries a request path, and
// testutil.GatherAndLint finds nothing in the registry.
func TestMetricsScrape(t *testing.T) {
	t.Parallel()
	fx := newFixture(t)
	const (
		img     = "var/site/storage/images/a/b/photo.jpg"
		missing = "var/site/storage/images/a/b/missing.jpg"
		css     = "var/site/cache/public/stylesheets/site.css"
	)
	fx.put(t, metadata.File{Name: img, Datatype: "image/jpeg", Scope: "image", Size: 1000, MTime: 1700000000}, content(1000, 1))
	fx.put(t, metadata.File{Name: css, Datatype: "text/css", Scope: "public", Size: 300, MTime: 1700000001}, content(300, 2))
	d := startDaemon(t, fx.args("--served-by=")...)
	c := newClient(t)

	// Readiness probes run at start: wait for them so ezdfsd_ready / dependency_up are settled.
	if !waitFor(10*time.Second, 50*time.Millisecond, func() bool {
		code, _, err := readyz(c, d.MetricsURL)
		return err == nil && code == http.StatusOK
	}) {
		t.Fatal("/readyz never answered 200")
	}

	traffic := []struct {
		name     string
		method   string
		target   string
		headers  []string
		wantCode int
	}{
		{"200", http.MethodGet, "/" + img, nil, 200},
		{"200 again (metadata cache hit)", http.MethodGet, "/" + img, nil, 200},
		{"200 cache table", http.MethodGet, "/" + css, nil, 200},
		{"404", http.MethodGet, "/" + missing, nil, 404},
		{"206", http.MethodGet, "/" + img, []string{"Range", "bytes=0-99"}, 206},
		{"304", http.MethodGet, "/" + img, []string{"If-None-Match", `"1700000000-1000"`}, 304},
		{"405", http.MethodPost, "/" + img, nil, 405},
	}
	bodyBytes := 0
	for _, tc := range traffic {
		t.Run(tc.name, func(t *testing.T) {
			r := do(t, c, tc.method, d.URL+tc.target, tc.headers...)
			if r.Code != tc.wantCode {
				t.Fatalf("%s %s = %d, want %d", tc.method, tc.target, r.Code, tc.wantCode)
			}
			bodyBytes += len(r.Body)
		})
	}
	byCode := map[string]float64{}
	for _, tc := range traffic {
		byCode[strconv.Itoa(tc.wantCode)]++
	}

	// Each request is counted when its handler returns, which may be just after the client
	// read the answer: wait for the last one before scraping.
	testkit.WaitIdle(t, d.App.Registry())
	resp, err := c.Get(d.MetricsURL + "/metrics")
	if err != nil {
		t.Fatalf("scrape: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("scrape = %d", resp.StatusCode)
	}
	format := expfmt.ResponseFormat(resp.Header)
	t.Logf("scrape Content-Type %q → format %q", resp.Header.Get("Content-Type"), format)
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	t.Logf("scrape: %d metric families", len(families))

	// The scraped families, read with the same MetricSum the registry tests use.
	scraped := prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) {
		return slices.Collect(maps.Values(families)), nil
	})

	checks := []struct {
		name   string
		series string
		labels map[string]string
		typ    dto.MetricType
		ok     func(v float64) bool
		want   string
	}{
		{"requests 200", "ezdfsd_http_requests_total", map[string]string{"code": "200", "method": "GET"}, dto.MetricType_COUNTER, eq(byCode["200"]), "= 200 requests sent"},
		{"requests 206", "ezdfsd_http_requests_total", map[string]string{"code": "206"}, dto.MetricType_COUNTER, eq(byCode["206"]), "= 1"},
		{"requests 304", "ezdfsd_http_requests_total", map[string]string{"code": "304"}, dto.MetricType_COUNTER, eq(byCode["304"]), "= 1"},
		{"requests 404", "ezdfsd_http_requests_total", map[string]string{"code": "404"}, dto.MetricType_COUNTER, eq(byCode["404"]), "= 1"},
		{"requests 405", "ezdfsd_http_requests_total", map[string]string{"code": "405", "method": "other"}, dto.MetricType_COUNTER, eq(byCode["405"]), "= 1"},
		{"requests all", "ezdfsd_http_requests_total", nil, dto.MetricType_COUNTER, eq(float64(len(traffic))), "= every request sent"},
		{"duration count", "ezdfsd_http_request_duration_seconds", nil, dto.MetricType_HISTOGRAM, eq(float64(len(traffic))), "= every request sent"},
		{"response bytes", "ezdfsd_http_response_bytes_total", nil, dto.MetricType_COUNTER, eq(float64(bodyBytes)), "= body bytes the client read"},
		{"in flight", "ezdfsd_http_requests_in_flight", nil, dto.MetricType_GAUGE, eq(0), "= 0 (the scrape is on the metrics listener)"},
		{"memory tier lookups", "ezdfsd_metadata_lookups_total", map[string]string{"tier": "memory"}, dto.MetricType_COUNTER, gt(0), "> 0"},
		{"memory tier hits", "ezdfsd_metadata_lookups_total", map[string]string{"tier": "memory", "result": "hit"}, dto.MetricType_COUNTER, gt(0), "> 0 (img asked 5 times)"},
		{"db found", "ezdfsd_db_queries_total", map[string]string{"result": "found"}, dto.MetricType_COUNTER, between(2, 6), "2..6 (img, css; re-reads after TTL)"},
		{"db not found", "ezdfsd_db_queries_total", map[string]string{"result": "not_found"}, dto.MetricType_COUNTER, gt(0), "> 0"},
		{"db errors", "ezdfsd_db_queries_total", map[string]string{"result": "error"}, dto.MetricType_COUNTER, eq(0), "= 0"},
		{"ready", "ezdfsd_ready", nil, dto.MetricType_GAUGE, eq(1), "= 1"},
		{"dependency metadata", "ezdfsd_dependency_up", map[string]string{"dependency": "metadata_sqlite"}, dto.MetricType_GAUGE, eq(1), "= 1"},
		{"dependency mountpoint", "ezdfsd_dependency_up", map[string]string{"dependency": "mountpoint"}, dto.MetricType_GAUGE, eq(1), "= 1"},
		{"build info", "ezdfsd_build_info", map[string]string{"version": testkit.Version}, dto.MetricType_GAUGE, eq(1), "= 1"},
		{"goroutines", "go_goroutines", nil, dto.MetricType_GAUGE, gt(0), "> 0"},
		{"rss", "process_resident_memory_bytes", nil, dto.MetricType_GAUGE, gt(1 << 20), "> 1 MiB"},
	}
	for _, tc := range checks {
		t.Run(tc.name, func(t *testing.T) {
			mf, ok := families[tc.series]
			if !ok {
				t.Fatalf("series %s missing from the scrape", tc.series)
			}
			if mf.GetType() != tc.typ {
				t.Errorf("%s is a %v, want %v", tc.series, mf.GetType(), tc.typ)
			}
			if v := testkit.MetricSum(t, scraped, tc.series, tc.labels); !tc.ok(v) {
				t.Errorf("%s%v = %v, want %s", tc.series, tc.labels, v, tc.want)
			}
		})
	}

	t.Run("histogram buckets are cumulative and end at the count", func(t *testing.T) {
		for _, m := range families["ezdfsd_http_request_duration_seconds"].GetMetric() {
			h := m.GetHistogram()
			prev := uint64(0)
			for _, b := range h.GetBucket() {
				if b.GetCumulativeCount() < prev {
					t.Errorf("%v: bucket le=%v count %d < previous %d", m.GetLabel(), b.GetUpperBound(), b.GetCumulativeCount(), prev)
				}
				prev = b.GetCumulativeCount()
			}
			if prev > h.GetSampleCount() || h.GetSampleSum() < 0 {
				t.Errorf("%v: last bucket %d, count %d, sum %v", m.GetLabel(), prev, h.GetSampleCount(), h.GetSampleSum())
			}
		}
	})

	t.Run("no label value holds a request path", func(t *testing.T) {
		for name, mf := range families {
			for _, m := range mf.GetMetric() {
				for _, lp := range m.GetLabel() {
					v := lp.GetValue()
					if strings.Contains(v, "var/") || strings.Contains(v, "storage/") || strings.Contains(v, "cache/") ||
						strings.Contains(v, ".jpg") || strings.Contains(v, ".css") || strings.HasPrefix(v, "/") {
						t.Errorf("%s{%s=%q}: label value looks like a request path", name, lp.GetName(), v)
					}
				}
			}
		}
	})

	t.Run("GatherAndLint", func(t *testing.T) {
		problems, err := testutil.GatherAndLint(d.App.Registry())
		if err != nil {
			t.Fatalf("GatherAndLint: %v", err)
		}
		for _, p := range problems {
			t.Errorf("lint: %s: %s", p.Metric, p.Text)
		}
		t.Logf("GatherAndLint: %d problems", len(problems))
	})

	var names []string
	for name := range families {
		if strings.HasPrefix(name, "ezdfsd_") {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	t.Logf("ezdfsd series in the scrape: %s", strings.Join(names, " "))
}

func eq(want float64) func(float64) bool { return func(v float64) bool { return v == want } }
func gt(min float64) func(float64) bool  { return func(v float64) bool { return v > min } }
func between(lo, hi float64) func(float64) bool {
	return func(v float64) bool { return v >= lo && v <= hi }
}

// TestMetricsLintAllComponents builds the daemon with every component that registers metrics
// (MariaDB store, memcached and in-process caches, mount point and S3 backends, concurrency
// limit, readiness) and lints the whole registry as Prometheus' promtool would.
func TestMetricsLintAllComponents(t *testing.T) {
	t.Parallel()
	dsn := testenv.MySQLDatabase(t)
	s3 := testenv.S3Server(t)
	cfg, err := config.Load([]string{"--listen=127.0.0.1:0", "--metrics-listen=127.0.0.1:0",
		"--metadata=mysql", "--mysql-dsn=" + dsn, "--mount-point=" + t.TempDir(),
		"--memcached=" + strings.Join(testenv.MemcachedAddrs(t), ","),
		"--path-backend=storage/images-versioned=eZDFSFileHandlerDFSAmazon",
		"--s3-bucket=opstest-lint", "--s3-region=us-east-1", "--s3-endpoint=" + s3.Endpoint, "--s3-path-style=true",
		"--s3-access-key-id=" + s3.AccessKey, "--s3-secret-access-key=" + s3.SecretKey}, nil)
	if err != nil {
		t.Fatalf("config.Load: %v", err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("config.Validate: %v", err)
	}
	app, err := daemon.New(context.Background(), cfg, nil, "opstest")
	if err != nil {
		t.Fatalf("daemon.New: %v", err)
	}
	t.Cleanup(func() { app.Close(context.Background()) })
	// Labelled series only appear once observed: one failure per backend through the real
	// handler, each with the status and series it must leave. The mount point is empty, so
	// the row's file is missing (404); the S3 bucket does not exist, so that GET is an S3
	// error (503).
	st := testkit.MySQLStore(t, dsn)
	reg := app.Registry()
	for _, c := range []struct {
		target, backend, event string
		code                   int
	}{
		{"/var/site/storage/images/a/x.jpg", "mountpoint", "missing_file", http.StatusNotFound},
		{"/var/site/storage/images-versioned/a/x.jpg", "s3", "storage_error", http.StatusServiceUnavailable},
	} {
		putRow(t, st, metadata.File{Name: strings.TrimPrefix(c.target, "/"), Datatype: "image/jpeg", Size: 10, MTime: 1700000000})
		var req fasthttp.Request
		req.SetRequestURI(c.target)
		var rc fasthttp.RequestCtx
		rc.Init(&req, nil, nil)
		app.Handler()(&rc)
		if got := rc.Response.StatusCode(); got != c.code {
			t.Errorf("GET %s = %d, want %d", c.target, got, c.code)
		}
		requests := map[string]string{"code": strconv.Itoa(c.code), "backend": c.backend, "method": http.MethodGet}
		if got := testkit.MetricSum(t, reg, "ezdfsd_http_requests_total", requests); got != 1 {
			t.Errorf("ezdfsd_http_requests_total with %v = %v, want 1", requests, got)
		}
		if got := testkit.MetricSum(t, reg, "ezdfsd_storage_events_total", map[string]string{"event": c.event}); got != 1 {
			t.Errorf("ezdfsd_storage_events_total{event=%q} = %v after GET %s, want 1", c.event, got, c.target)
		}
	}
	for _, s := range []struct {
		name   string
		labels map[string]string
	}{
		{"ezdfsd_db_queries_total", map[string]string{"result": "found"}},
		{"ezdfsd_s3_requests_total", map[string]string{"op": "get", "result": "error"}},
	} {
		if got := testkit.MetricSum(t, reg, s.name, s.labels); got < 1 {
			t.Errorf("%s with %v = %v, want at least 1", s.name, s.labels, got)
		}
	}
	mfs, err := app.Registry().Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	var names []string
	for _, mf := range mfs {
		if n := mf.GetName(); strings.HasPrefix(n, "ezdfsd_") {
			names = append(names, n)
		}
	}
	for _, want := range []string{"ezdfsd_memcached_errors_total", "ezdfsd_s3_requests_total", "ezdfsd_db_queries_total", "ezdfsd_http_requests_total"} {
		if !slices.Contains(names, want) {
			t.Errorf("%s not registered (have %v)", want, names)
		}
	}
	problems, err := testutil.GatherAndLint(app.Registry())
	if err != nil {
		t.Fatalf("GatherAndLint: %v", err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
	t.Logf("GatherAndLint over %d families (%d ezdfsd_*): %d problems", len(mfs), len(names), len(problems))
}
