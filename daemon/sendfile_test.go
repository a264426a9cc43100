package daemon_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ezdfsd/ezdfsd/dfs"
	"github.com/ezdfsd/ezdfsd/internal/testenv"
	"github.com/ezdfsd/ezdfsd/internal/testkit"
	"github.com/ezdfsd/ezdfsd/metadata"
	"github.com/ezdfsd/ezdfsd/metadata/sqlstore"
	"github.com/ezdfsd/ezdfsd/storage/storagetest"
)

const (
	// sendfileChildEnv names the directory a re-executed test binary serves from; set only in
	// the child that TestSendfileEndToEnd runs under strace.
	sendfileChildEnv = "EZDFSD_SENDFILE_E2E_CHILD"
	sendfileName     = "var/ezdemo_site/storage/images/sendfile/big.bin"
	sendfileSize     = 6 << 20
	// tracedSyscalls are every way the file's bytes could leave: sendfile (the fast path), the
	// reads that would pull them into user space, and the other copy and splice calls.
	tracedSyscalls = "trace=sendfile,read,pread64,readv,preadv,preadv2,write,writev,copy_file_range,splice"
)

// TestSendfileEndToEnd proves that the daemon's real handler chain (daemon.App: concurrency
// limit, metrics, httpserve, the mount point) hands file bodies to the kernel's sendfile. The
// test binary re-runs itself as a daemon child under `strace -f`, asks it for the whole 6 MiB
// file, one range and two ranges (multipart), and then reads only the system calls: every byte
// of the file that was served must have left through sendfile(2) from the file's descriptor, and
// no read(2)/pread(2) of that descriptor may have copied any of it into user space. Nothing here
// depends on the HTTP engine (net/http today), so the test holds for any engine that sendfiles.
// A wrapper that hides io.ReaderFrom, or a copy that hides the *os.File, fails it.
func TestSendfileEndToEnd(t *testing.T) {
	if dir := os.Getenv(sendfileChildEnv); dir != "" {
		sendfileChild(t, dir)
		return
	}
	strace := requireStrace(t)
	dir := t.TempDir()
	data := storagetest.Data(16, sendfileSize)
	writeSendfileFixture(t, dir, data)

	traceDir := filepath.Join(dir, "trace")
	if err := os.Mkdir(traceDir, 0o755); err != nil {
		t.Fatal(err)
	}
	// -ff: one file per thread, so no call is split into "unfinished"/"resumed" halves; -y: every
	// descriptor argument carries its path, e.g. 9</tmp/.../big.bin>; --seccomp-bpf: only the
	// traced calls stop the daemon.
	cmd := exec.Command(strace, "-f", "-ff", "-qq", "-y", "-s", "8", "--seccomp-bpf", "-e", tracedSyscalls,
		"-o", filepath.Join(traceDir, "t"),
		os.Args[0], "-test.run=^TestSendfileEndToEnd$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), sendfileChildEnv+"="+dir)
	out := &testkit.SyncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	stop, err := cmd.StdinPipe() // closing it tells the child to stop
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start the daemon child under strace: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		stop.Close()
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
	}()
	url := waitChildURL(t, dir, exited, out)

	client := &http.Client{Timeout: 60 * time.Second}
	cases := []struct {
		name, rangeHdr string
		code           int
		fileBytes      int64 // bytes of the file the answer carries
	}{
		{"whole file", "", http.StatusOK, sendfileSize},
		{"one range", "bytes=1000000-2999999", http.StatusPartialContent, 2000000},
		{"two ranges (multipart)", "bytes=0-99999,4000000-4999999", http.StatusPartialContent, 1100000},
	}
	var wantFile, bodies int64
	for _, c := range cases {
		got := getBody(t, client, url+"/"+sendfileName, c.rangeHdr, c.code)
		checkBody(t, c.name, c.rangeHdr, got, data)
		wantFile += c.fileBytes
		bodies += int64(len(got))
	}

	stop.Close()
	select {
	case err := <-exited:
		exited <- err
		if err != nil {
			t.Fatalf("daemon child under strace: %v\n%s", err, testkit.Tail(out.String(), 4000))
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("daemon child did not stop 30 s after stdin closed\n%s", testkit.Tail(out.String(), 4000))
	}

	file, err := filepath.EvalSymlinks(filepath.Join(dir, "mnt", filepath.FromSlash(sendfileName)))
	if err != nil {
		t.Fatal(err)
	}
	moved := fileSyscalls(t, traceDir, file)
	t.Logf("%d body bytes served (%d of them file bytes) in 3 answers; system calls on the file: %s",
		bodies, wantFile, moved)
	if moved.bytes["sendfile"] != wantFile {
		t.Errorf("sendfile(2) moved %d bytes of the file, want all %d served: the fast path is lost "+
			"(a ResponseWriter wrapper hiding io.ReaderFrom, or a body copy that hides the *os.File)",
			moved.bytes["sendfile"], wantFile)
	}
	if n := moved.userSpace(); n != 0 {
		t.Errorf("%d bytes of the file were read into user space (%s), want 0", n, moved)
	}
	if t.Failed() {
		t.Logf("system calls on the file (first 10):\n%s", strings.Join(moved.sample, "\n"))
	}
}

// requireStrace returns strace's path once it has traced a trivial command here: a missing
// strace, or a kernel/container that denies ptrace, skips locally and fails under CI=true.
func requireStrace(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("strace")
	if err != nil {
		testenv.Missing(t, "strace, to trace sendfile (apt-get install strace; scripts/services.sh installs it)")
	}
	if out, err := exec.Command(path, "-f", "-qq", "-e", "trace=none", "true").CombinedOutput(); err != nil {
		testenv.Missing(t, fmt.Sprintf("strace cannot trace here (ptrace denied?): %v: %s", err, out))
	}
	return path
}

// writeSendfileFixture writes data below dir/mnt and its row into dir/ezdfs.sqlite.
func writeSendfileFixture(t *testing.T, dir string, data []byte) {
	t.Helper()
	path := filepath.Join(dir, "mnt", filepath.FromSlash(sendfileName))
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	s, err := sqlstore.OpenSQLite(ctx, filepath.Join(dir, "ezdfs.sqlite"), sqlstore.Config{Tables: dfs.DefaultTables().Names()}, nil)
	if err != nil {
		t.Fatalf("open sqlite: %v", err)
	}
	defer s.Close()
	f := metadata.File{Name: sendfileName, Datatype: "application/octet-stream", Scope: "binaryfile",
		Size: int64(len(data)), MTime: 1700000000}
	if err := s.Put(ctx, dfs.DefaultTables().For(f.Name), f); err != nil {
		t.Fatalf("put %s: %v", f.Name, err)
	}
}

// sendfileChild runs the daemon exactly as `ezdfsd serve` builds it (config.Load, daemon.New,
// App.Run) on the fixture in dir, publishes its URL in dir/url, and serves until stdin closes.
func sendfileChild(t *testing.T, dir string) {
	d := testkit.StartDaemon(t, []string{
		"--listen=127.0.0.1:0", "--metrics-listen=127.0.0.1:0",
		"--metadata=sqlite", "--sqlite=" + filepath.Join(dir, "ezdfs.sqlite"),
		"--mount-point=" + filepath.Join(dir, "mnt"), "--shutdown-timeout=5s",
	}, nil)
	tmp := filepath.Join(dir, "url.tmp")
	if err := os.WriteFile(tmp, []byte(d.URL), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, "url")); err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, os.Stdin) // until the parent closes the pipe (or dies)
}

