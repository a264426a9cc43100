package sqlstore_test

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/ezdfsd/ezdfsd/internal/testenv"
	"github.com/ezdfsd/ezdfsd/metadata/rdsiam"
	"github.com/ezdfsd/ezdfsd/metadata/sqlstore"
)

// tlsServer is a private MariaDB whose certificate, signed by a CA made in the test, is for
// "localhost" only (not 127.0.0.1), with a database ezp and a user that must use TLS.
type tlsServer struct {
	*testenv.PrivateMariaDB
	CA, OtherCA string // PEM files: the server's CA, and an unrelated one
}

func startTLSServer(t *testing.T) *tlsServer {
	t.Helper()
	dir := testenv.SharedTempDir(t, "ezdfsd-test-tls-")
	ca := testenv.NewTestCA(t, dir, "db")
	cert, key := ca.ServerCert(t, "mariadb", "localhost")
	other := testenv.NewTestCA(t, dir, "other")
	m := testenv.StartMariaDB(t, "--ssl-ca="+ca.CertFile, "--ssl-cert="+cert, "--ssl-key="+key)
	m.Exec(t, "CREATE DATABASE ezp; CREATE USER 'tls'@'%' IDENTIFIED BY 'tls-pass' REQUIRE SSL; GRANT ALL ON ezp.* TO 'tls'@'%';")
	return &tlsServer{PrivateMariaDB: m, CA: ca.CertFile, OtherCA: other.CertFile}
}

func (s *tlsServer) dsn(user, password, host string) string {
	return sqlstore.MySQLParams{Host: host, Port: s.Port, User: user, Password: password, Database: "ezp", ConnectTimeout: 5 * time.Second}.DSN()
}

