package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"

	"github.com/ezdfsd/ezdfsd/compare"
)

// stdin is what "--urls -" reads; tests replace it.
var stdin io.Reader = os.Stdin

// runCompare sends the same probes to the legacy gateway and to ezdfsd for every URL given and
// exits 0 when every difference is a documented one, 1 when any is not (or the run failed), and
// 2 on usage errors.
func runCompare(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("compare", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {} // the flag package names the bad flag; --help is answered below
	ref := fs.String("reference", "", "base URL of the legacy gateway (index_cluster.php), e.g. http://legacy.example")
	cand := fs.String("candidate", "", "base URL of ezdfsd, e.g. http://127.0.0.1:8081")
	urls := fs.String("urls", "", "file with one URL or path per line (- for standard input)")
	accessLog := fs.String("from-access-log", "", "nginx/Apache combined access log: compare its cluster URLs answered 200/206/304 to GET/HEAD")
	concurrency := fs.Int("concurrency", compare.DefaultConcurrency, "URLs compared at once")
	rate := fs.Float64("rate", compare.DefaultRate, "probes per second (each is one request to each server)")
	timeout := fs.Duration("timeout", compare.DefaultTimeout, "per-request timeout, body included")
	asJSON := fs.Bool("json", false, "one JSON object per URL on standard output (summary on standard error)")
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			commandHelp(stdout, "compare")
			fmt.Fprintln(stdout, "\nFlags of compare:")
			fs.SetOutput(stdout)
			fs.PrintDefaults()
			return 0
		}
		fmt.Fprintln(stderr, "(see: ezdfsd compare --help)")
		return 2
	}
	usageErr := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "ezdfsd compare: "+format+"\n(see: ezdfsd compare --help)\n", a...)
		return 2
	}
	if fs.NArg() > 0 {
		return usageErr("unexpected argument %q", fs.Arg(0))
	}
	if *urls == "" && *accessLog == "" {
		return usageErr("give --urls FILE (or -) and/or --from-access-log FILE")
	}
	if *concurrency < 1 || *rate <= 0 || *timeout <= 0 {
		return usageErr("--concurrency, --rate and --timeout must be positive")
	}
	cfg := compare.Config{Concurrency: *concurrency, Rate: *rate, Timeout: *timeout}
	var err error
	if cfg.Reference, err = baseURL("--reference", *ref); err != nil {
		return usageErr("%v", err)
	}
	if cfg.Candidate, err = baseURL("--candidate", *cand); err != nil {
		return usageErr("%v", err)
	}
	if err := cfg.Validate(); err != nil {
		return usageErr("%v", err)
	}

	targets, err := readTargets(*urls, *accessLog, stderr)
	if err != nil {
		return usageErr("%v", err)
	}
	if len(targets) == 0 {
		return usageErr("no URLs to compare in the given input")
	}

	out, summaryOut, write := stdout, stdout, compare.WriteText
	if *asJSON {
		summaryOut, write = stderr, compare.WriteJSON
	}
	var writeErr error
	sum, err := compare.Run(ctx, cfg, targets, func(r compare.URLResult) {
		if writeErr == nil {
			writeErr = write(out, r)
		}
	})
	if serr := compare.WriteSummary(summaryOut, sum); writeErr == nil {
		writeErr = serr
	}
	switch {
	case err != nil:
		fmt.Fprintf(stderr, "ezdfsd compare: %v\n", err)
		return 1
	case writeErr != nil:
		fmt.Fprintf(stderr, "ezdfsd compare: writing the report: %v\n", writeErr)
		return 1
	case !sum.Clean():
		return 1
	}
	return 0
}

// baseURL parses a --reference or --candidate value.
func baseURL(flagName, s string) (*url.URL, error) {
	if s == "" {
		return nil, fmt.Errorf("%s is required", flagName)
	}
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", flagName, err)
	}
	return u, nil
}

// readTargets reads the URL list and the access log, the list's URLs first, each URL once.
func readTargets(urls, accessLog string, stderr io.Writer) ([]string, error) {
	var targets []string
	if urls != "" {
		r, closeFn, err := openInput(urls)
		if err != nil {
			return nil, err
		}
		targets, err = compare.ReadURLs(r)
		closeFn()
		if err != nil {
			return nil, fmt.Errorf("--urls %s: %w", urls, err)
		}
	}
	if accessLog != "" {
		r, closeFn, err := openInput(accessLog)
		if err != nil {
			return nil, err
		}
		fromLog, skipped, err := compare.ReadAccessLog(r)
		closeFn()
		if err != nil {
			return nil, fmt.Errorf("--from-access-log %s: %w", accessLog, err)
		}
		if skipped > 0 {
			fmt.Fprintf(stderr, "ezdfsd compare: %s: skipped %d lines not in the combined log format\n", accessLog, skipped)
		}
		seen := make(map[string]bool, len(targets))
		for _, t := range targets {
			seen[t] = true
		}
		for _, t := range fromLog {
			if !seen[t] {
				targets = append(targets, t)
			}
		}
	}
	return targets, nil
}

func openInput(name string) (io.Reader, func(), error) {
	if name == "-" {
		return stdin, func() {}, nil
	}
	f, err := os.Open(name)
	if err != nil {
		return nil, nil, err
	}
	return f, func() { f.Close() }, nil
}
