// Package config builds ezdfsd's one configuration struct from, in decreasing precedence:
// command-line flags, EZDFSD_* environment variables, ezdfsd's own config file (--config), the
// eZ Publish install's own settings (--ez-root: config.php CLUSTER_* constants, file.ini,
// dfsamazons3.ini), and built-in defaults (the legacy gateway's where one exists).
//
// Every setting is declared once, in the table in settings.go; the flag set, the environment
// names, the config file keys, --help and the `ezdfsd config` dump are all derived from it.
// Every effective value remembers where it came from (Config.Source). Secret values never
// appear in Dump output or in error messages.
//
// The package reads files (the config file, the eZ install) but never the process environment:
// the caller passes os.Args-style arguments and os.Environ().
package config

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/ezdfsd/ezdfsd/dfs"
	"github.com/ezdfsd/ezdfsd/ezsettings"
	"github.com/ezdfsd/ezdfsd/platform"
)

// ErrHelp is returned (wrapped) by Load when the arguments ask for help (-h, --help); the
// caller should print Usage and exit successfully.
var ErrHelp = flag.ErrHelp

// SourceKind says which level of the precedence chain supplied a value.
type SourceKind int

// Levels, lowest precedence first.
const (
	FromDefault SourceKind = iota
	FromEZ
	FromFile
	FromEnv
	FromFlag
)

// Source says where an effective value came from.
type Source struct {
	Kind SourceKind
	// Where is the detail: "config.php:12" (eZ), "/etc/ezdfsd.conf:3" (file), "EZDFSD_LISTEN"
	// (env), "--listen" (flag), "" or a note (default).
	Where string
}

// String renders the source as "default", "ez:<file>:<line>", "file:<path>:<line>",
// "env:<NAME>" or "flag:--<name>".
func (s Source) String() string {
	prefix := [...]string{"default", "ez", "file", "env", "flag"}[s.Kind]
	if s.Where == "" {
		return prefix
	}
	if s.Kind == FromDefault {
		return prefix + " (" + s.Where + ")"
	}
	return prefix + ":" + s.Where
}

// DB is the MySQL/MariaDB or PostgreSQL connection when the DSN or URL is built from parts
// (db-* settings).
type DB struct {
	// Host is the server host name or IP ("" = 127.0.0.1). Ignored when Socket is set.
	Host string
	// Port is the TCP port (default 3306; 5432 with metadata=postgres).
	Port int
	// Socket is a Unix socket path; when set it is used instead of Host:Port.
	Socket string
	// User and Password authenticate; Password is secret.
	User, Password string
	// Name is the database (schema) holding ezdfsfile.
	Name string
	// Charset is sent as SET NAMES (default utf8mb4).
	Charset string
	// MaxOpen bounds open connections (default 32).
	MaxOpen int
	// Timeout is the dial timeout and the budget callers should give one query (default 2s).
	Timeout time.Duration
	// PasswordFile, when set, holds the password (read at start; see readSecretFiles).
	PasswordFile string
	// TLS is the connection's TLS mode (off, preferred, required, verify-ca, verify-full);
	// TLSCA is the PEM bundle of trusted CAs for the verify modes ("" = the system's).
	TLS, TLSCA string
	// IAMAuth authenticates with RDS IAM tokens instead of Password, signed for IAMRegion
	// ("" = the AWS default chain's region).
	IAMAuth   bool
	IAMRegion string
}

// S3 is the bucket that files routed to eZDFSFileHandlerDFSAmazon are read from.
type S3 struct {
	// Bucket holds objects whose key is the cluster name unchanged.
	Bucket string
	// Region is the AWS region (e.g. eu-west-1).
	Region string
	// Endpoint overrides the AWS endpoint (MinIO, versitygw, ...); "" = AWS.
	Endpoint string
	// Prefix is the platform profile's Flysystem adapter prefix (see dfs.FlysystemKey); the
	// legacy profile's keys are the cluster names and ignore it.
	Prefix string
	// PathStyle forces path-style addressing (needed by most S3-compatible servers).
	PathStyle bool
	// AccessKeyID and SecretAccessKey are static credentials (both secret); empty = the AWS
	// default chain (environment, shared config Profile, instance role).
	AccessKeyID, SecretAccessKey string
	// SecretAccessKeyFile, when set, holds SecretAccessKey (read at start).
	SecretAccessKeyFile string
	// Profile names a shared-config profile for the default chain.
	Profile string
	// FirstByteTimeout bounds the wait for GetObject's response headers (default 10s).
	FirstByteTimeout time.Duration
}

