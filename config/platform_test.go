package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ezdfsd/ezdfsd/dfs"
)

// symfonyProject writes a generated Symfony project root: .env as the Ibexa recipe ships it,
// .env.local with the site's values, and a composer.lock naming ibexa/core at version.
func symfonyProject(t *testing.T, dotenvLocal, coreVersion string) string {
	t.Helper()
	root := t.TempDir()
	files := map[string]string{
		".env": "# Ibexa recipe defaults\nAPP_ENV=prod\nDATABASE_USER=ibexa\nDATABASE_PASSWORD=ibexa\n" +
			"DATABASE_HOST=localhost\nDATABASE_PORT=3306\nDATABASE_NAME=ibexa\n" +
			"DFS_DATABASE_URL=mysql://${DATABASE_USER}:${DATABASE_PASSWORD}@${DATABASE_HOST}:${DATABASE_PORT}/${DATABASE_NAME}?serverVersion=8.0&charset=utf8mb4\n" +
			"DFS_NFS_PATH=/mnt/ibexa_nfs\n",
		".env.local": dotenvLocal,
	}
	if coreVersion != "" {
		files["composer.lock"] = `{"packages":[{"name":"ibexa/core","version":"` + coreVersion + `"}]}`
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(root, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func TestProjectRoot(t *testing.T) {
	root := symfonyProject(t, "# the site's own values\nexport DFS_DATABASE_URL=\"mysql://ibexa:s3cr%24t@db.internal:3306/${DATABASE_NAME}?serverVersion=mariadb-10.11.0&charset=utf8mb4\" # DFS\nDFS_NFS_PATH='/srv/nfs'\n", "v5.0.3")
	c, err := Load([]string{"--project-root", root}, []string{"DATABASE_NAME=from_env"})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	checks := []struct{ name, got, want string }{
		{"profile", c.Profile, dfs.ProfilePlatform},
		{"profile source", c.Source("profile").String(), "default (auto: project-root is set)"},
		{"table", c.Table, dfs.IbexaTable},
		{"table source", c.Source("table").String(), "ez:" + root + "/composer.lock (ibexa/core v5.0.3)"},
		{"metadata", c.Metadata, "mysql"},
		{"db-host", c.DB.Host, "db.internal"},
		{"db-password", c.DB.Password, "s3cr$t"},
		{"db-name (real environment wins)", c.DB.Name, "from_env"},
		{"db-charset", c.DB.Charset, "utf8mb4"},
		{"db-user source", c.Source("db-user").String(), "ez:" + root + "/.env.local:2"},
		{"mount-point", c.MountPoint, "/srv/nfs"},
		{"mount-point source", c.Source("mount-point").String(), "ez:" + root + "/.env.local:3"},
		{"cache-table", c.CacheTable, ""},
		{"served patterns", strings.Join(c.ServedPatterns(), " "), dfs.PlatformServedPatterns[0]},
		{"powered-by", c.PoweredBy, ""},
		{"served-by", c.ServedBy, ""},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s = %q, want %q", ch.name, ch.got, ch.want)
		}
	}
	if !c.StrictExpiry || c.Expires {
		t.Errorf("strict-expiry %v, expires %v; want the app's rule and no Expires", c.StrictExpiry, c.Expires)
	}
	if got := c.Tables().Names(); len(got) != 1 || got[0] != dfs.IbexaTable {
		t.Errorf("tables %v", got)
	}
	var dump strings.Builder
	c.Dump(&dump)
	for _, want := range []string{"profile = platform\n", "table = ibexa_dfs_file\n", "db-password = <redacted>\n", "# default (platform profile)\nstrict-expiry = true\n"} {
		if !strings.Contains(dump.String(), want) {
			t.Errorf("dump lacks %q", want)
		}
	}
	if strings.Contains(dump.String(), "s3cr$t") {
		t.Error("dump shows the password")
	}

	// Every level above the project still wins, and an explicit setting beats the profile default.
	c, err = Load([]string{"--project-root", root, "--table", "ezdfsfile", "--strict-expiry=false"}, []string{"EZDFSD_DB_HOST=10.0.0.9"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Table != "ezdfsfile" || c.DB.Host != "10.0.0.9" || c.StrictExpiry {
		t.Errorf("table %q host %q strict %v", c.Table, c.DB.Host, c.StrictExpiry)
	}

	// Ibexa 4.6 keeps ezdfsfile.
	c, err = Load([]string{"--project-root", symfonyProject(t, "", "v4.6.29")}, nil)
	if err != nil || c.Table != "ezdfsfile" {
		t.Errorf("4.6: table %v, %v", c, err)
	}
	// Without --project-root nothing changes: legacy, as before.
	c, err = Load(nil, nil)
	if err != nil || c.Profile != dfs.ProfileLegacy || c.CacheTable != dfs.DefaultCacheTable || !c.Expires {
		t.Errorf("default profile: %+v, %v", c, err)
	}
}

func TestProjectRootErrors(t *testing.T) {
	tests := []struct {
		name    string
		args    func(t *testing.T) []string
		loadErr string // "" = Load succeeds
		valErr  string
	}{
		{name: "no composer.lock", args: func(t *testing.T) []string {
			return []string{"--project-root", symfonyProject(t, "", "")}
		}, loadErr: "there is no composer.lock in"},
		{name: "composer.lock without the kernel", args: func(t *testing.T) []string {
			root := symfonyProject(t, "", "")
			if err := os.WriteFile(filepath.Join(root, "composer.lock"), []byte(`{"packages":[]}`), 0o644); err != nil {
				t.Fatal(err)
			}
			return []string{"--project-root", root}
		}, loadErr: "does not show the installed ibexa/core (or ezsystems/ezplatform-kernel) version, so the DFS table is unknown: ezdfsfile (eZ Platform, Ibexa DXP up to 4.6) or ibexa_dfs_file (Ibexa DXP 5); give --table ezdfsfile or --table ibexa_dfs_file"},
		{name: "no composer.lock, table given", args: func(t *testing.T) []string {
			return []string{"--project-root", symfonyProject(t, "", ""), "--table", "ibexa_dfs_file"}
		}},
		{name: "platform without a root or table", args: func(*testing.T) []string {
			return []string{"--profile", "platform", "--db-name", "x", "--mount-point", "/m"}
		}, loadErr: "give --table, or --project-root DIR to read it from composer.lock"},
		{name: "both roots", args: func(t *testing.T) []string {
			return []string{"--project-root", symfonyProject(t, "", "v5.0.0"), "--ez-root", "testdata/ezroot"}
		}, loadErr: "choose the one whose cluster this daemon serves with --profile legacy or --profile platform"},
		{name: "unknown scheme", args: func(t *testing.T) []string {
			return []string{"--project-root", symfonyProject(t, "DFS_DATABASE_URL=oracle://u:pw123@db/x\n", "v5.0.0")}
		}, loadErr: `/.env.local:1): unsupported scheme "oracle"`},
		{name: "bad dotenv", args: func(t *testing.T) []string {
			return []string{"--project-root", symfonyProject(t, "DFS_NFS_PATH = /x\n", "v5.0.0")}
		}, loadErr: ".env.local: line 1: whitespace after the variable name DFS_NFS_PATH is not supported"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(tt.args(t), nil)
			if tt.loadErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.loadErr) {
					t.Fatalf("Load error = %v, want %q", err, tt.loadErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			err = c.Validate()
			if tt.valErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.valErr) {
				t.Fatalf("Validate error = %v, want %q", err, tt.valErr)
			}
			if c.MountPoint != "/mnt/ibexa_nfs" {
				t.Errorf("mount point %q: the other project values must still be read", c.MountPoint)
			}
			if strings.Contains(err.Error(), "pw123") {
				t.Errorf("error shows the password: %v", err)
			}
		})
	}
}

// TestProjectRootPostgres: a PostgreSQL DFS_DATABASE_URL (each of Doctrine's schemes) selects the
// PostgreSQL store with the URL converted for pgx, both sourced from the .env line.
func TestProjectRootPostgres(t *testing.T) {
	for _, url := range []string{"postgresql://u:pw123@db:5432/ibexa?serverVersion=15&charset=utf8", "pgsql://u:pw123@db:5432/ibexa"} {
		c, err := Load([]string{"--project-root", symfonyProject(t, "DFS_DATABASE_URL="+url+"\n", "v5.0.0")}, nil)
		if err != nil {
			t.Fatalf("%s: %v", url, err)
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("%s: Validate: %v", url, err)
		}
		if c.Metadata != "postgres" || !strings.HasPrefix(c.PostgresURL, "postgres://u:pw123@db:5432/ibexa") {
			t.Errorf("%s: metadata %q, postgres-url %q; want postgres and the converted URL", url, c.Metadata, c.PostgresURL)
		}
		if src := c.Source("postgres-url").String(); !strings.Contains(src, ".env.local:1") {
			t.Errorf("%s: postgres-url source %q, want the .env.local line", url, src)
		}
		if dsn, ok := c.MySQLDSN(); ok {
			t.Errorf("%s: a MySQL DSN %q is built too", url, dsn)
		}
	}
}
