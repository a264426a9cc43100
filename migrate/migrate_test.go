package migrate_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/ezdfsd/ezdfsd/dfs"
	"github.com/ezdfsd/ezdfsd/internal/testenv"
	"github.com/ezdfsd/ezdfsd/metadata/sqlstore"
	"github.com/ezdfsd/ezdfsd/migrate"
)

const site = "var/site/"

// toS3 sends images and binary files to S3; the rest (caches) stays on the mount point.
var toS3 = dfs.Dispatch{Rules: []dfs.Rule{{Key: site + "storage/images", Backend: dfs.S3Backend},
	{Key: site + "storage/original", Backend: dfs.S3Backend}}, Default: dfs.MountPointBackend}

// mixed fills c with a mixed cluster and returns the names the rules of toS3 send to S3 (live
// ones) and the names that stay.
func mixed(t *testing.T, c *cluster) (moved, stay []string) {
	big := 20 << 20 // 4 parts of MinPartSize: a multipart upload
	if testenv.Slow() {
		big = 300 << 20
	}
	files := []struct {
		name, datatype string
		size           int
	}{
		{site + "storage/images/a/1-1-eng-GB/photo.jpg", "image/jpeg", 70_000},
		{site + "storage/images/a/1-1-eng-GB/photo_large.jpg", "image/jpeg", 200_000},
		{site + "storage/images/with space/and space.png", "image/png", 1234},
		{site + "storage/images/quote's/\"double\".gif", "image/gif", 99},
		{site + "storage/images/plus+sign/100%25 percent%.png", "image/png", 5000},
		{site + "storage/images/ünïcødé/日本語 ファイル.webp", "image/webp", 777},
		{site + "storage/images-versioned/5/1-eng-GB/v.png", "image/png", 3000},
		{site + "storage/images/empty.txt", "text/plain", 0},
		{site + "storage/original/application/report.pdf", "application/pdf", 150_000},
		{site + "storage/original/application/big.bin", "application/octet-stream", big},
		{site + "cache/public/stylesheets/x.css", "text/css", 4000},
		{site + "cache/texttoimage/t.png", "image/png", 2000},
		{site + "storage/images-cache/should-stay-on-mount.png", "image/png", 10}, // no rule matches
	}
	for i, f := range files {
		c.add(f.name, f.datatype, randomBytes(t, f.size), 1_700_000_000+int64(i))
	}
	c.add(site+"storage/images/deleted/gone.jpg", "image/jpeg", randomBytes(t, 500), -1_700_000_100)
	for name := range c.live {
		if toS3.BackendFor(name) == dfs.S3Backend {
			moved = append(moved, name)
		} else {
			stay = append(stay, name)
		}
	}
	slices.Sort(moved)
	slices.Sort(stay)
	return moved, stay
}

