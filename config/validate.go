package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"

	"github.com/ezdfsd/ezdfsd/dfs"
)

// reTable is what ezdfsd accepts as a table name: it is interpolated into SQL.
var reTable = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_$]{0,63}$`)

// Validate checks the configuration as a whole: addresses, table names, backend classes and
// the settings each chosen backend needs. Every problem is reported (joined), each naming the
// setting, its value (unless secret) and its source.
func (c *Config) Validate() error {
	var errs []error
	bad := func(name, format string, args ...any) {
		s := lookup(name)
		v := ""
		if vs := s.show(c); len(vs) > 0 {
			v = strings.Join(vs, ",")
		}
		errs = append(errs, fmt.Errorf("%s = %s (%s): %s", name, shown(s, v), c.Source(name), fmt.Sprintf(format, args...)))
	}

	if err := checkHostPort(c.Listen); err != nil {
		bad("listen", "%v", err)
	}
	if c.MetricsListen != "" {
		if err := checkHostPort(c.MetricsListen); err != nil {
			bad("metrics-listen", "%v", err)
		}
	}

	switch c.Metadata {
	case "mysql":
		if c.DSN != "" {
			if _, err := mysql.ParseDSN(c.DSN); err != nil {
				bad("mysql-dsn", "invalid DSN") // the driver's message may quote parts of it
			}
		} else if c.DB.Name == "" {
			bad("db-name", "required for metadata=mysql (or give mysql-dsn)")
		}
	case "postgres":
		if c.PostgresURL != "" {
			if _, err := pgx.ParseConfig(c.PostgresURL); err != nil {
				bad("postgres-url", "invalid connection URL") // pgx's message may quote parts of it
			}
		} else if c.DB.Name == "" {
			bad("db-name", "required for metadata=postgres (or give postgres-url)")
		}
	case "sqlite":
		if c.SQLitePath == "" {
			bad("sqlite", "required for metadata=sqlite")
		}
	}
	for _, n := range []string{"table", "cache-table"} {
		v := lookup(n).show(c)[0]
		if !reTable.MatchString(v) && !(n == "cache-table" && v == "") {
			bad(n, "not a valid table name (letters, digits, _ and $; at most 64)")
		}
	}

	known := []string{dfs.MountPointBackend, dfs.S3Backend}
	if !slices.Contains(known, c.DefaultBackend) {
		bad("default-backend", "unknown backend class (want %s or %s)", dfs.MountPointBackend, dfs.S3Backend)
	}
	for _, r := range c.PathBackends {
		if !slices.Contains(known, r.Backend) {
			bad("path-backend", "rule %q: unknown backend class %q (want %s or %s)", r.Key, r.Backend, dfs.MountPointBackend, dfs.S3Backend)
		}
	}
	used := c.Dispatch().Backends()
	if slices.Contains(used, dfs.MountPointBackend) && c.MountPoint == "" {
		bad("mount-point", "required: %s serves some names", dfs.MountPointBackend)
	}
	if slices.Contains(used, dfs.S3Backend) && c.S3.Bucket == "" {
		bad("s3-bucket", "required: %s serves some names", dfs.S3Backend)
	}
	if (c.S3.AccessKeyID == "") != (c.S3.SecretAccessKey == "") {
		bad("s3-access-key-id", "give both s3-access-key-id and s3-secret-access-key, or neither")
	}
	if c.S3.Endpoint != "" {
		if u, err := url.Parse(c.S3.Endpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("s3-endpoint", "want an http:// or https:// URL")
		}
	}

	if _, err := dfs.NewAllowList(c.ServedPatterns()); err != nil {
		bad("serve-pattern", "%v", errors.Unwrap(err))
	}
	if len(c.ServedPatterns()) == 0 {
		bad("serve-pattern", "no pattern: nothing would be served")
	}
	for _, n := range []string{"served-by", "powered-by"} {
		if strings.ContainsAny(lookup(n).show(c)[0], "\r\n\x00") {
			bad(n, "header values cannot contain CR, LF or NUL")
		}
	}

	for _, a := range c.Memcached {
		if err := checkHostPort(a); err != nil {
			bad("memcached", "%q: %v", a, err)
		}
	}
	if c.MemcachedDiscovery != "" {
		if err := checkHostPort(c.MemcachedDiscovery); err != nil {
			bad("memcached-discovery", "%v", err)
		}
	}
	if len(c.MemcachedPrefix) > 200 || strings.ContainsFunc(c.MemcachedPrefix, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		bad("memcached-prefix", "memcached keys cannot contain blanks or control characters (and the prefix must stay under 200 bytes)")
	}
	c.validateSecurity(bad)
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("config: %w", redactError(c, err))
	}
	return nil
}

func lookup(name string) *setting {
	for i := range table {
		if table[i].name == name {
			return &table[i]
		}
	}
	panic("config: no setting " + name)
}

// checkHostPort accepts "host:port" and ":port" with a numeric port.
func checkHostPort(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return errors.New("want host:port")
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 0 || n > 65535 {
		return errors.New("port must be a number from 0 to 65535")
	}
	return nil
}
