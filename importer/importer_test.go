package importer_test

import (
	"bytes"
	"context"
	"image"
	"image/png"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ezdfsd/ezdfsd/dfs"
	"github.com/ezdfsd/ezdfsd/importer"
	"github.com/ezdfsd/ezdfsd/metadata"
	"github.com/ezdfsd/ezdfsd/metadata/sqlstore"
	"github.com/ezdfsd/ezdfsd/storage/mountpoint"
)

func writeFile(t *testing.T, root, name string, data []byte, mtime time.Time) {
	t.Helper()
	p := filepath.Join(root, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(p, mtime, mtime); err != nil {
		t.Fatal(err)
	}
}

func pngBytes(t *testing.T) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, image.NewRGBA(image.Rect(0, 0, 4, 4))); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestImportRowsBytesAndIdempotence(t *testing.T) {
	ctx := context.Background()
	src, mnt := t.TempDir(), t.TempDir()
	mtime := time.Unix(1700000000, 0)
	files := map[string][]byte{
		"var/site/storage/images/a/1-1-eng-GB/pic.jpg":       pngBytes(t), // content wins over extension for images
		"var/site/cache/public/stylesheets/x.css":            []byte("body{}"),
		"var/site/storage/original/application/doc.pdf":      []byte("%PDF-1.4"),
		"var/site/storage/images/a/1-1-eng-GB/name it's.png": pngBytes(t),
		"var/site/cache/texttoimage/t.gif":                   []byte("GIF89a......"),
	}
	for name, data := range files {
		writeFile(t, src, name, data, mtime)
	}
	writeFile(t, src, "var/site/cache/content/x.generating", []byte("lock"), mtime)

	tables := dfs.DefaultTables()
	store, err := sqlstore.OpenSQLite(ctx, filepath.Join(t.TempDir(), "m.sqlite"), sqlstore.Config{Tables: tables.Names()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	mp, err := mountpoint.New(mnt)
	if err != nil {
		t.Fatal(err)
	}
	defer mp.Close()
	im := &importer.Importer{
		Rows:     store,
		Existing: store,
		Targets:  map[string]importer.Target{dfs.MountPointBackend: {Writer: mp, Backend: mp}},
		Tables:   tables,
	}
	rep, err := im.Run(ctx, src, "var")
	if err != nil {
		t.Fatal(err)
	}
	if rep.Imported != len(files) || rep.Skipped != 1 || rep.Failed != 0 || rep.Unchanged != 0 {
		t.Fatalf("first run: %s", rep)
	}
	want := map[string]struct{ table, datatype, scope string }{
		"var/site/storage/images/a/1-1-eng-GB/pic.jpg":       {"ezdfsfile", "image/png", "image"},
		"var/site/storage/images/a/1-1-eng-GB/name it's.png": {"ezdfsfile", "image/png", "image"},
		"var/site/cache/public/stylesheets/x.css":            {"ezdfsfile_cache", "text/css", "ezjscore"},
		"var/site/storage/original/application/doc.pdf":      {"ezdfsfile", "application/pdf", "binaryfile"},
		"var/site/cache/texttoimage/t.gif":                   {"ezdfsfile_cache", "image/gif", "texttoimage"},
	}
	for name, w := range want {
		row, err := store.Lookup(ctx, metadata.Key{Table: w.table, Name: name})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if row.Datatype != w.datatype || row.Scope != w.scope || row.Size != int64(len(files[name])) || row.MTime != mtime.Unix() || row.Expired {
			t.Errorf("%s: row %+v, want %+v size %d", name, row, w, len(files[name]))
		}
		obj, err := mp.Open(ctx, name)
		if err != nil {
			t.Fatalf("%s not on mount point: %v", name, err)
		}
		r, _ := obj.Range(ctx, 0, obj.Size())
		got, _ := io.ReadAll(r)
		obj.Close()
		if !bytes.Equal(got, files[name]) {
			t.Errorf("%s: bytes differ on the mount point", name)
		}
	}

	rep, err = im.Run(ctx, src, "var")
	if err != nil {
		t.Fatal(err)
	}
	if rep.Imported != 0 || rep.Unchanged != len(files) {
		t.Fatalf("second run is not idempotent: %s", rep)
	}

	// A changed file is imported again.
	writeFile(t, src, "var/site/cache/public/stylesheets/x.css", []byte("body{color:red}"), mtime.Add(time.Hour))
	rep, _ = im.Run(ctx, src, "var")
	if rep.Imported != 1 || rep.Unchanged != len(files)-1 {
		t.Fatalf("third run: %s", rep)
	}
}

func TestImportInPlaceCopiesNothing(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	name := "var/site/storage/images/x/a.png"
	writeFile(t, root, name, pngBytes(t), time.Unix(1700000000, 0))
	store, err := sqlstore.OpenSQLite(ctx, filepath.Join(t.TempDir(), "m.sqlite"), sqlstore.Config{Tables: []string{"ezdfsfile"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	mp, err := mountpoint.New(root)
	if err != nil {
		t.Fatal(err)
	}
	defer mp.Close()
	before, _ := os.Stat(filepath.Join(root, name))
	im := &importer.Importer{
		Rows: store,
		Targets: map[string]importer.Target{dfs.MountPointBackend: {Writer: mp, SameFile: func(n, srcPath string) bool {
			a, _ := os.Stat(filepath.Join(root, n))
			b, _ := os.Stat(srcPath)
			return a != nil && b != nil && os.SameFile(a, b)
		}}},
		Tables: dfs.Tables{Storage: "ezdfsfile"},
	}
	rep, err := im.Run(ctx, root, "var")
	if err != nil || rep.Imported != 1 {
		t.Fatalf("%s, %v", rep, err)
	}
	after, _ := os.Stat(filepath.Join(root, name))
	if !os.SameFile(before, after) {
		t.Fatal("in-place import replaced the file")
	}
}

func TestScope(t *testing.T) {
	for name, want := range map[string]string{
		"var/s/storage/images-versioned/a.png": "image",
		"var/s/storage/original/video/a.mp4":   "binaryfile",
		"var/s/cache/content/a.php":            "viewcache",
		"var/s/other/a":                        "UNKNOWN_SCOPE",
	} {
		if got := importer.Scope(name); got != want {
			t.Errorf("Scope(%q) = %q, want %q", name, got, want)
		}
	}
}

// TestImportPlatformRows checks that the platform profile writes rows as the eZ Platform / Ibexa
// metadata handler does: one table, scope from the SPI id's first segment, the mtime as it is.
func TestImportPlatformRows(t *testing.T) {
	ctx := context.Background()
	src, mnt := t.TempDir(), t.TempDir()
	mtime := time.Unix(1700000000, 0)
	files := map[string]string{
		"var/site/storage/images/3/6/1-1-eng-GB/pic.png":                "image",
		"var/site/storage/images/_aliases/large/3/6/1-1-eng-GB/pic.png": "image",
		"var/site/storage/images-versioned/3/6/pic.png":                 "UNKNOWN_SCOPE",
		"var/site/storage/original/application/doc.pdf":                 "binaryfile",
	}
	for name := range files {
		writeFile(t, src, name, pngBytes(t), mtime)
	}
	epoch := "var/site/storage/images/0/epoch.png"
	writeFile(t, src, epoch, pngBytes(t), time.Unix(0, 0))
	tables := dfs.PlatformTables(dfs.IbexaTable)
	store, err := sqlstore.OpenSQLite(ctx, filepath.Join(t.TempDir(), "m.sqlite"), sqlstore.Config{Tables: tables.Names()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	mp, err := mountpoint.New(mnt)
	if err != nil {
		t.Fatal(err)
	}
	defer mp.Close()
	im := &importer.Importer{Rows: store, Existing: store, Tables: tables, Profile: dfs.ProfilePlatform,
		Targets: map[string]importer.Target{dfs.MountPointBackend: {Writer: mp, Backend: mp}}}
	if rep, err := im.Run(ctx, src, "var"); err != nil || rep.Imported != len(files)+1 {
		t.Fatalf("run: %s, %v", rep, err)
	}
	for name, scope := range files {
		row, err := store.Lookup(ctx, metadata.Key{Table: dfs.IbexaTable, Name: name})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if row.Scope != scope || row.Expired || row.MTime != mtime.Unix() || row.Datatype != "image/png" {
			t.Errorf("%s: row %+v, want scope %s, mtime %d, not expired", name, row, scope, mtime.Unix())
		}
	}
	// The app writes a zero mtime as it is (and its own rule then hides the row); legacy's -1 is not applied.
	if row, err := store.Lookup(ctx, metadata.Key{Table: dfs.IbexaTable, Name: epoch}); err != nil || row.MTime != 0 || row.Expired {
		t.Errorf("epoch file: %+v, %v; want mtime 0, not expired", row, err)
	}
}

func TestReportString(t *testing.T) {
	r := importer.Report{Imported: 3, Bytes: 10, Unchanged: 1, ByBackend: map[string]int{"eZDFSFileHandlerDFSBackend": 2, "eZDFSFileHandlerDFSAmazon": 1}}
	want := "imported 3 (10 bytes), unchanged 1, skipped 0, failed 0; 1 to eZDFSFileHandlerDFSAmazon, 2 to eZDFSFileHandlerDFSBackend"
	if got := r.String(); got != want {
		t.Errorf("String() = %q, want %q (no Go map syntax)", got, want)
	}
}