// TestMigrateMountToS3AndBack migrates a mixed cluster (images, caches, binary files, a deleted
// row, a multipart-sized file, names with spaces, quotes, +, % and UTF-8) from the mount point
// to S3 under PathBackends rules with --delete-source; ezdfsd then serves every name with the
// same status, headers and bytes as before. A second run proves every copy without reading a
// byte. The reverse migration brings the files back, and ezdfsd answers as at the start.
func TestMigrateMountToS3AndBack(t *testing.T) {
	c := newCluster(t)
	moved, stay := mixed(t, c)
	all := append(append([]string{}, moved...), stay...)
	all = append(all, site+"storage/images/deleted/gone.jpg", site+"storage/images/never/was.jpg")
	before := c.answers(c.daemonArgs(), all)
	served, err := dfs.NewAllowList(dfs.DefaultServedPatterns)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range all {
		want := "200 OK"
		if strings.Contains(name, "/gone.jpg") || strings.Contains(name, "/was.jpg") || !served.Allows(name) {
			want = "404 Not Found"
		}
		if !strings.HasPrefix(before[name], want) {
			t.Fatalf("%s before the migration: %s, want %s", name, before[name], want)
		}
	}

	m := c.migrator(c.mount, toS3)
	m.DeleteSource = true
	rep := c.run(m)
	var movedBytes int64
	for _, n := range moved {
		movedBytes += int64(len(c.live[n]))
	}
	if rep.FilesCopied != int64(len(moved)) || rep.BytesCopied != movedBytes || rep.FilesSameBackend != int64(len(stay)) ||
		rep.FilesSkipped != 0 || rep.FilesFailed != 0 || rep.Mismatches != 0 || rep.FilesDeletedSource != int64(len(moved)) {
		t.Fatalf("first run: %+v\nwant %d copied (%d bytes), %d on their backend, all removed from the mount", rep, len(moved), movedBytes, len(stay))
	}
	for _, name := range moved {
		got, out := c.object(name)
		if got == nil || string(got) != string(c.live[name]) {
			t.Errorf("%s: S3 holds %d bytes, want the %d of the mount point", name, len(got), len(c.live[name]))
			continue
		}
		if ct, want := *out.ContentType, migrate.ContentType(name); ct != want {
			t.Errorf("%s: Content-Type %q, want %q", name, ct, want)
		}
		if _, err := os.Lstat(filepath.Join(c.dir, name)); !os.IsNotExist(err) {
			t.Errorf("%s: still on the mount point after --delete-source (%v)", name, err)
		}
	}
	for _, name := range stay {
		if got, _ := c.object(name); got != nil {
			t.Errorf("%s: copied to S3, but its rule keeps it on the mount point", name)
		}
	}
	if got, _ := c.object(site + "storage/images/deleted/gone.jpg"); got != nil {
		t.Error("the deleted row's file was copied without --include-deleted")
	}
	if ct := migrate.ContentType(site + "storage/images/a/1-1-eng-GB/photo.jpg"); ct != "image/jpeg" {
		t.Errorf("ContentType(photo.jpg) = %q", ct)
	}

	rules := []string{"--path-backend=" + site + "storage/images=" + dfs.S3Backend,
		"--path-backend=" + site + "storage/original=" + dfs.S3Backend}
	after := c.answers(c.daemonArgs(rules...), all)
	for _, name := range all {
		if before[name] != after[name] {
			t.Errorf("%s: served from S3 after the migration:\n%s\nbefore, from the mount point:\n%s", name, after[name], before[name])
		}
	}

	// Resumed: everything proven from HeadObject, no byte read.
	rep = c.run(c.migrator(c.mount, toS3))
	if rep.FilesCopied != 0 || rep.FilesSkipped != int64(len(moved)) || rep.SourceBytesRead != 0 || rep.TargetBytesRead != 0 || rep.FilesFailed != 0 {
		t.Fatalf("second run: %+v\nwant %d skipped, nothing copied or read", rep, len(moved))
	}

	// Rollback: back to the mount point from S3.
	back := c.migrator(c.s3, dfs.Dispatch{Default: dfs.MountPointBackend})
	rep = c.run(back)
	if rep.FilesCopied != int64(len(moved)) || rep.FilesSkipped != int64(len(stay)) || rep.FilesFailed != 0 {
		t.Fatalf("reverse run: %+v\nwant %d copied, %d skipped (already on the mount point)", rep, len(moved), len(stay))
	}
	for _, name := range moved {
		if !c.fileIs(name, c.live[name]) {
			t.Errorf("%s: not back on the mount point with its bytes", name)
		}
	}
	again := c.answers(c.daemonArgs(), all)
	for _, name := range all {
		if before[name] != again[name] {
			t.Errorf("%s: after the rollback:\n%s\nbefore:\n%s", name, again[name], before[name])
		}
	}
	rep = c.run(c.migrator(c.s3, dfs.Dispatch{Default: dfs.MountPointBackend}))
	if rep.FilesCopied != 0 || rep.SourceBytesRead != 0 || rep.TargetBytesRead != 0 {
		t.Errorf("reverse run again: %+v, want nothing copied or read", rep)
	}
}

