package config

import (
	"strconv"

	"github.com/ezdfsd/ezdfsd/dfs"
	"github.com/ezdfsd/ezdfsd/ezsettings"
)

// fromSite maps the eZ install's settings onto ezdfsd settings. Only values the site chose
// (Setting.Set) are mapped, so eZ's shipped defaults never outrank ezdfsd's. problems maps a
// setting name to why the site's value for it is unusable.
func fromSite(site *ezsettings.Site) (out []namedAssignment, problems map[string]string) {
	problems = map[string]string{}
	put := func(name, value, origin string) {
		out = append(out, namedAssignment{name, assignment{value, Source{FromEZ, origin}}})
	}
	str := func(name string, s ezsettings.Setting[string]) {
		switch {
		case s.Problem != "":
			problems[name] = "eZ's " + s.Problem + " (" + s.Origin + ")"
		case s.Set:
			put(name, s.Value, s.Origin)
		}
	}
	boolean := func(name string, s ezsettings.Setting[bool]) {
		switch {
		case s.Problem != "":
			problems[name] = "eZ's " + s.Problem + " (" + s.Origin + ")"
		case s.Set:
			put(name, strconv.FormatBool(s.Value), s.Origin)
		}
	}

	str("db-host", site.DB.Host)
	if p := site.DB.Port; p.Problem != "" {
		problems["db-port"] = "eZ's " + p.Problem + " (" + p.Origin + ")"
	} else if p.Set {
		put("db-port", strconv.Itoa(p.Value), p.Origin)
	}
	str("db-socket", site.DB.Socket)
	str("db-user", site.DB.User)
	str("db-password", site.DB.Password)
	str("db-name", site.DB.Name)
	str("db-charset", site.DB.Charset)
	str("mount-point", site.MountPointPath)
	str("cache-table", site.MetaDataTableNameCache)
	str("cache-path-needle", site.Cluster.MetadataCachePath)
	str("storage-path-needle", site.Cluster.MetadataStoragePath)
	boolean("http-cache", site.Cluster.EnableHTTPCache)
	boolean("http-range", site.Cluster.EnableHTTPRange)
	str("powered-by", site.Cluster.HeaderXPoweredBy)
	if e := site.Cluster.ExpiryTimeout; e.Problem != "" {
		problems["expiry-timeout"] = "eZ's " + e.Problem + " (" + e.Origin + ")"
	} else if e.Set {
		v := strconv.FormatInt(e.Value.Seconds, 10)
		if e.Value.Disabled {
			v = "off"
		}
		put("expiry-timeout", v, e.Origin)
	}

	// Backends: file.ini DFSBackend decides whether [DispatchableDFS] applies at all.
	switch b := site.DFSBackend; {
	case !b.Set || b.Value == dfs.MountPointBackend:
	case b.Value == dfs.DispatcherBackend:
		str("default-backend", site.DispatchDefault)
		if pb := site.PathBackends; pb.Set {
			for _, r := range pb.Value {
				put("path-backend", r.Key+"="+r.Backend, pb.Origin)
			}
		}
	default: // eZDFSFileHandlerDFSAmazon itself, or a class Validate will reject
		put("default-backend", b.Value, b.Origin)
	}

	str("s3-bucket", site.S3.Bucket)
	str("s3-region", site.S3.Region)
	str("s3-access-key-id", site.S3.AccessKeyID)
	str("s3-secret-access-key", site.S3.SecretAccessKey)
	return out, problems
}
