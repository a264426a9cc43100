package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/ezdfsd/ezdfsd/dfs"
	"github.com/ezdfsd/ezdfsd/internal/testenv"
	"github.com/ezdfsd/ezdfsd/internal/testkit"
	"github.com/ezdfsd/ezdfsd/metadata"
	"github.com/ezdfsd/ezdfsd/migrate"
)

// migrateChildEnv, when set in the environment, makes TestMigrateChild run `ezdfsd migrate`
// with the arguments it holds (separated by \x1f) and exit with its status: the test binary
// re-executed as the command, so that a test can kill it with SIGKILL.
const migrateChildEnv = "EZDFSD_TEST_MIGRATE_CHILD"

func TestMigrateChild(t *testing.T) {
	args := os.Getenv(migrateChildEnv)
	if args == "" {
		t.Skip("only run as the child of TestMigrateKilledAndResumed")
	}
	os.Exit(run(context.Background(), strings.Split(args, "\x1f"), nil, os.Stdout, os.Stderr))
}

// migrateSetup is a cluster of n files of size bytes on a mount point, rows in MariaDB, and an
// empty bucket; it returns the settings flags of ezdfsd migrate towards the bucket.
func migrateSetup(t *testing.T, n, size int) (args []string, admin *awss3.Client, bucket string) {
	t.Helper()
	srv := testenv.S3Server(t)
	dsn := testenv.MySQLDatabase(t)
	store := testkit.MySQLStore(t, dsn)
	admin = testkit.S3Admin(srv)
	bucket = testkit.NewBucket(t, srv, admin, "migcli-")
	dir := t.TempDir()
	for i := range n {
		name := "var/site/storage/images/k/" + strconv.Itoa(i) + ".jpg"
		data := make([]byte, size)
		rand.Read(data)
		writeFile(t, filepath.Join(dir, name), data, 1_700_000_000)
		if err := store.Put(context.Background(), dfs.DefaultStorageTable, metadata.File{Name: name, Datatype: "image/jpeg",
			Scope: "image", Size: int64(size), MTime: 1_700_000_000}); err != nil {
			t.Fatal(err)
		}
	}
	return []string{"--metadata=mysql", "--mysql-dsn=" + dsn, "--mount-point=" + dir, "--s3-bucket=" + bucket,
		"--s3-endpoint=" + srv.Endpoint, "--s3-path-style", "--s3-access-key-id=" + srv.AccessKey,
		"--s3-secret-access-key=" + srv.SecretKey, "--path-backend=var/site/storage/images=" + dfs.S3Backend}, admin, bucket
}

// migrateJSON runs ezdfsd migrate --json in process and decodes its report.
func migrateJSON(t *testing.T, args ...string) (migrate.Report, int) {
	t.Helper()
	code, out, errs := runCmd(t, nil, append([]string{"migrate", "--json"}, args...)...)
	var rep migrate.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("exit %d, stdout %q is not the JSON report (%v); stderr:\n%s", code, out, err, errs)
	}
	return rep, code
}