// TestMigrateDryRun counts files and bytes per pair and writes nothing.
func TestMigrateDryRun(t *testing.T) {
	c := newCluster(t)
	moved, stay := mixed(t, c)
	m := c.migrator(c.mount, toS3)
	m.DryRun = true
	rep := c.run(m)
	var mb, sb int64
	for _, n := range moved {
		mb += int64(len(c.live[n]))
	}
	for _, n := range stay {
		sb += int64(len(c.live[n]))
	}
	want := []migrate.Pair{{From: "mount", To: "mount", Files: int64(len(stay)), Bytes: sb}, {From: "mount", To: "s3", Files: int64(len(moved)), Bytes: mb}}
	if !slices.Equal(rep.Pairs, want) || rep.FilesCopied != 0 {
		t.Fatalf("dry run: pairs %+v (copied %d), want %+v", rep.Pairs, rep.FilesCopied, want)
	}
	for _, name := range moved {
		if got, _ := c.object(name); got != nil {
			t.Errorf("dry run copied %s", name)
		}
	}
}

// TestMigrateRowChangedDuringCopy: eZ stores a name again (new bytes, new mtime) just after
// its copy; the run copies it again at the end, and the bucket ends with the new bytes.
func TestMigrateRowChangedDuringCopy(t *testing.T) {
	c := newCluster(t)
	names := []string{site + "storage/images/x/1.jpg", site + "storage/images/x/2.jpg", site + "storage/images/x/3.jpg"}
	for i, n := range names {
		c.add(n, "image/jpeg", randomBytes(t, 1000+i), 1_700_000_000)
	}
	m := c.migrator(c.mount, toS3)
	changed := map[string]bool{}
	migrate.SetAfterPut(m, func(table string, r sqlstore.Row) {
		if r.Name == names[1] && !changed[r.Name] {
			changed[r.Name] = true
			c.add(r.Name, "image/jpeg", randomBytes(t, 2000), r.MTime+5)
		}
	})
	m.Concurrency = 1
	rep := c.run(m)
	if rep.FilesRecopied != 1 || rep.FilesCopied != 4 || rep.FilesFailed != 0 {
		t.Errorf("report %+v, want 4 copies, 1 of them again", rep)
	}
	for _, n := range names {
		if got, _ := c.object(n); string(got) != string(c.live[n]) {
			t.Errorf("%s: the bucket has %d bytes, not the last store's %d", n, len(got), len(c.live[n]))
		}
	}
}

