package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// scrapeSum returns the sum over all label sets of metric (a counter) on a Prometheus text page.
func scrapeSum(ctx context.Context, url, metric string) (float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, fmt.Errorf("scrape %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("scrape %s: %s", url, resp.Status)
	}
	sum, found := 0.0, false
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, metric) {
			continue
		}
		rest := line[len(metric):]
		if rest == "" || (rest[0] != '{' && rest[0] != ' ') {
			continue
		}
		f := strings.Fields(rest[strings.LastIndexByte(rest, '}')+1:])
		if len(f) == 0 {
			continue
		}
		v, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			return 0, fmt.Errorf("scrape %s: %q: %w", url, line, err)
		}
		sum, found = sum+v, true
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	if !found {
		return 0, fmt.Errorf("scrape %s: no %s series", url, metric)
	}
	return sum, nil
}

// cmdStorm sends n requests for one never-requested name at the same instant (each on its own
// connection, all dialled beforehand) and counts the DB queries they caused.
func cmdStorm(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("storm", flag.ContinueOnError)
	var r Result
	fs.StringVar(&r.Scenario, "scenario", "storm", "scenario")
	fs.StringVar(&r.Side, "side", "ezdfsd", "side label")
	fs.IntVar(&r.Run, "run", 0, "run number")
	base := fs.String("base", "", "ezdfsd base URL")
	name := fs.String("name", "", "cluster name (not requested before)")
	metricsURL := fs.String("metrics", "", "ezdfsd /metrics URL")
	n := fs.Int("n", 1000, "concurrent requests")
	out := fs.String("out", "-", "results file (JSON lines)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *base == "" || *name == "" || *metricsURL == "" {
		return errors.New("-base, -name and -metrics are required")
	}
	r.Mode = fmt.Sprintf("c%d", *n)
	url := strings.TrimRight(*base, "/") + "/" + *name
	tr := &http.Transport{MaxIdleConnsPerHost: *n, DisableCompression: true}
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	// Open the connections first (a request for a path outside the served prefixes is a 404
	// without any metadata lookup), so the storm itself is n requests, not n dials.
	var wg sync.WaitGroup
	for range *n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if resp, err := client.Get(strings.TrimRight(*base, "/") + "/warm-connection"); err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}()
	}
	wg.Wait()

	before, err := scrapeSum(ctx, *metricsURL, "ezdfsd_db_queries_total")
	if err != nil {
		return err
	}
	b := burst(ctx, client, url, *n)
	after, err := scrapeSum(ctx, *metricsURL, "ezdfsd_db_queries_total")
	if err != nil {
		return err
	}
	st := summarize(b.lat)
	r.Requests, r.Status, r.Success = int64(len(b.lat)), b.status, float64(b.ok)/float64(*n)
	r.Throughput = float64(b.ok) / b.elapsed.Seconds()
	r.MeanMs, r.P50Ms, r.P99Ms, r.MaxMs = st.mean, st.p50, st.p99, st.max
	r.DBQueries = after - before
	return appendResult(*out, r)
}
