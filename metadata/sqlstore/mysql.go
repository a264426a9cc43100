package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/prometheus/client_golang/prometheus"
)

// Connection defaults OpenMySQL and MySQLParams.DSN apply when the DSN leaves them unset.
const (
	DefaultConnectTimeout = 5 * time.Second
	DefaultIOTimeout      = 30 * time.Second
	DefaultCharset        = "utf8mb4"
)

// MySQLParams are the connection settings eZ Publish keeps in config.php (CLUSTER_STORAGE_*)
// or file.ini [eZDFSClusteringSettings], in structured form.
type MySQLParams struct {
	// Host is the server host name or address (default 127.0.0.1). Unlike PHP's mysqli,
	// "localhost" means TCP to localhost; set Socket to use a unix socket.
	Host string
	// Port is the TCP port (default 3306).
	Port int
	// Socket, if set, is the unix socket path; Host and Port are then ignored.
	Socket string
	// User, Password and Database are the credentials and schema; any bytes are allowed in
	// Password.
	User, Password, Database string
	// Charset is the connection charset (default utf8mb4). eZ's "utf8" is accepted as is.
	Charset string
	// ConnectTimeout bounds dialing the server (default 5s).
	ConnectTimeout time.Duration
}

// DSN returns a go-sql-driver/mysql DSN for p with interpolateParams=true (one round trip per
// query), dial, read and write timeouts, parseTime off and the charset. ParseDSN of the result
// gives back p's user, password and database byte for byte.
func (p MySQLParams) DSN() string {
	cfg := mysql.NewConfig()
	cfg.User = p.User
	cfg.Passwd = p.Password
	cfg.DBName = p.Database
	if p.Socket != "" {
		cfg.Net, cfg.Addr = "unix", p.Socket
	} else {
		host, port := p.Host, p.Port
		if host == "" {
			host = "127.0.0.1"
		}
		if port == 0 {
			port = 3306
		}
		cfg.Net, cfg.Addr = "tcp", net.JoinHostPort(host, strconv.Itoa(port))
	}
	charset := p.Charset
	if charset == "" {
		charset = DefaultCharset
	}
	// Charset only records the name; it cannot fail.
	_ = cfg.Apply(mysql.Charset(charset, ""))
	cfg.Timeout = p.ConnectTimeout
	applyMySQLDefaults(cfg)
	return cfg.FormatDSN()
}

// applyMySQLDefaults sets what every ezdfsd connection needs: client-side parameter
// interpolation and bounded dial and I/O times.
func applyMySQLDefaults(cfg *mysql.Config) {
	cfg.InterpolateParams = true
	cfg.ParseTime = false
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultConnectTimeout
	}
	if cfg.ReadTimeout <= 0 {
		cfg.ReadTimeout = DefaultIOTimeout
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = DefaultIOTimeout
	}
}

// OpenMySQL returns a Store over the MySQL/MariaDB database named by dsn (go-sql-driver
// format, e.g. from MySQLParams.DSN). Whatever dsn says, connections interpolate parameters
// client-side and have dial/read/write timeouts (defaults DefaultConnectTimeout and
// DefaultIOTimeout when unset); a DSN without charset gets utf8mb4. OpenMySQL does not
// contact the server (call Ping for that), so it succeeds while the server is down; it fails
// for a malformed DSN or Config. Metrics go to reg (nil: none).
func OpenMySQL(ctx context.Context, dsn string, cfg Config, reg prometheus.Registerer) (*Store, error) {
	_ = ctx // reserved: nothing is dialed at open time
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	mc, err := mysql.ParseDSN(dsn)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: mysql DSN: %w", err)
	}
	applyMySQLDefaults(mc)
	if !dsnHasParam(dsn, "charset") {
		_ = mc.Apply(mysql.Charset(DefaultCharset, mc.Collation))
	}
	if err := cfg.MySQL.apply(mc); err != nil {
		return nil, err
	}
	full := cfg.withDefaults()
	mc.Logger = driverLogger{full.Logger}
	connector, err := mysql.NewConnector(mc)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: mysql DSN: %w", err)
	}
	host, _, _ := net.SplitHostPort(mc.Addr)
	connector = explainingConnector{Connector: connector, sec: cfg.MySQL, host: host}
	where := mc.Net + "(" + mc.Addr + ")/" + mc.DBName
	return newStore(sql.OpenDB(connector), cfg, dialect{
		name:  "mysql",
		where: where,
		columns: "SELECT COLUMN_NAME FROM information_schema.COLUMNS" +
			" WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?",
		database: "database " + mc.DBName,
		quote:    quoteBacktick,
		schema:   MySQLSchema,
		upsert: func(table string) string {
			return "INSERT INTO " + table + " (name, name_trunk, name_hash, datatype, scope, size, mtime, expired)" +
				" VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON DUPLICATE KEY UPDATE" +
				" name = VALUES(name), name_trunk = VALUES(name_trunk), datatype = VALUES(datatype)," +
				" scope = VALUES(scope), size = VALUES(size), mtime = VALUES(mtime), expired = VALUES(expired)"
		},
	}, reg)
}

// driverLogger sends go-sql-driver/mysql's messages to slog instead of its default stderr logger.
type driverLogger struct{ log *slog.Logger }

// Print implements mysql.Logger. The driver's text (e.g. "packets.go:58 unexpected EOF") is
// the message itself, after "mysql driver: ", so a JSON line has exactly one "msg" key and the
// logger's rate limit treats each distinct driver message as its own kind.
func (l driverLogger) Print(v ...any) {
	l.log.Warn("mysql driver: " + strings.TrimSpace(fmt.Sprint(v...)))
}

// SetDriverLogger routes go-sql-driver/mysql's process-wide default logger (mysql.SetLogger,
// used by connections whose Config has no Logger of its own) to logger as warnings, instead of
// the driver's own "[mysql] ..." lines on stderr, which would break a JSON log. OpenMySQL
// already gives its connections Config.Logger; the daemon calls this once at start for every
// other use of the driver.
func SetDriverLogger(logger *slog.Logger) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	_ = mysql.SetLogger(driverLogger{logger}) // fails only for a nil Logger
}

// dsnHasParam reports whether the parameter part of a go-sql-driver DSN (after the '?' that
// follows the last '/', as mysql.ParseDSN splits it) sets name.
func dsnHasParam(dsn, name string) bool {
	slash := strings.LastIndexByte(dsn, '/')
	q := strings.IndexByte(dsn[slash+1:], '?')
	if q < 0 {
		return false
	}
	for kv := range strings.SplitSeq(dsn[slash+1+q+1:], "&") {
		if k, _, _ := strings.Cut(kv, "="); k == name {
			return true
		}
	}
	return false
}