func openWith(t *testing.T, dsn string, sec sqlstore.MySQLSecurity) *sqlstore.Store {
	t.Helper()
	s, err := sqlstore.OpenMySQL(context.Background(), dsn, sqlstore.Config{Tables: []string{"ezdfsfile"}, MySQL: sec, QueryTimeout: 5 * time.Second}, nil)
	if err != nil {
		t.Fatalf("OpenMySQL: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// cipher returns the TLS cipher of one of s's connections ("" when not encrypted).
func cipher(t *testing.T, s *sqlstore.Store) string {
	t.Helper()
	var name, value string
	if err := s.DB().QueryRow("SHOW SESSION STATUS LIKE 'Ssl_cipher'").Scan(&name, &value); err != nil {
		t.Fatalf("Ssl_cipher: %v", err)
	}
	return value
}

// TestMySQLTLS runs one private MariaDB with a test CA's certificate for both halves of the
// TLS support: the modes, and IAM-style per-connection passwords (which need TLS).
func TestMySQLTLS(t *testing.T) {
	srv := startTLSServer(t)
	t.Run("modes", func(t *testing.T) { testTLSModes(t, srv) })
	t.Run("IAM token per connection", func(t *testing.T) { testIAMTokenPerConnection(t, srv) })
}

// testTLSModes connects as user tls, who must use TLS, in each mode, and checks what
// connects, that it is encrypted, and that the failures say what is wrong.
func testTLSModes(t *testing.T, srv *tlsServer) {
	ctx := context.Background()
	for _, tc := range []struct {
		name    string
		host    string
		sec     sqlstore.MySQLSecurity
		wantErr []string // substrings of the Ping error; none = it connects, encrypted
	}{
		{name: "off is refused by the server", host: "localhost", sec: sqlstore.MySQLSecurity{TLS: sqlstore.TLSOff},
			wantErr: []string{"Access denied"}},
		{name: "preferred", host: "127.0.0.1", sec: sqlstore.MySQLSecurity{TLS: sqlstore.TLSPreferred}},
		{name: "required", host: "127.0.0.1", sec: sqlstore.MySQLSecurity{TLS: sqlstore.TLSRequired}},
		{name: "verify-ca checks the chain, not the name", host: "127.0.0.1", sec: sqlstore.MySQLSecurity{TLS: sqlstore.TLSVerifyCA, CAFile: srv.CA}},
		{name: "verify-full", host: "localhost", sec: sqlstore.MySQLSecurity{TLS: sqlstore.TLSVerifyFull, CAFile: srv.CA}},
		{name: "verify-ca with the wrong CA", host: "localhost", sec: sqlstore.MySQLSecurity{TLS: sqlstore.TLSVerifyCA, CAFile: srv.OtherCA},
			wantErr: []string{"not signed by a CA in the CA file " + srv.OtherCA}},
		{name: "verify-full with the wrong CA", host: "localhost", sec: sqlstore.MySQLSecurity{TLS: sqlstore.TLSVerifyFull, CAFile: srv.OtherCA},
			wantErr: []string{"database TLS (verify-full)", "not signed by a CA in the CA file " + srv.OtherCA}},
		{name: "verify-full with the wrong host name", host: "127.0.0.1", sec: sqlstore.MySQLSecurity{TLS: sqlstore.TLSVerifyFull, CAFile: srv.CA},
			wantErr: []string{`the server's certificate is for localhost, not "127.0.0.1"`, "verify-ca"}},
		{name: "verify-full against the system roots", host: "localhost", sec: sqlstore.MySQLSecurity{TLS: sqlstore.TLSVerifyFull},
			wantErr: []string{"not signed by a CA in the system's CA roots"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := openWith(t, srv.dsn("tls", "tls-pass", tc.host), tc.sec)
			err := s.Ping(ctx)
			if len(tc.wantErr) == 0 {
				if err != nil {
					t.Fatalf("Ping: %v", err)
				}
				if c := cipher(t, s); c == "" {
					t.Errorf("connected without encryption")
				}
				return
			}
			if err == nil {
				t.Fatalf("Ping succeeded, want an error containing %q", tc.wantErr)
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Ping error %q\nwant it to contain %q", err, w)
				}
			}
		})
	}
}

// testIAMTokenPerConnection runs the IAM plumbing against MariaDB: the user's password is
// set to a token the test computes with rdsiam (as RDS would accept it), and the store asks for
// a password on every new connection. When the "token" changes (as every RDS token does), a
// connection opened before keeps working and the next new one uses the new token.
func testIAMTokenPerConnection(t *testing.T, srv *tlsServer) {
	endpoint := "localhost:" + strconv.Itoa(srv.Port)
	build, err := rdsiam.Password(endpoint, "eu-west-1", "iam", credentials.NewStaticCredentialsProvider("AKIAEXAMPLE", "secret", ""))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var mu sync.Mutex
	var calls atomic.Int32
	token, err := build(ctx)
	if err != nil {
		t.Fatal(err)
	}
	srv.Exec(t, "CREATE USER 'iam'@'%' IDENTIFIED BY '"+token+"' REQUIRE SSL; GRANT ALL ON ezp.* TO 'iam'@'%';")
	current := func(context.Context) (string, error) {
		calls.Add(1)
		mu.Lock()
		defer mu.Unlock()
		return token, nil
	}
	// The DSN's password is wrong on purpose: only the per-connection one can work.
	s := openWith(t, srv.dsn("iam", "not-the-token", "localhost"), sqlstore.MySQLSecurity{TLS: sqlstore.TLSVerifyFull, CAFile: srv.CA, Password: current})
	held, err := s.DB().Conn(ctx)
	if err != nil {
		t.Fatalf("first connection with the token: %v", err)
	}
	defer held.Close()
	if calls.Load() != 1 {
		t.Fatalf("password asked %d times for one connection, want 1", calls.Load())
	}

	time.Sleep(1100 * time.Millisecond) // a new token differs from the last only in its second
	next, err := build(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if next == token {
		t.Fatal("two tokens a second apart are equal")
	}
	srv.Exec(t, "ALTER USER 'iam'@'%' IDENTIFIED BY '"+next+"'")
	mu.Lock()
	token = next
	mu.Unlock()

	if err := held.PingContext(ctx); err != nil {
		t.Errorf("the connection opened with the old token stopped working: %v", err)
	}
	second, err := s.DB().Conn(ctx) // held is busy: this one is new
	if err != nil {
		t.Fatalf("new connection with the new token: %v", err)
	}
	defer second.Close()
	if got := calls.Load(); got != 2 {
		t.Errorf("password asked %d times for two connections, want 2", got)
	}
	var user string
	if err := second.QueryRowContext(ctx, "SELECT CURRENT_USER()").Scan(&user); err != nil || !strings.HasPrefix(user, "iam@") {
		t.Errorf("CURRENT_USER() = %q, %v; want iam@%%", user, err)
	}
}

func TestMySQLSecurityValidate(t *testing.T) {
	pw := func(context.Context) (string, error) { return "", nil }
	for _, tc := range []struct {
		sec  sqlstore.MySQLSecurity
		want string
	}{
		{sqlstore.MySQLSecurity{TLS: "on"}, `unknown TLS mode "on"`},
		{sqlstore.MySQLSecurity{TLS: sqlstore.TLSRequired, CAFile: "/ca.pem"}, "only used with TLS mode verify-ca or verify-full"},
		{sqlstore.MySQLSecurity{TLS: sqlstore.TLSPreferred, Password: pw}, "need TLS mode required, verify-ca or verify-full"},
		{sqlstore.MySQLSecurity{Password: pw}, "need TLS mode"},
	} {
		if err := tc.sec.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Validate(%+v) = %v, want an error containing %q", tc.sec, err, tc.want)
		}
	}
	if err := (sqlstore.MySQLSecurity{TLS: sqlstore.TLSVerifyFull, CAFile: "/ca.pem", Password: pw}).Validate(); err != nil {
		t.Errorf("valid security settings refused: %v", err)
	}
}
