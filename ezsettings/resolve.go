package ezsettings

import (
	"strconv"
	"strings"

	"github.com/ezdfsd/ezdfsd/dfs"
)

// Legacy defaults that are not in the dfs package.
const (
	// DefaultExpirySeconds is CLUSTER_EXPIRY_TIMEOUT's default (and its value when true).
	DefaultExpirySeconds = 86400
	// DefaultPoweredBy is CLUSTER_HEADER_X_POWERED_BY's default.
	DefaultPoweredBy = "eZ Publish"
	// DefaultMySQLPort is the port used when neither CLUSTER_STORAGE_PORT nor DBPort is set.
	DefaultMySQLPort = 3306
	// DFSFileHandler is file.ini [ClusteringSettings] FileHandler for DFS clusters.
	DFSFileHandler = "eZDFSFileHandler"
)

const problemExpr = "is a PHP expression ezdfsd cannot evaluate"

// resolve fills the typed fields from Defines and the merged INI files.
func (s *Site) resolve() {
	c := &s.Cluster
	c.StorageBackend = s.defString("CLUSTER_STORAGE_BACKEND", "")
	c.StorageGatewayPath = s.defString("CLUSTER_STORAGE_GATEWAY_PATH", "")
	c.StorageHost = s.defString("CLUSTER_STORAGE_HOST", "")
	c.StoragePort = s.defInt("CLUSTER_STORAGE_PORT", DefaultMySQLPort)
	c.StorageUser = s.defString("CLUSTER_STORAGE_USER", "")
	c.StoragePass = s.defString("CLUSTER_STORAGE_PASS", "")
	c.StorageDB = s.defString("CLUSTER_STORAGE_DB", "")
	c.StorageCharset = s.defString("CLUSTER_STORAGE_CHARSET", "")
	c.MountPointPath = s.defString("CLUSTER_MOUNT_POINT_PATH", "")
	c.PersistentConnection = s.defBool("CLUSTER_PERSISTENT_CONNECTION", false)
	c.EnableDebug = s.defBool("CLUSTER_ENABLE_DEBUG", false)
	c.EnableHTTPCache = s.defBool("CLUSTER_ENABLE_HTTP_CACHE", true)
	c.EnableHTTPRange = s.defBool("CLUSTER_ENABLE_HTTP_RANGE", true)
	c.ExpiryTimeout = s.defExpiry("CLUSTER_EXPIRY_TIMEOUT")
	c.HeaderXPoweredBy = s.defPoweredBy("CLUSTER_HEADER_X_POWERED_BY")
	c.MetadataTableCache = s.defString("CLUSTER_METADATA_TABLE_CACHE", dfs.DefaultCacheTable)
	c.MetadataCachePath = s.defString("CLUSTER_METADATA_CACHE_PATH", dfs.DefaultCacheNeedle)
	c.MetadataStoragePath = s.defString("CLUSTER_METADATA_STORAGE_PATH", dfs.DefaultStorageNeedle)

	const fileINI, dfsSec = "file.ini", "eZDFSClusteringSettings"
	s.FileHandler = iniString(s.FileINI, fileINI, "ClusteringSettings", "FileHandler", "eZFSFileHandler")
	s.MountPointPath = first(c.MountPointPath, iniString(s.FileINI, fileINI, dfsSec, "MountPointPath", ""))
	s.DB = DB{
		Backend:  iniString(s.FileINI, fileINI, dfsSec, "DBBackend", "eZDFSFileHandlerMySQLiBackend"),
		Host:     first(c.StorageHost, iniString(s.FileINI, fileINI, dfsSec, "DBHost", "")),
		Port:     first(c.StoragePort, iniInt(s.FileINI, fileINI, dfsSec, "DBPort", DefaultMySQLPort)),
		Socket:   iniString(s.FileINI, fileINI, dfsSec, "DBSocket", ""),
		Name:     first(c.StorageDB, iniString(s.FileINI, fileINI, dfsSec, "DBName", "")),
		User:     first(c.StorageUser, iniString(s.FileINI, fileINI, dfsSec, "DBUser", "")),
		Password: first(c.StoragePass, iniString(s.FileINI, fileINI, dfsSec, "DBPassword", "")),
		Charset:  c.StorageCharset,
	}
	s.MetaDataTableNameCache = first(c.MetadataTableCache,
		iniString(s.FileINI, fileINI, dfsSec, "MetaDataTableNameCache", dfs.DefaultCacheTable))
	s.DFSBackend = iniString(s.FileINI, fileINI, dfsSec, "DFSBackend", dfs.MountPointBackend)
	s.DispatchDefault = iniString(s.FileINI, fileINI, "DispatchableDFS", "DefaultBackend", dfs.MountPointBackend)
	s.PathBackends = pathBackends(s.FileINI, fileINI)

	const s3INI, s3Sec = "dfsamazons3.ini", "BackendSettings"
	s.S3 = S3{
		AccessKeyID:     iniString(s.S3INI, s3INI, s3Sec, "AccessKeyID", ""),
		SecretAccessKey: iniString(s.S3INI, s3INI, s3Sec, "SecretAccessKey", ""),
		Bucket:          iniString(s.S3INI, s3INI, s3Sec, "Bucket", ""),
		Region:          iniString(s.S3INI, s3INI, s3Sec, "Region", ""),
	}

	s.VarDir = iniString(s.SiteINI, "site.ini", "FileSettings", "VarDir", "var")
	s.StorageDir = iniString(s.SiteINI, "site.ini", "FileSettings", "StorageDir", "storage")
	s.CacheDir = iniString(s.SiteINI, "site.ini", "FileSettings", "CacheDir", "cache")
}