// TestMigrateVerifyCorrupt: an object whose bytes change behind migrate's back (same size, its
// stored checksum and stamp untouched) is still proven by a plain run, but --verify reads it,
// reports the mismatch and copies it again.
func TestMigrateVerifyCorrupt(t *testing.T) {
	c := newCluster(t)
	if c.srv.Root == "" {
		t.Skip("TEST_S3_ROOT unset: cannot change an object's bytes behind versitygw")
	}
	moved, _ := mixed(t, c)
	c.run(c.migrator(c.mount, toS3))
	victim := site + "storage/images/a/1-1-eng-GB/photo.jpg"
	p := filepath.Join(c.srv.Root, c.bucket, filepath.FromSlash(victim))
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	data[100] ^= 0xff
	f, err := os.OpenFile(p, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(data[100:101], 100); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if got, _ := c.object(victim); string(got) == string(c.live[victim]) {
		t.Fatal("the object did not change")
	}
	if rep := c.run(c.migrator(c.mount, toS3)); rep.FilesSkipped != int64(len(moved)) {
		t.Fatalf("plain run: %+v, want every object proven", rep)
	}
	m := c.migrator(c.mount, toS3)
	m.Verify = true
	rep := c.run(m)
	if rep.Mismatches != 1 || rep.FilesRecopied != 1 || rep.FilesCopied != 1 || rep.FilesSkipped != int64(len(moved)-1) || !rep.Failed() {
		t.Fatalf("verify run: %+v, want 1 mismatch copied again, the rest compared equal, exit status 1", rep)
	}
	if got, _ := c.object(victim); string(got) != string(c.live[victim]) {
		t.Error("the corrupted object was not copied again")
	}
}

// TestMigrateBandwidth: with --bandwidth 1 KiB/s, a run given one second reads at most the
// limiter's burst plus about a second's worth of a 64 KiB file, and copies nothing (the copy
// ends when the limiter sees it cannot finish before the deadline).
func TestMigrateBandwidth(t *testing.T) {
	c := newCluster(t)
	c.add(site+"storage/images/slow.jpg", "image/jpeg", randomBytes(t, 64<<10), 1_700_000_000)
	m := c.migrator(c.mount, toS3)
	m.OnError = nil
	m.Bandwidth = 1 << 10
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	rep, _ := m.Run(ctx)
	if rep.SourceBytesRead > 16<<10 || rep.FilesCopied != 0 {
		t.Fatalf("report %+v: want at most a few KiB read in one second at 1 KiB/s, nothing copied", rep)
	}
}

// TestMigrateACL: --acl public-read sends the canned ACL eZ's S3 backend sent (x-amz-acl on
// the upload, seen by a proxy in front of versitygw, which does not implement GetObjectAcl).
func TestMigrateACL(t *testing.T) {
	c := newCluster(t)
	var mu sync.Mutex
	var acls []string
	c.throughProxy("public-read", func(w http.ResponseWriter, r *http.Request, next http.Handler) {
		if r.Method == http.MethodPut {
			mu.Lock()
			acls = append(acls, r.Header.Get("X-Amz-Acl"))
			mu.Unlock()
		}
		next.ServeHTTP(w, r)
	}, nil)
	name := site + "storage/images/public.png"
	c.add(name, "image/png", randomBytes(t, 100), 1_700_000_000)
	c.run(c.migrator(c.mount, toS3))
	if !slices.Equal(acls, []string{"public-read"}) {
		t.Errorf("x-amz-acl of the PUTs: %q, want one public-read", acls)
	}
	if got, _ := c.object(name); string(got) != string(c.live[name]) {
		t.Error("the object was not stored")
	}
}

// TestMigrateStoredChecksum: a copy is checked against the checksum S3 computed from what it
// stored, taken from the upload's answer; with the bucket listed at the start, a small file
// missing from it costs one conditional PUT and no HEAD. A wrong checksum in that answer is a
// reported mismatch, never accepted; a server that leaves it out is asked with HeadObject
// instead. The upload carries the checksum of the bytes
// read from the source, so bytes changed on the way are refused by S3. A proxy in front of
// versitygw counts and rewrites the requests and answers.
func TestMigrateStoredChecksum(t *testing.T) {
	const header = "X-Amz-Checksum-Crc64nvme"
	for _, tc := range []struct {
		name      string
		answer    func(h http.Header)
		corrupt   bool // flip a byte of the PUT body on the way
		wantHeads int
		wantFail  string
	}{
		{"answer carries it", func(http.Header) {}, false, 0, ""},
		{"answer without it", func(h http.Header) { h.Del(header) }, false, 1, ""},
		{"answer with a wrong one", func(h http.Header) { h.Set(header, "AAAAAAAAAAA=") }, false, 0, "content mismatch"},
		// Over plain HTTP the signed payload hash catches it before the checksum does.
		{"body changed on the way", func(http.Header) {}, true, 0, "StatusCode: 400"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCluster(t)
			var mu sync.Mutex
			var heads, puts, putAnswers int
			var ifNoneMatch []string
			c.throughProxy("", func(w http.ResponseWriter, r *http.Request, next http.Handler) {
				mu.Lock()
				switch r.Method {
				case http.MethodHead:
					heads++
				case http.MethodPut:
					puts++
					ifNoneMatch = append(ifNoneMatch, r.Header.Get("If-None-Match"))
				}
				mu.Unlock()
				if r.Method == http.MethodPut && tc.corrupt {
					body, _ := io.ReadAll(r.Body)
					body[len(body)/2] ^= 1
					r.Body = io.NopCloser(bytes.NewReader(body))
				}
				next.ServeHTTP(w, r)
			}, func(resp *http.Response) error {
				if resp.Request.Method == http.MethodPut && resp.StatusCode == http.StatusOK {
					mu.Lock()
					if resp.Header.Get(header) != "" {
						putAnswers++
					}
					mu.Unlock()
					tc.answer(resp.Header)
				}
				return nil
			})
			name := site + "storage/images/checked.png"
			c.add(name, "image/png", randomBytes(t, 4000), 1_700_000_000)
			m := c.migrator(c.mount, toS3)
			var failed []string
			m.OnError = func(_, name string, err error) { failed = append(failed, err.Error()) }
			rep := c.run(m)
			if putAnswers == 0 && !tc.corrupt {
				t.Fatalf("versitygw's PutObject answer has no %s; the check falls back to HEAD", header)
			}
			if heads != tc.wantHeads {
				t.Errorf("%d HEAD requests, want %d (PUTs: %d)", heads, tc.wantHeads, puts)
			}
			if len(ifNoneMatch) == 0 || ifNoneMatch[0] != "*" {
				t.Errorf("If-None-Match of the PUTs: %q; the name was not listed, so the upload must be conditional", ifNoneMatch)
			}
			if tc.wantFail != "" {
				if rep.FilesFailed != 1 || rep.FilesCopied != 0 || len(failed) != 1 || !strings.Contains(failed[0], tc.wantFail) {
					t.Errorf("bad copy accepted: %+v, errors %q (want %q)", rep, failed, tc.wantFail)
				}
				if got, _ := c.object(name); got != nil && string(got) != string(c.live[name]) {
					t.Error("the bucket holds the changed bytes")
				}
				return
			}
			if rep.FilesCopied != 1 || rep.Failed() || len(failed) > 0 {
				t.Errorf("report %+v, errors %q", rep, failed)
			}
			if got, _ := c.object(name); string(got) != string(c.live[name]) {
				t.Error("the object was not stored")
			}
		})
	}
}

