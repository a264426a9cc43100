package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/ezdfsd/ezdfsd/internal/testenv"
)

// fakeEnv makes the test binary act as `ezdfsd migrate` (see fakeMigrate).
const fakeEnv = "MIGRATEBENCH_FAKE_EZDFSD"

// fakeLoseEnv makes the fake migrate leave out one file while reporting success.
const fakeLoseEnv = "MIGRATEBENCH_FAKE_LOSE"

func TestMain(m *testing.M) {
	if os.Getenv(fakeEnv) == "1" {
		if err := fakeMigrate(context.Background(), os.Args[1:]); err != nil {
			fmt.Fprintln(os.Stderr, "fake ezdfsd:", err)
			os.Exit(2)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestDatasetDefaultMix(t *testing.T) {
	files, counts, err := dataset(10_000, 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	var sum int64
	names := map[string]bool{}
	for _, f := range files {
		if f.size < 1 {
			t.Fatalf("%s: size %d", f.name, f.size)
		}
		if names[f.name] {
			t.Fatalf("name %s twice", f.name)
		}
		names[f.name] = true
		sum += f.size
	}
	if len(files) != 10_000 || sum != 1<<30 {
		t.Fatalf("%d files, %d bytes; want 10000 files, 1 GiB exactly", len(files), sum)
	}
	// The documented mix (benchmarks/README.md): the counts per class, and the sizes within the
	// class's range after the one scaling factor (~0.93 for this data set).
	want := map[string]struct {
		files    int
		min, max int64
	}{
		"view cache (var/site/cache)": {2170, 900, 20 * kib},
		"large originals (videos)":    {3, 14 * mib, 64 * mib},
		"originals (PDFs)":            {100, 900 * kib, 10 * mib},
		"image aliases":               {7727, 18 * kib, 200 * kib},
	}
	for _, c := range counts {
		w, ok := want[c.Label]
		if !ok || c.Files != w.files || c.Min < w.min || c.Max > w.max {
			t.Errorf("class %+v; want %+v", c, w)
		}
	}
	if len(counts) != len(want) {
		t.Errorf("%d classes; want %d", len(counts), len(want))
	}
	again, _, _ := dataset(10_000, 1<<30)
	if !slices.Equal(files, again) {
		t.Error("two data sets of the same size differ: not deterministic")
	}
}

func TestDatasetSizes(t *testing.T) {
	for _, tc := range []struct {
		n     int
		total int64
		ok    bool
	}{{50, 5 * mib, true}, {1, 1, true}, {3, 2, false}, {0, 1, false}, {7, 7, true}} {
		files, _, err := dataset(tc.n, tc.total)
		if (err == nil) != tc.ok {
			t.Errorf("dataset(%d, %d): error %v, want ok %v", tc.n, tc.total, err, tc.ok)
			continue
		}
		var sum int64
		for _, f := range files {
			sum += f.size
			if f.size < 1 {
				t.Errorf("dataset(%d, %d): %s has %d bytes", tc.n, tc.total, f.name, f.size)
			}
		}
		if tc.ok && (len(files) != tc.n || sum != tc.total) {
			t.Errorf("dataset(%d, %d): %d files, %d bytes", tc.n, tc.total, len(files), sum)
		}
	}
}

func TestWriteFilesReusesTheSameDataSet(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "mnt")
	files, _, _ := dataset(20, 300*kib)
	if reused, err := writeFiles(dir, 20, 300*kib, files); err != nil || reused {
		t.Fatalf("first write: reused %v, %v", reused, err)
	}
	first, err := os.ReadFile(filepath.Join(dir, files[3].name))
	if err != nil || int64(len(first)) != files[3].size {
		t.Fatalf("%s: %d bytes, %v; want %d", files[3].name, len(first), err, files[3].size)
	}
	if reused, err := writeFiles(dir, 20, 300*kib, files); err != nil || !reused {
		t.Fatalf("same data set again: reused %v, %v; want reused", reused, err)
	}

	smaller, _, _ := dataset(10, 100*kib)
	if reused, err := writeFiles(dir, 10, 100*kib, smaller); err != nil || reused {
		t.Fatalf("other data set: reused %v, %v; want written", reused, err)
	}
	var n int
	var sum int64
	filepath.WalkDir(dir, func(_ string, d os.DirEntry, _ error) error {
		if d.Type().IsRegular() {
			info, _ := d.Info()
			n, sum = n+1, sum+info.Size()
		}
		return nil
	})
	if n != 10 || sum != 100*kib {
		t.Errorf("after a smaller data set the directory holds %d files, %d bytes; want 10, %d", n, sum, 100*kib)
	}
	again, _ := os.ReadFile(filepath.Join(dir, smaller[3].name))
	os.RemoveAll(dir)
	os.Remove(dir + ".dataset")
	writeFiles(dir, 10, 100*kib, smaller)
	if b, _ := os.ReadFile(filepath.Join(dir, smaller[3].name)); !bytes.Equal(b, again) {
		t.Error("the bytes of a file differ between two writes: not deterministic")
	}
}

func TestParseSummary(t *testing.T) {
	for _, tc := range []struct {
		name, out string
		want      summary
		err       string
	}{
		{"logs then summary", "copying...\n{\"note\":1}\n" +
			`{"files_copied":3,"bytes_copied":30,"files_skipped":1,"files_failed":0,"seconds":0.5,"extra":"x"}` + "\n",
			summary{FilesCopied: 3, BytesCopied: 30, FilesSkipped: 1, Seconds: 0.5}, ""},
		{"missing keys", `{"files_copied":3,"bytes_copied":30,"seconds":1}`, summary{}, "lacks files_skipped, files_failed"},
		{"no JSON", "done\n", summary{}, "no JSON summary"},
		{"bad JSON", `{"files_copied":`, summary{}, "unexpected end"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseSummary([]byte(tc.out))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v; want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

// TestRunAgainstFakeMigrate runs the whole benchmark on 30 files against the real MariaDB and
// versitygw with the test binary as a contract-following `ezdfsd migrate`: a migrate that loses
// a file must fail the benchmark; otherwise every run must fill its bucket, the no-change re-run
// must find everything skipped and the results must be written. Either way the database and the
// buckets must be gone afterwards.
func TestRunAgainstFakeMigrate(t *testing.T) {
	dsn := testenv.MySQLDSN(t)
	s3 := testenv.S3Server(t)
	t.Setenv(fakeEnv, "1")
	tmp := t.TempDir()
	o := options{files: 30, total: 2 * mib, ezdfsd: os.Args[0], dsn: dsn, dbName: "migratebench_test_" + testenv.RandomSuffix(),
		dir: filepath.Join(tmp, "mnt"), concurrency: []int{1, 4}, out: filepath.Join(tmp, "out.jsonl"),
		s3: [3]string{s3.Endpoint, s3.AccessKey, s3.SecretKey}}
	defer noLeftovers(t, dsn, o.dbName, s3)

	// A migrate that loses a file is caught by the bucket check after the copy.
	t.Setenv(fakeLoseEnv, "1")
	err := run(context.Background(), o, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "holds 29 objects") {
		t.Fatalf("a migrate that loses a file: error %v; want one about the bucket holding 29 objects", err)
	}
	t.Setenv(fakeLoseEnv, "")

	var stdout bytes.Buffer
	if err := run(context.Background(), o, &stdout); err != nil {
		t.Fatal(err)
	}

	line, err := os.ReadFile(o.out)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Runs []result `json:"runs"`
	}
	if err := json.Unmarshal(line, &got); err != nil {
		t.Fatalf("%s: %v", line, err)
	}
	var runs []string
	for _, r := range got.Runs {
		runs = append(runs, r.Run)
	}
	want := []string{"PutObject loop (Go SDK, sequential)", "ezdfsd migrate --concurrency 1",
		"ezdfsd migrate --concurrency 4", "ezdfsd migrate --concurrency 4, no change"}
	if !slices.Equal(runs, want) {
		t.Fatalf("runs %q; want %q", runs, want)
	}
	for _, r := range got.Runs[1:3] {
		if r.Summary.FilesCopied != 30 || r.Bytes != 2*mib || r.XBaseline <= 0 || r.CPUSeconds <= 0 {
			t.Errorf("%s: %+v %+v; want 30 files, 2 MiB copied, a ratio to the baseline and CPU time", r.Run, r, r.Summary)
		}
	}
	if rerun := got.Runs[3]; !rerun.Rerun || rerun.Summary.FilesSkipped != 30 || rerun.Summary.FilesCopied != 0 {
		t.Errorf("no-change re-run %+v %+v; want 30 skipped, 0 copied", rerun, rerun.Summary)
	}
	md, err := os.ReadFile(filepath.Join(tmp, "out.md"))
	if err != nil || !strings.Contains(string(md), "| ezdfsd migrate --concurrency 4, no change | 4 |") {
		t.Errorf("Markdown results %q, %v", md, err)
	}
	if !bytes.Equal(md, stdout.Bytes()) {
		t.Errorf("stdout %q differs from the Markdown appended", stdout.String())
	}
}

// noLeftovers fails t if a migratebench bucket or database dbName is left on the servers.
func noLeftovers(t *testing.T, dsn, dbName string, s3 testenv.S3) {
	target := newS3Target(s3.Endpoint, s3.AccessKey, s3.SecretKey)
	buckets, err := target.client.ListBuckets(context.Background(), &awss3.ListBucketsInput{})
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range buckets.Buckets {
		if strings.HasPrefix(aws.ToString(b.Name), "migratebench-") {
			t.Errorf("bucket %s left behind", aws.ToString(b.Name))
		}
	}
	admin, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	var n int
	if err := admin.QueryRow("SELECT COUNT(*) FROM information_schema.schemata WHERE schema_name = ?", dbName).Scan(&n); err != nil || n != 0 {
		t.Errorf("database %s left behind (%d, %v)", dbName, n, err)
	}
}

// fakeMigrate follows the `ezdfsd migrate` contract the benchmark relies on: it refuses
// arguments it does not expect, copies every row's file (ezdfsfile and ezdfsfile_cache) from the mount point to the
// bucket unless an object of the same size is there, and prints the JSON summary.
func fakeMigrate(ctx context.Context, args []string) error {
	if len(args) == 0 || args[0] != "migrate" {
		return fmt.Errorf("want migrate, got %q", args)
	}
	flags := map[string]string{}
	for _, a := range args[1:] {
		k, v, _ := strings.Cut(strings.TrimPrefix(a, "--"), "=")
		flags[k] = v
	}
	for k, v := range map[string]string{"metadata": "mysql", "path-backend": "var/=eZDFSFileHandlerDFSAmazon",
		"from": "mount", "json": "", "progress": "never", "s3-path-style": "true"} {
		if got, ok := flags[k]; !ok || got != v {
			return fmt.Errorf("--%s=%q, want %q", k, got, v)
		}
	}
	if n, err := strconv.Atoi(flags["concurrency"]); err != nil || n < 1 {
		return fmt.Errorf("--concurrency=%q", flags["concurrency"])
	}
	db, err := sql.Open("mysql", os.Getenv("EZDFSD_MYSQL_DSN"))
	if err != nil {
		return err
	}
	defer db.Close()
	rows, err := db.QueryContext(ctx, "SELECT name, size, datatype FROM ezdfsfile WHERE expired = 0 UNION ALL SELECT name, size, datatype FROM ezdfsfile_cache WHERE expired = 0")
	if err != nil {
		return err
	}
	var files []file
	for rows.Next() {
		var f file
		if err := rows.Scan(&f.name, &f.size, &f.datatype); err != nil {
			return err
		}
		files = append(files, f)
	}
	if err := rows.Close(); err != nil {
		return err
	}
	target := newS3Target(flags["s3-endpoint"], flags["s3-access-key-id"], os.Getenv("EZDFSD_S3_SECRET_ACCESS_KEY"))
	if os.Getenv(fakeLoseEnv) == "1" {
		files = files[1:]
	}
	var s summary
	for _, f := range files {
		head, err := target.client.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: aws.String(flags["s3-bucket"]), Key: aws.String(f.name)})
		if err == nil && aws.ToInt64(head.ContentLength) == f.size {
			s.FilesSkipped++
			continue
		}
		if err := target.put(ctx, flags["s3-bucket"], flags["mount-point"], f); err != nil {
			return err
		}
		s.FilesCopied++
		s.BytesCopied += f.size
	}
	out, _ := json.Marshal(s)
	fmt.Printf("migrating...\n%s\n", out)
	return nil
}

// TestVerdictsServerBound: with the S3 server's CPU time measured (-s3-pid), the verdicts say
// how fast any client could be on this machine at best: the server's CPU time for the
// baseline's uploads over the cores it shares; without it, nothing is claimed.
func TestVerdictsServerBound(t *testing.T) {
	o := options{files: 10_000, total: 1 << 30}
	base := result{Run: "PutObject loop (Go SDK, sequential)", Seconds: 20, ServerCPUSeconds: 16}
	floor := 16 / float64(runtime.NumCPU())
	want := fmt.Sprintf("no client can store the same objects in less than %.2f s, %.2f× the baseline", floor, 20/floor)
	if v := strings.Join(verdicts(o, []result{base}), "\n"); !strings.Contains(v, want) {
		t.Errorf("verdicts:\n%s\nwant a line with %q", v, want)
	}
	base.ServerCPUSeconds = 0
	if v := strings.Join(verdicts(o, []result{base}), "\n"); strings.Contains(v, "bound on this machine") {
		t.Errorf("a bound claimed without the server's CPU time:\n%s", v)
	}
}
