package opstest

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ezdfsd/ezdfsd/internal/faultproxy"
	"github.com/ezdfsd/ezdfsd/internal/testenv"
	"github.com/ezdfsd/ezdfsd/internal/testkit"
	"github.com/ezdfsd/ezdfsd/metadata"
	"github.com/ezdfsd/ezdfsd/ops"
)

// readinessBudget is how long a dependency change may take to show in /readyz: the test's daemon
// probes every 500 ms (--readiness-interval), each probe bounded by 2 s, plus scheduling slack.
const readinessBudget = 5 * time.Second

// TestReadyzFlipsWhenMariaDBStops runs the daemon against real MariaDB through a fault proxy:
// /readyz is 200 "ready", turns 503 "not_ready" naming the metadata check when the proxy refuses
// connections (files that need the database answer 503 + Retry-After meanwhile), and comes back
// to 200 when the proxy passes again, without a restart.
func TestReadyzFlipsWhenMariaDBStops(t *testing.T) {
	t.Parallel() // a few seconds of waiting for probes; let the rest of the package run meanwhile
	dsn := testenv.MySQLDatabase(t)
	direct := testkit.MySQLStore(t, dsn)
	proxy, proxied := testkit.ProxyMySQL(t, dsn)

	mount := t.TempDir()
	const before, during = "var/site/storage/images/before.jpg", "var/site/storage/images/during.jpg"
	for _, name := range []string{before, during} {
		writeFile(t, mount+"/"+name, content(100, 3))
		putRow(t, direct, metadata.File{Name: name, Datatype: "image/jpeg", Size: 100, MTime: 1700000000})
	}
	d := startDaemon(t, "--listen=127.0.0.1:0", "--metrics-listen=127.0.0.1:0", "--metadata=mysql",
		"--mysql-dsn="+proxied, "--mount-point="+mount, "--db-timeout=1s", "--retry-after=3s", "--readiness-interval=500ms")
	c := newClient(t)

	// wait polls /readyz until it answers code with state, and returns that answer and how long
	// it took.
	wait := func(t *testing.T, code int, state string) (ops.Status, time.Duration) {
		t.Helper()
		start := time.Now()
		var last ops.Status
		var lastCode int
		var lastErr error
		if !waitFor(readinessBudget, 100*time.Millisecond, func() bool {
			lastCode, last, lastErr = readyz(c, d.MetricsURL)
			return lastErr == nil && lastCode == code && last.State == state
		}) {
			t.Fatalf("/readyz did not become %d %q within %v: last %d %+v (err %v)", code, state, readinessBudget, lastCode, last, lastErr)
		}
		return last, time.Since(start)
	}

	st, _ := wait(t, http.StatusOK, ops.StateReady)
	checkShape(t, st, true)
	if r := do(t, c, http.MethodGet, d.URL+"/"+before); r.Code != 200 {
		t.Fatalf("GET before the outage = %d", r.Code)
	}

	if err := proxy.SetMode(faultproxy.Refuse); err != nil {
		t.Fatal(err)
	}
	st, took := wait(t, http.StatusServiceUnavailable, ops.StateNotReady)
	t.Logf("MariaDB refused → /readyz 503 not_ready after %v", took.Round(10*time.Millisecond))
	checkShape(t, st, false)
	if failed := st.Failed(); len(failed) != 1 || failed[0] != "metadata_mysql" {
		t.Errorf("Failed() = %v, want [metadata_mysql]", failed)
	}
	if got := testkit.MetricSum(t, d.App.Registry(), "ezdfsd_ready", nil); got != 0 {
		t.Errorf("ezdfsd_ready = %v during the outage, want 0", got)
	}
	if got := testkit.MetricSum(t, d.App.Registry(), "ezdfsd_dependency_up", map[string]string{"dependency": "metadata_mysql"}); got != 0 {
		t.Errorf("ezdfsd_dependency_up{dependency=metadata_mysql} = %v during the outage, want 0", got)
	}
	r := do(t, c, http.MethodGet, d.URL+"/"+during)
	if r.Code != http.StatusServiceUnavailable || r.Header.Get("Retry-After") != "3" {
		t.Errorf("GET of an uncached name during the outage = %d Retry-After %q, want 503 and 3", r.Code, r.Header.Get("Retry-After"))
	}

	if err := proxy.SetMode(faultproxy.Pass); err != nil {
		t.Fatal(err)
	}
	st, took = wait(t, http.StatusOK, ops.StateReady)
	t.Logf("MariaDB back → /readyz 200 ready after %v", took.Round(10*time.Millisecond))
	checkShape(t, st, true)
	if r := do(t, c, http.MethodGet, d.URL+"/"+during); r.Code != 200 {
		t.Errorf("GET after recovery = %d, want 200", r.Code)
	}
	if got := testkit.MetricSum(t, d.App.Registry(), "ezdfsd_ready", nil); got != 1 {
		t.Errorf("ezdfsd_ready = %v after recovery, want 1", got)
	}
}

// checkShape checks the /readyz body: the metadata and mount point checks are both reported,
// both critical, the mount point is fine, the metadata check is as wantDB says (an error text
// when it failed, without the database password), and each was probed.
func checkShape(t *testing.T, st ops.Status, wantDB bool) {
	t.Helper()
	raw, _ := json.Marshal(st)
	t.Logf("/readyz body: %s", raw)
	for _, name := range []string{"metadata_mysql", "mountpoint"} {
		cr, ok := st.Checks[name]
		if !ok {
			t.Errorf("/readyz checks lack %q: %s", name, raw)
			continue
		}
		if !cr.Critical {
			t.Errorf("check %s not critical", name)
		}
		if cr.Checked.IsZero() {
			t.Errorf("check %s never probed", name)
		}
		want := name == "mountpoint" || wantDB
		if cr.OK != want {
			t.Errorf("check %s ok = %v, want %v", name, cr.OK, want)
		}
		if cr.OK != (cr.Error == "") {
			t.Errorf("check %s: ok %v with error %q", name, cr.OK, cr.Error)
		}
		if strings.Contains(cr.Error, "ezp-pass") {
			t.Errorf("check %s error leaks the database password: %q", name, cr.Error)
		}
	}
}
