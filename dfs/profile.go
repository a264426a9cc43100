package dfs

import (
	"fmt"
	"regexp"
	"strings"
)

// Profiles: which product wrote the cluster, and so which serving rules apply.
const (
	// ProfileLegacy is eZ Publish legacy's index_cluster.php: names are rawurldecoded, the
	// 5.2 split tables apply, and only deleted rows (mtime < 0) are missing.
	ProfileLegacy = "legacy"
	// ProfilePlatform is eZ Platform 1–3 / Ibexa DXP 3.3–5: the Symfony application's
	// StreamFileListener and the legacy_dfs_cluster metadata handler.
	ProfilePlatform = "platform"
)

// Table names of the platform profile's one metadata table.
const (
	// PlatformTable is the table of eZ Platform and Ibexa DXP up to 4.x (ibexa/core v4.6.29
	// src/lib/IO/IOMetadataHandler/LegacyDFSCluster.php:72 inserts into 'ezdfsfile').
	PlatformTable = DefaultStorageTable
	// IbexaTable is Ibexa DXP 5's table (ibexa/core v5.0.0 and later,
	// src/lib/IO/IOMetadataHandler/LegacyDFSCluster.php:29 DFS_FILE_TABLE = 'ibexa_dfs_file').
	IbexaTable = "ibexa_dfs_file"
)

// PlatformServedPatterns are the names the Ibexa vhost templates send to the front controller
// for StreamFileListener (`^/var/([^/]+/)?storage/images(-versioned)?/.*`, spec §4.3): image
// storage only. Binary files (storage/original) are served by /content/download after a
// permission check, and the platform has no public cache files in the cluster.
var PlatformServedPatterns = []string{
	`^var/([^/]+/)?storage/images(-versioned)?/.+`,
}

// PlatformTables returns the routing of the platform profile: one table, no cache table, since
// the legacy_dfs_cluster handler only reads and writes storage files (ibexa/core @b9295936
// src/lib/IO/IOMetadataHandler/LegacyDFSCluster.php:29 and :68 use DFS_FILE_TABLE only).
func PlatformTables(table string) Tables {
	return Tables{Storage: table}
}

// NameFromPathInfo turns a raw HTTP request target into the cluster name the eZ Platform /
// Ibexa application looks up: the path as Symfony's Request::getPathInfo() returns it, which is
// NOT URL-decoded (ibexa/core @b9295936 src/bundle/IO/EventListener/StreamFileListener.php:57;
// kernel PR #3126 / IBX-1314 stopped decoding so that names such as "100%25.jpg" work), with
// the query cut at the first "?" and the leading slashes removed (StreamFileListener.php:85-87
// compares ltrim($uri, '/') with the URL prefix). A request for ".../a%20b.jpg" therefore
// looks up the name "…/a%20b.jpg", byte for byte.
//
// The same malformed names as NameFromTarget are refused with ErrInvalidName (control bytes,
// backslashes, "." and ".." segments, empty segments, over-long names); in addition a name whose
// percent-decoding would contain "/", "\", NUL or a dot segment is refused, so that no server
// in front of ezdfsd that decodes the path can be led to a different file than ezdfsd serves.
func NameFromPathInfo(rawTarget string) (string, error) {
	if i := strings.IndexByte(rawTarget, '?'); i >= 0 {
		rawTarget = rawTarget[:i]
	}
	if i := strings.IndexByte(rawTarget, '#'); i >= 0 {
		rawTarget = rawTarget[:i]
	}
	if len(rawTarget) > MaxNameLength+64 {
		return "", fmt.Errorf("%w: target longer than %d bytes", ErrInvalidName, MaxNameLength+64)
	}
	name := strings.TrimLeft(rawTarget, "/")
	if err := CheckName(name); err != nil {
		return "", err
	}
	if strings.Contains(name, "%") {
		if err := CheckName(RawURLDecode(name)); err != nil {
			return "", fmt.Errorf("%w (once decoded)", err)
		}
	}
	return name, nil
}

// NameRule returns the function turning a request target into a cluster name for profile:
// NameFromPathInfo for ProfilePlatform, NameFromTarget otherwise.
func NameRule(profile string) func(string) (string, error) {
	if profile == ProfilePlatform {
		return NameFromPathInfo
	}
	return NameFromTarget
}

// reStoragePrefix matches the legacy URL prefix "$var_dir$/$storage_dir$/" at the start of a
// platform DFS name (default io.legacy_url_prefix; ibexa/core @b9295936
// src/bundle/Core/Resources/config/default_settings.yml:106).
var reStoragePrefix = regexp.MustCompile(`^var/([^/]+/)?storage/`)

// FlysystemKey returns the S3 object key the eZ Platform / Ibexa awss3v3 binary-data handler
// stores name under: the SPI id (name without "var/<site>/storage/", as the metadata handler's
// Prefix decorator adds it, spec §4.1) behind the adapter's prefix, joined as Flysystem's
// PathPrefixer does (prefix with its trailing "/" trimmed, then "/" and the id; no prefix: the
// id alone). A name without the storage prefix keeps its whole path as the id.
func FlysystemKey(prefix, name string) string {
	id := reStoragePrefix.ReplaceAllString(name, "")
	if prefix = strings.Trim(prefix, "/"); prefix == "" {
		return id
	}
	return prefix + "/" + id
}
