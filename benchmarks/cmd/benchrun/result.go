package main

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"time"
)

// Result is one measured run of one side of one scenario.
type Result struct {
	Scenario string `json:"scenario"` // "hot", "nocache", "s3", "large", "storm"
	Side     string `json:"side"`     // "ezdfsd", "nginx", "direct", ...
	Mode     string `json:"mode"`     // "fixed-<rate>", "max-<workers>", "c<n>"
	Run      int    `json:"run"`

	Requests   int64            `json:"requests"`
	Throughput float64          `json:"throughput_rps"` // successful responses per second
	MeanMs     float64          `json:"mean_ms"`
	P50Ms      float64          `json:"p50_ms"`
	P99Ms      float64          `json:"p99_ms"`
	MaxMs      float64          `json:"max_ms"`
	Success    float64          `json:"success"` // ratio 0..1
	Status     map[string]int64 `json:"status,omitempty"`
	BytesIn    int64            `json:"bytes_in"`
	MBps       float64          `json:"mb_per_s,omitempty"` // MiB/s of body received
	PeakRSSMiB float64          `json:"peak_rss_mib,omitempty"`
	HWMMiB     float64          `json:"vm_hwm_mib,omitempty"`
	DBQueries  float64          `json:"db_queries,omitempty"`
	// CPUPerReqUs is the server's CPU time (user+system, all its processes) per request, in µs:
	// a figure that the shared cores disturb less than throughput does.
	CPUPerReqUs float64 `json:"server_cpu_us_per_req,omitempty"`
	Note        string  `json:"note,omitempty"`
}

func appendResult(path string, r Result) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	if path == "" || path == "-" {
		_, err = fmt.Println(string(b))
		return err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("results file: %w", err)
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return fmt.Errorf("results file: %w", err)
	}
	fmt.Fprintf(os.Stderr, "  %-8s %-7s %-12s run %d: %8.0f req/s  p50 %7.3f ms  p99 %8.3f ms  ok %.2f%%%s\n",
		r.Scenario, r.Side, r.Mode, r.Run, r.Throughput, r.P50Ms, r.P99Ms, 100*r.Success, extra(r))
	return f.Close()
}

func extra(r Result) string {
	s := ""
	if r.CPUPerReqUs > 0 {
		s += fmt.Sprintf("  server CPU %.1f µs/req", r.CPUPerReqUs)
	}
	if r.MBps > 0 {
		s += fmt.Sprintf("  %.0f MiB/s", r.MBps)
	}
	if r.PeakRSSMiB > 0 {
		s += fmt.Sprintf("  RSS peak %.1f MiB (HWM %.1f)", r.PeakRSSMiB, r.HWMMiB)
	}
	if r.Scenario == "storm" {
		s += fmt.Sprintf("  DB queries %.0f  status %v", r.DBQueries, r.Status)
	} else if r.DBQueries > 0 {
		s += fmt.Sprintf("  DB queries %.0f", r.DBQueries)
	}
	return s
}

// latencyStats summarises durations (sorted in place).
type latencyStats struct{ mean, p50, p99, max float64 } // milliseconds

func summarize(d []time.Duration) latencyStats {
	if len(d) == 0 {
		return latencyStats{}
	}
	slices.Sort(d)
	var sum time.Duration
	for _, v := range d {
		sum += v
	}
	ms := func(v time.Duration) float64 { return float64(v) / 1e6 }
	q := func(p float64) time.Duration {
		i := int(p*float64(len(d)) + 0.5)
		return d[min(max(i-1, 0), len(d)-1)]
	}
	return latencyStats{mean: ms(sum / time.Duration(len(d))), p50: ms(q(0.50)), p99: ms(q(0.99)), max: ms(d[len(d)-1])}
}
