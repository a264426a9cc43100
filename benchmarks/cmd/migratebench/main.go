// Command migratebench measures `ezdfsd migrate` (issue 13): it writes -files files (-total
// bytes in all, an eZ-like size mix) to a mount point directory and their rows to a fresh
// MariaDB database, then copies them to versitygw, each run into a fresh bucket:
//
//  1. the baseline, a sequential PutObject loop in Go (aws-sdk-go-v2) reading the mount point;
//  2. `aws s3 sync` with its defaults, and its no-change re-run, when the aws CLI is installed;
//  3. `ezdfsd migrate --concurrency N` for each N of -concurrency;
//  4. a no-change re-run of the last of them into its already filled bucket.
//
// After every copy it checks that the bucket holds every file. It prints seconds, MiB/s,
// files/s and the ratio to the baseline for each run and appends them to -out as one JSON line
// and to the .md file beside it as a Markdown table. It is a benchmark, not a test: run it by
// hand on a quiet machine, e.g.
//
//	go build -o /tmp/ezdfsd ./cmd/ezdfsd
//	go run ./benchmarks/cmd/migratebench -ezdfsd /tmp/ezdfsd
//
// The versitygw of scripts/services.sh closes every connection after its answer; S3 keeps them
// open. For figures that compare with S3, start a versitygw with --keep-alive and give its
// process id, so the table also shows the S3 server's CPU time and the bound it sets on this
// machine (the server shares its cores with the client):
//
//	mkdir -p /tmp/vgw-root && ROOT_ACCESS_KEY=$TEST_S3_ACCESS_KEY ROOT_SECRET_KEY=$TEST_S3_SECRET_KEY \
//	  versitygw --port 127.0.0.1:27171 --quiet --keep-alive posix /tmp/vgw-root & VGW=$!
//	go run ./benchmarks/cmd/migratebench -ezdfsd /tmp/ezdfsd -s3-endpoint http://127.0.0.1:27171 -s3-pid $VGW
package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/go-sql-driver/mysql"

	"github.com/ezdfsd/ezdfsd/benchmarks/internal/procstat"
	"github.com/ezdfsd/ezdfsd/dfs"
)

// options are migratebench's flags.
type options struct {
	files        int
	total        int64
	ezdfsd, aws  string
	dsn, dbName  string
	dir          string
	concurrency  []int
	out          string
	keep         bool
	s3           [3]string // endpoint, access key, secret key
	s3PID        int       // the S3 server's process, to measure its CPU (0: not measured)
	migrateExtra []string
}

func main() {
	log.SetFlags(log.Ltime)
	opts, err := parseFlags(os.Args[1:])
	if err != nil {
		log.Fatal(err)
	}
	if err := run(context.Background(), opts, os.Stdout); err != nil {
		log.Fatal(err)
	}
}

func parseFlags(args []string) (options, error) {
	var o options
	host, _ := os.Hostname()
	fs := flag.NewFlagSet("migratebench", flag.ContinueOnError)
	fs.IntVar(&o.files, "files", 10_000, "files in the data set")
	total := fs.String("total", "1GiB", "bytes in the data set (a number of bytes or e.g. 5MiB, 1GiB)")
	fs.StringVar(&o.ezdfsd, "ezdfsd", "ezdfsd", "ezdfsd binary")
	fs.StringVar(&o.aws, "aws", "aws", `aws CLI to time "aws s3 sync" with ("" or not installed: skipped)`)
	fs.StringVar(&o.dsn, "dsn", os.Getenv("TEST_MYSQL_DSN"), "MariaDB DSN (with CREATE DATABASE rights)")
	fs.StringVar(&o.dbName, "db", "migratebench", "database created (dropped first) on the -dsn server")
	fs.StringVar(&o.dir, "dir", filepath.Join(os.TempDir(), "migratebench"), "mount point directory (written once, reused while -files and -total are unchanged)")
	conc := fs.String("concurrency", "1,4,16", "ezdfsd migrate --concurrency values; the no-change re-run uses the last")
	fs.StringVar(&o.out, "out", fmt.Sprintf("benchmarks/results/%s-%s-migrate.jsonl", time.Now().UTC().Format("2006-01-02"), host),
		"results file (a JSON line appended; the Markdown table goes to the same name ending in .md)")
	fs.BoolVar(&o.keep, "keep", false, "keep the database and the buckets afterwards")
	fs.StringVar(&o.s3[0], "s3-endpoint", os.Getenv("TEST_S3_ENDPOINT"), "S3 endpoint (versitygw)")
	fs.StringVar(&o.s3[1], "s3-access-key", os.Getenv("TEST_S3_ACCESS_KEY"), "S3 access key id")
	fs.StringVar(&o.s3[2], "s3-secret-key", os.Getenv("TEST_S3_SECRET_KEY"), "S3 secret access key")
	fs.IntVar(&o.s3PID, "s3-pid", 0, "process id of the S3 server (versitygw), to report its CPU time per run (0: not reported)")
	extra := fs.String("migrate-args", "", "extra arguments for every ezdfsd migrate run, space-separated")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	t, err := humanize.ParseBytes(*total)
	if err != nil {
		return o, fmt.Errorf("-total: %w", err)
	}
	o.total = int64(t)
	for _, s := range strings.Split(*conc, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			return o, fmt.Errorf("-concurrency %q: want positive integers separated by commas", *conc)
		}
		o.concurrency = append(o.concurrency, n)
	}
	o.migrateExtra = strings.Fields(*extra)
	if o.dsn == "" || o.s3[0] == "" || o.s3[1] == "" || o.s3[2] == "" {
		return o, errors.New("need -dsn and -s3-endpoint, -s3-access-key, -s3-secret-key (or TEST_MYSQL_DSN and TEST_S3_*: source /work/svc/test-env.sh)")
	}
	return o, nil
}

