package platform

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// Database is a DFS_DATABASE_URL split into what ezdfsd's settings need.
type Database struct {
	// Driver is "mysql" or "postgres".
	Driver string
	// Host, Port, Socket, User, Password, Name and Charset are the MySQL connection parts
	// (Port 0 = the default; Socket from ?unix_socket=).
	Host          string
	Port          int
	Socket        string
	User          string
	Password      string
	Name          string
	Charset       string
	ServerVersion string
	// PostgresURL is a libpq / pgx URL ("postgres://…") for Driver "postgres".
	PostgresURL string
}

// driverAliases are the URL schemes Doctrine accepts for MySQL and PostgreSQL: DoctrineBundle's
// ConnectionFactory DRIVER_SCHEME_ALIASES (mysql, mysql2, postgres, postgresql, pgsql) and, as
// DBAL's Tools\DsnParser reads any other scheme, the driver names pdo_mysql, mysqli and
// pdo_pgsql, with "-" read as "_" (pdo-mysql). "mysql+…" is not a Doctrine scheme.
var driverAliases = map[string]string{
	"mysql": "mysql", "mysql2": "mysql", "pdo_mysql": "mysql", "mysqli": "mysql",
	"postgres": "postgres", "postgresql": "postgres", "pgsql": "postgres", "pdo_pgsql": "postgres",
}

// ParseDatabaseURL reads a Doctrine database URL such as
// "mysql://user:p%40ss@db:3306/ezp?serverVersion=8.0&charset=utf8mb4". User, password and
// database name are percent-decoded, as Doctrine does. Errors never quote the password.
func ParseDatabaseURL(raw string) (Database, error) {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return Database{}, fmt.Errorf("not a Doctrine database URL (want scheme://user:password@host:port/dbname)")
	}
	driver, known := driverAliases[strings.ReplaceAll(strings.ToLower(scheme), "-", "_")]
	if !known {
		return Database{}, fmt.Errorf("unsupported scheme %q (ezdfsd reads mysql://, mysql2://, pdo-mysql://, mysqli://, postgresql://, postgres://, pgsql:// and pdo-pgsql://)", scheme)
	}
	u, err := url.Parse("db://" + rest) // Go refuses "_" in a scheme; Doctrine does not
	if err != nil {
		return Database{}, fmt.Errorf("invalid %s URL (check that special characters in the password are percent-encoded)", scheme)
	}
	db := Database{Driver: driver, Host: u.Hostname(), Name: strings.TrimPrefix(u.Path, "/")}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return Database{}, fmt.Errorf("invalid port %q", p)
		}
		db.Port = n
	}
	if u.User != nil {
		db.User = u.User.Username()
		db.Password, _ = u.User.Password()
	}
	q := u.Query()
	db.Charset = q.Get("charset")
	db.ServerVersion = q.Get("serverVersion")
	db.Socket = q.Get("unix_socket")
	if driver == "postgres" {
		pg := url.URL{Scheme: "postgres", User: u.User, Path: u.Path}
		pg.Host = db.Host
		if db.Port != 0 {
			pg.Host = net.JoinHostPort(db.Host, strconv.Itoa(db.Port))
		}
		pq := url.Values{}
		for k, vs := range q {
			switch k {
			case "charset", "serverVersion": // Doctrine's, not libpq's
				if k == "charset" && len(vs) > 0 {
					pq.Set("client_encoding", vs[0])
				}
			default:
				pq[k] = vs
			}
		}
		pg.RawQuery = pq.Encode()
		db.PostgresURL = pg.String()
	}
	return db, nil
}
