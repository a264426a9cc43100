package sqlstore_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ezdfsd/ezdfsd/internal/testenv"
	"github.com/ezdfsd/ezdfsd/metadata"
	"github.com/ezdfsd/ezdfsd/metadata/sqlstore"
)

// TestPostgresTLS runs a private PostgreSQL that accepts TLS connections only, with a
// certificate for "localhost" from a test CA, and checks that sslmode in the URL (what db-tls
// and db-tls-ca become, see PostgresSSLMode) is honoured: verify-full needs the CA and the
// name, verify-ca the CA only, require neither, and disable is turned away.
func TestPostgresTLS(t *testing.T) {
	dir := testenv.SharedTempDir(t, "ezdfsd-test-pgtls-")
	ca := testenv.NewTestCA(t, dir, "db")
	other := testenv.NewTestCA(t, dir, "other")
	certFile, keyFile := ca.ServerCert(t, "postgres", "localhost")
	cert, err := os.ReadFile(certFile)
	if err != nil {
		t.Fatal(err)
	}
	key, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	hba := "local all all scram-sha-256\nhostssl all all 127.0.0.1/32 scram-sha-256\nhostnossl all all 127.0.0.1/32 reject\n"
	pg := testenv.StartPostgres(t, hba, map[string][]byte{"server.crt": cert, "server.key": key},
		"-c", "ssl=on", "-c", "ssl_cert_file=server.crt", "-c", "ssl_key_file=server.key")

	for _, c := range []struct {
		desc, host, mode, ca string
		ok                   bool
		reason               string
	}{
		{"verify-full with the CA and the certificate's name", "localhost", "verify-full", ca.CertFile, true, ""},
		{"verify-full to an address the certificate does not name", "127.0.0.1", "verify-full", ca.CertFile, false, "127.0.0.1"},
		{"verify-ca to the address", "127.0.0.1", "verify-ca", ca.CertFile, true, ""},
		{"verify-full with another CA", "localhost", "verify-full", other.CertFile, false, "certificate"},
		{"require, nothing verified", "127.0.0.1", "require", "", true, ""},
		{"disable, refused by the server", "127.0.0.1", "disable", "", false, "no encryption"},
	} {
		t.Run(c.desc, func(t *testing.T) {
			u := sqlstore.PostgresParams{Host: c.host, Port: pg.Port, User: "postgres", Password: pg.Password, Database: "postgres",
				ConnectTimeout: 10 * time.Second, SSLMode: c.mode, SSLRootCert: c.ca}.URL()
			s, err := sqlstore.OpenPostgres(context.Background(), u, sqlstore.Config{Tables: []string{"ezdfsfile"}, QueryTimeout: 10 * time.Second}, nil)
			if err != nil {
				t.Fatalf("OpenPostgres: %v", err)
			}
			defer s.Close()
			err = s.Ping(context.Background())
			if !c.ok {
				if !errors.Is(err, metadata.ErrUnavailable) || !strings.Contains(err.Error(), c.reason) || strings.Contains(err.Error(), pg.Password) {
					t.Errorf("Ping = %v, want ErrUnavailable mentioning %q, without the password", err, c.reason)
				}
				t.Logf("refused: %v", err)
				return
			}
			if err != nil {
				t.Fatalf("Ping: %v", err)
			}
			var ssl bool
			if err := s.DB().QueryRow("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").Scan(&ssl); err != nil || !ssl {
				t.Errorf("pg_stat_ssl.ssl = %v (%v), want true", ssl, err)
			}
		})
	}
}
