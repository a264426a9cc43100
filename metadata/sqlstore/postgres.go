package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/prometheus/client_golang/prometheus"
)

// PostgresApplicationName is the application_name ezdfsd's PostgreSQL sessions report in
// pg_stat_activity when the connection string does not name one.
const PostgresApplicationName = "ezdfsd"

// PostgresParams are PostgreSQL connection settings in structured form (the db-* settings,
// or eZ's [eZDFSClusteringSettings] DBHost/DBPort/... with ezpostgresqlcluster's
// eZDFSFileHandlerPostgresqlBackend).
type PostgresParams struct {
	// Host is the server host name or address (default 127.0.0.1).
	Host string
	// Port is the TCP port (default 5432).
	Port int
	// Socket, if set, is the directory holding the server's Unix socket (libpq's host=/dir);
	// Host is then ignored.
	Socket string
	// User, Password and Database are the credentials and database; any bytes are allowed in
	// each.
	User, Password, Database string
	// ConnectTimeout bounds connecting, TLS and authentication included (default
	// DefaultConnectTimeout); libpq counts it in whole seconds, so it is rounded up.
	ConnectTimeout time.Duration
	// SSLMode is libpq's sslmode (disable, allow, prefer, require, verify-ca, verify-full);
	// "" leaves libpq's default, prefer.
	SSLMode string
	// SSLRootCert is a PEM bundle of the CAs trusted by verify-ca and verify-full ("" = the
	// system roots, or ~/.postgresql/root.crt as libpq does).
	SSLRootCert string
}

