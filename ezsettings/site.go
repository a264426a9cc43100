package ezsettings

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/ezdfsd/ezdfsd/dfs"
)

// Setting is one value read from an eZ install.
type Setting[T any] struct {
	// Value is the effective value: the site's if Set, otherwise eZ's default (from the legacy
	// code, or from the base settings/<file> eZ ships).
	Value T
	// Set reports that the site chose the value: a define() in config.php / config.cluster.php,
	// or a line in an override or extension INI file (not the base settings/<file>).
	Set bool
	// Origin is "file:line" of the value ("" for built-in defaults).
	Origin string
	// Problem is non-empty when the site defines the setting with something ezdfsd cannot use
	// (a PHP expression, a non-number for a port, ...). Value then stays the default and Set is
	// false; callers should refuse to run unless the value is given some other way. Problem
	// never contains the value itself.
	Problem string
}

// Expiry is CLUSTER_EXPIRY_TIMEOUT: the Expires header offset, or none.
type Expiry struct {
	// Seconds after the response time (86400 when the constant is true).
	Seconds int64
	// Disabled means the constant is false: no Expires header.
	Disabled bool
}

// Cluster holds the index_cluster.php constants (spec §2.1) with the gateway's defaults.
type Cluster struct {
	StorageBackend       Setting[string] // CLUSTER_STORAGE_BACKEND (e.g. "dfsmysqli"); no default
	StorageGatewayPath   Setting[string] // CLUSTER_STORAGE_GATEWAY_PATH
	StorageHost          Setting[string] // CLUSTER_STORAGE_HOST; null = mysqli default
	StoragePort          Setting[int]    // CLUSTER_STORAGE_PORT; default 3306
	StorageUser          Setting[string] // CLUSTER_STORAGE_USER; default ""
	StoragePass          Setting[string] // CLUSTER_STORAGE_PASS; default ""
	StorageDB            Setting[string] // CLUSTER_STORAGE_DB; default ""
	StorageCharset       Setting[string] // CLUSTER_STORAGE_CHARSET; no default (required by the gateway)
	MountPointPath       Setting[string] // CLUSTER_MOUNT_POINT_PATH; no default
	PersistentConnection Setting[bool]   // CLUSTER_PERSISTENT_CONNECTION; default false
	EnableDebug          Setting[bool]   // CLUSTER_ENABLE_DEBUG; default false
	EnableHTTPCache      Setting[bool]   // CLUSTER_ENABLE_HTTP_CACHE; default true
	EnableHTTPRange      Setting[bool]   // CLUSTER_ENABLE_HTTP_RANGE; default true
	ExpiryTimeout        Setting[Expiry] // CLUSTER_EXPIRY_TIMEOUT; default 86400 s (also for true)
	HeaderXPoweredBy     Setting[string] // CLUSTER_HEADER_X_POWERED_BY; default "eZ Publish", false → ""
	MetadataTableCache   Setting[string] // CLUSTER_METADATA_TABLE_CACHE; default "ezdfsfile_cache"
	MetadataCachePath    Setting[string] // CLUSTER_METADATA_CACHE_PATH; default "/cache/"
	MetadataStoragePath  Setting[string] // CLUSTER_METADATA_STORAGE_PATH; default "/storage/"
}

// DB is the cluster database as the site configures it: CLUSTER_STORAGE_* if defined, else
// file.ini [eZDFSClusteringSettings] (what eZ's kernel uses).
type DB struct {
	Backend  Setting[string] // file.ini DBBackend (kernel class, e.g. eZDFSFileHandlerMySQLiBackend)
	Host     Setting[string]
	Port     Setting[int]
	Socket   Setting[string] // file.ini DBSocket only
	Name     Setting[string]
	User     Setting[string]
	Password Setting[string]
	Charset  Setting[string] // CLUSTER_STORAGE_CHARSET only
}

// S3 is dfsamazons3.ini [BackendSettings] (ezdfs-fsbackend-aws-s3). Empty keys mean the AWS
// default credential chain.
type S3 struct {
	AccessKeyID     Setting[string]
	SecretAccessKey Setting[string]
	Bucket          Setting[string]
	Region          Setting[string]
}

