package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestSummarize(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		name          string
		in            []time.Duration
		p50, p99, max float64
	}{
		{"empty", nil, 0, 0, 0},
		{"one", []time.Duration{3 * ms}, 3, 3, 3},
		{"unsorted", []time.Duration{5 * ms, 1 * ms, 3 * ms, 2 * ms, 4 * ms}, 3, 5, 5},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := summarize(tc.in)
			if s.p50 != tc.p50 || s.p99 != tc.p99 || s.max != tc.max {
				t.Errorf("summarize = %+v, want p50 %v p99 %v max %v", s, tc.p50, tc.p99, tc.max)
			}
		})
	}
}

func TestGroupMedian(t *testing.T) {
	tests := []struct {
		name string
		thr  []float64
		want float64
	}{
		{"odd", []float64{30, 10, 20}, 20},
		{"even", []float64{10, 40, 20, 30}, 25},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := &group{}
			for _, v := range tc.thr {
				g.runs = append(g.runs, Result{Throughput: v})
			}
			if got := g.med(thr); got != tc.want {
				t.Errorf("median = %v, want %v", got, tc.want)
			}
		})
	}
	if got := (*group)(nil).med(thr); got != 0 {
		t.Errorf("nil group median = %v", got)
	}
}

func TestZipfSequenceIsSkewedAndSeeded(t *testing.T) {
	names := make([]string, 1000)
	for i := range names {
		names[i] = string(rune('a'+i%26)) + string(rune('0'+i/26%10)) + string(rune('A'+i/260))
	}
	a, b := zipfSequence(names, 20000, 1.1, 7), zipfSequence(names, 20000, 1.1, 7)
	counts := map[string]int{}
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("same seed, different sequence at %d", i)
		}
		counts[a[i]]++
	}
	top := 0
	for _, c := range counts {
		top = max(top, c)
	}
	// Uniform would give 20 per name; Zipf s=1.1 gives the top name a large share.
	if top < 1000 || len(counts) < 100 {
		t.Errorf("top name %d hits, %d distinct names: not Zipf-like", top, len(counts))
	}
}

func TestScrapeSum(t *testing.T) {
	page := "# HELP ezdfsd_db_queries_total x\n# TYPE ezdfsd_db_queries_total counter\n" +
		"ezdfsd_db_queries_total{result=\"found\"} 3\nezdfsd_db_queries_total{result=\"not_found\"} 2\n" +
		"ezdfsd_db_queries_total_other 100\nezdfsd_db_query_duration_seconds_count 5\n"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(page)) }))
	defer srv.Close()
	tests := []struct {
		metric  string
		want    float64
		wantErr bool
	}{
		{"ezdfsd_db_queries_total", 5, false},
		{"ezdfsd_db_query_duration_seconds_count", 5, false},
		{"ezdfsd_missing_total", 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.metric, func(t *testing.T) {
			got, err := scrapeSum(context.Background(), srv.URL, tc.metric)
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Errorf("scrapeSum = %v, %v; want %v (error %v)", got, err, tc.want, tc.wantErr)
			}
		})
	}
}

// TestS3Targets: the Targets table judges the S3 scenario as issue 15 states it: the median p50
// at the fixed rate within 1.1× of direct GetObject, the median throughput at max rate at
// least 0.8× of direct GetObject's.
func TestS3Targets(t *testing.T) {
	groups := map[[3]string]*group{}
	var order [][3]string
	add := func(side, mode string, p50s, thrs []float64) {
		k := [3]string{"s3", side, mode}
		g := &group{scenario: "s3", side: side, mode: mode}
		for i := range p50s {
			g.runs = append(g.runs, Result{Scenario: "s3", Side: side, Mode: mode, Run: i + 1, P50Ms: p50s[i], Throughput: thrs[i], Success: 1})
		}
		groups[k] = g
		order = append(order, k)
	}
	add("direct", "fixed-200", []float64{1.5, 1.6, 1.4}, []float64{200, 200, 200})
	add("ezdfsd", "fixed-200", []float64{1.6, 9.9, 1.5}, []float64{200, 200, 200}) // medians 1.5 vs 1.6
	add("direct", "max-16", []float64{9, 9, 9}, []float64{3000, 4000, 3500})
	add("ezdfsd", "max-16", []float64{30, 30, 30}, []float64{2400, 2450, 100}) // 2400 / 3500
	var b strings.Builder
	writeTables(&b, groups, order)
	out := b.String()
	for _, want := range []string{
		"| S3 latency ≤ 1.1× direct GetObject (p50, fixed-200, median of 3 runs) | 1.07× | yes |",
		"| S3 throughput ≥ 0.8× direct GetObject (max-16, median of 3 runs) | 0.69× | **no** |",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("targets lack %q:\n%s", want, out[strings.Index(out, "## Targets"):])
		}
	}
	if strings.Contains(out, "s3floor") {
		t.Errorf("floor table without a floor side:\n%s", out)
	}
	add("floor", "fixed-200", []float64{1.2, 1.25, 1.3}, []float64{200, 200, 200})
	for i, q := range []float64{50, 200, 250} { // of 800, 800, 1000 requests: 6%, 25%, 25%
		r := &groups[[3]string{"s3", "ezdfsd", "fixed-200"}].runs[i]
		r.Requests, r.DBQueries = []int64{800, 800, 1000}[i], q
	}
	b.Reset()
	writeTables(&b, groups, order)
	out = b.String()
	if want := "| s3floor: the hop alone | fixed-200 | 200, 1.500 | 200, 1.250 | 200, 1.600 | 1.00×, 0.83× | 1.00×, 1.28× | 25% |"; !strings.Contains(out, want) {
		t.Errorf("floor table lacks %q:\n%s", want, out)
	}
	if !strings.Contains(out, "| S3 latency ≤ 1.1× direct GetObject (p50, fixed-200, median of 3 runs) | 1.07× | yes |") {
		t.Errorf("the floor side changed the baseline of the targets:\n%s", out[strings.Index(out, "## Targets"):])
	}
	if strings.Contains(out, "S3 latency ≤ 1.1× direct GetObject (p50, max-16") {
		t.Errorf("max rate judged on latency instead of throughput:\n%s", out[strings.Index(out, "## Targets"):])
	}
}
