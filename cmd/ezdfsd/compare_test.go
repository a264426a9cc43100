package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ezdfsd/ezdfsd/compare"
	"github.com/ezdfsd/ezdfsd/compare/comparetest"
	"github.com/ezdfsd/ezdfsd/dfs"
	"github.com/ezdfsd/ezdfsd/internal/testkit"
	"github.com/ezdfsd/ezdfsd/metadata"
	"github.com/ezdfsd/ezdfsd/metadata/sqlstore"
)

const (
	cmpImg   = "var/site/storage/images/a/1-1-eng-GB/"
	cmpMTime = 1700000000
)

// compareSite is one cluster served twice: by ezdfsd (SQLite + a mount point, run in-process
// exactly as `ezdfsd serve` runs) and by a stand-in for index_cluster.php with the same rows.
type compareSite struct {
	daemon *testkit.Daemon
	legacy *comparetest.Legacy
	urls   string // a --urls file listing every target
}

func newCompareSite(t *testing.T) *compareSite {
	t.Helper()
	dir := t.TempDir()
	mount := filepath.Join(dir, "mount")
	dbPath := filepath.Join(dir, "ezdfsd.sqlite")
	ctx := context.Background()
	tables := dfs.DefaultTables()
	store, err := sqlstore.OpenSQLite(ctx, dbPath, sqlstore.Config{Tables: tables.Names()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()

	photo := bytes.Repeat([]byte("0123456789abcdefghij"), 50) // 1000 bytes
	legacy := &comparetest.Legacy{Files: map[string]comparetest.File{}, ServedBy: "legacy.example"}
	put := func(name, datatype string, body []byte, onDisk bool) {
		t.Helper()
		if err := store.Put(ctx, tables.For(name), metadata.File{Name: name, Datatype: datatype, Scope: "image",
			Size: int64(len(body)), MTime: cmpMTime}); err != nil {
			t.Fatal(err)
		}
		if onDisk {
			writeFile(t, filepath.Join(mount, name), body, 0)
		}
		legacy.Files[name] = comparetest.File{Datatype: datatype, MTime: cmpMTime, Body: body, Missing: !onDisk}
	}
	put(cmpImg+"photo.jpg", "image/jpeg", photo, true)
	put(cmpImg+"tiny.png", "image/png", []byte{0x89}, true)
	put("var/site/cache/public/stylesheets/site.css", "text/css", []byte("body{margin}"), true)
	put(cmpImg+"q?mark.jpg", "image/jpeg", []byte("QMARK"), true)
	put(cmpImg+"q", "image/jpeg", []byte("Q"), true)
	put(cmpImg+"missing.jpg", "image/jpeg", photo, false)
	// Binary files: the web server may route them to the gateway; ezdfsd does not serve them.
	legacy.Files["var/site/storage/original/application/doc.pdf"] = comparetest.File{Datatype: "application/pdf",
		MTime: cmpMTime, Body: []byte("%PDF")}
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}

	urls := filepath.Join(dir, "urls.txt")
	list := strings.Join([]string{
		"/" + cmpImg + "photo.jpg",
		"/" + cmpImg + "tiny.png",
		"/var/site/cache/public/stylesheets/site.css?1700000000",
		"/" + cmpImg + "q%3Fmark.jpg",
		"/" + cmpImg + "missing.jpg",
		"/" + cmpImg + "nope's.jpg", // no row: the same 404 page from both
		"/var/site/storage/original/application/doc.pdf",
		"/var/site/storage/images/a//1-1-eng-GB/photo.jpg",
	}, "\n")
	if err := os.WriteFile(urls, []byte(list+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	d := testkit.StartDaemon(t, []string{"--metadata=sqlite", "--sqlite=" + dbPath, "--mount-point=" + mount,
		"--listen=127.0.0.1:0", "--metrics-listen="}, nil)
	return &compareSite{daemon: d, legacy: legacy, urls: urls}
}

func (s *compareSite) legacyURL(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(s.legacy)
	t.Cleanup(srv.Close)
	return srv.URL
}

func runCompareCmd(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	return runCmd(t, nil, append([]string{"compare", "--rate=1000", "--timeout=10s"}, args...)...)
}

// TestCompareSelfIsClean runs compare with ezdfsd as both reference and candidate: every probe
// of every URL matches and the exit status is 0.
func TestCompareSelfIsClean(t *testing.T) {
	s := newCompareSite(t)
	code, out, errOut := runCompareCmd(t, "--reference", s.daemon.URL, "--candidate", s.daemon.URL, "--urls", s.urls)
	if code != 0 || !strings.Contains(out, "compared 8 URLs: 8 matched, 0 with documented differences only, 0 with undocumented differences") {
		t.Fatalf("exit %d, want 0 with every URL matched\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
}

// TestCompareLegacyGateway compares a stand-in for index_cluster.php (spec §2, §7 legacy column)
// with ezdfsd serving the same rows. Every difference compare's probes trigger is one of the
// README's, so the exit status is 0 and each is named. Then the stand-in is given one wrong
// Content-Type: compare reports exactly that URL and that field, with both values, and exits 1.
func TestCompareLegacyGateway(t *testing.T) {
	s := newCompareSite(t)
	ref := s.legacyURL(t)
	code, out, errOut := runCompareCmd(t, "--reference", ref, "--candidate", s.daemon.URL, "--urls", s.urls)
	if code != 0 {
		t.Fatalf("exit %d, want 0\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	for _, want := range []string{
		"ok   /" + cmpImg + "nope's.jpg\n",
		"doc  /" + cmpImg + "photo.jpg\n       range-0-0: documented difference \"one-byte-range\"",
		"       head-range: documented difference \"head-range\"",
		"doc  /" + cmpImg + "tiny.png\n       range, range-0-0: documented difference \"one-byte-range\"",
		"doc  /" + cmpImg + "q%3Fmark.jpg\n       get, head, if-none-match, if-modified-since, range, range-0-0, head-range: documented difference \"encoded-question-mark\"",
		"doc  /" + cmpImg + "missing.jpg\n       get, head, range, range-0-0, head-range: documented difference \"missing-file\"",
		"doc  /var/site/storage/original/application/doc.pdf\n       get, head, if-none-match, if-modified-since, range, range-0-0, head-range: documented difference \"other-paths\"",
		"ok   /var/site/storage/images/a//1-1-eng-GB/photo.jpg\n", // both 404, the same page
		"compared 8 URLs: 2 matched, 6 with documented differences only, 0 with undocumented differences\n",
		"result: no undocumented difference\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q", want)
		}
	}
	if strings.Contains(out, "DIFF") || strings.Contains(out, "undocumented difference in") {
		t.Errorf("undocumented differences reported")
	}
	if t.Failed() {
		t.Fatalf("stdout:\n%s", out)
	}

	// One undocumented difference: the legacy row says image/png where ezdfsd's says image/jpeg.
	f := s.legacy.Files[cmpImg+"photo.jpg"]
	f.Datatype = "image/png"
	s.legacy.Files[cmpImg+"photo.jpg"] = f
	code, out, errOut = runCompareCmd(t, "--reference", ref, "--candidate", s.daemon.URL, "--urls", s.urls, "--json")
	if code != 1 {
		t.Fatalf("exit %d, want 1\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	var undocumented []string
	for line := range strings.Lines(out) {
		var r compare.URLResult
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("--json line %q: %v", line, err)
		}
		for _, p := range r.Probes {
			if p.Result != compare.Undocumented {
				continue
			}
			for _, fd := range p.Fields {
				undocumented = append(undocumented, r.Target+" "+p.Kind+" "+fd.Field+" "+fd.Reference+" → "+fd.Candidate)
			}
		}
	}
	want := []string{
		"/" + cmpImg + "photo.jpg get content-type image/png → image/jpeg",
		"/" + cmpImg + "photo.jpg head content-type image/png → image/jpeg",
		"/" + cmpImg + "photo.jpg range content-type image/png → image/jpeg",
		"/" + cmpImg + "photo.jpg range-0-0 content-type image/png → image/jpeg",
		"/" + cmpImg + "photo.jpg head-range content-type image/png → image/jpeg",
	}
	if !slices.Equal(undocumented, want) {
		t.Errorf("undocumented differences:\n got %q\nwant %q", undocumented, want)
	}
	if !strings.Contains(errOut, "1 with undocumented differences") {
		t.Errorf("--json summary (stderr) lacks the count:\n%s", errOut)
	}
}

// TestCompareUsage checks the exit status 2 cases and that URLs come from standard input and
// from an access log (only its served cluster URLs, each once).
func TestCompareUsage(t *testing.T) {
	for _, tt := range []struct {
		name string
		args []string
		msg  string
	}{
		{"no input", []string{"--reference", "http://a", "--candidate", "http://b"}, "give --urls FILE (or -) and/or --from-access-log FILE"},
		{"no reference", []string{"--candidate", "http://b", "--urls", "-"}, "--reference is required"},
		{"not http", []string{"--reference", "ftp://a", "--candidate", "http://b", "--urls", "-"}, `reference URL "ftp://a": want http://host[:port]`},
		{"bad rate", []string{"--reference", "http://a", "--candidate", "http://b", "--urls", "-", "--rate", "0"}, "must be positive"},
		{"missing file", []string{"--reference", "http://a", "--candidate", "http://b", "--urls", "/nonexistent/urls.txt"}, "no such file"},
		{"unknown flag", []string{"--nope"}, "flag provided but not defined: -nope"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			stdin = strings.NewReader("")
			code, _, errOut := runCmd(t, nil, append([]string{"compare"}, tt.args...)...)
			if code != 2 || !strings.Contains(errOut, tt.msg) {
				t.Errorf("exit %d, stderr %q; want 2 with %q", code, errOut, tt.msg)
			}
		})
	}
	t.Cleanup(func() { stdin = os.Stdin })

	s := newCompareSite(t)
	log := filepath.Join(t.TempDir(), "access.log")
	lines := `192.0.2.1 - - [02/Dec/2026:10:00:00 +0000] "GET /` + cmpImg + `photo.jpg?v=1 HTTP/1.1" 200 1000 "-" "curl/8"
192.0.2.1 - - [02/Dec/2026:10:00:01 +0000] "POST /` + cmpImg + `tiny.png HTTP/1.1" 200 1 "-" "curl/8"
192.0.2.1 - - [02/Dec/2026:10:00:02 +0000] "GET /index.php HTTP/1.1" 200 1 "-" "curl/8"
`
	if err := os.WriteFile(log, []byte(lines), 0o644); err != nil {
		t.Fatal(err)
	}
	stdin = strings.NewReader("/" + cmpImg + "photo.jpg\n")
	code, out, errOut := runCompareCmd(t, "--reference", s.daemon.URL, "--candidate", s.daemon.URL, "--urls", "-", "--from-access-log", log)
	if code != 0 || !strings.Contains(out, "compared 1 URLs: 1 matched") {
		t.Errorf("stdin list + access log: exit %d, want 0 with the one URL both name\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
}