// waitChildURL waits for the child's URL, failing if the child exits first or takes a minute
// (strace and a loaded machine make the start slow, never that slow).
func waitChildURL(t *testing.T, dir string, exited chan error, out *testkit.SyncBuffer) string {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "url")); err == nil {
			return string(b)
		}
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("daemon child exited before serving: %v\n%s", err, testkit.Tail(out.String(), 4000))
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("daemon child not serving after a minute\n%s", testkit.Tail(out.String(), 4000))
		}
	}
}

// getBody GETs url with an optional Range header and returns the body, failing on another
// status or a body shorter than Content-Length.
func getBody(t *testing.T, c *http.Client, url, rangeHdr string, code int) []byte {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rangeHdr != "" {
		req.Header.Set("Range", rangeHdr)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET Range %q: %v", rangeHdr, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET Range %q: body: %v", rangeHdr, err)
	}
	if resp.StatusCode != code {
		t.Fatalf("GET Range %q: status %d, want %d: %.200s", rangeHdr, resp.StatusCode, code, body)
	}
	if resp.ContentLength != int64(len(body)) {
		t.Fatalf("GET Range %q: %d body bytes, Content-Length %d", rangeHdr, len(body), resp.ContentLength)
	}
	return body
}

// checkBody checks that body carries the right bytes of data: the whole of it, one range, or
// (multipart) each listed range in order.
func checkBody(t *testing.T, name, rangeHdr string, body, data []byte) {
	t.Helper()
	if rangeHdr == "" {
		if !bytes.Equal(body, data) {
			t.Fatalf("%s: %d bytes that differ from the %d stored", name, len(body), len(data))
		}
		return
	}
	rest := body
	for _, spec := range strings.Split(strings.TrimPrefix(rangeHdr, "bytes="), ",") {
		a, b, _ := strings.Cut(spec, "-")
		start, _ := strconv.Atoi(a)
		end, _ := strconv.Atoi(b)
		want := data[start : end+1]
		i := bytes.Index(rest, want)
		if i < 0 || (!strings.Contains(rangeHdr, ",") && (i != 0 || len(rest) != len(want))) {
			t.Fatalf("%s: bytes %s are not in the %d-byte body", name, spec, len(body))
		}
		rest = rest[i+len(want):]
	}
}

