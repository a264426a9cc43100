package main

import (
	"context"
	"crypto/md5"
	"database/sql"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/ezdfsd/ezdfsd/dfs"
	"github.com/ezdfsd/ezdfsd/metadata"
	"github.com/ezdfsd/ezdfsd/metadata/sqlstore"
)

// file is one cluster file of the data set: its ezdfsfile row and the size of its bytes on
// the mount point.
type file struct {
	name, datatype, scope string
	size, mtime           int64
}

// class is one kind of cluster file in the mix: its share of the files, its size range
// (log-uniform, before the whole set is scaled to the requested total) and how it is named.
type class struct {
	label            string
	share            float64 // fraction of the files; the last class takes the rest
	minSize, maxSize int64
	datatype, scope  string
	name             func(i int) string
}

const (
	kib = 1 << 10
	mib = 1 << 20
)

// imageAliases are the eZ image aliases the image names cycle through ("" is the original).
var imageAliases = []string{"", "_reference", "_small", "_medium", "_large", "_gallery"}

// mix is the data set's size mix, chosen to look like an eZ site's var/ directory: view cache
// files of a few KiB, many image aliases of 20–200 KiB, some 1–10 MiB originals (PDFs) and a
// few videos of 16–64 MiB. With 10,000 files the draws add up to about 1.1 GiB before scaling.
var mix = []class{
	{"view cache (var/site/cache)", 0.217, 1 * kib, 20 * kib, "text/html", "viewcache", func(i int) string {
		return fmt.Sprintf("var/site/cache/content/site/full/%d/%d/%d-1-eng-GB.cache", i%10, i/10%10, i)
	}},
	{"large originals (videos)", 0.0003, 16 * mib, 64 * mib, "video/mp4", "mediafile", func(i int) string {
		return fmt.Sprintf("var/site/storage/original/video/%s.mp4", hashName(i))
	}},
	{"originals (PDFs)", 0.01, 1 * mib, 10 * mib, "application/pdf", "binaryfile", func(i int) string {
		return fmt.Sprintf("var/site/storage/original/application/%s.pdf", hashName(i))
	}},
	{"image aliases", 1, 20 * kib, 200 * kib, "image/jpeg", "image", func(i int) string {
		return fmt.Sprintf("var/site/storage/images/media/images/g%03d/%d-1-eng-GB/photo-%d%s.jpg",
			i/100, i, i, imageAliases[i%len(imageAliases)])
	}},
}

// hashName is an eZ-like hashed file name for an original (eZ names them by an MD5).
func hashName(i int) string {
	return fmt.Sprintf("%x", md5.Sum([]byte(fmt.Sprint("original-", i))))
}

// seed makes the data set the same on every machine and every run.
const seed = 13

// classCount is one class's share of a generated data set, for the log and the results.
type classCount struct {
	Label string `json:"class"`
	Files int    `json:"files"`
	Bytes int64  `json:"bytes"`
	Min   int64  `json:"min_size"`
	Max   int64  `json:"max_size"`
}

// dataset returns n files whose sizes add up to exactly total bytes, following mix: the classes
// get round(share × n) files (the last class the rest), spread over the names in a seeded
// random order; sizes are drawn log-uniform in the class's range and then all scaled by one
// factor to reach total (one byte each at least; the largest file takes the rounding). The
// result depends only on n and total. It also returns the realised mix per class.
func dataset(n int, total int64) ([]file, []classCount, error) {
	if n < 1 || total < int64(n) {
		return nil, nil, fmt.Errorf("data set: %d files cannot hold %d bytes (at least one byte each)", n, total)
	}
	rng := rand.New(rand.NewPCG(seed, seed))
	classOf := make([]int, 0, n)
	for c, cl := range mix {
		k := n - len(classOf)
		if c < len(mix)-1 {
			k = min(int(math.Round(cl.share*float64(n))), k)
		}
		for range k {
			classOf = append(classOf, c)
		}
	}
	rng.Shuffle(n, func(i, j int) { classOf[i], classOf[j] = classOf[j], classOf[i] })

	files := make([]file, n)
	var drawn float64
	raw := make([]float64, n)
	for i, c := range classOf {
		cl := mix[c]
		lo, hi := math.Log(float64(cl.minSize)), math.Log(float64(cl.maxSize))
		raw[i] = math.Exp(lo + rng.Float64()*(hi-lo))
		drawn += raw[i]
		files[i] = file{name: cl.name(i), datatype: cl.datatype, scope: cl.scope, mtime: 1_700_000_000 + int64(i)}
	}
	// Every file gets one byte plus its share of the rest, rounded down; the largest file takes
	// what the rounding left (less than n bytes).
	factor := float64(total-int64(n)) / drawn
	var sum int64
	largest := 0
	for i := range files {
		files[i].size = 1 + int64(raw[i]*factor)
		sum += files[i].size
		if files[i].size > files[largest].size {
			largest = i
		}
	}
	files[largest].size += total - sum

	counts := make([]classCount, len(mix))
	for c, cl := range mix {
		counts[c].Label = cl.label
	}
	for i, c := range classOf {
		cc := &counts[c]
		s := files[i].size
		if cc.Files == 0 || s < cc.Min {
			cc.Min = s
		}
		cc.Max = max(cc.Max, s)
		cc.Files++
		cc.Bytes += s
	}
	counts = slices.DeleteFunc(counts, func(cc classCount) bool { return cc.Files == 0 })
	return files, counts, nil
}

