package config

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"os"
	"path/filepath"
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

	if c.projectErr != nil {
		bad("project-root", "%v", c.projectErr)
	}
	switch c.Metadata {
	case "auto": // no database setting anywhere (see resolveAuto)
		if c.projectErr == nil { // a PostgreSQL DFS_DATABASE_URL was given: that is the error
			bad("metadata", "%s", c.noDatabase())
		}
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
		bad("mount-point", "%s", c.noMountPoint())
	}
	if slices.Contains(used, dfs.S3Backend) && c.S3.Bucket == "" {
		bad("s3-bucket", "required: %s serves some names", dfs.S3Backend)
	}
	if b := c.S3.Bucket; b != "" && (len(b) < 3 || len(b) > 63 || strings.ContainsAny(b, "/ ")) {
		bad("s3-bucket", "not an S3 bucket name (3 to 63 characters, no slash or space; the key prefix is the cluster name itself)")
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
		return fmt.Errorf("config: %w", redactError(c, c.withWarnings(err)))
	}
	return nil
}

// CheckPaths checks the paths the configuration names against this machine: the mount point
// must be a directory (when a dispatch rule uses it) and the SQLite file's directory must exist
// (metadata=sqlite). Call it after Validate, before serving or importing; errors name the
// setting, its value, its source and how to fix it. It does not wait for anything: a database
// or S3 endpoint that is down is the readiness probes' business, not a configuration error.
func (c *Config) CheckPaths() error {
	var errs []error
	bad := func(name, format string, args ...any) {
		errs = append(errs, c.SettingError(name, fmt.Errorf(format, args...)))
	}
	if slices.Contains(c.Dispatch().Backends(), dfs.MountPointBackend) && c.MountPoint != "" {
		st, err := os.Stat(c.MountPoint)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			bad("mount-point", "no such directory (is the NFS share mounted, and is this the path eZ uses?)")
		case err != nil:
			bad("mount-point", "%v", errors.Unwrap(err))
		case !st.IsDir():
			bad("mount-point", "not a directory: the mount point is the directory eZ's var/ paths are under")
		}
	}
	if c.Metadata == "sqlite" && c.SQLitePath != "" {
		dir := filepath.Dir(c.SQLitePath)
		if st, err := os.Stat(c.SQLitePath); err == nil && st.IsDir() {
			bad("sqlite", "is a directory; give the path of the database file")
		} else if st, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
			bad("sqlite", "directory %s does not exist (create it with mkdir -p %s, or choose another file)", dir, dir)
		} else if err != nil {
			bad("sqlite", "directory %s: %v", dir, errors.Unwrap(err))
		} else if !st.IsDir() {
			bad("sqlite", "%s is not a directory", dir)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("config: %w", c.withWarnings(err))
	}
	return nil
}

// SettingError describes a problem with the named setting's effective value as configuration
// errors do: the setting, its value (unless secret), where the value came from, the problem and
// how to change it. name must be a setting name (a flag name without dashes).
func (c *Config) SettingError(name string, problem error) error {
	s := lookup(name)
	v := strings.Join(s.show(c), ",")
	return redactError(c, fmt.Errorf("%s = %s (%s): %w; %s", name, shown(s, v), c.Source(name), problem, c.howToChange(name)))
}

// howToChange says where to change a setting's value, given where it came from.
func (c *Config) howToChange(name string) string {
	s, src := lookup(name), c.Source(name)
	switch src.Kind {
	case FromFlag:
		return "fix --" + name
	case FromEnv:
		return "fix " + src.Where + " in the environment (or the systemd EnvironmentFile)"
	case FromFile:
		return "fix line " + src.Where + " of the --config file"
	case FromEZ:
		if c.Project != nil && strings.HasPrefix(src.Where, c.Project.Root) {
			return fmt.Sprintf("fix %s in the Symfony project, or override it with --%s", src.Where, name)
		}
		return fmt.Sprintf("fix %s in the eZ install %s, or override it with --%s", src.Where, c.EZRoot, name)
	}
	return fmt.Sprintf("set it with --%s, %s or %q in the --config file", name, s.env, name+" = ...")
}

