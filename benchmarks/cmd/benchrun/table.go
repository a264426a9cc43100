package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"
)

type group struct {
	scenario, side, mode string
	runs                 []Result
}

// med returns the median of f over the runs (the mean of the two middle values for an even
// count); 0 for a nil group.
func (g *group) med(f func(Result) float64) float64 {
	if g == nil || len(g.runs) == 0 {
		return 0
	}
	v := make([]float64, len(g.runs))
	for i, r := range g.runs {
		v[i] = f(r)
	}
	sort.Float64s(v)
	n := len(v)
	if n%2 == 1 {
		return v[n/2]
	}
	return (v[n/2-1] + v[n/2]) / 2
}

func thr(r Result) float64  { return r.Throughput }
func p50(r Result) float64  { return r.P50Ms }
func p99(r Result) float64  { return r.P99Ms }
func succ(r Result) float64 { return r.Success }

func cmdTable(_ context.Context, args []string) error {
	fs := flag.NewFlagSet("table", flag.ContinueOnError)
	in := fs.String("in", "", "results file (JSON lines)")
	header := fs.String("header", "", "markdown file printed first (machine description)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	f, err := os.Open(*in)
	if err != nil {
		return err
	}
	defer f.Close()
	groups := map[[3]string]*group{}
	var order [][3]string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var r Result
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			return fmt.Errorf("%s: %w", *in, err)
		}
		k := [3]string{r.Scenario, r.Side, r.Mode}
		if groups[k] == nil {
			groups[k] = &group{scenario: r.Scenario, side: r.Side, mode: r.Mode}
			order = append(order, k)
		}
		groups[k].runs = append(groups[k].runs, r)
	}
	if err := sc.Err(); err != nil {
		return err
	}
	var b strings.Builder
	if *header != "" {
		h, err := os.ReadFile(*header)
		if err != nil {
			return err
		}
		b.Write(h)
		b.WriteString("\n")
	}
	writeTables(&b, groups, order)
	fmt.Print(b.String())
	return nil
}

var scenarioTitle = map[string]string{
	"hot":     "1. hot files, NFS, metadata cached",
	"nocache": "2. hot files, NFS, cache off (1 DB query/request)",
	"s3":      "3. S3 backend (versitygw)",
}

