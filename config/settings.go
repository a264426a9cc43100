package config

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ezdfsd/ezdfsd/dfs"
	"github.com/ezdfsd/ezdfsd/ezsettings"
)

const envPrefix = "EZDFSD_"

// setting is one row of the table: everything Load, Usage and Dump need to know.
type setting struct {
	name, env, def, help, group, metavar string
	secret, list, boolFlag               bool
	defFunc                              func() string                   // dynamic default, shown as defText
	defText                              string                          // shown instead of def when defFunc is set
	apply                                func(c *Config, v string) error // parse and assign (lists append)
	clear                                func(c *Config)                 // lists: empty before a level's values
	show                                 func(c *Config) []string        // effective value(s) as text
}

// The constructors below keep each table row to one line of facts.

func str(name, def, group, help string, field func(*Config) *string) setting {
	return setting{name: name, def: def, group: group, help: help, metavar: "STRING",
		apply: func(c *Config, v string) error { *field(c) = v; return nil },
		show:  func(c *Config) []string { return []string{*field(c)} }}
}

func enum(name, def, group, help string, allowed []string, field func(*Config) *string) setting {
	s := str(name, def, group, help, field)
	s.metavar = strings.Join(allowed, "|")
	s.apply = func(c *Config, v string) error {
		if !slices.Contains(allowed, v) {
			return fmt.Errorf("want one of %s", strings.Join(allowed, ", "))
		}
		*field(c) = v
		return nil
	}
	return s
}

func boolean(name string, def bool, group, help string, field func(*Config) *bool) setting {
	return setting{name: name, def: strconv.FormatBool(def), group: group, help: help, metavar: "BOOL", boolFlag: true,
		apply: func(c *Config, v string) error {
			b, err := parseBool(v)
			*field(c) = b
			return err
		},
		show: func(c *Config) []string { return []string{strconv.FormatBool(*field(c))} }}
}

func integer(name string, def, min, max int, group, help string, field func(*Config) *int) setting {
	return setting{name: name, def: strconv.Itoa(def), group: group, help: help, metavar: "N",
		apply: func(c *Config, v string) error {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil {
				return errors.New("not an integer")
			}
			if n < min || n > max {
				return fmt.Errorf("out of range [%d, %d]", min, max)
			}
			*field(c) = n
			return nil
		},
		show: func(c *Config) []string { return []string{strconv.Itoa(*field(c))} }}
}

func duration(name, def, group, help string, field func(*Config) *time.Duration) setting {
	return setting{name: name, def: def, group: group, help: help, metavar: "DURATION",
		apply: func(c *Config, v string) error {
			d, err := parseDuration(v)
			*field(c) = d
			return err
		},
		show: func(c *Config) []string { return []string{field(c).String()} }}
}

func list(name, group, help, metavar string, field func(*Config) *[]string, check func(string) error) setting {
	return setting{name: name, group: group, help: help, metavar: metavar, list: true,
		apply: func(c *Config, v string) error {
			if check != nil {
				if err := check(v); err != nil {
					return err
				}
			}
			*field(c) = append(*field(c), v)
			return nil
		},
		clear: func(c *Config) { *field(c) = nil },
		show:  func(c *Config) []string { return append([]string(nil), *field(c)...) }}
}

func secret(s setting) setting {
	s.secret = true
	return s
}

// parseBool accepts true/false, 1/0, yes/no, on/off (any case).
func parseBool(v string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "true", "1", "yes", "on":
		return true, nil
	case "false", "0", "no", "off":
		return false, nil
	}
	return false, errors.New("not a boolean (want true or false)")
}

// parseDuration accepts a Go duration ("1m30s") or a whole number of seconds ("90").
func parseDuration(v string) (time.Duration, error) {
	v = strings.TrimSpace(v)
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n < 0 || n > int64(time.Duration(1<<62)/time.Second) {
			return 0, errors.New("out of range")
		}
		return time.Duration(n) * time.Second, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, errors.New("not a duration (want seconds or a Go duration such as 10s, 5m)")
	}
	if d < 0 {
		return 0, errors.New("negative duration")
	}
	return d, nil
}

