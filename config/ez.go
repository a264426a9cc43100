package config

import (
	"strconv"

	"github.com/ezdfsd/ezdfsd/dfs"
	"github.com/ezdfsd/ezdfsd/ezsettings"
)

// PostgresDFSBackend is the file.ini [eZDFSClusteringSettings] DBBackend class of
// ezsystems/ezpostgresqlcluster (classes/clusterbackends/ezdfsfilehandlerpostgresqlbackend.php);
// a site that names it gets metadata=postgres.
const PostgresDFSBackend = "eZDFSFileHandlerPostgresqlBackend"

// fromSite maps the eZ install's settings onto ezdfsd settings. Only values the site chose
// (Setting.Set) are mapped, so eZ's shipped defaults never outrank ezdfsd's. problems maps a
// setting name to why the site's value for it is unusable.
func fromSite(site *ezsettings.Site) (out []namedAssignment, problems map[string]string) {
	m := siteMapping{problems: map[string]string{}}
	str := func(name string, s ezsettings.Setting[string]) {
		mapSetting(&m, name, s, func(v string) string { return v })
	}

	// ezpostgresqlcluster's DFS backend keeps the metadata in PostgreSQL.
	if b := site.DB.Backend; b.Set && b.Value == PostgresDFSBackend {
		m.put("metadata", "postgres", b.Origin)
	}
	str("db-host", site.DB.Host)
	mapSetting(&m, "db-port", site.DB.Port, strconv.Itoa)
	str("db-socket", site.DB.Socket)
	str("db-user", site.DB.User)
	str("db-password", site.DB.Password)
	str("db-name", site.DB.Name)
	str("db-charset", site.DB.Charset)
	str("mount-point", site.MountPointPath)
	str("cache-table", site.MetaDataTableNameCache)
	str("cache-path-needle", site.Cluster.MetadataCachePath)
	str("storage-path-needle", site.Cluster.MetadataStoragePath)
	mapSetting(&m, "http-cache", site.Cluster.EnableHTTPCache, strconv.FormatBool)
	mapSetting(&m, "http-range", site.Cluster.EnableHTTPRange, strconv.FormatBool)
	str("powered-by", site.Cluster.HeaderXPoweredBy)
	mapSetting(&m, "expiry-timeout", site.Cluster.ExpiryTimeout, func(e ezsettings.Expiry) string {
		if e.Disabled {
			return "off"
		}
		return strconv.FormatInt(e.Seconds, 10)
	})

	// Backends: file.ini DFSBackend decides whether [DispatchableDFS] applies at all.
	switch b := site.DFSBackend; {
	case !b.Set || b.Value == dfs.MountPointBackend:
	case b.Value == dfs.DispatcherBackend:
		str("default-backend", site.DispatchDefault)
		if pb := site.PathBackends; pb.Set {
			for _, r := range pb.Value {
				m.put("path-backend", r.Key+"="+r.Backend, pb.Origin)
			}
		}
	default: // eZDFSFileHandlerDFSAmazon itself, or a class Validate will reject
		m.put("default-backend", b.Value, b.Origin)
	}

	str("s3-bucket", site.S3.Bucket)
	str("s3-region", site.S3.Region)
	str("s3-access-key-id", site.S3.AccessKeyID)
	str("s3-secret-access-key", site.S3.SecretAccessKey)
	return m.out, m.problems
}

// siteMapping collects what fromSite maps: assignments from eZ, and the settings whose eZ value
// is unusable.
type siteMapping struct {
	out      []namedAssignment
	problems map[string]string
}

func (m *siteMapping) put(name, value, origin string) {
	m.out = append(m.out, namedAssignment{name, assignment{value, Source{FromEZ, origin}}})
}

// mapSetting maps one eZ setting onto the ezdfsd setting name: its problem if it has one, else
// its value in ezdfsd's syntax (format) if the site set it.
func mapSetting[T any](m *siteMapping, name string, s ezsettings.Setting[T], format func(T) string) {
	switch {
	case s.Problem != "":
		m.problems[name] = "eZ's " + s.Problem + " (" + s.Origin + ")"
	case s.Set:
		m.put(name, format(s.Value), s.Origin)
	}
}
