package dfs

import "strings"

// Default table names and routing needles, as index_cluster.php defines them
// (CLUSTER_METADATA_TABLE_CACHE, CLUSTER_METADATA_CACHE_PATH, CLUSTER_METADATA_STORAGE_PATH).
const (
	DefaultStorageTable  = "ezdfsfile"
	DefaultCacheTable    = "ezdfsfile_cache"
	DefaultCacheNeedle   = "/cache/"
	DefaultStorageNeedle = "/storage/"
)

// Tables chooses the metadata table for a name with the gateway's rule from eZ 5.2's split
// tables: the cache table when the name contains CacheNeedle and does not contain StorageNeedle,
// otherwise the storage table. Plain substring tests, anywhere in the name.
type Tables struct {
	// Storage is the main table (ezdfsfile; ibexa_dfs_file on Ibexa).
	Storage string
	// Cache is the cache table (ezdfsfile_cache). Empty, or equal to Storage, turns the split off.
	Cache string
	// CacheNeedle marks cache names (default "/cache/").
	CacheNeedle string
	// StorageNeedle marks storage names, which win over CacheNeedle (default "/storage/").
	StorageNeedle string
}

// DefaultTables returns the legacy gateway's defaults.
func DefaultTables() Tables {
	return Tables{
		Storage:       DefaultStorageTable,
		Cache:         DefaultCacheTable,
		CacheNeedle:   DefaultCacheNeedle,
		StorageNeedle: DefaultStorageNeedle,
	}
}

// For returns the table name holding name's row.
func (t Tables) For(name string) string {
	if t.Cache == "" || t.Cache == t.Storage || t.CacheNeedle == "" {
		return t.Storage
	}
	if strings.Contains(name, t.CacheNeedle) &&
		(t.StorageNeedle == "" || !strings.Contains(name, t.StorageNeedle)) {
		return t.Cache
	}
	return t.Storage
}

// Names returns the distinct table names in use, storage table first.
func (t Tables) Names() []string {
	if t.Cache == "" || t.Cache == t.Storage {
		return []string{t.Storage}
	}
	return []string{t.Storage, t.Cache}
}
