// Command benchrun is the Go half of benchmarks/run: it generates the data set, the Zipf
// target lists, runs the load loops vegeta cannot (signed S3 GetObject, 1 GiB downloads with an
// RSS sampler, a synchronised miss storm) and turns every measurement into the results table.
//
// Every subcommand that measures appends one JSON line per run to the file given by -out, so
// the table is computed from raw runs (median of several) and can be rebuilt later.
//
//	benchrun gen      generate files, the metadata rows and the name lists
//	benchrun targets  write a vegeta target file with Zipf-distributed popularity
//	benchrun vegeta   convert a `vegeta report -type=json` into a result line
//	benchrun load     closed- or open-loop GET load against ezdfsd (HTTP) or S3 (SDK GetObject)
//	benchrun download N concurrent downloads of one URL, sampling a process's RSS
//	benchrun storm    N synchronised first requests for one name, counting DB queries
//	benchrun table    the markdown table (medians, ratios) from the result lines
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:]))
}

func run(ctx context.Context, args []string) int {
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, "usage: benchrun gen|targets|vegeta|load|download|storm|table [flags]")
		return 2
	}
	cmds := map[string]func(context.Context, []string) error{
		"gen":      cmdGen,
		"targets":  cmdTargets,
		"vegeta":   cmdVegeta,
		"load":     cmdLoad,
		"download": cmdDownload,
		"storm":    cmdStorm,
		"table":    cmdTable,
	}
	f, ok := cmds[args[0]]
	if !ok {
		fmt.Fprintf(os.Stderr, "benchrun: unknown subcommand %q\n", args[0])
		return 2
	}
	if err := f(ctx, args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "benchrun %s: %v\n", args[0], err)
		return 1
	}
	return 0
}