// Config is the whole daemon's configuration, filled once by Load and then only read. All
// durations are time.Duration; lists are in the order given.
type Config struct {
	// Listen is the HTTP address serving cluster files (default 127.0.0.1:8081).
	Listen string
	// MetricsListen serves /metrics, /healthz and /readyz ("" = off; default 127.0.0.1:9181).
	MetricsListen string
	// EZRoot is the eZ Publish legacy root whose settings were read ("" = none).
	EZRoot string
	// ProjectRoot is the eZ Platform / Ibexa Symfony project root that was read ("" = none).
	ProjectRoot string
	// Profile is the serving rules: dfs.ProfileLegacy or dfs.ProfilePlatform (Load resolves
	// "auto").
	Profile string
	// ConfigFile is the ezdfsd config file read ("" = none).
	ConfigFile string

	// Metadata is the metadata store: "mysql", "postgres" or "sqlite". Load resolves "auto" to
	// postgres if postgres-url is given, to mysql if any other database setting is; otherwise it
	// stays "auto" and Validate reports the missing database settings.
	Metadata string
	// DSN is a complete go-sql-driver/mysql DSN (secret); when set it replaces DB.
	DSN string
	// PostgresURL is a complete PostgreSQL connection URL (secret); when set it replaces DB for
	// metadata=postgres.
	PostgresURL string
	// DB is the database when DSN is empty.
	DB DB
	// SQLitePath is the embedded SQLite file (metadata=sqlite only; default ./ezdfsd.sqlite).
	SQLitePath string
	// Table, CacheTable, CachePathNeedle and StoragePathNeedle route names to tables (see
	// Tables).
	Table, CacheTable, CachePathNeedle, StoragePathNeedle string

	// MountPoint is the NFS root (CLUSTER_MOUNT_POINT_PATH): file = MountPoint + "/" + name.
	MountPoint string
	// OpenFileReuse is how long a mount-point file's descriptor may be reused for later
	// requests of the same name (0: every request opens the file).
	OpenFileReuse time.Duration
	// DefaultBackend is the eZ backend class for names no PathBackends rule matches.
	DefaultBackend string
	// PathBackends are the dispatch rules in order (see Dispatch).
	PathBackends []dfs.Rule
	// S3 is the S3 backend.
	S3 S3

	// ServedBy is the Served-by header value ("" = none; default the host name).
	ServedBy string
	// PoweredBy is the X-Powered-By header value ("" = none; default "eZ Publish").
	PoweredBy string
	// HTTPCache enables Last-Modified/Expires/ETag and conditional requests.
	HTTPCache bool
	// HTTPRange enables Range requests.
	HTTPRange bool
	// Expires reports whether an Expires header is sent, ExpiryTimeout after the response.
	Expires       bool
	ExpiryTimeout time.Duration
	// CacheControl adds "Cache-Control: public, max-age=<ExpiryTimeout>".
	CacheControl bool
	// StrictExpiry answers 404 for rows with expired=1 or mtime=0 (eZ 5's rule).
	StrictExpiry bool
	// ServePatterns are the regexps of names served at all (see ServedPatterns).
	ServePatterns []string
	// ServeOriginal also serves storage/original (binary files, bypassing eZ permissions).
	ServeOriginal bool
	// MissingRetries and MissingRetryDelay govern re-checking a row whose file is missing.
	MissingRetries    int
	MissingRetryDelay time.Duration
	// RetryAfter is the Retry-After sent with 503.
	RetryAfter time.Duration

	// CacheEntries bounds the in-process metadata cache (0 = off).
	CacheEntries int
	// CacheTTL, CacheNegativeTTL and StaleIfError govern metadata cache freshness.
	CacheTTL, CacheNegativeTTL, StaleIfError time.Duration
	// Memcached lists host:port servers of a shared metadata cache (empty = none).
	Memcached []string
	// MemcachedFrom is a stash YAML or php.ini/php-fpm file Memcached was read from, when
	// Memcached was not given directly.
	MemcachedFrom string
	// MemcachedDiscovery is an ElastiCache configuration endpoint host:port ("" = none).
	MemcachedDiscovery string
	// MemcachedPrefix prefixes every key (default "ezdfsd:").
	MemcachedPrefix string
	// MemcachedTimeout bounds one memcached operation.
	MemcachedTimeout time.Duration
	// MemcachedTLS encrypts memcached connections (static servers, discovered nodes and the
	// discovery endpoint), trusting MemcachedTLSCA ("" = the system roots) and checking the
	// certificate for MemcachedTLSServerName ("" = each server's host).
	MemcachedTLS                           bool
	MemcachedTLSCA, MemcachedTLSServerName string

	// LogFormat is "text" or "json"; LogLevel the minimum level; AccessLog logs each request.
	LogFormat string
	LogLevel  slog.Level
	AccessLog bool
	// Pprof serves /debug/pprof/ on the metrics listener.
	Pprof bool
	// HTTP server limits (0 write timeout = none, 0 max connections = unlimited).
	ReadHeaderTimeout, IdleTimeout, WriteTimeout time.Duration
	MaxHeaderBytes, MaxConnections               int
	// MaxConcurrentFetches bounds the requests handled at once (excess: brief wait, then 503).
	MaxConcurrentFetches int
	// ReadinessInterval is the cadence of the readiness probes.
	ReadinessInterval time.Duration
	// DrainDelay is how long /readyz says "stopping" before the file listener closes.
	DrainDelay time.Duration
	// ShutdownTimeout bounds the graceful shutdown.
	ShutdownTimeout time.Duration

	// Site is the eZ install that was read (nil without EZRoot).
	Site *ezsettings.Site
	// Project is the Symfony project that was read (nil without ProjectRoot).
	Project *platform.Project
	// Warnings are non-fatal remarks from Load (e.g. unknown EZDFSD_* variables).
	Warnings []string

	sources    map[string]Source
	projectErr error // a project-root value this build cannot use (PostgreSQL), for Validate
}