// URL returns a postgres:// connection URL for p. pgx has no formatter for its ConnConfig,
// so the URL is assembled with net/url, which escapes every part; pgx.ParseConfig of the
// result gives back p's user, password, database, host and port byte for byte.
func (p PostgresParams) URL() string {
	u := url.URL{Scheme: "postgres", Path: "/" + p.Database}
	if p.User != "" || p.Password != "" {
		u.User = url.UserPassword(p.User, p.Password)
		if p.Password == "" {
			u.User = url.User(p.User)
		}
	}
	q := url.Values{}
	port := p.Port
	if port == 0 {
		port = 5432
	}
	if p.Socket != "" {
		q.Set("host", p.Socket)
		q.Set("port", strconv.Itoa(port))
	} else {
		host := p.Host
		if host == "" {
			host = "127.0.0.1"
		}
		u.Host = net.JoinHostPort(host, strconv.Itoa(port))
	}
	timeout := p.ConnectTimeout
	if timeout <= 0 {
		timeout = DefaultConnectTimeout
	}
	q.Set("connect_timeout", strconv.Itoa(int((timeout+time.Second-1)/time.Second)))
	if p.SSLMode != "" {
		q.Set("sslmode", p.SSLMode)
	}
	if p.SSLRootCert != "" {
		q.Set("sslrootcert", p.SSLRootCert)
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// PostgresSSLMode maps a TLSMode (the db-tls setting) onto libpq's sslmode: off → disable,
// preferred → prefer, required → require, verify-ca and verify-full unchanged; "" stays "".
func PostgresSSLMode(m TLSMode) (string, error) {
	switch m {
	case "":
		return "", nil
	case TLSOff:
		return "disable", nil
	case TLSPreferred:
		return "prefer", nil
	case TLSRequired:
		return "require", nil
	case TLSVerifyCA, TLSVerifyFull:
		return string(m), nil
	}
	return "", fmt.Errorf("sqlstore: unknown TLS mode %q (want one of %v)", m, TLSModes)
}

// OpenPostgres returns a Store over the PostgreSQL database named by connString, a libpq
// connection URL (postgres://user:pass@host:5432/db?sslmode=disable) or key=value string as
// pgx.ParseConfig reads it (so sslmode, sslrootcert and the PG* environment variables work as
// in libpq). Connections go through jackc/pgx v5's database/sql driver with the same pool
// settings, query timeout and metrics as OpenMySQL; a connection string without
// connect_timeout gets DefaultConnectTimeout, and one without application_name gets
// PostgresApplicationName. Statements are prepared once per connection and cached (pgx's
// default), so a Lookup is one round trip on a warm connection; with PgBouncer in transaction
// mode add default_query_exec_mode=describe_exec or exec to the URL.
//
// Tables are created by CreateSchema with PostgresSchema. OpenPostgres does not contact the
// server (call Ping for that), so it succeeds while the server is down; it fails for a
// malformed connection string or Config, and for MySQL-only settings (Config.MySQL: give TLS
// as sslmode in the URL). Metrics go to reg (nil: none).
func OpenPostgres(ctx context.Context, connString string, cfg Config, reg prometheus.Registerer) (*Store, error) {
	_ = ctx // reserved: nothing is dialed at open time
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.MySQL.TLS != "" || cfg.MySQL.CAFile != "" || cfg.MySQL.Password != nil {
		return nil, errors.New("sqlstore: postgres: TLS and per-connection passwords are given in the connection string (sslmode, sslrootcert), not as MySQL settings")
	}
	pc, err := pgx.ParseConfig(connString)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: postgres connection string: %w", parseReason(err))
	}
	if pc.ConnectTimeout <= 0 {
		pc.ConnectTimeout = DefaultConnectTimeout
	}
	if _, ok := pc.RuntimeParams["application_name"]; !ok {
		pc.RuntimeParams["application_name"] = PostgresApplicationName
	}
	where := "postgres(" + net.JoinHostPort(pc.Host, strconv.Itoa(int(pc.Port))) + ")/" + pc.Database
	if strings.HasPrefix(pc.Host, "/") {
		where = "postgres(unix " + pc.Host + ")/" + pc.Database
	}
	return newStore(stdlib.OpenDB(*pc), cfg, dialect{
		name:  "postgres",
		where: where,
		columns: "SELECT column_name FROM information_schema.columns" +
			" WHERE table_schema = current_schema() AND table_name = $1",
		database: "database " + pc.Database,
		quote:    quoteDouble,
		schema:   PostgresSchema,
		bind:     dollarParams,
		upsert: func(table string) string {
			return "INSERT INTO " + table + " (name, name_trunk, name_hash, datatype, scope, size, mtime, expired)" +
				" VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (name_hash) DO UPDATE SET" +
				" name = EXCLUDED.name, name_trunk = EXCLUDED.name_trunk, datatype = EXCLUDED.datatype," +
				" scope = EXCLUDED.scope, size = EXCLUDED.size, mtime = EXCLUDED.mtime, expired = EXCLUDED.expired"
		},
	}, reg)
}

// parseReason returns the reason of a pgx connection-string error without the connection
// string, which pgx quotes with the password masked only on a best-effort basis. A wrapped
// net/url error is reduced to its own reason too, since it quotes the whole URL.
func parseReason(err error) error {
	var pe *pgconn.ParseConfigError
	if !errors.As(err, &pe) {
		return errors.New("invalid")
	}
	s := pe.Error()
	inner := pe.Unwrap()
	if inner != nil {
		s = strings.TrimSuffix(s, " ("+inner.Error()+")")
	}
	if i := strings.LastIndex(s, "`: "); i >= 0 {
		s = s[i+3:]
	}
	var ue *url.Error
	if errors.As(inner, &ue) {
		inner = ue.Err
	}
	if inner != nil {
		s += " (" + inner.Error() + ")"
	}
	return errors.New(s)
}

// dollarParams rewrites the ? placeholders of q as PostgreSQL's $1, $2, ... The queries built
// here have no other '?' (identifiers are checked and quoted, values are parameters).
func dollarParams(q string) string {
	var b strings.Builder
	n := 0
	for i := 0; i < len(q); i++ {
		if q[i] == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteByte(q[i])
	}
	return b.String()
}