// result is one measured run.
type result struct {
	Run         string  `json:"run"`
	Concurrency int     `json:"concurrency"`
	Rerun       bool    `json:"no_change_rerun,omitempty"`
	Seconds     float64 `json:"seconds"`
	Files       int     `json:"files"`
	Bytes       int64   `json:"bytes_copied"`
	MiBPerSec   float64 `json:"mib_per_second"`
	FilesPerSec float64 `json:"files_per_second"`
	XBaseline   float64 `json:"x_baseline,omitempty"`
	CPUSeconds  float64 `json:"cpu_seconds"`
	// ServerCPUSeconds is the S3 server's CPU time during the run (-s3-pid), 0 if not measured.
	ServerCPUSeconds float64  `json:"s3_server_cpu_seconds,omitempty"`
	PeakRSS          int64    `json:"peak_rss_bytes,omitempty"`
	Summary          *summary `json:"summary,omitempty"`
}

func measured(run string, conc int, wall time.Duration, files int, bytes int64) result {
	s := wall.Seconds()
	return result{Run: run, Concurrency: conc, Seconds: s, Files: files, Bytes: bytes,
		MiBPerSec: float64(bytes) / mib / s, FilesPerSec: float64(files) / s}
}

func run(ctx context.Context, o options, stdout io.Writer) error {
	files, counts, err := dataset(o.files, o.total)
	if err != nil {
		return err
	}
	for _, c := range counts {
		log.Printf("mix: %5d %-28s %9s (%s – %s)", c.Files, c.Label, humanize.IBytes(uint64(c.Bytes)),
			humanize.IBytes(uint64(c.Min)), humanize.IBytes(uint64(c.Max)))
	}
	start := time.Now()
	reused, err := writeFiles(o.dir, o.files, o.total, files)
	if err != nil {
		return err
	}
	log.Printf("files in %s: %s (reused: %v)", o.dir, time.Since(start).Round(time.Millisecond), reused)

	cfg, err := mysql.ParseDSN(o.dsn)
	if err != nil {
		return fmt.Errorf("-dsn: %w", err)
	}
	admin, err := sql.Open("mysql", o.dsn)
	if err != nil {
		return fmt.Errorf("-dsn: %w", err)
	}
	defer admin.Close()
	dbDSN, err := createDatabase(ctx, admin, func(db string) string { cfg.DBName = db; return cfg.FormatDSN() }, o.dbName, files)
	if err != nil {
		return err
	}
	if !o.keep {
		defer admin.ExecContext(ctx, "DROP DATABASE `"+o.dbName+"`")
	}

	b := &bench{opts: o, files: files, s3: newS3Target(o.s3[0], o.s3[1], o.s3[2]), dbDSN: dbDSN,
		prefix: fmt.Sprintf("migratebench-%d-%04x", time.Now().Unix(), rand.N(1<<16))}
	defer b.cleanup(ctx)
	load0 := loadAvg()
	results, err := b.all(ctx)
	if err != nil {
		return err
	}
	return report(stdout, o, counts, results, load0, loadAvg())
}

// bench holds what the runs share.
type bench struct {
	opts    options
	files   []file
	s3      *s3Target
	dbDSN   string
	prefix  string
	buckets []string // created and not deleted yet
}