func hostname() string {
	h, err := os.Hostname()
	if err != nil {
		return ""
	}
	return h
}

// table is the single list of settings, in --help and Dump order.
var table = withEnv([]setting{
	// Server.
	str("listen", "127.0.0.1:8081", "server", "address (host:port) serving cluster files", func(c *Config) *string { return &c.Listen }),
	str("metrics-listen", "127.0.0.1:9181", "server", `address serving /metrics, /healthz and /readyz ("" = off)`, func(c *Config) *string { return &c.MetricsListen }),
	str("ez-root", "", "server", "eZ Publish legacy root to read config.php, config.cluster.php and settings/ from", func(c *Config) *string { return &c.EZRoot }),
	str("project-root", "", "server", "eZ Platform / Ibexa Symfony project root to read .env* (DFS_DATABASE_URL, DFS_NFS_PATH) and composer.lock (DFS table) from", func(c *Config) *string { return &c.ProjectRoot }),
	enum("profile", "auto", "server", "serving rules: legacy (index_cluster.php) or platform (eZ Platform / Ibexa StreamFileListener); auto = platform when project-root is set, else legacy", []string{"auto", dfs.ProfileLegacy, dfs.ProfilePlatform}, func(c *Config) *string { return &c.Profile }),
	str("config", "", "server", "ezdfsd config file (key = value lines; flag names as keys)", func(c *Config) *string { return &c.ConfigFile }),

	// Metadata.
	enum("metadata", "auto", "metadata", "metadata store; auto = postgres if postgres-url is given, mysql if any other database setting is (db-*, mysql-dsn or the eZ install's), else an error: sqlite only when chosen", []string{"auto", "mysql", "postgres", "sqlite"}, func(c *Config) *string { return &c.Metadata }),
	secret(str("mysql-dsn", "", "metadata", "complete go-sql-driver/mysql DSN (replaces the db-* settings)", func(c *Config) *string { return &c.DSN })),
	secret(str("postgres-url", "", "metadata", "PostgreSQL connection URL, postgres://user:pass@host:5432/db?sslmode=verify-full (replaces the db-* settings; metadata=postgres)", func(c *Config) *string { return &c.PostgresURL })),
	str("db-host", "", "metadata", `database host ("" = 127.0.0.1); CLUSTER_STORAGE_HOST / DBHost`, func(c *Config) *string { return &c.DB.Host }),
	integer("db-port", 3306, 1, 65535, "metadata", "database port (5432 by default with metadata=postgres); CLUSTER_STORAGE_PORT / DBPort", func(c *Config) *int { return &c.DB.Port }),
	str("db-socket", "", "metadata", "database Unix socket (instead of host:port; PostgreSQL: the socket's directory); DBSocket", func(c *Config) *string { return &c.DB.Socket }),
	str("db-user", "", "metadata", "database user; CLUSTER_STORAGE_USER / DBUser", func(c *Config) *string { return &c.DB.User }),
	secret(str("db-password", "", "metadata", "database password; CLUSTER_STORAGE_PASS / DBPassword", func(c *Config) *string { return &c.DB.Password })),
	str("db-password-file", "", "metadata", "file holding the database password, read at start (systemd LoadCredential=, a Kubernetes secret volume); replaces db-password", func(c *Config) *string { return &c.DB.PasswordFile }),
	enum("db-tls", "off", "metadata", "TLS to the database: off, preferred (if offered, unverified), required (unverified), verify-ca (trusted CA), verify-full (trusted CA and host name)", []string{"off", "preferred", "required", "verify-ca", "verify-full"}, func(c *Config) *string { return &c.DB.TLS }),
	str("db-tls-ca", "", "metadata", `PEM bundle of the CAs trusted by db-tls=verify-ca/verify-full, e.g. the RDS global bundle ("" = system roots)`, func(c *Config) *string { return &c.DB.TLSCA }),
	boolean("db-iam-auth", false, "metadata", "authenticate with RDS IAM tokens (a fresh one per connection, signed with the AWS default credential chain) instead of a password; needs db-tls", func(c *Config) *bool { return &c.DB.IAMAuth }),
	str("db-iam-region", "", "metadata", `AWS region of the RDS instance for db-iam-auth ("" = AWS_REGION or the profile's region)`, func(c *Config) *string { return &c.DB.IAMRegion }),
	str("db-name", "", "metadata", "database name; CLUSTER_STORAGE_DB / DBName", func(c *Config) *string { return &c.DB.Name }),
	str("db-charset", "utf8mb4", "metadata", "connection charset; CLUSTER_STORAGE_CHARSET", func(c *Config) *string { return &c.DB.Charset }),
	integer("db-max-open", 32, 1, 10000, "metadata", "maximum open database connections", func(c *Config) *int { return &c.DB.MaxOpen }),
	duration("db-timeout", "2s", "metadata", "database dial and query timeout", func(c *Config) *time.Duration { return &c.DB.Timeout }),
	str("sqlite", "./ezdfsd.sqlite", "metadata", "embedded SQLite database file (metadata=sqlite)", func(c *Config) *string { return &c.SQLitePath }),
	str("table", dfs.DefaultStorageTable, "metadata", "storage metadata table (ibexa_dfs_file on Ibexa)", func(c *Config) *string { return &c.Table }),
	str("cache-table", dfs.DefaultCacheTable, "metadata", "cache metadata table; CLUSTER_METADATA_TABLE_CACHE / MetaDataTableNameCache", func(c *Config) *string { return &c.CacheTable }),
	str("cache-path-needle", dfs.DefaultCacheNeedle, "metadata", "names containing this use the cache table; CLUSTER_METADATA_CACHE_PATH", func(c *Config) *string { return &c.CachePathNeedle }),
	str("storage-path-needle", dfs.DefaultStorageNeedle, "metadata", "names containing this always use the storage table; CLUSTER_METADATA_STORAGE_PATH", func(c *Config) *string { return &c.StoragePathNeedle }),

	// Storage.
	str("mount-point", "", "storage", "NFS mount point; CLUSTER_MOUNT_POINT_PATH / MountPointPath", func(c *Config) *string { return &c.MountPoint }),
	str("default-backend", dfs.MountPointBackend, "storage", "eZ backend class for names no path-backend matches ("+dfs.MountPointBackend+" or "+dfs.S3Backend+")", func(c *Config) *string { return &c.DefaultBackend }),
	pathBackendSetting(),
	str("s3-bucket", "", "storage", "S3 bucket; dfsamazons3.ini Bucket", func(c *Config) *string { return &c.S3.Bucket }),
	str("s3-region", "", "storage", "S3 region; dfsamazons3.ini Region", func(c *Config) *string { return &c.S3.Region }),
	str("s3-endpoint", "", "storage", "S3 endpoint URL for S3-compatible servers (\"\" = AWS)", func(c *Config) *string { return &c.S3.Endpoint }),
	str("s3-prefix", "", "storage", `profile platform: the awss3v3 Flysystem adapter's prefix; object key = prefix + "/" + the name after var/<site>/storage/ (profile legacy: key = name)`, func(c *Config) *string { return &c.S3.Prefix }),
	boolean("s3-path-style", false, "storage", "use path-style S3 addressing", func(c *Config) *bool { return &c.S3.PathStyle }),
	secret(str("s3-access-key-id", "", "storage", "S3 access key id (\"\" = AWS default credential chain); AccessKeyID", func(c *Config) *string { return &c.S3.AccessKeyID })),
	secret(str("s3-secret-access-key", "", "storage", "S3 secret access key; SecretAccessKey", func(c *Config) *string { return &c.S3.SecretAccessKey })),
	str("s3-secret-access-key-file", "", "storage", "file holding the S3 secret access key, read at start; replaces s3-secret-access-key", func(c *Config) *string { return &c.S3.SecretAccessKeyFile }),
	str("s3-profile", "", "storage", "AWS shared config profile for the default credential chain", func(c *Config) *string { return &c.S3.Profile }),
	duration("open-file-reuse", "1s", "storage", "reuse the descriptor of a mount-point file opened less than this long ago, after checking on each request that the name still leads to the same inode with the same size, mtime and ctime (0 = open the file for every request)", func(c *Config) *time.Duration { return &c.OpenFileReuse }),
	duration("s3-first-byte-timeout", "10s", "storage", "maximum wait for S3 response headers, and for each read of an S3 body being served", func(c *Config) *time.Duration { return &c.S3.FirstByteTimeout }),

	// Serving.
	servedBySetting(),
	str("powered-by", ezsettings.DefaultPoweredBy, "serving", `X-Powered-By header ("" = none); CLUSTER_HEADER_X_POWERED_BY`, func(c *Config) *string { return &c.PoweredBy }),
	boolean("http-cache", true, "serving", "send Last-Modified/Expires/ETag and answer conditional requests; CLUSTER_ENABLE_HTTP_CACHE", func(c *Config) *bool { return &c.HTTPCache }),
	boolean("http-range", true, "serving", "answer Range requests; CLUSTER_ENABLE_HTTP_RANGE", func(c *Config) *bool { return &c.HTTPRange }),
	expirySetting(),
	boolean("cache-control", false, "serving", "add Cache-Control: public, max-age=<expiry-timeout>", func(c *Config) *bool { return &c.CacheControl }),
	boolean("strict-expiry", false, "serving", "404 for rows with expired=1 or mtime=0 (eZ 5 rule)", func(c *Config) *bool { return &c.StrictExpiry }),
	servePatternSetting(),
	boolean("serve-original", false, "serving", "also serve storage/original (binary files; bypasses eZ's permission checks)", func(c *Config) *bool { return &c.ServeOriginal }),
	integer("missing-retries", 2, 0, 100, "serving", "re-checks of a row whose file is missing (NFS lag)", func(c *Config) *int { return &c.MissingRetries }),
	duration("missing-retry-delay", "50ms", "serving", "delay between those re-checks", func(c *Config) *time.Duration { return &c.MissingRetryDelay }),
	duration("retry-after", "5s", "serving", "Retry-After sent with 503", func(c *Config) *time.Duration { return &c.RetryAfter }),

	// Metadata cache.
	integer("cache-entries", 100000, 0, 1<<30, "cache", "in-process metadata cache entries (0 = off)", func(c *Config) *int { return &c.CacheEntries }),
	duration("cache-ttl", "5s", "cache", "freshness of a cached row", func(c *Config) *time.Duration { return &c.CacheTTL }),
	duration("cache-negative-ttl", "2s", "cache", "freshness of a cached \"no such row\"", func(c *Config) *time.Duration { return &c.CacheNegativeTTL }),
	duration("stale-if-error", "5m", "cache", "serve a stale row this long while the database is down", func(c *Config) *time.Duration { return &c.StaleIfError }),
	memcachedSetting(),
	str("memcached-from", "", "cache", "read the memcached servers from the site's eZ 5 stash config (*.yml: stash.caches.*.Memcache.servers) or php.ini / php-fpm pool file (session.save_path) when --memcached is not given", func(c *Config) *string { return &c.MemcachedFrom }),
	str("memcached-discovery", "", "cache", "ElastiCache configuration endpoint host:port (\"\" = none)", func(c *Config) *string { return &c.MemcachedDiscovery }),
	str("memcached-prefix", "ezdfsd:", "cache", "memcached key prefix", func(c *Config) *string { return &c.MemcachedPrefix }),
	duration("memcached-timeout", "100ms", "cache", "timeout of one memcached operation", func(c *Config) *time.Duration { return &c.MemcachedTimeout }),
	boolean("memcached-tls", false, "cache", "TLS to memcached (ElastiCache in-transit encryption; memcached -Z): servers, discovered nodes and the discovery endpoint", func(c *Config) *bool { return &c.MemcachedTLS }),
	str("memcached-tls-ca", "", "cache", `PEM bundle of the CAs trusted for memcached-tls ("" = system roots; ElastiCache's are public)`, func(c *Config) *string { return &c.MemcachedTLSCA }),
	str("memcached-tls-server-name", "", "cache", `name the memcached certificates must be for ("" = each server's host name)`, func(c *Config) *string { return &c.MemcachedTLSServerName }),

	// Operations.
	enum("log-format", "text", "ops", "log format", []string{"text", "json"}, func(c *Config) *string { return &c.LogFormat }),
	logLevelSetting(),
	boolean("access-log", false, "ops", "log every request", func(c *Config) *bool { return &c.AccessLog }),
	boolean("pprof", false, "ops", "serve /debug/pprof/ on the metrics listener (keep that listener private)", func(c *Config) *bool { return &c.Pprof }),
	duration("read-header-timeout", "10s", "ops", "HTTP read header timeout", func(c *Config) *time.Duration { return &c.ReadHeaderTimeout }),
	duration("idle-timeout", "120s", "ops", "HTTP keep-alive idle timeout", func(c *Config) *time.Duration { return &c.IdleTimeout }),
	duration("write-timeout", "0", "ops", "HTTP write timeout (0 = none, for big downloads)", func(c *Config) *time.Duration { return &c.WriteTimeout }),
	integer("max-header-bytes", 16384, 1024, 1<<24, "ops", "maximum request header bytes", func(c *Config) *int { return &c.MaxHeaderBytes }),
	integer("max-connections", 0, 0, 1<<24, "ops", "maximum open client connections (0 = unlimited)", func(c *Config) *int { return &c.MaxConnections }),
	integer("max-concurrent-fetches", 256, 1, 1<<20, "ops", "maximum requests handled at once; excess requests wait 250ms, then get 503 + Retry-After", func(c *Config) *int { return &c.MaxConcurrentFetches }),
	duration("readiness-interval", "5s", "ops", "how often /readyz re-probes the database, mount point, S3 and memcached (each probe bounded by 2s)", func(c *Config) *time.Duration { return &c.ReadinessInterval }),
	duration("drain-delay", "0s", "ops", "on SIGTERM, answer /readyz 503 this long before closing the listener (set it above the load balancer's or Varnish's probe interval)", func(c *Config) *time.Duration { return &c.DrainDelay }),
	duration("shutdown-timeout", "30s", "ops", "graceful shutdown budget", func(c *Config) *time.Duration { return &c.ShutdownTimeout }),
})

