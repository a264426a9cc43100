package opstest

import (
	"bytes"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ezdfsd/ezdfsd/internal/testenv"
	"github.com/ezdfsd/ezdfsd/internal/testkit"
	"github.com/ezdfsd/ezdfsd/metadata"
)

// The VCL's intended TTLs (deploy/varnish/ezdfsd.vcl): 404s are cached 10 s with no grace;
// while ezdfsd_ready is healthy clients get 10 s of grace on expired 200s.
const (
	vcl404TTL   = 10 * time.Second
	vclReqGrace = 10 * time.Second
)

// Daemon settings the Varnish test runs with: short metadata-cache TTLs so a row change reaches
// Varnish's fetches quickly, and a short Expires so object expiry and revalidation can be seen.
const (
	daemonCacheTTL    = 1 * time.Second
	daemonNegativeTTL = 1 * time.Second
	daemonExpiry      = 4 * time.Second
)

// varnish is a private varnishd (own -n directory, own port) running the shipped VCL.
type varnish struct {
	URL string
	Dir string // the -n directory, for varnishstat / varnishadm
}

// startVarnish copies deploy/varnish/ezdfsd.vcl with the ezdfsd backend pointed at filesAddr,
// the readiness probe at metricsAddr and the app backend at appPort, and runs varnishd with it
// until the test ends (stopped by the pid in its -P file).
func startVarnish(t *testing.T, filesAddr, metricsAddr string, appPort int) *varnish {
	t.Helper()
	return startShippedVarnish(t, "ezdfsd.vcl", filesAddr, metricsAddr, appPort)
}

// startShippedVarnish is startVarnish with another shipped VCL of deploy/varnish.
func startShippedVarnish(t *testing.T, file, filesAddr, metricsAddr string, appPort int) *varnish {
	t.Helper()
	if _, err := exec.LookPath("varnishd"); err != nil {
		t.Fatalf("varnishd not installed (scripts/services.sh installs it): %v", err)
	}
	src, err := os.ReadFile("../deploy/varnish/" + file)
	if err != nil {
		t.Fatal(err)
	}
	vcl := string(src)
	for _, r := range []struct{ from, to string }{
		{`.port = "8081";`, `.port = "` + portOf(t, filesAddr) + `";`},
		{`.port = "9181";`, `.port = "` + portOf(t, metricsAddr) + `";`},
		{`.port = "8080";`, `.port = "` + strconv.Itoa(appPort) + `";`},
	} {
		if n := strings.Count(vcl, r.from); n != 1 {
			t.Fatalf("deploy/varnish/%s: %d occurrences of %s, want exactly 1 (see deploy/README.md, Varnish ports)", file, n, r.from)
		}
		vcl = strings.Replace(vcl, r.from, r.to, 1)
	}
	return startVarnishVCL(t, vcl)
}

// startVarnishVCL runs varnishd with the VCL text vcl on a free loopback port until the test ends.
func startVarnishVCL(t *testing.T, vcl string) *varnish {
	t.Helper()
	if _, err := exec.LookPath("varnishd"); err != nil {
		t.Fatalf("varnishd not installed (scripts/services.sh installs it): %v", err)
	}
	// varnishd drops privileges to the varnish / vcache users when run as root: the work
	// directory and the VCL must be readable by them, which t.TempDir (0700) is not.
	dir, err := os.MkdirTemp("", "ezdfsd-opstest-varnish-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	vclPath := filepath.Join(dir, "ezdfsd.vcl")
	if err := os.WriteFile(vclPath, []byte(vcl), 0o644); err != nil {
		t.Fatal(err)
	}
	v := &varnish{Dir: filepath.Join(dir, "n")}
	pidFile := filepath.Join(dir, "varnishd.pid")
	var lastOut string
	for attempt := 0; attempt < 3; attempt++ {
		port := freePort(t)
		var out testkit.SyncBuffer
		cmd := exec.Command("varnishd", "-F", "-a", "127.0.0.1:"+strconv.Itoa(port), "-f", vclPath,
			"-n", v.Dir, "-P", pidFile, "-s", "malloc,64m", "-T", "127.0.0.1:0")
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatalf("start varnishd: %v", err)
		}
		exited := make(chan struct{})
		go func() { cmd.Wait(); close(exited) }()
		t.Cleanup(func() { stopVarnish(t, cmd, pidFile, exited) })
		v.URL = "http://127.0.0.1:" + strconv.Itoa(port)
		up := waitFor(15*time.Second, 50*time.Millisecond, func() bool {
			select {
			case <-exited:
				return true
			default:
			}
			c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), time.Second)
			if err != nil {
				return false
			}
			c.Close()
			return true
		})
		select {
		case <-exited:
			lastOut = out.String()
			continue // e.g. the port was taken meanwhile: try another
		default:
		}
		if !up {
			t.Fatalf("varnishd not answering after 15 s:\n%s", out.String())
		}
		return v
	}
	t.Fatalf("varnishd did not start:\n%s", lastOut)
	return nil
}

