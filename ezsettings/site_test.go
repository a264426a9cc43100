package ezsettings

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/ezdfsd/ezdfsd/dfs"
)

const siteRoot = "testdata/site"

func TestLoadINIOrder(t *testing.T) {
	ini, files, err := LoadINI(siteRoot, "file.ini")
	if err != nil {
		t.Fatal(err)
	}
	// The dispatcher extension ships file.ini.append.php; LoadINI (general eZ order) reads it
	// before settings/override.
	want := []string{
		"settings/file.ini",
		"extension/ezdfs-fsbackend-dispatcher/settings/file.ini.append.php",
		"settings/override/file.ini.append.php",
	}
	if !reflect.DeepEqual(files, want) {
		t.Errorf("files = %q\nwant %q", files, want)
	}
	if got, _ := ini.Get("eZDFSClusteringSettings", "DBHost"); got != "db1.internal" {
		t.Errorf("DBHost = %q", got)
	}
	if got, _ := ini.Get("eZDFSClusteringSettings", "DBConnectRetries"); got != "3" {
		t.Errorf("base value lost: DBConnectRetries = %q", got)
	}
	if got, want := ini.Hash("PassThroughSettings", "ContentDisposition"), []KeyValue{
		{"application/pdf", "inline"}, {"image/jpeg", "attachment"}, {"video/mp4", "inline"},
	}; !reflect.DeepEqual(got, want) {
		t.Errorf("ContentDisposition = %v\nwant %v", got, want)
	}

	_, files, err = LoadINI(siteRoot, "dfsamazons3.ini")
	if err != nil {
		t.Fatal(err)
	}
	want = []string{"extension/ezdfs-fsbackend-aws-s3/settings/dfsamazons3.ini", "settings/override/dfsamazons3.ini.append.php"}
	if !reflect.DeepEqual(files, want) {
		t.Errorf("dfsamazons3 files = %q\nwant %q", files, want)
	}
}

