package opstest

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ezdfsd/ezdfsd/internal/testenv"
	"github.com/ezdfsd/ezdfsd/internal/testkit"
	"github.com/ezdfsd/ezdfsd/metadata"
	"github.com/ezdfsd/ezdfsd/ops"
)

// TestSlowSIGTERMFinishesLargeDownload builds the real binary, serves a 512 MiB file with it and
// reads that file slowly (~3 s). SIGHUP first: ignored. Then SIGTERM 1 s into the download, with
// --drain-delay 2s: /readyz answers 503 "stopping" at once, a new connection made once the
// daemon has logged that the drain started is still served, connections are refused only after
// the drain delay, the download completes with every byte, and the process exits 0 within the
// shutdown timeout.
func TestSlowSIGTERMFinishesLargeDownload(t *testing.T) {
	testenv.RequireSlow(t)
	const (
		size            = 512 << 20
		readFor         = 3 * time.Second
		signalAfter     = 1 * time.Second
		drainDelay      = 2 * time.Second // room for a request once the drain is seen to start
		shutdownTimeout = 20 * time.Second
		big             = "var/site/storage/images/big/large.bin"
		small           = "var/site/storage/images/small/s.jpg"
	)
	bin := buildBinary(t)
	fx := newFixture(t)
	sum := writeLarge(t, filepath.Join(fx.Mount, filepath.FromSlash(big)), size)
	putRow(t, fx.Store, metadata.File{Name: big, Datatype: "application/octet-stream", Size: size, MTime: 1700000000})
	fx.put(t, metadata.File{Name: small, Datatype: "image/jpeg", Size: 100, MTime: 1700000000}, content(100, 4))

	filesAddr := "127.0.0.1:" + strconv.Itoa(freePort(t))
	metricsAddr := "127.0.0.1:" + strconv.Itoa(freePort(t))
	var logs testkit.SyncBuffer
	cmd := exec.Command(bin, "serve", "--listen="+filesAddr, "--metrics-listen="+metricsAddr,
		"--metadata=sqlite", "--sqlite="+fx.SQLite, "--mount-point="+fx.Mount, "--served-by=",
		"--drain-delay="+drainDelay.String(), "--shutdown-timeout="+shutdownTimeout.String())
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	var exitErr error
	hasExited := false
	t.Cleanup(func() {
		if !hasExited {
			cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("ezdfsd output:\n%s", testkit.Tail(logs.String(), 8000))
		}
	})
	filesURL, metricsURL := "http://"+filesAddr, "http://"+metricsAddr
	c := newClient(t)
	if !waitFor(15*time.Second, 50*time.Millisecond, func() bool {
		code, _, err := readyz(c, metricsURL)
		return err == nil && code == 200
	}) {
		t.Fatal("ezdfsd never became ready")
	}

	t.Run("SIGHUP is ignored", func(t *testing.T) {
		if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-exited:
			hasExited, exitErr = true, err
			t.Fatalf("ezdfsd exited on SIGHUP: %v", err)
		case <-time.After(300 * time.Millisecond):
		}
		if r := do(t, c, http.MethodGet, filesURL+"/"+small); r.Code != 200 {
			t.Errorf("GET after SIGHUP = %d", r.Code)
		}
		if code, st, err := readyz(c, metricsURL); err != nil || code != 200 || st.State != ops.StateReady {
			t.Errorf("/readyz after SIGHUP = %d %q (%v)", code, st.State, err)
		}
	})
	if hasExited {
		t.FailNow()
	}

	// The download, on its own connection, read at size/readFor bytes per second. Before its
	// last 32 MiB it waits until the poller below has seen the listener refuse a connection, so
	// "refused while a download is still in flight" does not depend on timing.
	refused := make(chan struct{})
	type result struct {
		code   int
		clen   int64
		n      int64
		sum    [32]byte
		err    error
		took   time.Duration
		doneAt time.Time
	}
	downloaded := make(chan result, 1)
	started := make(chan time.Time, 1)
	dl := &http.Client{Transport: &http.Transport{DisableCompression: true}}
	go func() {
		var res result
		defer func() { downloaded <- res }()
		start := time.Now()
		resp, err := dl.Get(filesURL + "/" + big)
		if err != nil {
			res.err = err
			started <- time.Now()
			return
		}
		defer resp.Body.Close()
		started <- time.Now()
		res.code, res.clen = resp.StatusCode, resp.ContentLength
		h := sha256.New()
		buf := make([]byte, 256<<10)
		gated := false
		for {
			if !gated && res.n >= size-32<<20 {
				gated = true
				select {
				case <-refused:
				case <-time.After(15 * time.Second):
					res.err = errors.New("the listener was never seen refusing connections")
				}
			}
			k, err := resp.Body.Read(buf)
			h.Write(buf[:k])
			res.n += int64(k)
			if err == io.EOF {
				break
			}
			if err != nil {
				res.err = err
				break
			}
			if ahead := time.Duration(float64(res.n)/size*float64(readFor)) - time.Since(start); ahead > 0 {
				time.Sleep(ahead)
			}
		}
		copy(res.sum[:], h.Sum(nil))
		res.took, res.doneAt = time.Since(start), time.Now()
	}()
	dlStart := <-started
	time.Sleep(signalAfter)

	sigAt := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}

	// Pollers: /readyz until it says stopping; once the daemon logs that the drain started,
	// new connections (one GET each) until refused. Gating on the log line, written before
	// the drain delay starts, makes "served during the drain" an observation, not a guess
	// from /readyz's timing.
	var wg sync.WaitGroup
	var stoppingAt time.Time
	var stoppingBody ops.Status
	wg.Add(2)
	go func() {
		defer wg.Done()
		rc := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 5 * time.Second}
		waitFor(10*time.Second, 20*time.Millisecond, func() bool {
			code, st, err := readyz(rc, metricsURL)
			if err == nil && code == http.StatusServiceUnavailable && st.State == ops.StateStopping {
				stoppingAt, stoppingBody = time.Now(), st
				return true
			}
			return false
		})
	}()
	var servedInDrain int
	var drainAt, lastServed, refusedAt time.Time
	var otherErrs []string
	go func() {
		defer wg.Done()
		if !waitFor(10*time.Second, 5*time.Millisecond, func() bool { return strings.Contains(logs.String(), drainLog) }) {
			return
		}
		drainAt = time.Now()
		nc := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 5 * time.Second}
		waitFor(10*time.Second, 20*time.Millisecond, func() bool {
			r, err := try(nc, http.MethodGet, filesURL+"/"+small)
			switch {
			case err == nil && r.Code == 200:
				servedInDrain++
				lastServed = time.Now()
			case errors.Is(err, syscall.ECONNREFUSED):
				refusedAt = time.Now()
				close(refused)
				return true
			case err != nil:
				otherErrs = append(otherErrs, err.Error())
			default:
				otherErrs = append(otherErrs, fmt.Sprintf("status %d", r.Code))
			}
			return false
		})
	}()

	res := <-downloaded
	wg.Wait()
	var exitAt time.Time
	select {
	case exitErr = <-exited:
		hasExited, exitAt = true, time.Now()
	case <-time.After(drainDelay + shutdownTimeout + 5*time.Second):
		t.Fatalf("ezdfsd still running %v after SIGTERM", time.Since(sigAt).Round(time.Millisecond))
	}

	since := func(at time.Time) string {
		if at.IsZero() {
			return "never"
		}
		return at.Sub(sigAt).Round(time.Millisecond).String()
	}
	t.Logf("SIGTERM %v into the download; /readyz 503 stopping at +%s; drain logged by +%s; %d new requests served during the drain (last at +%s); first refused connection at +%s; download done at +%s (%v total, %.0f MiB/s); process exit at +%s",
		sigAt.Sub(dlStart).Round(time.Millisecond), since(stoppingAt), since(drainAt), servedInDrain, since(lastServed), since(refusedAt),
		since(res.doneAt), res.took.Round(time.Millisecond), float64(res.n)/(1<<20)/res.took.Seconds(), since(exitAt))

	t.Run("download completes with every byte", func(t *testing.T) {
		if res.err != nil {
			t.Fatalf("download: %v (after %d bytes)", res.err, res.n)
		}
		if res.code != 200 || res.clen != size || res.n != size {
			t.Fatalf("download: status %d, Content-Length %d, %d bytes read; want 200, %d, %d", res.code, res.clen, res.n, size, size)
		}
		if res.sum != sum {
			t.Fatalf("download SHA-256 %x, file's %x", res.sum, sum)
		}
		if !res.doneAt.After(refusedAt) {
			t.Errorf("download finished (+%s) before the listener refused (+%s): nothing was in flight", since(res.doneAt), since(refusedAt))
		}
	})
	t.Run("/readyz says stopping", func(t *testing.T) {
		if stoppingAt.IsZero() {
			t.Fatal("/readyz never answered 503 stopping after SIGTERM")
		}
		if _, ok := stoppingBody.Checks["metadata_sqlite"]; !ok {
			t.Errorf("stopping body lacks the checks: %+v", stoppingBody)
		}
	})
	t.Run("new connections are served during the drain and refused after it", func(t *testing.T) {
		if drainAt.IsZero() {
			t.Fatalf("no %q in the log after SIGTERM", drainLog)
		}
		if servedInDrain == 0 {
			t.Errorf("no new connection served after the drain started (logged by +%s; first refusal at +%s; other answers %v)",
				since(drainAt), since(refusedAt), otherErrs)
		}
		if refusedAt.IsZero() {
			t.Fatalf("no connection refused after SIGTERM (%d served, other errors %v)", servedInDrain, otherErrs)
		}
		if d := refusedAt.Sub(sigAt); d < drainDelay {
			t.Errorf("connection refused %v after SIGTERM, before the %v drain delay", d, drainDelay)
		}
		if len(otherErrs) > 0 {
			t.Logf("other answers while polling: %v", otherErrs)
		}
	})
	t.Run("exit 0 within the shutdown timeout", func(t *testing.T) {
		if exitErr != nil {
			t.Fatalf("ezdfsd exit: %v", exitErr)
		}
		if d := exitAt.Sub(sigAt); d > drainDelay+shutdownTimeout {
			t.Errorf("exit %v after SIGTERM, beyond drain delay + shutdown timeout", d)
		}
		if !bytes.Contains([]byte(logs.String()), []byte("ezdfsd stopped")) {
			t.Errorf("no \"ezdfsd stopped\" in the log")
		}
	})
}

// drainLog is what the daemon logs when SIGTERM has made readiness "stopping" and the drain
// delay starts (daemon.App.Run), before the listener closes.
const drainLog = "draining: readiness is stopping, still serving"

// buildBinary builds cmd/ezdfsd into a temp dir, as scripts/test builds it.
func buildBinary(t *testing.T) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("go tool not found: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "ezdfsd")
	build := exec.Command(goBin, "build", "-o", bin, "github.com/ezdfsd/ezdfsd/cmd/ezdfsd")
	build.Dir = ".."
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// writeLarge writes size bytes (whole MiB) to path: each 1 MiB block is content() stamped with
// its block number, so a misplaced block changes the hash. It returns the SHA-256.
func writeLarge(t *testing.T, path string, size int) [32]byte {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	block := content(1<<20, 5)
	for i := 0; i < size>>20; i++ {
		binary.BigEndian.PutUint64(block, uint64(i))
		h.Write(block)
		if _, err := f.Write(block); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	var sum [32]byte
	copy(sum[:], h.Sum(nil))
	return sum
}
