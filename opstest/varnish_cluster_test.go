package opstest

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ezdfsd/ezdfsd/internal/faultproxy"
	"github.com/ezdfsd/ezdfsd/internal/testenv"
	"github.com/ezdfsd/ezdfsd/internal/testkit"
	"github.com/ezdfsd/ezdfsd/metadata"
)

// clusterNode is one web node of deploy/varnish/ezdfsd-cluster.vcl: its host in the shipped file
// and the daemon that stands in for it.
type clusterNode struct {
	host string // as written in the VCL
	d    *testkit.Daemon
}

// clusterVCL rewrites the shipped multi-node VCL for this machine: each node's serving and
// readiness backends point at its daemon, the app backends at appPort (nothing listens: the PHP
// app is not under test), and the probes run every 100 ms so the test need not wait 2 s per probe.
func clusterVCL(t *testing.T, nodes []clusterNode, appPort int) string {
	t.Helper()
	src, err := os.ReadFile("../deploy/varnish/ezdfsd-cluster.vcl")
	if err != nil {
		t.Fatal(err)
	}
	vcl := string(src)
	replace := func(from, to string, want int) {
		t.Helper()
		if n := strings.Count(vcl, from); n != want {
			t.Fatalf("deploy/varnish/ezdfsd-cluster.vcl: %d occurrences of %q, want %d", n, from, want)
		}
		vcl = strings.ReplaceAll(vcl, from, to)
	}
	for _, n := range nodes {
		hostPort := func(port string) string {
			return ".host = \"" + n.host + "\";\n    .port = \"" + port + "\";"
		}
		replace(hostPort("80"), hostPort(strconv.Itoa(appPort)), 1)
		replace(hostPort("8081"), hostPort(portOf(t, n.d.FilesAddr)), 1)
		replace(hostPort("9181"), hostPort(portOf(t, n.d.MetricsAddr)), 1)
		replace(`"`+n.host+`"`, `"127.0.0.1"`, 3)
	}
	interval := regexp.MustCompile(`\.interval = \d+s;`)
	if got := len(interval.FindAllString(vcl, -1)); got != 2 {
		t.Fatalf("deploy/varnish/ezdfsd-cluster.vcl: %d probe intervals, want 2 (alive and ready)", got)
	}
	return interval.ReplaceAllString(vcl, ".interval = 100ms;")
}