// TestLoadINIVariants checks eZ's file variant order inside one directory and the extension
// order (first listed extension is read last).
func TestLoadINIVariants(t *testing.T) {
	root := t.TempDir()
	write := func(rel, text string) {
		t.Helper()
		p := filepath.Join(root, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("settings/site.ini", "[ExtensionSettings]\nExtensionDirectory=extension\nActiveExtensions[]\n")
	write("settings/override/site.ini.append.php", "[ExtensionSettings]\nActiveExtensions[]=first\nActiveExtensions[]=second\nActiveExtensions[]=missing\n")
	write("settings/x.ini", "[S]\nL[]=base\n")
	write("settings/x.ini.php", "[S]\nL[]=base.php\n")
	write("extension/first/settings/x.ini.append.php", "[S]\nL[]=first\n")
	write("extension/second/settings/x.ini.append.php", "[S]\nL[]=second\n")
	write("settings/override/x.ini.append", "[S]\nL[]=override.append\n")
	write("settings/override/x.ini.append.php", "[S]\nL[]=override.append.php\n")
	write("settings/override/x.ini", "[S]\nL[]=override\n")
	write("settings/override/x.ini.php", "[S]\nL[]=override.php\n")
	ini, files, err := LoadINI(root, "x.ini")
	if err != nil {
		t.Fatal(err)
	}
	wantFiles := []string{
		"settings/x.ini", "settings/x.ini.php",
		"extension/second/settings/x.ini.append.php", "extension/first/settings/x.ini.append.php",
		"settings/override/x.ini.php", "settings/override/x.ini",
		"settings/override/x.ini.append.php", "settings/override/x.ini.append",
	}
	if !reflect.DeepEqual(files, wantFiles) {
		t.Errorf("files = %q\nwant %q", files, wantFiles)
	}
	wantList := []string{"base", "base.php", "second", "first", "override.php", "override", "override.append.php", "override.append"}
	if got := ini.List("S", "L"); !reflect.DeepEqual(got, wantList) {
		t.Errorf("L = %q\nwant %q", got, wantList)
	}
}

func TestLoadSite(t *testing.T) {
	s, err := LoadSite(siteRoot)
	if err != nil {
		t.Fatal(err)
	}
	str := func(name string, got Setting[string], want string, set bool, origin string) {
		t.Helper()
		if got.Value != want || got.Set != set || got.Origin != origin || got.Problem != "" {
			t.Errorf("%s = %+v; want %q set=%v origin=%q", name, got, want, set, origin)
		}
	}
	c := s.Cluster
	str("StorageBackend", c.StorageBackend, "dfsmysqli", true, "config.php:15")
	// config.cluster.php's redefinition is ignored, as in PHP.
	str("StorageHost", c.StorageHost, "db1.internal", true, "config.php:16")
	if c.StoragePort.Value != 3307 || !c.StoragePort.Set {
		t.Errorf("StoragePort = %+v", c.StoragePort)
	}
	str("StoragePass", c.StoragePass, `p=a;s#s"w'rd\x`, true, "config.php:19")
	str("StorageCharset", c.StorageCharset, "utf8", true, "config.php:21")
	str("MountPointPath", c.MountPointPath, "/mnt/nfs/ezdfs", true, "config.php:22")
	str("HeaderXPoweredBy", c.HeaderXPoweredBy, "", true, "config.php:27")
	str("MetadataTableCache", c.MetadataTableCache, "ezdfsfile_cache", true, "config.php:28")
	str("MetadataCachePath", c.MetadataCachePath, "/cache/", false, "")
	str("MetadataStoragePath", c.MetadataStoragePath, "/storage/", true, "config.cluster.php:6")
	if !c.EnableHTTPRange.Value || !c.EnableHTTPRange.Set || !c.EnableHTTPCache.Value || c.EnableDebug.Value || !c.EnableDebug.Set {
		t.Errorf("bools: range=%+v cache=%+v debug=%+v", c.EnableHTTPRange, c.EnableHTTPCache, c.EnableDebug)
	}
	if c.PersistentConnection.Value || !c.PersistentConnection.Set || c.PersistentConnection.Origin != "config.cluster.php:5" {
		t.Errorf("PersistentConnection (null) = %+v", c.PersistentConnection)
	}
	if e := c.ExpiryTimeout; e.Set || e.Value.Seconds != DefaultExpirySeconds || e.Problem != "CLUSTER_EXPIRY_TIMEOUT is a PHP expression ezdfsd cannot evaluate" || e.Origin != "config.php:26" {
		t.Errorf("ExpiryTimeout = %+v", e)
	}

	str("FileHandler", s.FileHandler, "eZDFSFileHandler", true, "settings/override/file.ini.append.php:4")
	str("MountPointPath", s.MountPointPath, "/mnt/nfs/ezdfs", true, "config.php:22")
	str("DB.Host", s.DB.Host, "db1.internal", true, "config.php:16")
	str("DB.Password", s.DB.Password, `p=a;s#s"w'rd\x`, true, "config.php:19")
	str("DB.Socket", s.DB.Socket, "", false, "settings/file.ini:15")
	str("DB.Backend", s.DB.Backend, "eZDFSFileHandlerMySQLiBackend", true, "settings/override/file.ini.append.php:8")
	str("DFSBackend", s.DFSBackend, dfs.DispatcherBackend, true, "settings/override/file.ini.append.php:15")
	str("DispatchDefault", s.DispatchDefault, dfs.MountPointBackend, true, "settings/override/file.ini.append.php:18")
	wantRules := []dfs.Rule{
		{Key: "var/ezdemo_site/storage/images", Backend: dfs.S3Backend},
		{Key: "var/ezdemo_site/storage/original", Backend: dfs.S3Backend},
	}
	if !reflect.DeepEqual(s.PathBackends.Value, wantRules) || !s.PathBackends.Set {
		t.Errorf("PathBackends = %+v", s.PathBackends)
	}
	str("S3.Bucket", s.S3.Bucket, "ezdemo-images", true, "settings/override/dfsamazons3.ini.append.php:6")
	str("S3.Region", s.S3.Region, "eu-west-1", true, "settings/override/dfsamazons3.ini.append.php:7")
	str("S3.AccessKeyID", s.S3.AccessKeyID, "AKIAEXAMPLEEXAMPLE12", true, "settings/override/dfsamazons3.ini.append.php:4")
	str("S3.SecretAccessKey", s.S3.SecretAccessKey, "wJalr/XUtnFEMI=K7MDENG#bPxRfi;CYEXAMPLEKEY", true, "settings/override/dfsamazons3.ini.append.php:5")
	str("VarDir", s.VarDir, "var/ezdemo_site", true, "settings/override/site.ini.append.php:10")
	str("StorageDir", s.StorageDir, "storage", false, "settings/site.ini:15")
	str("CacheDir", s.CacheDir, "cache", true, "extension/ezjscore/settings/site.ini.append.php:4")
	if want := []string{"ezdfs-fsbackend-dispatcher", "ezdfs-fsbackend-aws-s3", "ezjscore"}; !reflect.DeepEqual(s.ActiveExtensions, want) {
		t.Errorf("ActiveExtensions = %q", s.ActiveExtensions)
	}
	wantFiles := []string{
		"config.php", "config.cluster.php",
		"settings/site.ini", "extension/ezjscore/settings/site.ini.append.php", "settings/override/site.ini.append.php",
		"settings/file.ini", "settings/override/file.ini.append.php",
		"extension/ezdfs-fsbackend-aws-s3/settings/dfsamazons3.ini", "settings/override/dfsamazons3.ini.append.php",
	}
	if !reflect.DeepEqual(s.Files, wantFiles) {
		t.Errorf("Files = %q\nwant %q", s.Files, wantFiles)
	}
}

func TestLoadSiteFallbacks(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "settings", "override"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "settings", "override", "file.ini.append.php"), []byte(
		"<?php /* #?ini charset=\"utf-8\"?\n[eZDFSClusteringSettings]\nMountPointPath=/nfs\nDBHost=dbk\nDBPort=x\nDFSBackend=eZDFSFileHandlerDFSAmazon\n*/ ?>\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "config.php"), []byte("<?php define('CLUSTER_STORAGE_PORT', 'abc'); define('CLUSTER_EXPIRY_TIMEOUT', true); define('CLUSTER_HEADER_X_POWERED_BY', 'ACME');"), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := LoadSite(root)
	if err != nil {
		t.Fatal(err)
	}
	if s.MountPointPath.Value != "/nfs" || !s.MountPointPath.Set {
		t.Errorf("MountPointPath = %+v", s.MountPointPath)
	}
	if s.DB.Host.Value != "dbk" || s.DB.Host.Origin != "settings/override/file.ini.append.php:4" {
		t.Errorf("DB.Host = %+v", s.DB.Host)
	}
	// CLUSTER_STORAGE_PORT is unusable: the problem is reported, not the file.ini value.
	if s.DB.Port.Problem != "CLUSTER_STORAGE_PORT is not a valid integer" || s.DB.Port.Set || s.DB.Port.Value != 3306 {
		t.Errorf("DB.Port = %+v", s.DB.Port)
	}
	if e := s.Cluster.ExpiryTimeout; !e.Set || e.Value != (Expiry{Seconds: DefaultExpirySeconds}) {
		t.Errorf("ExpiryTimeout(true) = %+v", e)
	}
	if p := s.Cluster.HeaderXPoweredBy; p.Value != "ACME" || !p.Set {
		t.Errorf("HeaderXPoweredBy = %+v", p)
	}
	if s.DFSBackend.Value != dfs.S3Backend || s.PathBackends.Set || s.PathBackends.Value != nil {
		t.Errorf("DFSBackend = %+v, PathBackends = %+v", s.DFSBackend, s.PathBackends)
	}
	if s.FileHandler.Value != "eZFSFileHandler" || s.FileHandler.Set {
		t.Errorf("FileHandler default = %+v", s.FileHandler)
	}
	if s.MetaDataTableNameCache.Value != dfs.DefaultCacheTable {
		t.Errorf("MetaDataTableNameCache = %+v", s.MetaDataTableNameCache)
	}
}

// A line eZ ignores does not stop the site (eZ runs with it); it becomes a warning that names the
// file and line without quoting the value.
func TestLoadSiteWarnsOnIgnoredLines(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "settings", "override"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "settings", "override", "file.ini.append.php"),
		[]byte("[eZDFSClusteringSettings]\nDBPassword = hunter2\nMountPointPath=/mnt/nfs\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := LoadSite(root)
	if err != nil {
		t.Fatalf("LoadSite: %v", err)
	}
	want := `eZ settings: settings/override/file.ini.append.php:2: space before "=" or "[" after "DBPassword"; eZ ignores this line (write Key=Value)`
	if len(s.Warnings) != 1 || s.Warnings[0] != want {
		t.Fatalf("Warnings = %q, want [%q]", s.Warnings, want)
	}
	if s.MountPointPath.Value != "/mnt/nfs" {
		t.Errorf("the valid line after the ignored one was lost: %+v", s.MountPointPath)
	}
}

func TestLoadSiteErrors(t *testing.T) {
	notDir := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(notDir, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	badPHP := t.TempDir()
	if err := os.WriteFile(filepath.Join(badPHP, "config.cluster.php"), []byte("<?php\n\ndefine('CLUSTER_STORAGE_PASS', 'hunter2);\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, root, errMsg string
	}{
		{"empty", "", "eZ root: no directory given"},
		{"missing", filepath.Join(t.TempDir(), "nope"), "eZ root: stat " + filepath.Join(t.TempDir(), "nope")},
		{"not a directory", notDir, "eZ root " + notDir + ": not a directory"},
		{"bad php", badPHP, "eZ settings: config.cluster.php:3: unterminated single-quoted string"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := LoadSite(tt.root)
			if err == nil {
				t.Fatal("LoadSite succeeded")
			}
			if tt.name == "missing" {
				if !strings.HasPrefix(err.Error(), "eZ root: stat ") || !strings.Contains(err.Error(), "no such file or directory") {
					t.Errorf("error = %v", err)
				}
				return
			}
			if err.Error() != tt.errMsg {
				t.Errorf("error\n got: %v\nwant: %s", err, tt.errMsg)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("secret in error: %v", err)
			}
		})
	}
}
