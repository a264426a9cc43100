package opstest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ezdfsd/ezdfsd/dfs"
	"github.com/ezdfsd/ezdfsd/internal/testkit"
	"github.com/ezdfsd/ezdfsd/metadata"
	"github.com/ezdfsd/ezdfsd/metadata/sqlstore"
	"github.com/ezdfsd/ezdfsd/ops"
)

// content returns n deterministic, position-dependent bytes, different for each seed.
func content(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7+i/251) ^ seed
	}
	return b
}

// startDaemon runs the daemon from args (no environment) until the test ends.
func startDaemon(t *testing.T, args ...string) *testkit.Daemon {
	t.Helper()
	return testkit.StartDaemon(t, args, nil)
}

// fixture is an SQLite metadata database and a mount point directory the test writes rows and
// files into while the daemon serves them.
type fixture struct {
	SQLite string
	Mount  string
	Store  *sqlstore.Store
}

// newFixture creates the SQLite file (with eZ's two tables) and an empty mount point.
func newFixture(t *testing.T) *fixture {
	t.Helper()
	dir := t.TempDir()
	f := &fixture{SQLite: filepath.Join(dir, "ezdfs.sqlite"), Mount: filepath.Join(dir, "mnt")}
	if err := os.MkdirAll(f.Mount, 0o755); err != nil {
		t.Fatal(err)
	}
	s, err := sqlstore.OpenSQLite(context.Background(), f.SQLite, sqlstore.Config{Tables: dfs.DefaultTables().Names()}, nil)
	if err != nil {
		t.Fatalf("open sqlite: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	f.Store = s
	return f
}

// args are the daemon settings serving this fixture on free loopback ports.
func (f *fixture) args(extra ...string) []string {
	return append([]string{
		"--listen=127.0.0.1:0", "--metrics-listen=127.0.0.1:0",
		"--metadata=sqlite", "--sqlite=" + f.SQLite, "--mount-point=" + f.Mount,
	}, extra...)
}

// put writes the row of file (into the table dfs routes its name to) and, when data is not nil,
// its bytes below the mount point. The row is written after the bytes, the reverse of eZ, so a
// reader never sees a row whose file is still being written.
func (f *fixture) put(t *testing.T, file metadata.File, data []byte) {
	t.Helper()
	if data != nil {
		writeFile(t, filepath.Join(f.Mount, filepath.FromSlash(file.Name)), data)
	}
	putRow(t, f.Store, file)
}

func putRow(t *testing.T, s *sqlstore.Store, file metadata.File) {
	t.Helper()
	if err := s.Put(context.Background(), dfs.DefaultTables().For(file.Name), file); err != nil {
		t.Fatalf("put %s: %v", file.Name, err)
	}
}

// writeFile replaces path's content atomically (write a temp file, rename), as eZ's DFS
// handler does on the mount point.
func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// response is a finished HTTP exchange.
type response struct {
	Code   int
	Header http.Header
	Body   []byte
}

// do sends method base+target with header pairs and reads the whole answer.
func do(t *testing.T, c *http.Client, method, url string, headers ...string) response {
	t.Helper()
	resp, err := try(c, method, url, headers...)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	return resp
}

func try(c *http.Client, method, url string, headers ...string) (response, error) {
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		return response{}, err
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Add(headers[i], headers[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		return response{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return response{}, fmt.Errorf("read body: %w", err)
	}
	return response{Code: resp.StatusCode, Header: resp.Header, Body: body}, nil
}

// newClient returns an HTTP client that keeps no connections past the test, never follows
// redirects and adds no Accept-Encoding.
func newClient(t *testing.T) *http.Client {
	tr := &http.Transport{
		DialContext:        (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		DisableCompression: true,
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// freePort returns a loopback port that was free a moment ago (for servers that cannot be
// told to pick one and report it).
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// waitFor polls cond every interval until it returns true or timeout passes; it reports
// whether cond became true.
func waitFor(timeout, interval time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(interval)
	}
}

// readyz fetches /readyz and decodes its JSON body.
func readyz(c *http.Client, metricsURL string) (int, ops.Status, error) {
	r, err := try(c, http.MethodGet, metricsURL+"/readyz")
	if err != nil {
		return 0, ops.Status{}, err
	}
	var st ops.Status
	if err := json.Unmarshal(r.Body, &st); err != nil {
		return r.Code, st, fmt.Errorf("/readyz body %q: %w", r.Body, err)
	}
	return r.Code, st, nil
}