// TestMigrateNameStoredAfterListing: a name missing from the bucket when the run listed it, but
// stored there by eZ before its upload (the settings were switched meanwhile), is not
// overwritten: the conditional upload is refused, and the name is then handled as one found in
// the target, here newer than the mount point's file.
func TestMigrateNameStoredAfterListing(t *testing.T) {
	c := newCluster(t)
	name := site + "storage/images/raced/photo.jpg"
	c.add(name, "image/jpeg", randomBytes(t, 3000), 1_700_000_000)
	newer := randomBytes(t, 3000)
	var once sync.Once
	c.throughProxy("", func(w http.ResponseWriter, r *http.Request, next http.Handler) {
		if r.Method == http.MethodPut {
			once.Do(func() { // eZ stores the name just before migrate's upload reaches S3
				if _, err := c.admin.PutObject(context.Background(), &awss3.PutObjectInput{Bucket: aws.String(c.bucket),
					Key: aws.String(name), Body: bytes.NewReader(newer)}); err != nil {
					t.Error(err)
				}
			})
		}
		next.ServeHTTP(w, r)
	}, nil)
	rep := c.run(c.migrator(c.mount, toS3))
	if rep.FilesTargetNewer != 1 || rep.FilesCopied != 0 || rep.Failed() {
		t.Errorf("report %+v: want the name eZ stored after the listing left alone", rep)
	}
	if got, _ := c.object(name); !bytes.Equal(got, newer) {
		t.Error("the older mount point file was copied over the object eZ stored after the listing")
	}
}