// TestMigrateKilledAndResumed kills a bandwidth-limited migrate with SIGKILL once part of the
// files are in the bucket, then runs it again: the second run skips every object the first
// completed (proven from HeadObject, none of their bytes read again) and copies each of the
// others exactly once.
func TestMigrateKilledAndResumed(t *testing.T) {
	const n, size = 40, 256 << 10
	args, admin, bucket := migrateSetup(t, n, size)
	cmd := exec.Command(os.Args[0], "-test.run=^TestMigrateChild$")
	child := append([]string{"migrate", "--bandwidth=1MiB", "--concurrency=4", "--progress=never"}, args...)
	cmd.Env = append(os.Environ(), migrateChildEnv+"="+strings.Join(child, "\x1f"))
	var out testkit.SyncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	count := func() int {
		res, err := admin.ListObjectsV2(context.Background(), &awss3.ListObjectsV2Input{Bucket: aws.String(bucket)})
		if err != nil {
			t.Fatal(err)
		}
		return len(res.Contents)
	}
	for count() < 8 {
		select {
		case err := <-exited:
			t.Fatalf("the child ended before it was killed (%v):\n%s", err, out.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-exited
	done := count()
	if done >= n {
		t.Fatalf("the child copied all %d files before the kill", n)
	}
	// Each object listed is complete and stamped (PutObject is atomic).
	for i := range n {
		h, err := admin.HeadObject(context.Background(), &awss3.HeadObjectInput{Bucket: aws.String(bucket),
			Key: aws.String("var/site/storage/images/k/" + strconv.Itoa(i) + ".jpg"), ChecksumMode: types.ChecksumModeEnabled})
		if err == nil && (aws.ToInt64(h.ContentLength) != size || h.ChecksumCRC64NVME == nil) {
			t.Errorf("object %d after the kill: %d bytes, checksum %v", i, aws.ToInt64(h.ContentLength), h.ChecksumCRC64NVME)
		}
	}
	rep, code := migrateJSON(t, args...)
	left := int64(n - done)
	if code != 0 || rep.FilesSkipped != int64(done) || rep.FilesCopied != left || rep.SourceBytesRead != left*size ||
		rep.BytesCopied != left*size || rep.FilesRecopied != 0 || rep.FilesFailed != 0 {
		t.Fatalf("resumed run (exit %d): %+v\nwant %d skipped without reading, %d copied once (%d bytes read)", code, rep, done, left, left*size)
	}
	t.Logf("killed after %d of %d files; the resumed run copied %d", done, n, rep.FilesCopied)
}

// TestMigrateCommandLine checks the dry run's pairs (text and JSON) and the usage errors.
func TestMigrateCommandLine(t *testing.T) {
	args, _, _ := migrateSetup(t, 3, 1000)
	code, out, errs := runCmd(t, nil, append([]string{"migrate", "--dry-run"}, args...)...)
	if code != 0 || !strings.Contains(out, "  mount -> s3           3 files            3000 bytes\n") ||
		!strings.Contains(out, "ezdfsd migrate: dry run: 3 rows in ") {
		t.Errorf("dry run: exit %d\n%s\n%s", code, out, errs)
	}
	rep, code := migrateJSON(t, append([]string{"--dry-run"}, args...)...)
	if code != 0 || len(rep.Pairs) != 1 || rep.Pairs[0] != (migrate.Pair{From: "mount", To: "s3", Files: 3, Bytes: 3000}) || rep.FilesCopied != 0 {
		t.Errorf("dry run --json: exit %d, %+v", code, rep)
	}
	rep, code = migrateJSON(t, args...)
	if code != 0 || rep.FilesCopied != 3 || rep.BytesCopied != 3000 {
		t.Errorf("run: exit %d, %+v", code, rep)
	}
	code, out, _ = runCmd(t, nil, append([]string{"migrate"}, args...)...)
	if want := "ezdfsd migrate: copied 0 files (0 bytes), 3 already in the target and verified, 0 already on their backend; 0 copied again, 0 mismatches, 0 failed; in "; code != 0 || !strings.Contains(out, want) {
		t.Errorf("second run: exit %d, %q, want %q", code, out, want)
	}
	for _, bad := range []struct{ flag, want string }{
		{"--from=nfs", `ezdfsd migrate: --from: "nfs" is not mount or s3`},
		{"--bandwidth=fast", `ezdfsd migrate: --bandwidth: "fast" is not a rate in bytes per second (e.g. 50MiB, 10MB)`},
		{"--concurrency=0", `ezdfsd migrate: --concurrency: "0" is not a positive number`},
		{"--acl=everyone", `ezdfsd migrate: --acl: "everyone" is not a canned S3 ACL (e.g. public-read)`},
		{"--progress=sometimes", `ezdfsd migrate: --progress: "sometimes" is not auto, always or never`},
	} {
		code, _, errs := runCmd(t, nil, append([]string{"migrate", bad.flag}, args...)...)
		if code != 2 || !strings.Contains(errs, bad.want) {
			t.Errorf("%s: exit %d, stderr %q, want 2 and %q", bad.flag, code, errs, bad.want)
		}
	}
	code, _, errs = runCmd(t, nil, "migrate", "--from=s3", "--metadata=sqlite", "--sqlite="+filepath.Join(t.TempDir(), "x.sqlite"), "--mount-point="+t.TempDir())
	if want := "ezdfsd migrate: --from s3: no s3 backend is configured (--s3-bucket)"; code != 2 || !strings.Contains(errs, want) {
		t.Errorf("--from s3 without a bucket: exit %d, %q, want %q", code, errs, want)
	}
}
