package main

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/go-sql-driver/mysql"

	"github.com/ezdfsd/ezdfsd/metadata"
	"github.com/ezdfsd/ezdfsd/metadata/sqlstore"
)

// genParams decides the data set; the same params give the same files (same seed), so a second
// run reuses the files already on disk.
type genParams struct {
	Files      int   `json:"files"`
	MinSize    int64 `json:"min_size"`
	MaxSize    int64 `json:"max_size"`
	LargeCount int   `json:"large_count"`
	LargeSize  int64 `json:"large_size"`
	StormFiles int   `json:"storm_files"`
	Seed       uint64
}

type genFile struct {
	name     string
	datatype string
	size     int64
}

const (
	site    = "bench"
	genTime = 1735689600 // mtime of every row: 2025-01-01T00:00:00Z
)

func (p genParams) files() (hot, large, storm []genFile) {
	rng := rand.New(rand.NewPCG(p.Seed, 0x6564667364))
	lo, hi := math.Log(float64(p.MinSize)), math.Log(float64(p.MaxSize))
	aliases := []string{"large", "medium", "small", "reference", "original"}
	for i := range p.Files {
		size := int64(math.Exp(lo + rng.Float64()*(hi-lo))) // log-uniform in [min, max)
		name := fmt.Sprintf("var/%s/storage/images/media/images/g%03d/%d-1-eng-GB/photo-%d_%s.jpg",
			site, i/100, 1000+i, i, aliases[i%len(aliases)])
		hot = append(hot, genFile{name: name, datatype: "image/jpeg", size: size})
	}
	for i := range p.LargeCount {
		large = append(large, genFile{
			name:     fmt.Sprintf("var/%s/storage/images/media/video/%d-1-eng-GB/video-%d_original.mp4", site, 900000+i, i),
			datatype: "video/mp4", size: p.LargeSize,
		})
	}
	for i := range p.StormFiles {
		storm = append(storm, genFile{
			name:     fmt.Sprintf("var/%s/storage/images/storm/%d-1-eng-GB/storm-%d_large.png", site, 800000+i, i),
			datatype: "image/png", size: 20 << 10,
		})
	}
	return hot, large, storm
}

func cmdGen(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("gen", flag.ContinueOnError)
	var p genParams
	fs.IntVar(&p.Files, "files", 10000, "image-sized files")
	fs.Int64Var(&p.MinSize, "min-size", 5<<10, "smallest file (bytes)")
	fs.Int64Var(&p.MaxSize, "max-size", 500<<10, "largest file (bytes)")
	fs.IntVar(&p.LargeCount, "large-count", 2, "large files")
	fs.Int64Var(&p.LargeSize, "large-size", 1<<30, "large file size (bytes)")
	fs.IntVar(&p.StormFiles, "storm-files", 16, "files reserved for miss storms (one per storm run)")
	fs.Uint64Var(&p.Seed, "seed", 1, "data set seed")
	dir := fs.String("dir", "", "mount point directory to fill")
	s3root := fs.String("s3-root", "", "versitygw posix root (bucket = top-level directory)")
	bucket := fs.String("bucket", "ezdfsd-bench", "bucket")
	endpoint := fs.String("s3-endpoint", "", "S3 endpoint, to create the bucket")
	ak := fs.String("s3-access-key", "", "S3 access key")
	sk := fs.String("s3-secret-key", "", "S3 secret key")
	dsn := fs.String("dsn", "", "MySQL DSN of the server (any database)")
	db := fs.String("db", "ezdfsd_bench", "database to (re)create")
	lists := fs.String("lists", "", "directory for names.txt, large.txt, storm.txt")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dir == "" || *dsn == "" || *lists == "" {
		return errors.New("-dir, -dsn and -lists are required")
	}
	hot, large, storm := p.files()
	all := append(append(append([]genFile{}, hot...), large...), storm...)

	t0 := time.Now()
	stamp := filepath.Join(*dir, ".bench-stamp")
	want, _ := json.Marshal(p)
	if got, err := os.ReadFile(stamp); err == nil && string(got) == string(want) {
		fmt.Fprintf(os.Stderr, "gen: %d files already in %s\n", len(all), *dir)
	} else {
		_ = os.Remove(stamp)
		var total int64
		for i, f := range all {
			if err := writeFile(filepath.Join(*dir, f.name), f.size, p.Seed+uint64(i)); err != nil {
				return err
			}
			total += f.size
		}
		if err := os.WriteFile(stamp, want, 0o644); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "gen: wrote %d files, %.1f MiB, in %s\n", len(all), float64(total)/(1<<20), time.Since(t0).Round(time.Millisecond))
	}

	if *s3root != "" {
		t1 := time.Now()
		if err := createBucket(ctx, *endpoint, *ak, *sk, *bucket); err != nil {
			return err
		}
		linked := 0
		for _, f := range all {
			dst := filepath.Join(*s3root, *bucket, f.name)
			if _, err := os.Stat(dst); err == nil {
				continue
			}
			if err := linkOrCopy(filepath.Join(*dir, f.name), dst); err != nil {
				return err
			}
			linked++
		}
		fmt.Fprintf(os.Stderr, "gen: %d objects placed in bucket %s (hard links into the versitygw posix root) in %s\n",
			linked, *bucket, time.Since(t1).Round(time.Millisecond))
	}

	t2 := time.Now()
	if err := loadRows(ctx, *dsn, *db, all); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "gen: %d rows loaded into %s.ezdfsfile with multi-row INSERTs in %s\n", len(all), *db, time.Since(t2).Round(time.Millisecond))

	if err := os.MkdirAll(*lists, 0o755); err != nil {
		return err
	}
	for file, set := range map[string][]genFile{"names.txt": hot, "large.txt": large, "storm.txt": storm} {
		if err := writeNames(filepath.Join(*lists, file), set); err != nil {
			return err
		}
	}
	return nil
}

