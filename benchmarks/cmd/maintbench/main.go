// Command maintbench measures `ezdfsd fsck` and `ezdfsd purge` at scale (issue 12): it fills a
// MariaDB database with -rows rows and their one-byte files on a mount point directory, runs
// fsck (wall time, peak RSS of the ezdfsd process), marks -purge rows deleted the way eZ does
// and runs purge (rows/s), and appends the figures to -out as one JSON line and a Markdown
// line. It is a benchmark, not a test: run it by hand, e.g.
//
//	go build -o /tmp/ezdfsd ./cmd/ezdfsd
//	go run ./benchmarks/cmd/maintbench -ezdfsd /tmp/ezdfsd -dsn "$TEST_MYSQL_DSN" -dir /tmp/maintbench
package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/ezdfsd/ezdfsd/dfs"
	"github.com/ezdfsd/ezdfsd/metadata"
	"github.com/ezdfsd/ezdfsd/metadata/sqlstore"
)

func main() {
	bin := flag.String("ezdfsd", "ezdfsd", "ezdfsd binary")
	dsn := flag.String("dsn", os.Getenv("TEST_MYSQL_DSN"), "MariaDB DSN (a database maintbench_<n> is created there)")
	dir := flag.String("dir", filepath.Join(os.TempDir(), "maintbench"), "mount point directory (filled once, reused)")
	rows := flag.Int("rows", 1_000_000, "rows and files")
	purgeRows := flag.Int("purge", 100_000, "rows purged")
	workers := flag.Int("workers", 0, "purge --workers (0: default)")
	out := flag.String("out", "benchmarks/results/maint.jsonl", "results file (appended)")
	keep := flag.Bool("keep", false, "keep the database afterwards")
	flag.Parse()
	ctx := context.Background()

	dbName := fmt.Sprintf("maintbench_%d", *rows)
	cfg, err := mysql.ParseDSN(*dsn)
	if err != nil {
		log.Fatalf("dsn: %v", err)
	}
	admin, err := sql.Open("mysql", *dsn)
	if err != nil {
		log.Fatal(err)
	}
	must(admin.Exec("DROP DATABASE IF EXISTS `" + dbName + "`"))
	must(admin.Exec("CREATE DATABASE `" + dbName + "` CHARACTER SET utf8mb4"))
	if !*keep {
		defer admin.Exec("DROP DATABASE `" + dbName + "`")
	}
	cfg.DBName = dbName
	dbDSN := cfg.FormatDSN()
	store, err := sqlstore.OpenMySQL(ctx, dbDSN, sqlstore.Config{Tables: dfs.DefaultTables().Names()}, nil)
	if err != nil {
		log.Fatal(err)
	}
	if err := store.CreateSchema(ctx); err != nil {
		log.Fatal(err)
	}
	store.Close()
	db, err := sql.Open("mysql", dbDSN)
	if err != nil {
		log.Fatal(err)
	}

	name := func(i int) string {
		return fmt.Sprintf("var/bench/storage/images/g%04d/%d-1-eng-GB/photo-%d.jpg", i/1000, i, i)
	}
	start := time.Now()
	marker := fmt.Sprintf("%s.%d.done", filepath.Clean(*dir), *rows)
	if _, err := os.Stat(marker); err != nil {
		for i := range *rows {
			p := filepath.Join(*dir, name(i))
			if i%1000 == 0 {
				if err := os.MkdirAll(filepath.Dir(filepath.Dir(p)), 0o755); err != nil {
					log.Fatal(err)
				}
			}
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				log.Fatal(err)
			}
			if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
				log.Fatal(err)
			}
		}
		must(nil, os.WriteFile(marker, nil, 0o644))
	}
	log.Printf("files ready in %s", time.Since(start).Round(time.Second))
	start = time.Now()
	const chunk = 2000
	for i := 0; i < *rows; i += chunk {
		var q strings.Builder
		q.WriteString("INSERT INTO ezdfsfile (name, name_trunk, name_hash, datatype, scope, size, mtime, expired) VALUES ")
		var args []any
		for j := i; j < min(i+chunk, *rows); j++ {
			if j > i {
				q.WriteString(", ")
			}
			q.WriteString("(?, ?, ?, 'image/jpeg', 'image', 1, 1700000000, 0)")
			n := name(j)
			args = append(args, n, n, metadata.NameHash(n))
		}
		must(db.Exec(q.String(), args...))
	}
	log.Printf("rows ready in %s", time.Since(start).Round(time.Second))

	settings := []string{"--metadata=mysql", "--mysql-dsn=" + dbDSN, "--mount-point=" + *dir, "--log-level=warn"}
	fsckWall, fsckRSS, fsckOut := runMeasured(*bin, append([]string{"fsck"}, settings...))
	log.Printf("fsck: %s, peak RSS %d MiB\n%s", fsckWall.Round(time.Millisecond), fsckRSS>>20, tail(fsckOut))

	// eZ's delete of -purge names, spread over the table.
	step := max(*rows / *purgeRows, 1)
	for i := 0; i < *rows && i/step < *purgeRows; i += step * chunk {
		var hashes []any
		for j := i; j < min(i+step*chunk, *rows); j += step {
			hashes = append(hashes, metadata.NameHash(name(j)))
		}
		must(db.Exec("UPDATE ezdfsfile SET mtime = -ABS(mtime), expired = 1 WHERE name_hash IN (?"+
			strings.Repeat(", ?", len(hashes)-1)+")", hashes...))
	}
	var expired int
	must(nil, db.QueryRow("SELECT COUNT(*) FROM ezdfsfile WHERE expired = 1").Scan(&expired))
	purgeArgs := append([]string{"purge"}, settings...)
	if *workers > 0 {
		purgeArgs = append(purgeArgs, fmt.Sprintf("--workers=%d", *workers))
	}
	purgeWall, purgeRSS, purgeOut := runMeasured(*bin, purgeArgs)
	rate := float64(expired) / purgeWall.Seconds()
	log.Printf("purge: %d rows in %s = %.0f rows/s, peak RSS %d MiB\n%s", expired, purgeWall.Round(time.Millisecond), rate, purgeRSS>>20, tail(purgeOut))
	var left int
	must(nil, db.QueryRow("SELECT COUNT(*) FROM ezdfsfile WHERE expired = 1").Scan(&left))
	// Put the purged files back, so the mount point is whole for the next run.
	for i := 0; i < *rows && i/step < *purgeRows; i += step {
		p := filepath.Join(*dir, name(i))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			log.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
			log.Fatal(err)
		}
	}

	host, _ := os.Hostname()
	res := map[string]any{
		"date": time.Now().UTC().Format(time.RFC3339), "host": host, "rows": *rows,
		"fsck_seconds": fsckWall.Seconds(), "fsck_peak_rss_bytes": fsckRSS,
		"purge_rows": expired, "purge_seconds": purgeWall.Seconds(), "purge_rows_per_second": rate,
		"purge_peak_rss_bytes": purgeRSS, "purge_left_expired": left, "purge_workers": *workers,
	}
	line, _ := json.Marshal(res)
	f, err := os.OpenFile(*out, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	fmt.Fprintf(f, "%s\n", line)
	fmt.Printf("%s\n", line)
}

// runMeasured runs bin with args and returns its wall time, peak RSS and output.
func runMeasured(bin string, args []string) (time.Duration, int64, string) {
	var out bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	wall := time.Since(start)
	if err != nil {
		if _, ok := err.(*exec.ExitError); !ok || cmd.ProcessState.ExitCode() == 2 {
			log.Fatalf("%s %s: %v\n%s", bin, args[0], err, tail(out.String()))
		}
	}
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	return wall, ru.Maxrss * 1024, out.String()
}

func tail(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-8):], "\n")
}

func must(_ any, err error) {
	if err != nil {
		log.Fatal(err)
	}
}