// traceLine is one strace -y line: pid file prefix aside, "name(fd<path>, ...) = result".
var traceLine = regexp.MustCompile(`^(\w+)\((.*)\)\s+= (-?\d+)`)

// fdPath is a descriptor argument printed by strace -y: 9</path/to/file>.
var fdPath = regexp.MustCompile(`^\d+<(.*?)>(?:, |$)`)

// fileMoves counts, per system call, the bytes it returned for calls that read the file.
type fileMoves struct {
	bytes  map[string]int64
	calls  map[string]int
	sample []string
}

// userSpace is the number of file bytes read(2)-family calls copied into the process.
func (m fileMoves) userSpace() int64 {
	return m.bytes["read"] + m.bytes["pread64"] + m.bytes["readv"] + m.bytes["preadv"] + m.bytes["preadv2"]
}

func (m fileMoves) String() string {
	var parts []string
	for _, name := range []string{"sendfile", "read", "pread64", "readv", "preadv", "preadv2", "copy_file_range", "splice"} {
		if m.calls[name] > 0 {
			parts = append(parts, fmt.Sprintf("%s ×%d = %d bytes", name, m.calls[name], m.bytes[name]))
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// fileSyscalls reads every per-thread trace file in dir and sums the results of the calls whose
// source descriptor is file: sendfile's and copy_file_range's second argument (in_fd), the
// first argument of the read family and of splice.
func fileSyscalls(t *testing.T, dir, file string) fileMoves {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(dir, "t.*"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no strace output in %s (%v)", dir, err)
	}
	m := fileMoves{bytes: map[string]int64{}, calls: map[string]int{}}
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			g := traceLine.FindStringSubmatch(line)
			if g == nil {
				continue
			}
			name, args := g[1], g[2]
			if name == "sendfile" || name == "copy_file_range" {
				if _, after, ok := strings.Cut(args, ">, "); ok { // skip the first (out) descriptor
					args = after
				}
			}
			a := fdPath.FindStringSubmatch(args)
			if a == nil || a[1] != file {
				continue
			}
			n, _ := strconv.ParseInt(g[3], 10, 64)
			m.calls[name]++
			if n > 0 {
				m.bytes[name] += n
			}
			if len(m.sample) < 10 {
				m.sample = append(m.sample, line)
			}
		}
		f.Close()
		if err := sc.Err(); err != nil {
			t.Fatalf("read %s: %v", p, err)
		}
	}
	return m
}
