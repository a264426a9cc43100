package config

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/ezdfsd/ezdfsd/dfs"
	"github.com/ezdfsd/ezdfsd/platform"
)

// usePostgres maps a PostgreSQL DFS_DATABASE_URL (already converted to a libpq/pgx URL) onto
// the PostgreSQL metadata settings: metadata=postgres and postgres-url, both from the line of the
// project's file that gave it.
func usePostgres(pgURL string, src Source) ([]namedAssignment, error) {
	return []namedAssignment{
		{"metadata", assignment{"postgres", src}},
		{"postgres-url", assignment{pgURL, src}},
	}, nil
}

// fromProject maps a Symfony project root's variables onto ezdfsd settings, each with its
// file and line: DFS_DATABASE_URL (Doctrine URL) and DFS_NFS_PATH (the mount point, since the
// NFS adapter's root is DFS_NFS_PATH + "/$var_dir$/$storage_dir$" and the DFS name starts with
// "$var_dir$/$storage_dir$"; ibexa/core @b9295936 src/bundle/Core/Resources/config/
// default_settings.yml:106-107). A problem with a value is returned as an error naming it; a
// PostgreSQL URL this build cannot use is returned as deferred (for Validate), with the other
// values still mapped.
func fromProject(p *platform.Project) (out []namedAssignment, deferred, err error) {
	put := func(name, value string, v platform.Value) {
		out = append(out, namedAssignment{name, assignment{value, projectSource(p, v)}})
	}
	if v, ok := p.Lookup("DFS_DATABASE_URL"); ok && v.Value != "" {
		db, err := platform.ParseDatabaseURL(v.Value)
		switch {
		case err != nil:
			return nil, nil, fmt.Errorf("DFS_DATABASE_URL (%s): %w", projectSource(p, v), err)
		case db.Driver == "postgres":
			pg, err := usePostgres(db.PostgresURL, projectSource(p, v))
			out, deferred = append(out, pg...), err
		default:
			out = append(out, mysqlFromURL(p, v, db)...)
		}
	}
	if v, ok := p.Lookup("DFS_NFS_PATH"); ok && v.Value != "" {
		put("mount-point", v.Value, v)
	}
	return out, deferred, nil
}

// mysqlFromURL maps a MySQL DFS_DATABASE_URL onto the db-* settings.
func mysqlFromURL(p *platform.Project, v platform.Value, db platform.Database) []namedAssignment {
	var out []namedAssignment
	put := func(name, value string) {
		out = append(out, namedAssignment{name, assignment{value, projectSource(p, v)}})
	}
	{
		put("db-host", db.Host)
		if db.Port != 0 {
			put("db-port", strconv.Itoa(db.Port))
		}
		if db.Socket != "" {
			put("db-socket", db.Socket)
		}
		put("db-user", db.User)
		put("db-password", db.Password)
		put("db-name", db.Name)
		if db.Charset != "" {
			put("db-charset", db.Charset)
		}
	}
	return out
}

// projectSource names where a project variable came from: "<root>/.env.local:3", or
// "environment DFS_NFS_PATH" for the real environment.
func projectSource(p *platform.Project, v platform.Value) Source {
	if v.Where == "environment" {
		return Source{FromEZ, "environment"}
	}
	return Source{FromEZ, p.Root + "/" + v.Where}
}

// profileDefaults are the platform profile's defaults for settings no level set: what the
// eZ Platform / Ibexa application does (spec §4), instead of index_cluster.php's.
var profileDefaults = map[string]string{
	"serve-pattern":  dfs.PlatformServedPatterns[0], // StreamFileListener serves image storage only
	"cache-table":    "",                            // LegacyDFSCluster uses one table
	"strict-expiry":  "true",                        // LegacyDFSCluster.php:132-133
	"powered-by":     "",                            // BinaryStreamResponse sends none
	"served-by":      "",                            //
	"expiry-timeout": "off",                         // BinaryStreamResponse sends no Expires
}

// resolveProfile turns profile=auto into legacy or platform from the roots given, applies the
// platform profile's defaults, and picks its table from composer.lock. Errors name the setting.
func (c *Config) resolveProfile() error {
	if c.Profile == "auto" {
		src := c.sources["profile"]
		switch {
		case c.ProjectRoot != "" && c.EZRoot != "":
			return errors.New("profile: both --ez-root (eZ Publish legacy) and --project-root (eZ Platform / Ibexa) are given; choose the one whose cluster this daemon serves with --profile legacy or --profile platform")
		case c.ProjectRoot != "":
			c.Profile = dfs.ProfilePlatform
			c.sources["profile"] = Source{Kind: src.Kind, Where: withNote(src, "auto: project-root is set")}
		default:
			c.Profile = dfs.ProfileLegacy
			c.sources["profile"] = Source{Kind: src.Kind, Where: withNote(src, "auto: no project-root")}
		}
	}
	if c.Profile != dfs.ProfilePlatform {
		return nil
	}
	for i := range table {
		s := &table[i]
		def, ok := profileDefaults[s.name]
		if !ok || c.sources[s.name].Kind != FromDefault {
			continue
		}
		if err := s.applyDefault(c, def); err != nil {
			return fmt.Errorf("platform default of %s: %w", s.name, err) // programming error
		}
		c.sources[s.name] = Source{Kind: FromDefault, Where: "platform profile"}
	}
	if c.sources["table"].Kind != FromDefault {
		return nil
	}
	switch {
	case c.Project != nil && c.Project.Table != "":
		c.Table = c.Project.Table
		c.sources["table"] = Source{FromEZ, c.Project.Root + "/composer.lock (" + c.Project.Kernel + ")"}
		return nil
	case c.Project != nil && c.Project.Kernel != "":
		return fmt.Errorf("table: %s/composer.lock has %s, whose version does not say which DFS table it uses: ezdfsfile (eZ Platform, Ibexa DXP up to 4.6) or ibexa_dfs_file (Ibexa DXP 5); give --table ezdfsfile or --table ibexa_dfs_file", c.Project.Root, c.Project.Kernel)
	case c.Project != nil && !c.Project.HasLock:
		return fmt.Errorf("table: there is no composer.lock in %s to show the installed ibexa/core version, so the DFS table is unknown: ezdfsfile (eZ Platform, Ibexa DXP up to 4.6) or ibexa_dfs_file (Ibexa DXP 5); give --table ezdfsfile or --table ibexa_dfs_file", c.Project.Root)
	case c.Project != nil:
		return fmt.Errorf("table: %s/composer.lock does not show the installed ibexa/core (or ezsystems/ezplatform-kernel) version, so the DFS table is unknown: ezdfsfile (eZ Platform, Ibexa DXP up to 4.6) or ibexa_dfs_file (Ibexa DXP 5); give --table ezdfsfile or --table ibexa_dfs_file", c.Project.Root)
	}
	return errors.New("table: the platform profile needs the DFS table name: ezdfsfile (eZ Platform, Ibexa DXP up to 4.6) or ibexa_dfs_file (Ibexa DXP 5); give --table, or --project-root DIR to read it from composer.lock")
}