// Source returns where the effective value of the named setting (flag name) came from.
func (c *Config) Source(name string) Source {
	return c.sources[name]
}

// Tables returns the metadata table routing.
func (c *Config) Tables() dfs.Tables {
	return dfs.Tables{Storage: c.Table, Cache: c.CacheTable, CacheNeedle: c.CachePathNeedle, StorageNeedle: c.StoragePathNeedle}
}

// Dispatch returns the backend dispatch rules.
func (c *Config) Dispatch() dfs.Dispatch {
	return dfs.Dispatch{Rules: append([]dfs.Rule(nil), c.PathBackends...), Default: c.DefaultBackend}
}

// ServedPatterns returns the allow-list regexps: ServePatterns, plus dfs.OriginalStoragePattern
// when ServeOriginal is set.
func (c *Config) ServedPatterns() []string {
	out := append([]string(nil), c.ServePatterns...)
	if c.ServeOriginal {
		out = append(out, dfs.OriginalStoragePattern)
	}
	return out
}

// assignment is one value for one setting at one level.
type assignment struct {
	value string
	src   Source
}

// Load builds the configuration from args (the arguments after the subcommand), environ
// (os.Environ() style "KEY=value" strings), the config file they name and the eZ install they
// name. It reports unusable values with their source; call Validate for the cross-checks.
// A help request returns an error wrapping ErrHelp.
func Load(args, environ []string) (*Config, error) {
	levels := map[SourceKind]map[string][]assignment{}
	add := func(k SourceKind, name string, a assignment) {
		if levels[k] == nil {
			levels[k] = map[string][]assignment{}
		}
		levels[k][name] = append(levels[k][name], a)
	}
	c := &Config{sources: map[string]Source{}}

	// Flags.
	fs := flag.NewFlagSet("ezdfsd", flag.ContinueOnError)
	fs.SetOutput(discard{})
	for i := range table {
		s := &table[i]
		fs.Var(&flagValue{s: s, add: func(v string) {
			add(FromFlag, s.name, assignment{v, Source{FromFlag, "--" + s.name}})
		}}, s.name, s.help)
	}
	if err := fs.Parse(args); err != nil {
		// flag.ErrHelp (callers test for it), an unknown flag or a missing argument: no value quoted.
		if uf, ok := asUnknownFlag(err); ok {
			err = uf
		}
		return nil, fmt.Errorf("config: %w", err)
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("config: unexpected argument %q (settings are --name=value)", fs.Arg(0))
	}

	// Environment.
	byEnv := map[string]*setting{}
	for i := range table {
		byEnv[table[i].env] = &table[i]
	}
	for _, kv := range environ {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(k, envPrefix) {
			continue
		}
		s := byEnv[k]
		if s == nil {
			c.Warnings = append(c.Warnings, fmt.Sprintf("ignoring unknown environment variable %s%s", k, suggestEnv(k)))
			continue
		}
		if s.list {
			for _, item := range strings.Split(v, "\n") {
				if item = strings.TrimSpace(item); item != "" {
					add(FromEnv, s.name, assignment{item, Source{FromEnv, k}})
				}
			}
			continue
		}
		add(FromEnv, s.name, assignment{v, Source{FromEnv, k}})
	}

	// Own config file: flag > env.
	if a, ok := highest(levels, "config"); ok && a.value != "" {
		data, err := os.ReadFile(a.value)
		if err != nil {
			return nil, fmt.Errorf("config: reading config file (%s): %w", a.src, err)
		}
		fileAssigns, err := parseFile(string(data), a.value)
		if err != nil {
			return nil, err
		}
		for _, fa := range fileAssigns {
			add(FromFile, fa.name, fa.assignment)
		}
	}

	// eZ install: flag > env > file.
	var problems map[string]string
	if a, ok := highest(levels, "ez-root"); ok && a.value != "" {
		site, err := ezsettings.LoadSite(a.value)
		if err != nil {
			return nil, fmt.Errorf("config: ez-root (%s): %w", a.src, err)
		}
		c.Site = site
		c.Warnings = append(c.Warnings, site.Warnings...)
		var ezAssigns []namedAssignment
		ezAssigns, problems = fromSite(site)
		for _, ea := range ezAssigns {
			add(FromEZ, ea.name, ea.assignment)
		}
	}

	// Symfony project root (eZ Platform / Ibexa): flag > env > file, mapped at the eZ level.
	if a, ok := highest(levels, "project-root"); ok && a.value != "" {
		p, err := platform.Load(a.value, environ)
		if err != nil {
			return nil, fmt.Errorf("config: project-root (%s): %w", a.src, err)
		}
		c.Project = p
		c.Warnings = append(c.Warnings, p.Warnings...)
		projAssigns, deferred, err := fromProject(p)
		c.projectErr = deferred // Validate reports it, so that `ezdfsd config` still shows the rest
		if err != nil {
			return nil, fmt.Errorf("config: project-root (%s): %w", a.src, err)
		}
		for _, pa := range projAssigns {
			add(FromEZ, pa.name, pa.assignment)
		}
	}

	// Resolve every setting at its highest level.
	var errs []error
	for i := range table {
		s := &table[i]
		def := s.def
		if s.defFunc != nil {
			def = s.defFunc()
		}
		if err := s.applyDefault(c, def); err != nil {
			return nil, fmt.Errorf("config: built-in default of %s: %w", s.name, err) // programming error
		}
		c.sources[s.name] = Source{Kind: FromDefault}
		for k := FromFlag; k > FromDefault; k-- {
			as := levels[k][s.name]
			if len(as) == 0 {
				continue
			}
			if s.list {
				s.clear(c)
			} else {
				as = as[len(as)-1:]
			}
			for _, a := range as {
				if err := s.apply(c, a.value); err != nil {
					errs = append(errs, valueError(s, a.value, a.src, err.Error()))
				}
			}
			c.sources[s.name] = as[len(as)-1].src
			break
		}
		if msg, bad := problems[s.name]; bad && c.sources[s.name].Kind <= FromEZ {
			errs = append(errs, fmt.Errorf("%s: %s; set it with --%s, %s or %q in the config file", s.name, msg, s.name, s.env, s.name+" = ..."))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("config: %w", redactError(c, c.withWarnings(err)))
	}
	c.resolveAuto()
	if err := c.resolveProfile(); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	if err := c.resolveMemcachedFrom(); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	if err := c.readSecretFiles(); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return c, nil
}

// resolveMemcachedFrom fills Memcached from the memcached-from file when no level gave
// memcached itself.
func (c *Config) resolveMemcachedFrom() error {
	if c.MemcachedFrom == "" || c.sources["memcached"].Kind != FromDefault {
		return nil
	}
	servers, err := ezsettings.MemcachedServers(c.MemcachedFrom)
	if err != nil {
		return fmt.Errorf("memcached-from (%s): %w", c.sources["memcached-from"], err)
	}
	c.Memcached = servers
	c.sources["memcached"] = Source{Kind: c.sources["memcached-from"].Kind, Where: c.MemcachedFrom}
	return nil
}

// highest returns the last assignment of name at the highest level collected so far.
func highest(levels map[SourceKind]map[string][]assignment, name string) (assignment, bool) {
	for k := FromFlag; k > FromDefault; k-- {
		if as := levels[k][name]; len(as) > 0 {
			return as[len(as)-1], true
		}
	}
	return assignment{}, false
}

// dbSettings are the settings whose presence makes metadata=auto choose mysql.
var dbSettings = []string{"mysql-dsn", "db-host", "db-port", "db-socket", "db-user", "db-password", "db-name"}

// resolveAuto turns metadata=auto into mysql when any database setting is given. Without one it
// stays "auto", which Validate refuses: SQLite is only used when chosen, never as a silent
// fallback that would serve an empty database.
func (c *Config) resolveAuto() {
	defer c.resolvePostgresPort()
	if c.Metadata != "auto" {
		return
	}
	if c.sources["postgres-url"].Kind != FromDefault {
		c.Metadata = "postgres"
		c.sources["metadata"] = Source{Kind: c.sources["metadata"].Kind, Where: withNote(c.sources["metadata"], "auto: postgres-url is set")}
		return
	}
	for _, n := range dbSettings {
		if c.sources[n].Kind != FromDefault {
			c.Metadata = "mysql"
			c.sources["metadata"] = Source{Kind: c.sources["metadata"].Kind, Where: withNote(c.sources["metadata"], "auto: "+n+" is set")}
			return
		}
	}
	c.sources["metadata"] = Source{Kind: c.sources["metadata"].Kind, Where: withNote(c.sources["metadata"], "auto: no database setting")}
}

// withWarnings appends the warnings met while reading the settings (INI lines eZ ignores,
// unknown EZDFSD_* variables) to a configuration error: an ignored line is often its cause.
func (c *Config) withWarnings(err error) error {
	if len(c.Warnings) == 0 {
		return err
	}
	return fmt.Errorf("%w\nwhile reading the settings (one of these may be the cause):\n  %s", err, strings.Join(c.Warnings, "\n  "))
}

// DefaultPostgresPort is db-port's default with metadata=postgres.
const DefaultPostgresPort = 5432

// resolvePostgresPort makes db-port default to PostgreSQL's port when the store is PostgreSQL
// and no level set db-port.
func (c *Config) resolvePostgresPort() {
	if c.Metadata == "postgres" && c.sources["db-port"].Kind == FromDefault {
		c.DB.Port = DefaultPostgresPort
		c.sources["db-port"] = Source{Kind: FromDefault, Where: "metadata=postgres"}
	}
}

func withNote(s Source, note string) string {
	if s.Where == "" || s.Kind == FromDefault {
		return note
	}
	return s.Where + " (" + note + ")"
}

// valueError formats a bad value with its source, hiding secret values.
func valueError(s *setting, value string, src Source, msg string) error {
	return fmt.Errorf("%s = %s (%s): %s", s.name, shown(s, value), src, msg)
}

func shown(s *setting, value string) string {
	if s.secret && value != "" {
		return redacted
	}
	return fmt.Sprintf("%q", value)
}

const redacted = "<redacted>"

// redactError removes any secret value of c from err's text (defence in depth: messages are
// built without them, but wrapped library errors might quote one).
func redactError(c *Config, err error) error {
	msg := err.Error()
	clean := msg
	for _, v := range c.secretValues() {
		clean = strings.ReplaceAll(clean, v, redacted)
	}
	if clean == msg {
		return err
	}
	return errors.New(clean)
}

func (c *Config) secretValues() []string {
	var out []string
	for i := range table {
		if !table[i].secret {
			continue
		}
		for _, v := range table[i].show(c) {
			if len(v) >= 3 { // shorter strings would redact unrelated text
				out = append(out, v)
			}
		}
	}
	return out
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// flagValue records every occurrence of a flag; parsing happens later, uniformly for all levels.
type flagValue struct {
	s   *setting
	add func(string)
}

func (f *flagValue) String() string     { return "" }
func (f *flagValue) Set(v string) error { f.add(v); return nil }
func (f *flagValue) IsBoolFlag() bool   { return f.s.boolFlag }

// applyDefault sets the built-in default; list defaults hold one value per line.
func (s *setting) applyDefault(c *Config, def string) error {
	if !s.list {
		return s.apply(c, def)
	}
	s.clear(c)
	for _, v := range strings.Split(def, "\n") {
		if v == "" {
			continue
		}
		if err := s.apply(c, v); err != nil {
			return err
		}
	}
	return nil
}