// Site is what ezdfsd needs from an eZ Publish legacy install, independent of siteaccess.
type Site struct {
	// Root is the eZ root directory given to LoadSite.
	Root string
	// Defines holds every constant of config.php and config.cluster.php (first define wins).
	Defines map[string]Value
	// Cluster holds the CLUSTER_* constants.
	Cluster Cluster
	// FileHandler is file.ini [ClusteringSettings] FileHandler (eZDFSFileHandler when clustered).
	FileHandler Setting[string]
	// MountPointPath is CLUSTER_MOUNT_POINT_PATH, else [eZDFSClusteringSettings] MountPointPath.
	MountPointPath Setting[string]
	// DB is the cluster database.
	DB DB
	// MetaDataTableNameCache is the cache table the kernel writes: CLUSTER_METADATA_TABLE_CACHE,
	// else [eZDFSClusteringSettings] MetaDataTableNameCache, else ezdfsfile_cache.
	MetaDataTableNameCache Setting[string]
	// DFSBackend is [eZDFSClusteringSettings] DFSBackend (default eZDFSFileHandlerDFSBackend).
	DFSBackend Setting[string]
	// DispatchDefault is [DispatchableDFS] DefaultBackend (default eZDFSFileHandlerDFSBackend).
	DispatchDefault Setting[string]
	// PathBackends are the [DispatchableDFS] PathBackends rules in eZ array order; Set/Origin
	// describe the array as a whole.
	PathBackends Setting[[]dfs.Rule]
	// S3 is dfsamazons3.ini [BackendSettings].
	S3 S3
	// VarDir, StorageDir and CacheDir are site.ini [FileSettings] (informational).
	VarDir, StorageDir, CacheDir Setting[string]
	// ActiveExtensions is site.ini [ExtensionSettings] ActiveExtensions (global settings only).
	ActiveExtensions []string
	// FileINI, SiteINI and S3INI are the merged file.ini, site.ini and dfsamazons3.ini.
	FileINI, SiteINI, S3INI *INI
	// Warnings name the INI lines eZ (and so ezdfsd) ignores, with file:line.
	Warnings []string
	// Files lists every file read, relative to Root, in read order.
	Files []string

	defineFiles map[string]string // constant name → file that defined it
}

// LoadSite reads the eZ Publish legacy install at ezRoot:
//
//   - config.php, then config.cluster.php (both optional), as index_cluster.php includes them;
//     PHP keeps the first define() of a constant, so config.php wins over config.cluster.php;
//   - file.ini from settings/ and settings/override/ only (eZ builds the cluster handler before
//     extensions are activated, so extension settings do not apply to it);
//   - site.ini and dfsamazons3.ini in LoadINI's order, extensions included (this is where
//     ezdfs-fsbackend-aws-s3 ships its base dfsamazons3.ini).
//
// Missing files are fine; a missing ezRoot or a syntax error is not. Values eZ's code would
// not accept are reported in the affected Setting's Problem rather than failing the load.
func LoadSite(ezRoot string) (*Site, error) {
	if err := checkRoot(ezRoot); err != nil {
		return nil, err
	}
	s := &Site{Root: ezRoot, Defines: map[string]Value{}}
	for _, name := range []string{"config.php", "config.cluster.php"} {
		f, err := os.Open(filepath.Join(ezRoot, name))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("eZ settings: %w", err)
		}
		defs, err := readDefines(f, name)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("eZ settings: %w", err)
		}
		for k, v := range defs {
			if _, dup := s.Defines[k]; !dup {
				s.Defines[k] = v
				s.defineFile(k, name)
			}
		}
		s.Files = append(s.Files, name)
	}

	extDirs, active, err := extensionSettingsDirs(ezRoot)
	if err != nil {
		return nil, err
	}
	if s.SiteINI, err = s.load("site.ini", extDirs); err != nil {
		return nil, err
	}
	if s.FileINI, err = s.load("file.ini", nil); err != nil {
		return nil, err
	}
	if s.S3INI, err = s.load("dfsamazons3.ini", extDirs); err != nil {
		return nil, err
	}
	for _, ini := range []*INI{s.SiteINI, s.FileINI, s.S3INI} {
		for _, ig := range ini.Ignored() {
			s.Warnings = append(s.Warnings, "eZ settings: "+ig.Error())
		}
	}
	s.ActiveExtensions = active // the list the extension settings above were read for
	s.resolve()
	return s, nil
}

func (s *Site) load(file string, extDirs []string) (*INI, error) {
	ini, files, err := loadINI(s.Root, file, extDirs)
	if err != nil {
		return nil, err
	}
	s.Files = append(s.Files, files...)
	return ini, nil
}

// defineFiles remembers which file each constant came from (Value.Line is the line).
func (s *Site) defineFile(name, file string) {
	if s.defineFiles == nil {
		s.defineFiles = map[string]string{}
	}
	s.defineFiles[name] = file
}