// withEnv derives each setting's environment variable from its name.
func withEnv(ss []setting) []setting {
	for i := range ss {
		ss[i].env = envPrefix + strings.ToUpper(strings.ReplaceAll(ss[i].name, "-", "_"))
	}
	return ss
}

func pathBackendSetting() setting {
	return setting{name: "path-backend", group: "storage", metavar: "KEY=CLASS", list: true,
		help: "dispatch rule: names containing KEY use backend CLASS (repeatable, first match wins; replaces eZ's [DispatchableDFS] PathBackends)",
		apply: func(c *Config, v string) error {
			i := strings.LastIndex(v, "=")
			if i <= 0 || i == len(v)-1 {
				return errors.New("want KEY=CLASS")
			}
			c.PathBackends = append(c.PathBackends, dfs.Rule{Key: v[:i], Backend: v[i+1:]})
			return nil
		},
		clear: func(c *Config) { c.PathBackends = nil },
		show: func(c *Config) []string {
			var out []string
			for _, r := range c.PathBackends {
				out = append(out, r.Key+"="+r.Backend)
			}
			return out
		}}
}

func servedBySetting() setting {
	s := str("served-by", "", "serving", `Served-by header ("" = none; legacy sends the server name)`, func(c *Config) *string { return &c.ServedBy })
	s.defFunc = hostname
	s.defText = "the host name"
	return s
}