func writeTables(b *strings.Builder, groups map[[3]string]*group, order [][3]string) {
	get := func(s, side, mode string) *group { return groups[[3]string{s, side, mode}] }
	baselineFor := func(scenario, mode string) (*group, string) {
		for _, k := range order {
			if k[0] == scenario && k[1] != "ezdfsd" && k[2] == mode {
				return groups[k], k[1]
			}
		}
		if scenario == "nocache" {
			if g, side := get("hot", "nginx", mode), "nginx"; g != nil {
				return g, side
			}
		}
		return nil, ""
	}
	runs := 0
	for _, g := range groups {
		runs = max(runs, len(g.runs))
	}
	fmt.Fprintf(b, "## Side by side (each figure the median of %d runs)\n\n", runs)
	b.WriteString("| scenario | mode | ezdfsd req/s | baseline | baseline req/s | throughput ratio | ezdfsd p50 / p99 ms | baseline p50 / p99 ms | p50 ratio | p99 ratio | ezdfsd ok | server CPU µs/req ezdfsd / baseline |\n")
	b.WriteString("|---|---|--:|---|--:|--:|--:|--:|--:|--:|--:|--:|\n")
	for _, s := range []string{"hot", "nocache", "s3"} {
		for _, k := range order {
			if k[0] != s || k[1] != "ezdfsd" {
				continue
			}
			e := groups[k]
			base, side := baselineFor(s, k[2])
			ratio := func(a, c float64) string {
				if c == 0 {
					return "–"
				}
				return fmt.Sprintf("%.2f×", a/c)
			}
			bt, bp50, bp99 := "–", "–", "–"
			if base != nil {
				bt = fmt.Sprintf("%.0f", base.med(thr))
				bp50, bp99 = fmt.Sprintf("%.3f", base.med(p50)), fmt.Sprintf("%.3f", base.med(p99))
			}
			cpuUs := func(r Result) float64 { return r.CPUPerReqUs }
			cpu := "–"
			if e.med(cpuUs) > 0 {
				cpu = fmt.Sprintf("%.1f / –", e.med(cpuUs))
				if base.med(cpuUs) > 0 {
					cpu = fmt.Sprintf("%.1f / %.1f", e.med(cpuUs), base.med(cpuUs))
				}
			}
			fmt.Fprintf(b, "| %s | %s | %.0f | %s | %s | %s | %.3f / %.3f | %s / %s | %s | %s | %.2f%% | %s |\n",
				scenarioTitle[s], k[2], e.med(thr), side, bt, ratio(e.med(thr), base.med(thr)),
				e.med(p50), e.med(p99), bp50, bp99, ratio(e.med(p50), base.med(p50)), ratio(e.med(p99), base.med(p99)),
				100*e.med(succ), cpu)
		}
	}
	// cache on vs off, same mode
	b.WriteString("\n| cache effect | mode | cached req/s | uncached req/s | cached / uncached | cached p99 ms | uncached p99 ms |\n|---|---|--:|--:|--:|--:|--:|\n")
	for _, k := range order {
		if k[0] != "nocache" || k[1] != "ezdfsd" {
			continue
		}
		off, on := groups[k], get("hot", "ezdfsd", k[2])
		if on == nil {
			continue
		}
		fmt.Fprintf(b, "| ezdfsd in-process cache | %s | %.0f | %.0f | %.2f× | %.3f | %.3f |\n",
			k[2], on.med(thr), off.med(thr), on.med(thr)/off.med(thr), on.med(p99), off.med(p99))
	}

	writeS3Floor(b, groups, order)

	b.WriteString("\n## 4. Large files through ezdfsd (NFS backend)\n\n")
	b.WriteString("| downloads | file | aggregate MiB/s | per-download p50 / max s | complete | ezdfsd peak VmRSS MiB | ezdfsd VmHWM MiB |\n|---|--:|--:|--:|--:|--:|--:|\n")
	for _, k := range order {
		if k[0] != "large" {
			continue
		}
		g := groups[k]
		size := 0.0
		if r := g.runs[0]; r.Requests > 0 {
			size = float64(r.BytesIn) / float64(r.Requests) / (1 << 20)
		}
		fmt.Fprintf(b, "| %s | %.0f MiB | %.0f | %.1f / %.1f | %.0f%% | %.1f | %.1f |\n", k[2], size,
			g.med(func(r Result) float64 { return r.MBps }), g.med(p50)/1000, g.med(func(r Result) float64 { return r.MaxMs })/1000,
			100*g.med(succ), g.med(func(r Result) float64 { return r.PeakRSSMiB }), g.med(func(r Result) float64 { return r.HWMMiB }))
	}

	b.WriteString("\n## 5. Miss storm (one uncached name, all requests released at once)\n\n")
	b.WriteString("| ezdfsd | requests | DB queries per run | status codes (last run) | p50 / max ms |\n|---|--:|---|---|--:|\n")
	for _, k := range order {
		if k[0] != "storm" {
			continue
		}
		g := groups[k]
		var qs []string
		for _, r := range g.runs {
			qs = append(qs, fmt.Sprintf("%.0f", r.DBQueries))
		}
		last := g.runs[len(g.runs)-1]
		codes := make([]string, 0, len(last.Status))
		for c, n := range last.Status {
			codes = append(codes, fmt.Sprintf("%s:%d", c, n))
		}
		slices.Sort(codes)
		fmt.Fprintf(b, "| %s | %s | %s | %s | %.1f / %.1f |\n", k[1], strings.TrimPrefix(k[2], "c"), strings.Join(qs, ", "),
			strings.Join(codes, " "), g.med(p50), g.med(func(r Result) float64 { return r.MaxMs }))
	}

	b.WriteString("\n## Targets\n\n| target | measured | met |\n|---|---|---|\n")
	verdict := func(ok bool) string {
		if ok {
			return "yes"
		}
		return "**no**"
	}
	for _, k := range order {
		if k[0] == "hot" && k[1] == "ezdfsd" && strings.HasPrefix(k[2], "max-") {
			if base, _ := baselineFor("hot", k[2]); base != nil {
				r := groups[k].med(thr) / base.med(thr)
				fmt.Fprintf(b, "| hot path ≥ 0.8× nginx static throughput (%s) | %.2f× | %s |\n", k[2], r, verdict(r >= 0.8))
				cpuUs := func(r Result) float64 { return r.CPUPerReqUs }
				if e, n := groups[k].med(cpuUs), base.med(cpuUs); e > 0 && n > 0 {
					// When the load generator, not the server, limits throughput (shared cores),
					// the throughput ratio flatters the slower server; CPU per request does not.
					c := n / e
					fmt.Fprintf(b, "| same, as CPU efficiency: nginx µs/req ÷ ezdfsd µs/req (%s; the throughput ratio of a CPU-bound core) | %.2f× | %s |\n", k[2], c, verdict(c >= 0.8))
				}
			}
		}
	}
	for _, k := range order {
		if k[0] == "s3" && k[1] == "ezdfsd" {
			// Issue 15's two S3 targets: latency at a fixed rate, throughput at max rate.
			base, _ := baselineFor("s3", k[2])
			if base == nil {
				continue
			}
			e := groups[k]
			n := min(len(e.runs), len(base.runs))
			switch {
			case strings.HasPrefix(k[2], "fixed-"):
				r := e.med(p50) / base.med(p50)
				fmt.Fprintf(b, "| S3 latency ≤ 1.1× direct GetObject (p50, %s, median of %d runs) | %.2f× | %s |\n", k[2], n, r, verdict(r <= 1.1))
			case strings.HasPrefix(k[2], "max-"):
				r := e.med(thr) / base.med(thr)
				fmt.Fprintf(b, "| S3 throughput ≥ 0.8× direct GetObject (%s, median of %d runs) | %.2f× | %s |\n", k[2], n, r, verdict(r >= 0.8))
			}
		}
	}
	for _, k := range order {
		if k[0] == "large" {
			m := groups[k].med(func(r Result) float64 { return r.PeakRSSMiB })
			fmt.Fprintf(b, "| flat RSS < 64 MiB under %s large downloads | %.1f MiB peak | %s |\n", strings.TrimPrefix(k[2], "c"), m, verdict(m > 0 && m < 64))
		}
		if k[0] == "storm" && k[1] == "ezdfsd" {
			worst := 0.0
			for _, r := range groups[k].runs {
				worst = max(worst, r.DBQueries)
			}
			fmt.Fprintf(b, "| 1 DB query per miss storm (%s, worst of %d runs) | %.0f | %s |\n", k[1], len(groups[k].runs), worst, verdict(worst == 1))
		}
	}
}

