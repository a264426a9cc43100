package compare

import (
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
)

// readmeDifferenceRows returns the body rows of the README's "Differences from
// index_cluster.php" table.
func readmeDifferenceRows(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(data), "\n## Differences from index_cluster.php\n")
	if !ok {
		t.Fatal(`README.md has no "## Differences from index_cluster.php" section`)
	}
	var rows []string
	inTable := false
	for line := range strings.SplitSeq(section, "\n") {
		switch {
		case strings.HasPrefix(line, "|"):
			inTable = true
			rows = append(rows, strings.TrimSpace(line))
		case inTable:
			if len(rows) < 2 {
				t.Fatalf("differences table too short: %q", rows)
			}
			return rows[2:] // header and |---| separator
		case strings.HasPrefix(line, "#"):
			t.Fatal("no table in the README's differences section")
		}
	}
	t.Fatal("differences table not closed")
	return nil
}

// TestREADMEListsEveryDifference holds the README's differences table and Differences together:
// every row of one is a row of the other, cell for cell, so the documentation and what compare
// accepts cannot drift apart.
func TestREADMEListsEveryDifference(t *testing.T) {
	readme := readmeDifferenceRows(t)
	code := MarkdownRows()
	for _, r := range readme {
		if !slices.Contains(code, r) {
			t.Errorf("README row missing from compare.Differences (or worded differently):\n  %s", r)
		}
	}
	for _, r := range code {
		if !slices.Contains(readme, r) {
			t.Errorf("compare.Differences entry missing from the README table (or worded differently):\n  %s", r)
		}
	}
	if t.Failed() {
		t.Logf("compare.Differences as README rows:\n%s", strings.Join(code, "\n"))
	}
	ids := map[string]bool{}
	for _, d := range Differences {
		if d.ID == "" || ids[d.ID] {
			t.Errorf("difference ID %q empty or repeated", d.ID)
		}
		ids[d.ID] = true
	}
}

func obs(status int, kv ...string) Observation {
	o := Observation{Status: status}
	for i := 0; i+1 < len(kv); i += 2 {
		switch kv[i] {
		case "etag":
			o.ETag = kv[i+1]
		case "lm":
			o.LastModified = kv[i+1]
		case "type":
			o.ContentType = kv[i+1]
		case "len":
			o.ContentLength = kv[i+1]
		case "range":
			o.ContentRange = kv[i+1]
		case "body":
			o.BodySHA256 = kv[i+1]
		case "err":
			o.Err = kv[i+1]
		}
	}
	return o
}