// TestVarnishClusterMovesTrafficOffUnreadyNode runs the shipped multi-node VCL in one varnishd in
// front of two daemons (the two web nodes) that share a MariaDB database and a mount point. Node
// A reaches MariaDB through a fault proxy. With both ready, cluster requests reach both nodes;
// when A's database refuses connections, A turns unready and every request still gets a 200 (a
// request that reached A before Varnish's probe saw it is retried on B), then all traffic goes to
// B; when A's database is back, A gets traffic again.
func TestVarnishClusterMovesTrafficOffUnreadyNode(t *testing.T) {
	testenv.RequireSlow(t)
	dsn := testenv.MySQLDatabase(t)
	direct := testkit.MySQLStore(t, dsn)
	proxy, proxied := testkit.ProxyMySQL(t, dsn)
	mount := t.TempDir()

	// Every request asks for a name of its own, so no answer comes from Varnish's or the
	// daemons' caches: each one is a fetch that needs the node's database.
	const files = 250
	body := content(2000, 21)
	name := func(i int) string { return fmt.Sprintf("var/site/storage/images/cluster/%d/f.jpg", i) }
	for i := 0; i < files; i++ {
		writeFile(t, filepath.Join(mount, filepath.FromSlash(name(i))), body)
		putRow(t, direct, metadata.File{Name: name(i), Datatype: "image/jpeg", Scope: "image", Size: int64(len(body)), MTime: 1700000000})
	}
	common := []string{"--listen=127.0.0.1:0", "--metrics-listen=127.0.0.1:0", "--metadata=mysql",
		"--mount-point=" + mount, "--db-timeout=1s", "--readiness-interval=100ms", "--missing-retries=0"}
	a := startDaemon(t, append(common, "--mysql-dsn="+proxied, "--served-by=node-a")...)
	b := startDaemon(t, append(common, "--mysql-dsn="+dsn, "--served-by=node-b")...)
	nodes := []clusterNode{{host: "10.0.1.11", d: a}, {host: "10.0.1.12", d: b}}
	v := startVarnishVCL(t, clusterVCL(t, nodes, freePort(t)))
	c := newClient(t)

	next := 0
	// fetch requests n new names through Varnish and counts the answers by Served-by; any
	// answer other than a 200 with the file fails the test.
	fetch := func(t *testing.T, n int) map[string]int {
		t.Helper()
		by := map[string]int{}
		for i := 0; i < n; i++ {
			if next == files {
				t.Fatal("test ran out of file names")
			}
			r := do(t, c, http.MethodGet, v.URL+"/"+name(next))
			next++
			if r.Code != http.StatusOK || !bytes.Equal(r.Body, body) {
				t.Fatalf("GET %s: %d (%d bytes, Served-by %q), want 200 with the file", name(next-1), r.Code, len(r.Body), r.Header.Get("Served-by"))
			}
			by[r.Header.Get("Served-by")]++
		}
		return by
	}
	// until fetches new names until cond holds for the last answers, and fails after budget.
	until := func(t *testing.T, what string, cond func(by map[string]int) bool) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			by := fetch(t, 4)
			if cond(by) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: not seen within 10 s (last answers by node: %v)", what, by)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	aServed := func() float64 {
		testkit.WaitIdle(t, a.App.Registry())
		return testkit.MetricSum(t, a.App.Registry(), "ezdfsd_http_requests_total", map[string]string{"method": "GET"})
	}

	t.Run("both ready nodes get traffic", func(t *testing.T) {
		until(t, "answers from both nodes", func(by map[string]int) bool { return by["node-a"] > 0 && by["node-b"] > 0 })
	})

	t.Run("unready node gets no traffic, and no request errors", func(t *testing.T) {
		if err := proxy.SetMode(faultproxy.Refuse); err != nil {
			t.Fatal(err)
		}
		// Until Varnish's probe has seen A's /readyz turn 503, some requests still reach A,
		// whose database is gone: those are retried on B. fetch fails on any non-200.
		// Until Varnish's probe has seen A's /readyz turn 503, requests still reach A, whose
		// database is gone, and are retried on B: every answer is a 200 from B meanwhile.
		aBefore := aServed()
		deadline := time.Now().Add(10 * time.Second)
		for backendHealth(t, v, "ezdfsd_1_ready") != "sick" {
			if by := fetch(t, 4); by["node-a"] != 0 {
				t.Fatalf("answers by node while A's database refuses: %v, want all from node-b", by)
			}
			if time.Now().After(deadline) {
				t.Fatal("Varnish's probe still sees node A ready 10 s after its database went away")
			}
		}
		t.Logf("%v requests reached node A before Varnish's probe took it out; each was retried on B", aServed()-aBefore)
		before := aServed()
		by := fetch(t, 40)
		if by["node-b"] != 40 {
			t.Errorf("answers by node after A turned unready: %v, want all 40 from node-b", by)
		}
		if got := aServed(); got != before {
			t.Errorf("node A served %v GETs while unready, want 0", got-before)
		}
	})

	t.Run("node back in rotation when ready again", func(t *testing.T) {
		if err := proxy.SetMode(faultproxy.Pass); err != nil {
			t.Fatal(err)
		}
		until(t, "answers from node A again", func(by map[string]int) bool { return by["node-a"] > 0 })
	})
}

// backendHealth returns the health varnishadm reports for the named backend of v's VCL
// ("healthy" or "sick").
func backendHealth(t *testing.T, v *varnish, name string) string {
	t.Helper()
	out, err := exec.Command("varnishadm", "-n", v.Dir, "backend.list", "*."+name).CombinedOutput()
	if err != nil {
		t.Fatalf("varnishadm backend.list: %v\n%s", err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) > 0 && strings.HasSuffix(f[0], "."+name) {
			for _, w := range f[1:] {
				if w == "healthy" || w == "sick" {
					return w
				}
			}
		}
	}
	t.Fatalf("varnishadm backend.list: no health for %s in:\n%s", name, out)
	return ""
}
