package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strings"
	"time"
)

func readLines(path string) ([]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no names", path)
	}
	return out, nil
}

// zipfSequence draws n names with Zipf popularity (rank k has weight 1/k^s). The rank order is a
// seeded shuffle of names, so popularity is independent of file size and name order.
func zipfSequence(names []string, n int, s float64, seed uint64) []string {
	rng := rand.New(rand.NewPCG(seed, 0x7a697066))
	ranked := append([]string(nil), names...)
	rng.Shuffle(len(ranked), func(i, j int) { ranked[i], ranked[j] = ranked[j], ranked[i] })
	z := rand.NewZipf(rng, s, 1, uint64(len(ranked)-1))
	out := make([]string, n)
	for i := range out {
		out[i] = ranked[z.Uint64()]
	}
	return out
}

func cmdTargets(_ context.Context, args []string) error {
	fs := flag.NewFlagSet("targets", flag.ContinueOnError)
	names := fs.String("names", "", "file of cluster names")
	base := fs.String("base", "", "base URL, e.g. http://127.0.0.1:8081")
	n := fs.Int("n", 100000, "targets to draw")
	s := fs.Float64("s", 1.1, "Zipf exponent (> 1)")
	seed := fs.Uint64("seed", 1, "seed")
	out := fs.String("out", "", "target file (vegeta http format)")
	keys := fs.String("keys-out", "", "also write the drawn names, one a line (for benchrun load)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *names == "" || *base == "" || *out == "" {
		return errors.New("-names, -base and -out are required")
	}
	list, err := readLines(*names)
	if err != nil {
		return err
	}
	seq := zipfSequence(list, *n, *s, *seed)
	f, err := os.Create(*out)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	distinct := map[string]bool{}
	for _, name := range seq {
		fmt.Fprintf(w, "GET %s/%s\n\n", strings.TrimRight(*base, "/"), name)
		distinct[name] = true
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if *keys != "" {
		if err := os.WriteFile(*keys, []byte(strings.Join(seq, "\n")+"\n"), 0o644); err != nil {
			return err
		}
	}
	fmt.Fprintf(os.Stderr, "targets: %d requests over %d distinct names (Zipf s=%.2f) -> %s\n", len(seq), len(distinct), *s, *out)
	return nil
}

// vegetaReport is the subset of `vegeta report -type=json` used here (latencies in ns).
type vegetaReport struct {
	Latencies struct {
		Mean int64 `json:"mean"`
		P50  int64 `json:"50th"`
		P99  int64 `json:"99th"`
		Max  int64 `json:"max"`
	} `json:"latencies"`
	BytesIn struct {
		Total int64 `json:"total"`
	} `json:"bytes_in"`
	Duration    int64            `json:"duration"`
	Wait        int64            `json:"wait"`
	Requests    int64            `json:"requests"`
	Rate        float64          `json:"rate"`
	Throughput  float64          `json:"throughput"`
	Success     float64          `json:"success"`
	StatusCodes map[string]int64 `json:"status_codes"`
	Errors      []string         `json:"errors"`
}

// cmdVegeta turns a vegeta JSON report (stdin or -in) into a result line.
func cmdVegeta(_ context.Context, args []string) error {
	fs := flag.NewFlagSet("vegeta", flag.ContinueOnError)
	var r Result
	fs.StringVar(&r.Scenario, "scenario", "", "scenario")
	fs.StringVar(&r.Side, "side", "", "side")
	fs.StringVar(&r.Mode, "mode", "", "mode")
	fs.IntVar(&r.Run, "run", 0, "run number")
	in := fs.String("in", "-", "report file (- = stdin)")
	cpu := fs.Float64("server-cpu-seconds", 0, "CPU seconds the server used during the attack (0 = unknown)")
	out := fs.String("out", "-", "results file (JSON lines)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var b []byte
	var err error
	if *in == "-" {
		b, err = io.ReadAll(os.Stdin)
	} else {
		b, err = os.ReadFile(*in)
	}
	if err != nil {
		return err
	}
	var v vegetaReport
	if err := json.Unmarshal(b, &v); err != nil {
		return fmt.Errorf("vegeta report: %w", err)
	}
	ms := func(ns int64) float64 { return float64(ns) / 1e6 }
	r.Requests, r.Throughput, r.Success, r.Status = v.Requests, v.Throughput, v.Success, v.StatusCodes
	r.MeanMs, r.P50Ms, r.P99Ms, r.MaxMs = ms(v.Latencies.Mean), ms(v.Latencies.P50), ms(v.Latencies.P99), ms(v.Latencies.Max)
	r.BytesIn = v.BytesIn.Total
	if d := time.Duration(v.Duration + v.Wait); d > 0 {
		r.MBps = float64(v.BytesIn.Total) / (1 << 20) / d.Seconds()
	}
	if *cpu > 0 && v.Requests > 0 {
		r.CPUPerReqUs = *cpu * 1e6 / float64(v.Requests)
	}
	if len(v.Errors) > 0 {
		r.Note = strings.Join(v.Errors[:min(3, len(v.Errors))], "; ")
	}
	return appendResult(*out, r)
}
