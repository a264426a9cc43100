package cache

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ezdfsd/ezdfsd/internal/testenv"
)

// tlsMemcached is a private memcached that only speaks TLS (-Z), with a certificate for
// "localhost" from a CA made in the test.
type tlsMemcached struct {
	Addr     string // 127.0.0.1:port
	Port     string
	Roots    *x509.CertPool // the server's CA
	Other    *x509.CertPool // an unrelated CA
	CertPair tls.Certificate
}

func startTLSMemcached(t *testing.T) *tlsMemcached {
	t.Helper()
	dir := testenv.SharedTempDir(t, "ezdfsd-test-memcached-tls-")
	ca := testenv.NewTestCA(t, dir, "mc")
	cert, key := ca.ServerCert(t, "memcached", "localhost")
	other := testenv.NewTestCA(t, dir, "other")
	addr := testenv.StartMemcached(t, "-Z", "-o", "ssl_chain_cert="+cert+",ssl_key="+key)
	_, port, _ := net.SplitHostPort(addr)
	pair, err := tls.LoadX509KeyPair(cert, key)
	if err != nil {
		t.Fatal(err)
	}
	return &tlsMemcached{Addr: addr, Port: port, Roots: pool(t, ca.CertFile), Other: pool(t, other.CertFile), CertPair: pair}
}

func pool(t *testing.T, file string) *x509.CertPool {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	p := x509.NewCertPool()
	if !p.AppendCertsFromPEM(b) {
		t.Fatalf("no certificate in %s", file)
	}
	return p
}

// TestMemcachedTLS runs the memcached tier against a memcached started with -Z: with TLS and
// the right CA a row is stored and found by a second tier (no store call); without TLS, with the
// wrong CA, or with a certificate for another name, every operation fails, is counted, and
// lookups still answer from the store.
func TestMemcachedTLS(t *testing.T) {
	srv := startTLSMemcached(t)
	store := newFakeStore()
	store.put("ezdfsfile", testFile("img/tls.jpg", 10))
	prefix := testPrefix()

	newTier := func(t *testing.T, servers []string, tlsCfg *tls.Config) (*Memcached, *prometheus.Registry) {
		reg := prometheus.NewRegistry()
		return newTestMemcached(t, store, MemcachedConfig{Servers: servers, Prefix: prefix, TLS: tlsCfg}, Config{}, reg, time.Now), reg
	}
	lookup := func(t *testing.T, m *Memcached) {
		t.Helper()
		f, err := m.Lookup(ctxT(t), key("img/tls.jpg"))
		m.sets.Wait()
		if err != nil || f.MTime != 10 {
			t.Fatalf("Lookup: %+v, %v", f, err)
		}
	}

	t.Run("by name, verified", func(t *testing.T) {
		// The server is given as localhost:port: the certificate is checked for "localhost"
		// although gomemcache dials the resolved address.
		a, _ := newTier(t, []string{"localhost:" + srv.Port}, &tls.Config{RootCAs: srv.Roots})
		before := store.calls.Load()
		lookup(t, a)
		b, reg := newTier(t, []string{"localhost:" + srv.Port}, &tls.Config{RootCAs: srv.Roots})
		lookup(t, b)
		if got := store.calls.Load() - before; got != 1 {
			t.Errorf("store called %d times for two tiers, want 1 (the second found the row in memcached over TLS)", got)
		}
		if errs := counterVec(t, reg, "ezdfsd_memcached_errors_total"); errs["get"] != 0 {
			t.Errorf("errors: %v", errs)
		}
		if err := b.Ping(ctxT(t)); err != nil {
			t.Errorf("Ping over TLS: %v", err)
		}
	})

	for _, tc := range []struct {
		name    string
		servers []string
		tls     *tls.Config
		ping    string // in Ping's error
	}{
		{"plain text to a TLS server", []string{srv.Addr}, nil, ""},
		{"wrong CA", []string{"localhost:" + srv.Port}, &tls.Config{RootCAs: srv.Other}, "certificate signed by unknown authority"},
		{"certificate for another name", []string{srv.Addr}, &tls.Config{RootCAs: srv.Roots, ServerName: "cache.example"}, "not cache.example"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, reg := newTier(t, tc.servers, tc.tls)
			lookup(t, m) // answered by the store
			if errs := counterVec(t, reg, "ezdfsd_memcached_errors_total"); errs["get"] == 0 {
				t.Errorf("no get error counted: %v", errs)
			}
			err := m.Ping(ctxT(t))
			if err == nil || !strings.Contains(err.Error(), tc.ping) {
				t.Errorf("Ping: %v, want an error containing %q", err, tc.ping)
			}
		})
	}

	t.Run("discovery endpoint and discovered nodes over TLS", func(t *testing.T) {
		cs := newTLSConfigServer(t, srv.CertPair, "localhost|127.0.0.1|"+srv.Port)
		_, port, _ := net.SplitHostPort(cs.ln.Addr().String())
		reg := prometheus.NewRegistry()
		m := newTestMemcached(t, store, MemcachedConfig{DiscoveryEndpoint: "localhost:" + port, Prefix: prefix,
			TLS: &tls.Config{RootCAs: srv.Roots}}, Config{}, reg, time.Now)
		if got := m.Servers(); len(got) != 1 || got[0] != srv.Addr {
			t.Fatalf("discovered %v, want [%s]", got, srv.Addr)
		}
		before := store.calls.Load()
		lookup(t, m) // stored by "by name, verified" under the same prefix
		if store.calls.Load() != before {
			t.Errorf("the row was not read from the discovered node over TLS (store called)")
		}
		if errs := counterVec(t, reg, "ezdfsd_memcached_errors_total"); errs["get"] != 0 || errs["discovery"] != 0 {
			t.Errorf("errors: %v", errs)
		}
	})
}

// newTLSConfigServer is newConfigServer behind TLS with the certificate pair.
func newTLSConfigServer(t *testing.T, pair tls.Certificate, nodes ...string) *configServer {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{pair}})
	if err != nil {
		t.Fatal(err)
	}
	return serveConfig(t, ln, false, nodes...)
}

func TestParseClusterConfigNames(t *testing.T) {
	cc, err := parseClusterConfig([]byte("1\na.cache.amazonaws.com|10.0.0.1|11211 b.example||11211 |10.0.0.3|11211\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(cc.Names) != 1 || cc.Names["10.0.0.1:11211"] != "a.cache.amazonaws.com" {
		t.Errorf("Names = %v, want only 10.0.0.1:11211 → a.cache.amazonaws.com", cc.Names)
	}
}