func expirySetting() setting {
	return setting{name: "expiry-timeout", def: "86400", group: "serving", metavar: "DURATION|off",
		help: "Expires = now + this (seconds or Go duration; off = no Expires); CLUSTER_EXPIRY_TIMEOUT",
		apply: func(c *Config, v string) error {
			switch strings.ToLower(strings.TrimSpace(v)) {
			case "false", "off", "no":
				c.Expires, c.ExpiryTimeout = false, 0
				return nil
			case "true":
				c.Expires, c.ExpiryTimeout = true, ezsettings.DefaultExpirySeconds*time.Second
				return nil
			}
			d, err := parseDuration(v)
			if err != nil {
				return errors.New("not a duration or off (want seconds, a Go duration such as 24h, or off)")
			}
			c.Expires, c.ExpiryTimeout = true, d
			return nil
		},
		show: func(c *Config) []string {
			if !c.Expires {
				return []string{"off"}
			}
			return []string{c.ExpiryTimeout.String()}
		}}
}

func servePatternSetting() setting {
	s := list("serve-pattern", "serving", "regexp (RE2) of cluster names served at all (repeatable; default: the legacy rewrite rules)", "REGEXP",
		func(c *Config) *[]string { return &c.ServePatterns },
		func(v string) error {
			if _, err := dfs.NewAllowList([]string{v}); err != nil {
				return errors.Unwrap(err)
			}
			return nil
		})
	s.def = strings.Join(dfs.DefaultServedPatterns, "\n") // list defaults are newline-separated
	return s
}