// first returns a if the site set it (or tried to), else b.
func first[T any](a, b Setting[T]) Setting[T] {
	if a.Set || a.Problem != "" {
		return a
	}
	return b
}

func (s *Site) define(name string) (Value, string, bool) {
	v, ok := s.Defines[name]
	if !ok {
		return Value{}, "", false
	}
	return v, s.defineFiles[name] + ":" + strconv.Itoa(v.Line), true
}

func (s *Site) defString(name, def string) Setting[string] {
	v, where, ok := s.define(name)
	switch {
	case !ok || v.Kind == Null:
		return Setting[string]{Value: def}
	case v.Kind == Expr:
		return Setting[string]{Value: def, Origin: where, Problem: name + " " + problemExpr}
	}
	return Setting[string]{Value: v.PHPString(), Set: true, Origin: where}
}

func (s *Site) defBool(name string, def bool) Setting[bool] {
	v, where, ok := s.define(name)
	switch {
	case !ok:
		return Setting[bool]{Value: def}
	case v.Kind == Expr:
		return Setting[bool]{Value: def, Origin: where, Problem: name + " " + problemExpr}
	}
	return Setting[bool]{Value: v.Truthy(), Set: true, Origin: where}
}

func (s *Site) defInt(name string, def int) Setting[int] {
	v, where, ok := s.define(name)
	switch {
	case !ok || v.Kind == Null:
		return Setting[int]{Value: def}
	case v.Kind == Expr:
		return Setting[int]{Value: def, Origin: where, Problem: name + " " + problemExpr}
	}
	n, isInt := v.PHPInt()
	if !isInt || n < 0 || n > 1<<31 {
		return Setting[int]{Value: def, Origin: where, Problem: name + " is not a valid integer"}
	}
	return Setting[int]{Value: int(n), Set: true, Origin: where}
}

func (s *Site) defExpiry(name string) Setting[Expiry] {
	def := Expiry{Seconds: DefaultExpirySeconds}
	v, where, ok := s.define(name)
	switch {
	case !ok:
		return Setting[Expiry]{Value: def}
	case v.Kind == Expr:
		return Setting[Expiry]{Value: def, Origin: where, Problem: name + " " + problemExpr}
	case v.Kind == Bool && v.Bool:
		return Setting[Expiry]{Value: def, Set: true, Origin: where}
	case v.Kind == Bool:
		return Setting[Expiry]{Value: Expiry{Disabled: true}, Set: true, Origin: where}
	}
	n, isInt := v.PHPInt()
	if !isInt {
		return Setting[Expiry]{Value: def, Origin: where, Problem: name + " is not an integer, true or false"}
	}
	return Setting[Expiry]{Value: Expiry{Seconds: n}, Set: true, Origin: where}
}

func (s *Site) defPoweredBy(name string) Setting[string] {
	v, where, ok := s.define(name)
	switch {
	case !ok:
		return Setting[string]{Value: DefaultPoweredBy}
	case v.Kind == Expr:
		return Setting[string]{Value: DefaultPoweredBy, Origin: where, Problem: name + " " + problemExpr}
	case v.Kind == Bool && !v.Bool:
		return Setting[string]{Value: "", Set: true, Origin: where}
	}
	return Setting[string]{Value: v.PHPString(), Set: true, Origin: where}
}

// setByOverride reports whether an origin "file:line" is outside the base settings/<file>.
func setByOverride(origin, file string) bool {
	return origin != "" && !strings.HasPrefix(origin, "settings/"+file+":")
}

func iniString(ini *INI, file, section, key, def string) Setting[string] {
	v, ok := ini.Get(section, key)
	if !ok {
		return Setting[string]{Value: def}
	}
	o := ini.Origin(section, key)
	return Setting[string]{Value: v, Set: setByOverride(o, file), Origin: o}
}

func iniInt(ini *INI, file, section, key string, def int) Setting[int] {
	v, ok := ini.Get(section, key)
	if !ok {
		return Setting[int]{Value: def}
	}
	o := ini.Origin(section, key)
	t := strings.TrimSpace(v)
	if t == "" {
		return Setting[int]{Value: def, Origin: o}
	}
	n, err := strconv.Atoi(t)
	if err != nil || n < 0 || n > 1<<31 {
		return Setting[int]{Value: def, Origin: o, Problem: "[" + section + "] " + key + " is not a valid integer"}
	}
	return Setting[int]{Value: n, Set: setByOverride(o, file), Origin: o}
}

func pathBackends(ini *INI, file string) Setting[[]dfs.Rule] {
	if !ini.Has("DispatchableDFS", "PathBackends") {
		return Setting[[]dfs.Rule]{}
	}
	var rules []dfs.Rule
	for _, kv := range ini.Hash("DispatchableDFS", "PathBackends") {
		rules = append(rules, dfs.Rule{Key: kv.Key, Backend: kv.Value})
	}
	o := ini.Origin("DispatchableDFS", "PathBackends")
	return Setting[[]dfs.Rule]{Value: rules, Set: setByOverride(o, file), Origin: o}
}