// stopVarnish kills the manager by the pid in its -P file (which stops the child too) and waits.
func stopVarnish(t *testing.T, cmd *exec.Cmd, pidFile string, exited chan struct{}) {
	select {
	case <-exited:
		return
	default:
	}
	pid := cmd.Process.Pid
	if b, err := os.ReadFile(pidFile); err == nil {
		if p, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && p > 0 {
			pid = p
		}
	}
	syscall.Kill(pid, syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		t.Errorf("varnishd (pid %d) did not stop on SIGTERM; killing it", pid)
		syscall.Kill(pid, syscall.SIGKILL)
		cmd.Process.Kill()
		<-exited
	}
}

func portOf(t *testing.T, addr string) string {
	t.Helper()
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	return port
}

// xids returns the transaction ids of X-Varnish: one on a miss or pass, two (this request's
// and the cached object's) on a hit.
func xids(r response) []string { return strings.Fields(r.Header.Get("X-Varnish")) }

func isHit(r response) bool { return len(xids(r)) == 2 }

// TestVarnishInFrontOfEzdfsd runs varnishd with the shipped VCL in front of the real daemon
// (SQLite + a mount point) and checks, with real requests through Varnish, the contract
// deploy/README.md documents: second requests are hits that never reach ezdfsd, 404s are cached
// about 10 s and no longer, a changed file is served after PURGE / BAN and after expiry (with
// revalidation), non-GETs pass to ezdfsd's 405, 503s are never cached, and other URLs go to the
// app backend.
func TestVarnishInFrontOfEzdfsd(t *testing.T) {
	testenv.RequireSlow(t)
	fx := newFixture(t)
	d := startDaemon(t, fx.args("--served-by=", "--missing-retries=0",
		"--cache-ttl="+daemonCacheTTL.String(), "--cache-negative-ttl="+daemonNegativeTTL.String(),
		"--expiry-timeout="+daemonExpiry.String())...)
	appPort := freePort(t) // nothing listens there: the eZ web server is "down"
	v := startVarnish(t, d.FilesAddr, strings.TrimPrefix(d.MetricsURL, "http://"), appPort)
	c := newClient(t)
	reg := d.App.Registry()
	// The counters are read once ezdfsd is idle: a request is counted when its handler
	// returns, which can be just after Varnish has passed the whole answer on.
	requests := func(labels map[string]string) float64 {
		testkit.WaitIdle(t, reg)
		return testkit.MetricSum(t, reg, "ezdfsd_http_requests_total", labels)
	}
	served := func(code string) float64 { return requests(map[string]string{"code": code, "method": "GET"}) }
	allServed := func() float64 { return requests(map[string]string{"method": "GET"}) }
	served405 := func() float64 { return requests(map[string]string{"code": "405"}) }
	get := func(t *testing.T, name string) response {
		t.Helper()
		return do(t, c, http.MethodGet, v.URL+"/"+name)
	}
	file := func(name string, size int, mtime int64) metadata.File {
		return metadata.File{Name: name, Datatype: "image/jpeg", Scope: "image", Size: int64(size), MTime: mtime}
	}

	t.Run("second GET is a Varnish hit", func(t *testing.T) {
		const name = "var/site/storage/images/a/hit.jpg"
		body := content(5000, 10)
		fx.put(t, file(name, len(body), 1700000000), body)
		before := served("200")
		r1 := get(t, name)
		if r1.Code != 200 || !bytes.Equal(r1.Body, body) || isHit(r1) {
			t.Fatalf("first GET: %d, %d bytes, X-Varnish %q; want a 200 miss with the file", r1.Code, len(r1.Body), r1.Header.Get("X-Varnish"))
		}
		if got := served("200"); got != before+1 {
			t.Fatalf("ezdfsd 200s %v → %v after the first GET, want +1", before, got)
		}
		r2 := get(t, name)
		if r2.Code != 200 || !bytes.Equal(r2.Body, body) {
			t.Fatalf("second GET: %d, %d bytes", r2.Code, len(r2.Body))
		}
		if !isHit(r2) {
			t.Errorf("second GET X-Varnish %q, want two xids (a hit)", r2.Header.Get("X-Varnish"))
		}
		if got := served("200"); got != before+1 {
			t.Errorf("ezdfsd 200s %v after the second GET, want %v: it was not a hit", got, before+1)
		}
		if r2.Header.Get("Age") == "" || r2.Header.Get("ETag") != `"1700000000-5000"` || r2.Header.Get("Last-Modified") == "" {
			t.Errorf("hit headers: Age %q ETag %q Last-Modified %q", r2.Header.Get("Age"), r2.Header.Get("ETag"), r2.Header.Get("Last-Modified"))
		}
		for _, h := range []string{"X-Url", "X-Host"} {
			if r2.Header.Get(h) != "" {
				t.Errorf("%s leaked to the client: %q", h, r2.Header.Get(h))
			}
		}
		t.Logf("hit evidence: miss X-Varnish %q Age %q; hit X-Varnish %q Age %q; ezdfsd GET 200s %v → %v",
			r1.Header.Get("X-Varnish"), r1.Header.Get("Age"), r2.Header.Get("X-Varnish"), r2.Header.Get("Age"), before, served("200"))
	})

	t.Run("POST passes through to ezdfsd's 405", func(t *testing.T) {
		const name = "var/site/storage/images/a/hit.jpg"
		before := served405()
		for i := 0; i < 2; i++ {
			r := do(t, c, http.MethodPost, v.URL+"/"+name)
			if r.Code != http.StatusMethodNotAllowed || isHit(r) {
				t.Fatalf("POST %d: %d X-Varnish %q, want 405 passed", i, r.Code, r.Header.Get("X-Varnish"))
			}
			if allow := r.Header.Get("Allow"); !strings.Contains(allow, "GET") || !strings.Contains(allow, "HEAD") {
				t.Errorf("Allow = %q", allow)
			}
		}
		if got := served405(); got != before+2 {
			t.Errorf("ezdfsd 405s %v → %v, want +2 (each POST reaches ezdfsd)", before, got)
		}
	})

	t.Run("503 is not cached", func(t *testing.T) {
		// The row says 3000 bytes, the mount point holds 10: ezdfsd answers 503 (short file).
		const name = "var/site/storage/images/e/short.jpg"
		body := content(3000, 11)
		fx.put(t, file(name, len(body), 1700000000), body[:10])
		before := served("503")
		for i := 0; i < 2; i++ {
			r := get(t, name)
			if r.Code != http.StatusServiceUnavailable || isHit(r) || r.Header.Get("Retry-After") == "" {
				t.Fatalf("GET %d: %d X-Varnish %q Retry-After %q, want a 503 miss with Retry-After", i, r.Code, r.Header.Get("X-Varnish"), r.Header.Get("Retry-After"))
			}
		}
		if got := served("503"); got != before+2 {
			t.Errorf("ezdfsd 503s %v → %v, want +2 (no 503 cached)", before, got)
		}
		writeFile(t, filepath.Join(fx.Mount, filepath.FromSlash(name)), body)
		if r := get(t, name); r.Code != 200 || !bytes.Equal(r.Body, body) {
			t.Errorf("GET once the file is complete: %d, %d bytes; want 200 (no stale 503)", r.Code, len(r.Body))
		}
	})

	t.Run("other URLs go to the app backend", func(t *testing.T) {
		before := allServed()
		for _, target := range []string{"/index.php", "/var/site/cache/template/x.php", "/var/site/storage/original/a.pdf"} {
			r := do(t, c, http.MethodGet, v.URL+target)
			if r.Code != http.StatusServiceUnavailable {
				t.Errorf("GET %s = %d, want Varnish's 503 (the app backend is down)", target, r.Code)
			}
		}
		if got := allServed(); got != before {
			t.Errorf("ezdfsd saw %v requests for non-cluster URLs", got-before)
		}
	})

	t.Run("changed file is served after PURGE and BAN", func(t *testing.T) {
		for _, tc := range []struct {
			name  string
			file  string
			purge func(t *testing.T, name string) response
		}{
			{"PURGE", "var/site/storage/images/c/purged.jpg", func(t *testing.T, name string) response {
				return do(t, c, "PURGE", v.URL+"/"+name)
			}},
			{"BAN X-Ban-Url", "var/site/storage/images/c/banned/b.jpg", func(t *testing.T, name string) response {
				return do(t, c, "BAN", v.URL+"/", "X-Ban-Url", `^/var/site/storage/images/c/banned/`)
			}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				old, changed := content(2000, 12), content(2500, 13)
				fx.put(t, file(tc.file, len(old), 1700000000), old)
				get(t, tc.file)
				if r := get(t, tc.file); !isHit(r) || !bytes.Equal(r.Body, old) {
					t.Fatalf("not cached before the change: X-Varnish %q", r.Header.Get("X-Varnish"))
				}
				fx.put(t, file(tc.file, len(changed), 1700000500), changed)
				// ezdfsd's own metadata cache holds the old row up to --cache-ttl: purging
				// before that passes would re-cache the old answer (deploy/README.md, Purging).
				time.Sleep(daemonCacheTTL + 200*time.Millisecond)
				if r := get(t, tc.file); !bytes.Equal(r.Body, old) {
					t.Errorf("changed before the purge: Varnish did not serve its cached copy (X-Varnish %q)", r.Header.Get("X-Varnish"))
				}
				if r := tc.purge(t, tc.file); r.Code != 200 {
					t.Fatalf("%s = %d %s", tc.name, r.Code, r.Body)
				}
				r := get(t, tc.file)
				if r.Code != 200 || !bytes.Equal(r.Body, changed) || isHit(r) {
					t.Fatalf("after %s: %d, %d bytes, X-Varnish %q; want the new 2500 bytes from ezdfsd", tc.name, r.Code, len(r.Body), r.Header.Get("X-Varnish"))
				}
				if et := r.Header.Get("ETag"); et != `"1700000500-2500"` {
					t.Errorf("ETag after %s = %s, want the new mtime and size", tc.name, et)
				}
				if r := get(t, tc.file); !isHit(r) || !bytes.Equal(r.Body, changed) {
					t.Errorf("the new version is not cached: X-Varnish %q", r.Header.Get("X-Varnish"))
				}
			})
		}
		if r := do(t, c, "BAN", v.URL+"/"); r.Code != http.StatusBadRequest {
			t.Errorf("BAN without X-Ban-Url = %d, want 400", r.Code)
		}
	})

	// The two timed checks wait for Varnish TTLs; they run side by side.
	t.Run("timed", func(t *testing.T) {
		t.Run("404 cached for the VCL's TTL, not longer", func(t *testing.T) {
			t.Parallel()
			const name = "var/site/storage/images/b/late.jpg"
			fetched := time.Now()
			r := get(t, name)
			if r.Code != 404 || isHit(r) {
				t.Fatalf("first GET: %d X-Varnish %q, want a 404 miss", r.Code, r.Header.Get("X-Varnish"))
			}
			if r := get(t, name); r.Code != 404 || !isHit(r) {
				t.Fatalf("second GET: %d X-Varnish %q, want a cached 404", r.Code, r.Header.Get("X-Varnish"))
			}
			body := content(700, 14)
			fx.put(t, file(name, len(body), 1700000000), body)
			created := time.Now()
			// Past ezdfsd's negative TTL the name exists for ezdfsd, but Varnish's 404 object lives on.
			time.Sleep(daemonNegativeTTL + 300*time.Millisecond)
			if r := do(t, c, http.MethodGet, d.URL+"/"+name); r.Code != 200 {
				t.Fatalf("ezdfsd itself answers %d after its negative TTL, want 200", r.Code)
			}
			if r := get(t, name); r.Code != 404 || !isHit(r) {
				t.Errorf("GET through Varnish %v after the row was created: %d X-Varnish %q, want the cached 404 (TTL %v)",
					time.Since(created).Round(time.Millisecond), r.Code, r.Header.Get("X-Varnish"), vcl404TTL)
			}
			var last response
			limit := vcl404TTL + daemonNegativeTTL + 3*time.Second
			if !waitFor(limit, 100*time.Millisecond, func() bool {
				last = get(t, name)
				return last.Code == 200
			}) {
				t.Fatalf("still %d %v after the first 404 (VCL 404 TTL %v + ezdfsd negative TTL %v): 404 cached too long",
					last.Code, time.Since(fetched).Round(time.Millisecond), vcl404TTL, daemonNegativeTTL)
			}
			became := time.Now()
			if !bytes.Equal(last.Body, body) {
				t.Errorf("200 with %d bytes, want the file", len(last.Body))
			}
			age := became.Sub(fetched)
			t.Logf("404 TTL observed: 404 cached at +0, row created at +%v, 200 at +%v after the first 404 (%v after the row was created); VCL TTL %v, ezdfsd negative TTL %v",
				created.Sub(fetched).Round(time.Millisecond), age.Round(time.Millisecond), became.Sub(created).Round(time.Millisecond), vcl404TTL, daemonNegativeTTL)
			if age < vcl404TTL-500*time.Millisecond {
				t.Errorf("404 object gone after %v, before the VCL's %v TTL", age, vcl404TTL)
			}
		})

		t.Run("expired objects are revalidated and a change is served", func(t *testing.T) {
			t.Parallel()
			const same, changed = "var/site/storage/images/f/same.jpg", "var/site/storage/images/f/changed.jpg"
			sameBody, oldBody, newBody := content(1500, 15), content(1600, 16), content(1700, 17)
			fx.put(t, file(same, len(sameBody), 1700000000), sameBody)
			fx.put(t, file(changed, len(oldBody), 1700000000), oldBody)
			cachedAt := time.Now()
			get(t, same)
			get(t, changed)
			fx.put(t, file(changed, len(newBody), 1700000900), newBody)
			before304 := served("304")

			// After Expires (daemonExpiry) the object is stale: Varnish serves it within grace and
			// refreshes it in the background with If-None-Match / If-Modified-Since.
			var old int // fresh hits before expiry, then stale answers while the refresh runs
			var last response
			limit := daemonExpiry + vclReqGrace + 3*time.Second
			if !waitFor(limit, 200*time.Millisecond, func() bool {
				last = get(t, changed)
				if bytes.Equal(last.Body, oldBody) {
					old++
					return false
				}
				return true
			}) {
				t.Fatalf("changed file still old %v after it was cached (Expires %v + grace %v)", time.Since(cachedAt).Round(time.Millisecond), daemonExpiry, vclReqGrace)
			}
			took := time.Since(cachedAt)
			if last.Code != 200 || !bytes.Equal(last.Body, newBody) || last.Header.Get("ETag") != `"1700000900-1700"` {
				t.Errorf("after expiry: %d, %d bytes, ETag %s; want the new file", last.Code, len(last.Body), last.Header.Get("ETag"))
			}
			// Expires and Date have one-second resolution, so the TTL Varnish derives can be up
			// to a second short of daemonExpiry.
			if took < daemonExpiry-time.Second {
				t.Errorf("new version served %v after caching, before the object's Expires (%v)", took, daemonExpiry)
			}
			// The unchanged object was revalidated the same way: ezdfsd answered 304 and the
			// client still gets a full 200 from Varnish.
			if !waitFor(5*time.Second, 200*time.Millisecond, func() bool {
				r := get(t, same)
				return r.Code == 200 && bytes.Equal(r.Body, sameBody) && served("304") > before304
			}) {
				t.Errorf("unchanged object: no 304 revalidation reached ezdfsd (304s %v → %v)", before304, served("304"))
			}
			t.Logf("expiry: new version served %v after caching (Expires %v), %d old copies served before (hits, then grace); ezdfsd 304s %v → %v",
				took.Round(time.Millisecond), daemonExpiry, old, before304, served("304"))
		})
	})

	if out, err := exec.Command("varnishstat", "-n", v.Dir, "-1", "-f", "MAIN.cache_hit", "-f", "MAIN.cache_miss",
		"-f", "MAIN.cache_hitpass", "-f", "MAIN.s_pass", "-f", "MAIN.n_purges", "-f", "MAIN.bans_completed").CombinedOutput(); err == nil {
		t.Logf("varnishstat:\n%s", out)
	} else {
		t.Logf("varnishstat: %v %s", err, out)
	}
}