func memcachedSetting() setting {
	return setting{name: "memcached", group: "cache", metavar: "HOST:PORT,...",
		help: `memcached servers, comma-separated ("" = none)`,
		apply: func(c *Config, v string) error {
			c.Memcached = nil
			for _, a := range strings.Split(v, ",") {
				if a = strings.TrimSpace(a); a != "" {
					c.Memcached = append(c.Memcached, a)
				}
			}
			return nil
		},
		show: func(c *Config) []string { return []string{strings.Join(c.Memcached, ",")} }}
}

func logLevelSetting() setting {
	return setting{name: "log-level", def: "info", group: "ops", metavar: "debug|info|warn|error",
		help: "minimum log level",
		apply: func(c *Config, v string) error {
			var l slog.Level
			if err := l.UnmarshalText([]byte(strings.TrimSpace(v))); err != nil {
				return errors.New("want debug, info, warn or error")
			}
			c.LogLevel = l
			return nil
		},
		show: func(c *Config) []string { return []string{strings.ToLower(c.LogLevel.String())} }}
}

// Info describes one setting for documentation and tooling.
type Info struct {
	// Name is the flag name (--name) and the config file key.
	Name string
	// Env is the environment variable.
	Env string
	// Default is the default as text ("" = empty).
	Default string
	// Help is the one-line description.
	Help string
	// Group is the --help section.
	Group string
	// Secret settings are redacted in Dump and errors.
	Secret bool
	// List settings may be given several times; the highest level giving any value wins.
	List bool
}

// Settings returns every setting in table order.
func Settings() []Info {
	out := make([]Info, 0, len(table))
	for _, s := range table {
		def := s.def
		if s.defText != "" {
			def = "(" + s.defText + ")"
		}
		out = append(out, Info{Name: s.name, Env: s.env, Default: def, Help: s.help, Group: s.group, Secret: s.secret, List: s.list})
	}
	return out
}