func (b *bench) all(ctx context.Context) ([]result, error) {
	n, total := len(b.files), b.opts.total
	var results []result

	bucket, err := b.bucket(ctx, "baseline")
	if err != nil {
		return nil, err
	}
	log.Printf("baseline: sequential PutObject of %d files into %s", n, bucket)
	start, cpu, server := time.Now(), selfCPU(), b.serverCPU()
	if err := b.s3.putSequential(ctx, bucket, b.opts.dir, b.files); err != nil {
		return nil, err
	}
	base := measured("PutObject loop (Go SDK, sequential)", 1, time.Since(start), n, total)
	base.CPUSeconds = (selfCPU() - cpu).Seconds()
	base.ServerCPUSeconds = (b.serverCPU() - server).Seconds()
	if err := b.done(ctx, bucket, base, true); err != nil {
		return nil, err
	}
	results = append(results, base)

	if aws := b.awsCLI(); aws != "" {
		rs, err := b.awsSync(ctx, aws)
		if err != nil {
			return nil, err
		}
		results = append(results, rs...)
	} else if b.opts.aws != "" {
		log.Printf("aws CLI %q not found: aws s3 sync not timed", b.opts.aws)
	}

	for i, c := range b.opts.concurrency {
		bucket, err := b.bucket(ctx, fmt.Sprintf("c%d", c))
		if err != nil {
			return nil, err
		}
		r, err := b.migrate(ctx, bucket, c, fmt.Sprintf("ezdfsd migrate --concurrency %d", c))
		if err != nil {
			return nil, err
		}
		last := i == len(b.opts.concurrency)-1
		if err := b.done(ctx, bucket, r, !last); err != nil {
			return nil, err
		}
		results = append(results, r)
		if !last {
			continue
		}
		r, err = b.migrate(ctx, bucket, c, fmt.Sprintf("ezdfsd migrate --concurrency %d, no change", c))
		if err != nil {
			return nil, err
		}
		r.Rerun = true
		if r.Summary.FilesCopied != 0 || r.Summary.FilesSkipped != int64(n) {
			log.Printf("WARNING: the no-change re-run copied %d files and skipped %d of %d", r.Summary.FilesCopied, r.Summary.FilesSkipped, n)
		}
		if err := b.done(ctx, bucket, r, true); err != nil {
			return nil, err
		}
		results = append(results, r)
	}
	for i := range results {
		if !results[i].Rerun && i > 0 {
			results[i].XBaseline = base.Seconds / results[i].Seconds
		}
	}
	return results, nil
}

// serverCPU returns the S3 server's CPU time so far (user + system), 0 without -s3-pid or
// when its /proc entry cannot be read.
func (b *bench) serverCPU() time.Duration {
	if b.opts.s3PID <= 0 {
		return 0
	}
	s, err := procstat.CPUSeconds(b.opts.s3PID)
	if err != nil {
		return 0
	}
	return time.Duration(s * float64(time.Second))
}

// run is runCommand with the S3 server's CPU time meanwhile in the process's serverCPU.
func (b *bench) run(ctx context.Context, env []string, name string, args ...string) (process, error) {
	server := b.serverCPU()
	p, err := runCommand(ctx, env, name, args...)
	p.serverCPU = b.serverCPU() - server
	return p, err
}

// bucket creates a fresh bucket for run.
func (b *bench) bucket(ctx context.Context, run string) (string, error) {
	name := b.prefix + "-" + run
	if err := b.s3.createBucket(ctx, name); err != nil {
		return "", err
	}
	b.buckets = append(b.buckets, name)
	return name, nil
}

// done logs r, checks that bucket holds the whole data set and, with drop, deletes the bucket.
func (b *bench) done(ctx context.Context, bucket string, r result, drop bool) error {
	log.Printf("%s: %.2f s, %.1f MiB/s, %.0f files/s, %.2f s CPU", r.Run, r.Seconds, r.MiBPerSec, r.FilesPerSec, r.CPUSeconds)
	objects, bytes, err := b.s3.usage(ctx, bucket)
	if err != nil {
		return err
	}
	if objects != len(b.files) || bytes != b.opts.total {
		return fmt.Errorf("after %s bucket %s holds %d objects, %d bytes; want %d, %d", r.Run, bucket, objects, bytes, len(b.files), b.opts.total)
	}
	if !drop || b.opts.keep {
		return nil
	}
	if err := b.s3.deleteBucket(ctx, bucket); err != nil {
		return err
	}
	b.buckets = slices.DeleteFunc(b.buckets, func(s string) bool { return s == bucket })
	return nil
}