// TestClassify checks which answers each probe kind accepts as equal, which documented
// difference explains the rest, and that anything else is undocumented.
func TestClassify(t *testing.T) {
	const img = "/var/site/storage/images/a/photo.jpg"
	get := Probe{Kind: "get", Target: img, Method: http.MethodGet}
	range00 := Probe{Kind: "range-0-0", Target: img, Method: http.MethodGet, Range: "bytes=0-0"}
	range99 := Probe{Kind: "range", Target: img, Method: http.MethodGet, Range: "bytes=0-99"}
	headRange := Probe{Kind: "head-range", Target: img, Method: http.MethodHead, Range: "bytes=0-99"}
	inm := Probe{Kind: "if-none-match", Target: img, Method: http.MethodGet, IfNoneMatch: `"1-2"`}
	at := func(p Probe, target string) Probe { p.Target = target; return p }
	full := obs(200, "etag", `"1-1000"`, "lm", "Tue", "type", "image/jpeg", "len", "1000", "body", "H")
	tests := []struct {
		name       string
		p          Probe
		ref, cand  Observation
		want       Result
		difference string
		fields     []string
	}{
		{"same", get, full, full, Matched, "", nil},
		{"304 without Content-Type (nginx) vs with", inm, obs(304, "etag", `"1-1000"`), obs(304, "etag", `"1-1000"`, "type", "image/jpeg"), Matched, "", nil},
		{"chunked 404 vs Content-Length", get, obs(404, "type", "text/html", "body", "P"), obs(404, "type", "text/html", "len", "200", "body", "P"), Matched, "", nil},
		{"bytes=0-0 whole file", range00, obs(206, "range", "bytes 0-999/1000", "len", "1000", "body", "H"),
			obs(206, "range", "bytes 0-0/1000", "len", "1", "body", "B"), Documented, "one-byte-range", []string{"content-length", "content-range", "body-sha256"}},
		{"bytes=0-99 of a 1-byte file", range99, obs(416, "range", "bytes */1", "body", "P"),
			obs(206, "range", "bytes 0-0/1", "len", "1", "body", "B"), Documented, "one-byte-range", []string{"status", "content-range", "body-sha256"}},
		{"HEAD with Range", headRange, obs(206, "range", "bytes 0-99/1000", "len", "100"), obs(200, "len", "1000"),
			Documented, "head-range", []string{"status", "content-length", "content-range"}},
		{"%3F", at(get, "/var/site/storage/images/a/q%3fmark.jpg"), obs(200, "body", "Q"), obs(200, "body", "QM"),
			Documented, "encoded-question-mark", []string{"body-sha256"}},
		{"file missing on NFS", get, obs(500, "etag", `"1-1000"`, "len", "1000", "body", "P", "err", "reading body: unexpected EOF"),
			obs(404, "body", "N"), Documented, "missing-file", []string{"status", "etag", "body-sha256", "error"}},
		{"database down", get, obs(500, "body", "P"), full, Documented, "database-down", nil},
		{"S3 file", get, obs(500, "etag", `"1-1000"`, "len", "1000"), full, Documented, "s3", nil},
		{"big file", get, obs(500, "etag", `"1-100000000"`, "len", "100000000"), obs(200, "len", "100000000"), Documented, "big-file", nil},
		{"storage/original", at(get, "/var/site/storage/original/application/a.pdf"), full, obs(404, "body", "N"), Documented, "other-paths", nil},
		{"empty segment", at(get, "/var/site/storage/images/a//photo.jpg"), obs(404, "body", "P1"), obs(404, "body", "P2"),
			Documented, "refused-names", nil},
		{"bytes=0-0 whole file, and another Content-Type", range00, obs(206, "type", "image/png", "range", "bytes 0-999/1000", "len", "1000", "body", "H"),
			obs(206, "type", "image/jpeg", "range", "bytes 0-0/1000", "len", "1", "body", "B"), Undocumented, "one-byte-range", []string{"content-type"}},
		{"bytes=0-99 of a 1-byte file: a 416 page", range99, obs(416, "type", "text/html;charset=UTF-8", "range", "bytes */1", "body", "P"),
			obs(206, "type", "image/png", "range", "bytes 0-0/1", "len", "1", "body", "B"), Documented, "one-byte-range", nil},
		{"%3F and a one-byte range: the question mark explains it all", at(range00, "/var/site/storage/images/a/q%3Fmark.jpg"),
			obs(416, "etag", `"1-1"`, "type", "text/html;charset=UTF-8", "range", "bytes */1", "body", "P"),
			obs(206, "etag", `"1-5"`, "type", "image/jpeg", "range", "bytes 0-0/5", "len", "1", "body", "B"), Documented, "encoded-question-mark", nil},
		{"empty file (PHP 8 fread fails): no README row", get, obs(500, "etag", `"1-0"`, "len", "0"), obs(200, "etag", `"1-0"`, "len", "0"),
			Undocumented, "", []string{"status"}},
		{"another Content-Type", get, full, obs(200, "etag", `"1-1000"`, "lm", "Tue", "type", "image/png", "len", "1000", "body", "H"),
			Undocumented, "", []string{"content-type"}},
		{"bytes=0-99 answered differently", range99, obs(206, "range", "bytes 0-99/1000", "len", "100"),
			obs(200, "len", "1000"), Undocumented, "", []string{"status", "content-length", "content-range"}},
		{"candidate down", get, full, obs(0, "err", "connection refused"), Undocumented, "", []string{"error"}},
		{"another ETag", get, full, obs(200, "etag", `"2-1000"`, "lm", "Tue", "type", "image/jpeg", "len", "1000", "body", "H"),
			Undocumented, "", []string{"etag"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := classify(tt.p, tt.ref, tt.cand)
			if got.Result != tt.want || got.Difference != tt.difference {
				t.Fatalf("classify = %s %q, want %s %q (fields %+v)", got.Result, got.Difference, tt.want, tt.difference, got.Fields)
			}
			if tt.fields != nil {
				var names []string
				for _, f := range got.Fields {
					names = append(names, f.Field)
				}
				slices.Sort(names)
				want := slices.Sorted(slices.Values(tt.fields))
				if !slices.Equal(names, want) {
					t.Errorf("fields = %q, want %q", names, want)
				}
			}
		})
	}
}
