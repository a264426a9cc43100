package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// procMemKiB reads VmRSS and VmHWM (kB) from /proc/<pid>/status.
func procMemKiB(pid int) (rss, hwm int64, err error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		field := strings.Fields(v)
		if len(field) == 0 {
			continue
		}
		n, _ := strconv.ParseInt(field[0], 10, 64)
		switch k {
		case "VmRSS":
			rss = n
		case "VmHWM":
			hwm = n
		}
	}
	return rss, hwm, sc.Err()
}

func cmdDownload(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("download", flag.ContinueOnError)
	var r Result
	fs.StringVar(&r.Scenario, "scenario", "large", "scenario")
	fs.StringVar(&r.Side, "side", "ezdfsd", "side label")
	fs.IntVar(&r.Run, "run", 0, "run number")
	url := fs.String("url", "", "URL to download")
	n := fs.Int("n", 100, "concurrent downloads")
	pid := fs.Int("pid", 0, "process whose RSS is sampled (0 = none)")
	every := fs.Duration("sample", 20*time.Millisecond, "RSS sampling interval")
	out := fs.String("out", "-", "results file (JSON lines)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *url == "" {
		return errors.New("-url is required")
	}
	r.Mode = fmt.Sprintf("c%d", *n)
	tr := &http.Transport{MaxIdleConnsPerHost: *n, MaxConnsPerHost: 0, DisableCompression: true}
	client := &http.Client{Transport: tr}

	var peak atomic.Int64
	stopSampling := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		if *pid == 0 {
			return
		}
		t := time.NewTicker(*every)
		defer t.Stop()
		for {
			if rss, _, err := procMemKiB(*pid); err == nil && rss > peak.Load() {
				peak.Store(rss)
			}
			select {
			case <-t.C:
			case <-stopSampling:
				return
			}
		}
	}()

	b := burst(ctx, client, *url, *n)
	close(stopSampling)
	<-sampled
	st := summarize(b.lat)
	r.Requests = int64(len(b.lat))
	r.Throughput = float64(b.ok) / b.elapsed.Seconds()
	r.MeanMs, r.P50Ms, r.P99Ms, r.MaxMs = st.mean, st.p50, st.p99, st.max
	r.Status, r.BytesIn = b.status, b.bytes
	r.MBps = float64(b.bytes) / (1 << 20) / b.elapsed.Seconds()
	r.Success = float64(b.ok) / float64(*n)
	if *pid != 0 {
		_, hwm, _ := procMemKiB(*pid)
		r.PeakRSSMiB = float64(peak.Load()) / 1024
		r.HWMMiB = float64(hwm) / 1024
	}
	return appendResult(*out, r)
}