// cleanup deletes the buckets left (unless -keep).
func (b *bench) cleanup(ctx context.Context) {
	if b.opts.keep {
		if len(b.buckets) > 0 {
			log.Printf("kept buckets %s", strings.Join(b.buckets, " "))
		}
		return
	}
	for _, bucket := range b.buckets {
		if err := b.s3.deleteBucket(ctx, bucket); err != nil {
			log.Print(err)
		}
	}
}

// migrate runs `ezdfsd migrate` from the mount point into bucket. The secrets go through the
// environment, so they appear neither in ps nor in error messages.
func (b *bench) migrate(ctx context.Context, bucket string, conc int, label string) (result, error) {
	args := []string{"migrate", "--metadata=mysql", "--mount-point=" + b.opts.dir,
		"--s3-bucket=" + bucket, "--s3-endpoint=" + b.s3.endpoint, "--s3-path-style=true",
		"--s3-access-key-id=" + b.s3.accessKey,
		"--path-backend=var/=" + dfs.S3Backend, "--from=mount",
		"--concurrency=" + strconv.Itoa(conc), "--json", "--progress=never", "--log-level=warn"}
	args = append(args, b.opts.migrateExtra...)
	env := []string{"EZDFSD_MYSQL_DSN=" + b.dbDSN, "EZDFSD_S3_SECRET_ACCESS_KEY=" + b.s3.secretKey}
	log.Printf("%s into %s", label, bucket)
	p, err := b.run(ctx, env, b.opts.ezdfsd, args...)
	if err != nil {
		return result{}, err
	}
	s, err := parseSummary(p.stdout)
	if err != nil {
		return result{}, fmt.Errorf("%s: %w\n%s", label, err, tail(string(p.stderr)))
	}
	if s.FilesFailed > 0 {
		return result{}, fmt.Errorf("%s: %d files failed\n%s", label, s.FilesFailed, tail(string(p.stderr)))
	}
	r := measured(label, conc, p.wall, len(b.files), s.BytesCopied)
	r.PeakRSS, r.CPUSeconds, r.ServerCPUSeconds, r.Summary = p.peakRSS, p.cpu.Seconds(), p.serverCPU.Seconds(), &s
	return r, nil
}

// awsCLI returns the path of the aws CLI, or "" when there is none.
func (b *bench) awsCLI() string {
	if b.opts.aws == "" {
		return ""
	}
	p, err := exec.LookPath(b.opts.aws)
	if err != nil {
		return ""
	}
	return p
}

// awsSync times `aws s3 sync` of the mount point into a fresh bucket with the CLI's defaults
// (10 concurrent requests), then its no-change re-run.
func (b *bench) awsSync(ctx context.Context, aws string) ([]result, error) {
	bucket, err := b.bucket(ctx, "aws")
	if err != nil {
		return nil, err
	}
	env := []string{"AWS_ACCESS_KEY_ID=" + b.s3.accessKey, "AWS_SECRET_ACCESS_KEY=" + b.s3.secretKey,
		"AWS_DEFAULT_REGION=us-east-1", "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null",
		"AWS_EC2_METADATA_DISABLED=true"}
	args := []string{"s3", "sync", b.opts.dir, "s3://" + bucket, "--endpoint-url", b.s3.endpoint, "--only-show-errors", "--no-progress"}
	var results []result
	for _, rerun := range []bool{false, true} {
		label := "aws s3 sync (CLI defaults)"
		if rerun {
			label = "aws s3 sync, no change"
		}
		log.Printf("%s into %s", label, bucket)
		p, err := b.run(ctx, env, aws, args...)
		if err != nil {
			return nil, err
		}
		bytes := b.opts.total
		if rerun {
			bytes = 0
		}
		r := measured(label, 10, p.wall, len(b.files), bytes)
		r.Rerun, r.PeakRSS, r.CPUSeconds, r.ServerCPUSeconds = rerun, p.peakRSS, p.cpu.Seconds(), p.serverCPU.Seconds()
		if err := b.done(ctx, bucket, r, rerun); err != nil {
			return nil, err
		}
		results = append(results, r)
	}
	return results, nil
}

// loadAvg returns the 1-minute load average, or "?".
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	return strings.Fields(string(b))[0]
}