func writeNames(path string, files []genFile) error {
	var b strings.Builder
	for _, f := range files {
		b.WriteString(f.name)
		b.WriteByte('\n')
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

// writeFile writes size pseudo-random bytes (incompressible, like JPEG data).
func writeFile(path string, size int64, seed uint64) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	var key [32]byte
	key[0], key[1] = byte(seed), byte(seed>>8)
	w := bufio.NewWriterSize(f, 1<<20)
	if _, err := io.CopyN(w, rand.NewChaCha8(key), size); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	return f.Close()
}

func linkOrCopy(src, dst string) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	if err := os.Link(src, dst); err == nil {
		return nil
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

func createBucket(ctx context.Context, endpoint, ak, sk, bucket string) error {
	if endpoint == "" {
		return errors.New("-s3-endpoint is required with -s3-root")
	}
	c := newS3Client(endpoint, ak, sk, 4)
	_, err := c.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: aws.String(bucket)})
	if err != nil && !strings.Contains(err.Error(), "BucketAlreadyOwnedByYou") && !strings.Contains(err.Error(), "BucketAlreadyExists") {
		return fmt.Errorf("create bucket %s: %w", bucket, err)
	}
	return nil
}

// loadRows (re)creates db with the ezdfsfile tables and inserts one row per file, 1,000 rows per
// INSERT statement.
func loadRows(ctx context.Context, dsn, dbName string, files []genFile) error {
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return fmt.Errorf("dsn: %w", err)
	}
	cfg.DBName = ""
	cfg.MultiStatements = true
	admin, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		return err
	}
	defer admin.Close()
	if _, err := admin.ExecContext(ctx, "DROP DATABASE IF EXISTS `"+dbName+"`; CREATE DATABASE `"+dbName+"` CHARACTER SET utf8mb4"); err != nil {
		return fmt.Errorf("create database: %w", err)
	}
	cfg.DBName = dbName
	db, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		return err
	}
	defer db.Close()
	for _, schema := range []string{sqlstore.MySQLSchema("ezdfsfile", false), sqlstore.MySQLSchema("ezdfsfile_cache", true)} {
		if _, err := db.ExecContext(ctx, schema); err != nil {
			return fmt.Errorf("schema: %w", err)
		}
	}
	const batch = 1000
	for i := 0; i < len(files); i += batch {
		chunk := files[i:min(i+batch, len(files))]
		var q strings.Builder
		q.WriteString("INSERT INTO ezdfsfile (name, name_trunk, name_hash, datatype, scope, size, mtime, expired, status) VALUES ")
		vals := make([]any, 0, 7*len(chunk))
		for j, f := range chunk {
			if j > 0 {
				q.WriteByte(',')
			}
			q.WriteString("(?,?,?,?,'image',?,?,0,0)")
			vals = append(vals, f.name, sqlstore.NameTrunk(f.name, "image"), metadata.NameHash(f.name), f.datatype, f.size, genTime)
		}
		if _, err := db.ExecContext(ctx, q.String(), vals...); err != nil {
			return fmt.Errorf("insert rows: %w", err)
		}
	}
	return nil
}
