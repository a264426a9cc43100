package integration

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-sql-driver/mysql"

	"github.com/ezdfsd/ezdfsd/internal/testenv"
	"github.com/ezdfsd/ezdfsd/internal/testkit"
	"github.com/ezdfsd/ezdfsd/metadata"
)

// escapeTarget percent-encodes every byte outside printable ASCII, as a browser sends a
// UTF-8 path.
func escapeTarget(name string) string {
	var b strings.Builder
	for i := 0; i < len(name); i++ {
		if c := name[i]; c <= ' ' || c >= 0x7f || c == '%' || c == '?' || c == '#' {
			fmt.Fprintf(&b, "%%%02X", c)
		} else {
			b.WriteByte(c)
		}
	}
	return b.String()
}

// TestDoubleEncodedNameServedByNameHash is issue 10's old-site case on real MariaDB: eZ wrote
// the row through a latin1 connection, so the utf8mb4 name column holds the UTF-8 name
// double-encoded ("cafÃ©" for "café") while name_hash is md5 of the UTF-8 name PHP hashed and
// the file on the mount point has the UTF-8 name. index_cluster.php looks up name_hash only and
// serves it; so must ezdfsd, from the database, from its memory tier, and (for a second node)
// from memcached.
func TestDoubleEncodedNameServedByNameHash(t *testing.T) {
	e := newCachingEnv(t)
	mc := testenv.MemcachedAddrs(t)
	prefix := "ezdfsd-it-" + testenv.RandomSuffix() + ":"
	args := cachedDaemonArgs(e.dsn, e.mount, strings.Join(mc, ","), prefix)
	args = append(args, "--cache-ttl=1m") // the later GETs must be answered by the caches

	name := imgX + "zürich/café-1-fre-FR/crème brûlée.jpg"
	data := []byte("bytes of the old site's " + name)
	writeFile(t, filepath.Join(e.mount, filepath.FromSlash(name)), data) // the file has the UTF-8 name

	// Insert the row as PHP did: UTF-8 bytes sent over a latin1 connection.
	cfg, err := mysql.ParseDSN(e.dsn)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Params = map[string]string{"charset": "latin1"}
	latin1, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		t.Fatal(err)
	}
	defer latin1.Close()
	ctx := context.Background()
	if _, err := latin1.ExecContext(ctx, "INSERT INTO ezdfsfile (name, name_trunk, name_hash, datatype, scope, size, mtime, expired)"+
		" VALUES (?, ?, ?, 'image/jpeg', 'image', ?, ?, 0)", name, name, metadata.NameHash(name), len(data), mtime); err != nil {
		t.Fatal(err)
	}
	var stored string
	if err := e.db.QueryRowContext(ctx, "SELECT name FROM ezdfsfile WHERE name_hash = ?", metadata.NameHash(name)).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if stored == name || !strings.Contains(stored, "cafÃ©") {
		t.Fatalf("the row's name reads back as %q; the test needs the double-encoded form of %q", stored, name)
	}

	a := testkit.StartDaemon(t, args, nil)
	ca := counters{a}
	client := newClient(t, 2)
	target := "/" + escapeTarget(name)
	get := func(d *testkit.Daemon, what string) {
		t.Helper()
		r := do(t, client, d.URL, "GET", target)
		if r.Code != 200 || !bytes.Equal(r.Body, data) {
			t.Fatalf("%s: GET %s (row name %q): %d, %d bytes; want 200 with the file's %d bytes",
				what, target, stored, r.Code, len(r.Body), len(data))
		}
	}

	get(a, "from the database")
	if got := testkit.MetricSum(t, a.App.Registry(), "ezdfsd_db_queries_total", map[string]string{"result": "found"}); got != 1 {
		t.Errorf("db queries found = %v, want 1", got)
	}
	hits := ca.lookups(t, "memory", "hit")
	get(a, "from the memory tier")
	if got := ca.lookups(t, "memory", "hit") - hits; got != 1 {
		t.Errorf("memory hits +%v, want +1", got)
	}

	b := testkit.StartDaemon(t, args, nil) // a second node: memory empty, memcached filled by a
	cb := counters{b}
	get(b, "from memcached")
	if got := cb.lookups(t, "memcached", "hit"); got != 1 {
		t.Errorf("second node: memcached hits %v, want 1", got)
	}
	if got := cb.db(t); got != 0 {
		t.Errorf("second node: %v DB queries, want 0", got)
	}
}