// report prints the table and appends the results to o.out (JSON) and its .md sibling.
func report(w io.Writer, o options, counts []classCount, results []result, load0, load1 string) error {
	host, _ := os.Hostname()
	now := time.Now().UTC()
	var md strings.Builder
	fmt.Fprintf(&md, "\n## migratebench %s on %s: %d files, %s; load average %s → %s\n\n",
		now.Format(time.RFC3339), host, o.files, humanize.IBytes(uint64(o.total)), load0, load1)
	if o.s3PID > 0 {
		fmt.Fprintf(&md, "S3 server: %s (CPU time of process %d in the last column)\n\n", o.s3[0], o.s3PID)
	}
	md.WriteString("| run | concurrency | seconds | MiB/s | files/s | × baseline | CPU s | copied | skipped | peak RSS | S3 server CPU s |\n")
	md.WriteString("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n")
	for _, r := range results {
		mibs, x, copied, skipped, rss, server := "–", "–", "–", "–", "–", "–"
		if r.ServerCPUSeconds > 0 {
			server = fmt.Sprintf("%.2f", r.ServerCPUSeconds)
		}
		if !r.Rerun {
			mibs = fmt.Sprintf("%.1f", r.MiBPerSec)
		}
		if r.XBaseline > 0 {
			x = fmt.Sprintf("%.2f×", r.XBaseline)
		}
		if r.Summary != nil {
			copied, skipped = strconv.FormatInt(r.Summary.FilesCopied, 10), strconv.FormatInt(r.Summary.FilesSkipped, 10)
		}
		if r.PeakRSS > 0 {
			rss = humanize.IBytes(uint64(r.PeakRSS))
		}
		fmt.Fprintf(&md, "| %s | %d | %.2f | %s | %.0f | %s | %.2f | %s | %s | %s | %s |\n",
			r.Run, r.Concurrency, r.Seconds, mibs, r.FilesPerSec, x, r.CPUSeconds, copied, skipped, rss, server)
	}
	md.WriteString("\n")
	for _, v := range verdicts(o, results) {
		fmt.Fprintf(&md, "- %s\n", v)
	}
	fmt.Fprint(w, md.String())

	line, err := json.Marshal(map[string]any{
		"date": now.Format(time.RFC3339), "host": host, "files": o.files, "total_bytes": o.total,
		"mix": counts, "runs": results, "load_average_start": load0, "load_average_end": load1,
	})
	if err != nil {
		return fmt.Errorf("results: %w", err)
	}
	mdPath := strings.TrimSuffix(o.out, ".jsonl") + ".md"
	if err := appendFile(o.out, string(line)+"\n"); err != nil {
		return err
	}
	if err := appendFile(mdPath, md.String()); err != nil {
		return err
	}
	log.Printf("results appended to %s and %s", o.out, mdPath)
	return nil
}

// verdicts compares the results with issue 13's targets: at concurrency 16 at least 3× the
// sequential baseline, and a no-change re-run of 10,000 files in at most 15 s.
func verdicts(o options, results []result) []string {
	met := func(ok bool) string {
		if ok {
			return "met"
		}
		return "NOT met"
	}
	var v []string
	for _, r := range results {
		switch {
		case r.Summary != nil && !r.Rerun && r.Concurrency == 16:
			v = append(v, fmt.Sprintf("ezdfsd migrate at concurrency 16: %.2f× the sequential baseline (target ≥ 3×): %s", r.XBaseline, met(r.XBaseline >= 3)))
		case r.Summary != nil && r.Rerun:
			v = append(v, fmt.Sprintf("no-change re-run of %d files: %.2f s (target ≤ 15 s for 10,000 files): %s", r.Files, r.Seconds, met(r.Seconds <= 15)))
		}
	}
	if base := results[0]; base.ServerCPUSeconds > 0 {
		// The S3 server shares this machine's cores with the client: its own CPU time for the
		// baseline's uploads caps what any client can reach here.
		cores := runtime.NumCPU()
		floor := base.ServerCPUSeconds / float64(cores)
		v = append(v, fmt.Sprintf("bound on this machine: the S3 server alone spent %.2f CPU-s on the baseline's uploads; "+
			"sharing %d cores, no client can store the same objects in less than %.2f s, %.2f× the baseline, even using no CPU itself",
			base.ServerCPUSeconds, cores, floor, base.Seconds/floor))
	}
	if o.files != 10_000 || o.total != 1<<30 {
		v = append(v, "the targets are set for -files 10000 -total 1GiB; this run used another data set")
	}
	return v
}

func appendFile(path, s string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("results: %w", err)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("results: %w", err)
	}
	if _, err := f.WriteString(s); err != nil {
		f.Close()
		return fmt.Errorf("results: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("results: %w", err)
	}
	return nil
}