// writeS3Floor prints scenario 3's three sides against each other: the floor (s3floor, a
// proxy doing nothing but the hop) against the direct GetObject shows what the hop alone costs;
// ezdfsd against the floor, what ezdfsd's own work adds to it, of which the share of its
// requests that needed a database query (a row not in its cache, or older than cache-ttl).
func writeS3Floor(b *strings.Builder, groups map[[3]string]*group, order [][3]string) {
	header := false
	for _, k := range order {
		if k[0] != "s3" || k[1] != "floor" {
			continue
		}
		floor, direct, ez := groups[k], groups[[3]string{"s3", "direct", k[2]}], groups[[3]string{"s3", "ezdfsd", k[2]}]
		if direct == nil || ez == nil {
			continue
		}
		if !header {
			b.WriteString("\n| S3 hop (medians) | mode | direct req/s, p50 ms | floor req/s, p50 ms | ezdfsd req/s, p50 ms | floor ÷ direct: req/s, p50 | ezdfsd ÷ floor: req/s, p50 | ezdfsd requests with a DB query |\n|---|---|--:|--:|--:|--:|--:|--:|\n")
			header = true
		}
		queried := ez.med(func(r Result) float64 {
			if r.Requests == 0 {
				return 0
			}
			return r.DBQueries / float64(r.Requests)
		})
		fmt.Fprintf(b, "| s3floor: the hop alone | %s | %.0f, %.3f | %.0f, %.3f | %.0f, %.3f | %.2f×, %.2f× | %.2f×, %.2f× | %.0f%% |\n", k[2],
			direct.med(thr), direct.med(p50), floor.med(thr), floor.med(p50), ez.med(thr), ez.med(p50),
			floor.med(thr)/direct.med(thr), floor.med(p50)/direct.med(p50), ez.med(thr)/floor.med(thr), ez.med(p50)/floor.med(p50), 100*queried)
	}
}