// writeFiles makes dir hold exactly files, with pseudo-random (incompressible) bytes seeded by
// each file's index. A marker file beside dir records the data set it holds, so an unchanged
// data set is written once and reused; a different one replaces dir's contents.
func writeFiles(dir string, n int, total int64, files []file) (reused bool, err error) {
	dir = filepath.Clean(dir)
	marker := dir + ".dataset"
	want := fmt.Sprintf("migratebench data set v1: %d files, %d bytes\n", n, total)
	if got, err := os.ReadFile(marker); err == nil && string(got) == want {
		return true, nil
	}
	if err := os.Remove(marker); err != nil && !os.IsNotExist(err) {
		return false, fmt.Errorf("remove %s: %w", marker, err)
	}
	if err := os.RemoveAll(dir); err != nil {
		return false, fmt.Errorf("empty %s: %w", dir, err)
	}
	for i, f := range files {
		if err := writeFile(filepath.Join(dir, f.name), f.size, uint64(i)); err != nil {
			return false, err
		}
	}
	if err := os.WriteFile(marker, []byte(want), 0o644); err != nil {
		return false, fmt.Errorf("write %s: %w", marker, err)
	}
	return false, nil
}

func writeFile(path string, size int64, i uint64) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("data set: %w", err)
	}
	var key [32]byte
	binary.LittleEndian.PutUint64(key[:], i)
	binary.LittleEndian.PutUint64(key[8:], seed)
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("data set: %w", err)
	}
	if _, err := io.CopyN(f, rand.NewChaCha8(key), size); err != nil {
		f.Close()
		return fmt.Errorf("data set: write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("data set: write %s: %w", path, err)
	}
	return nil
}

// createDatabase (re)creates database name on the server of admin with the eZ cluster tables
// (ezdfsfile and ezdfsfile_cache) and inserts one row per file into the table eZ keeps it in
// (cache files in ezdfsfile_cache). It returns the database's DSN.
func createDatabase(ctx context.Context, admin *sql.DB, dsn func(db string) string, name string, files []file) (string, error) {
	if _, err := admin.ExecContext(ctx, "DROP DATABASE IF EXISTS `"+name+"`"); err != nil {
		return "", fmt.Errorf("drop database %s: %w", name, err)
	}
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE `"+name+"` CHARACTER SET utf8mb4"); err != nil {
		return "", fmt.Errorf("create database %s: %w", name, err)
	}
	dbDSN := dsn(name)
	tables := dfs.DefaultTables()
	store, err := sqlstore.OpenMySQL(ctx, dbDSN, sqlstore.Config{Tables: tables.Names()}, nil)
	if err != nil {
		return "", fmt.Errorf("open %s: %w", name, err)
	}
	err = store.CreateSchema(ctx)
	store.Close()
	if err != nil {
		return "", fmt.Errorf("create the cluster tables in %s: %w", name, err)
	}
	db, err := sql.Open("mysql", dbDSN)
	if err != nil {
		return "", fmt.Errorf("open %s: %w", name, err)
	}
	defer db.Close()
	byTable := map[string][]file{}
	for _, f := range files {
		t := tables.For(f.name)
		byTable[t] = append(byTable[t], f)
	}
	for table, files := range byTable {
		if err := insertRows(ctx, db, table, files); err != nil {
			return "", fmt.Errorf("insert rows into %s.%s: %w", name, table, err)
		}
	}
	return dbDSN, nil
}

// insertRows inserts one live row per file into table, 1,000 rows per INSERT.
func insertRows(ctx context.Context, db *sql.DB, table string, files []file) error {
	const chunk = 1000
	for i := 0; i < len(files); i += chunk {
		var q strings.Builder
		q.WriteString("INSERT INTO `" + table + "` (name, name_trunk, name_hash, datatype, scope, size, mtime, expired) VALUES ")
		var args []any
		for j, f := range files[i:min(i+chunk, len(files))] {
			if j > 0 {
				q.WriteString(", ")
			}
			q.WriteString("(?, ?, ?, ?, ?, ?, ?, 0)")
			args = append(args, f.name, sqlstore.NameTrunk(f.name, f.scope), metadata.NameHash(f.name), f.datatype, f.scope, f.size, f.mtime)
		}
		if _, err := db.ExecContext(ctx, q.String(), args...); err != nil {
			return err
		}
	}
	return nil
}