// noMountPoint explains, in eZ's terms, why no mount point was found and how to give one.
func (c *Config) noMountPoint() string {
	why := "every name no path-backend rule sends to S3 is served from the mount point (" + dfs.MountPointBackend + ")"
	if c.DefaultBackend != dfs.MountPointBackend {
		why = "a path-backend rule sends names to the mount point (" + dfs.MountPointBackend + ")"
	}
	if c.Project != nil {
		return fmt.Sprintf("no mount point: DFS_NFS_PATH is set neither in the environment nor in %s (read: %s); pass --mount-point DIR (the directory Ibexa's NFS adapter writes var/ under); %s",
			c.Project.Root, strings.Join(c.Project.Files, ", "), why)
	}
	if c.Site == nil {
		return "no mount point: pass --mount-point DIR (or EZDFSD_MOUNT_POINT, or \"mount-point = DIR\" in --config), " +
			"or --ez-root DIR to read CLUSTER_MOUNT_POINT_PATH from the eZ legacy root's config.php; " + why
	}
	return fmt.Sprintf("no mount point: CLUSTER_MOUNT_POINT_PATH is not defined in %s and [eZDFSClusteringSettings] MountPointPath is not set in %s; "+
		"is %s the eZ legacy root? Or pass --mount-point DIR; %s", c.defineFiles(), c.fileINIFiles(), c.Site.Root, why)
}

// noDatabase explains, in eZ's terms, that no database was named and the three ways to name one.
func (c *Config) noDatabase() string {
	var b strings.Builder
	b.WriteString("no database settings, so there are no ezdfsfile rows to serve")
	if c.Project != nil {
		fmt.Fprintf(&b, " (DFS_DATABASE_URL is set neither in the environment nor in %s's %s; Ibexa's clustering setup defines it in .env.local, e.g. DFS_DATABASE_URL=mysql://user:password@host:3306/dbname)",
			c.Project.Root, strings.Join(c.Project.Files, ", "))
	}
	if c.Site != nil {
		fmt.Fprintf(&b, " (no CLUSTER_STORAGE_HOST, _USER, _PASS or _DB is defined in %s, and [eZDFSClusteringSettings] DBHost, DBName, DBUser and DBPassword are not set in %s)",
			c.defineFiles(), c.fileINIFiles())
	}
	b.WriteString(". Give them in one of three ways:\n" +
		"  1. --ez-root DIR: the eZ legacy root whose config.php defines CLUSTER_STORAGE_HOST, CLUSTER_STORAGE_USER, CLUSTER_STORAGE_PASS and CLUSTER_STORAGE_DB " +
		"(or whose settings/override/file.ini.append.php sets [eZDFSClusteringSettings] DBHost, DBUser, DBPassword and DBName);\n" +
		"  2. flags or environment: --db-host, --db-user, --db-password, --db-name (EZDFSD_DB_HOST, ...), or --mysql-dsn (EZDFSD_MYSQL_DSN);\n" +
		"  3. --config FILE with lines such as \"db-host = 10.0.0.5\" and \"db-name = ezp\".\n" +
		"  To try ezdfsd without MySQL, choose SQLite with --metadata sqlite --sqlite FILE, or run \"ezdfsd demo\"")
	return b.String()
}

// defineFiles names the config.php files of the eZ install that were read (or would be).
func (c *Config) defineFiles() string {
	var read []string
	for _, f := range c.Site.Files {
		if f == "config.php" || f == "config.cluster.php" {
			read = append(read, filepath.Join(c.Site.Root, f))
		}
	}
	if len(read) == 0 {
		return filepath.Join(c.Site.Root, "config.php") + " (there is no such file, nor config.cluster.php)"
	}
	return strings.Join(read, " or ")
}

// fileINIFiles names the file.ini files of the eZ install that were read (or would be).
func (c *Config) fileINIFiles() string {
	var read []string
	for _, f := range c.Site.Files {
		if strings.HasPrefix(f, "settings/") && strings.Contains(f, "file.ini") {
			read = append(read, f)
		}
	}
	if len(read) == 0 {
		return "settings/override/file.ini.append.php (there is no such file)"
	}
	return strings.Join(read, " or ")
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
