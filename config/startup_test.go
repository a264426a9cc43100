package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestStartupErrors pins the configuration errors a first start meets, each naming the
// setting, where its value came from and what to do, in eZ's terms where eZ settings are involved.
func TestStartupErrors(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "a-file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "not-mounted")
	sqliteOK := []string{"--metadata=sqlite", "--sqlite=" + filepath.Join(dir, "db.sqlite")}
	tests := []struct {
		name  string
		args  []string
		env   []string
		paths bool     // the error comes from CheckPaths, after a successful Validate
		want  []string // substrings of the error, in order
	}{
		{
			name: "no database settings",
			args: []string{"--mount-point=" + dir},
			want: []string{`config: metadata = "auto" (default (auto: no database setting)): no database settings`,
				"1. --ez-root DIR: the eZ legacy root whose config.php defines CLUSTER_STORAGE_HOST",
				"[eZDFSClusteringSettings] DBHost", "2. flags or environment: --db-host", "--mysql-dsn",
				`3. --config FILE with lines such as "db-host = 10.0.0.5"`, "--metadata sqlite --sqlite FILE", `"ezdfsd demo"`},
		},
		{
			name: "eZ root without database settings",
			args: []string{"--ez-root=testdata/ezroot-nodb", "--mount-point=" + dir},
			want: []string{"no database settings", "(no CLUSTER_STORAGE_HOST, _USER, _PASS or _DB is defined in testdata/ezroot-nodb/config.php, and " +
				"[eZDFSClusteringSettings] DBHost, DBName, DBUser and DBPassword are not set in settings/override/file.ini.append.php (there is no such file))"},
		},
		{
			name: "malformed INI line loses the mount point",
			args: []string{"--ez-root=testdata/ezroot-badini"},
			want: []string{`config: mount-point = "" (default): no mount point: CLUSTER_MOUNT_POINT_PATH is not defined in testdata/ezroot-badini/config.php ` +
				"and [eZDFSClusteringSettings] MountPointPath is not set in settings/override/file.ini.append.php; " +
				"is testdata/ezroot-badini the eZ legacy root? Or pass --mount-point DIR",
				"while reading the settings (one of these may be the cause):\n  eZ settings: settings/override/file.ini.append.php:8: " +
					`space before "=" or "[" after "MountPointPath"; eZ ignores this line (write Key=Value)`},
		},
		{
			name:  "mount point missing",
			args:  append([]string{"--mount-point=" + missing}, sqliteOK...),
			paths: true,
			want:  []string{`config: mount-point = "` + missing + `" (flag:--mount-point): no such directory (is the NFS share mounted, and is this the path eZ uses?); fix --mount-point`},
		},
		{
			name:  "mount point from the environment is a file",
			args:  sqliteOK,
			env:   []string{"EZDFSD_MOUNT_POINT=" + file},
			paths: true,
			want:  []string{`config: mount-point = "` + file + `" (env:EZDFSD_MOUNT_POINT): not a directory`, "fix EZDFSD_MOUNT_POINT in the environment"},
		},
		{
			name:  "SQLite file in a missing directory",
			args:  []string{"--mount-point=" + dir, "--metadata=sqlite", "--sqlite=" + filepath.Join(missing, "db.sqlite")},
			paths: true,
			want:  []string{`config: sqlite = "` + filepath.Join(missing, "db.sqlite") + `" (flag:--sqlite): directory ` + missing + " does not exist (create it with mkdir -p " + missing},
		},
		{
			name:  "SQLite path is a directory",
			args:  []string{"--mount-point=" + dir, "--metadata=sqlite", "--sqlite=" + dir},
			paths: true,
			want:  []string{`(flag:--sqlite): is a directory; give the path of the database file; fix --sqlite`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(tt.args, tt.env)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			err = c.Validate()
			if tt.paths {
				if err != nil {
					t.Fatalf("Validate: %v (the problem is CheckPaths')", err)
				}
				err = c.CheckPaths()
			}
			if err == nil {
				t.Fatal("no error")
			}
			msg := err.Error()
			for _, w := range tt.want {
				i := strings.Index(msg, w)
				if i < 0 {
					t.Fatalf("error\n%s\nlacks\n%s", msg, w)
				}
				msg = msg[i+len(w):]
			}
			for _, s := range testSecrets {
				if strings.Contains(err.Error(), s) {
					t.Errorf("secret %q in %s", s, err)
				}
			}
		})
	}
}

// TestCheckPathsAcceptsWhatItShould: an existing mount point and SQLite directory pass, and a
// mount point no dispatch rule uses (everything on S3) is not looked at.
func TestCheckPathsAcceptsWhatItShould(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{
		{"--mount-point=" + dir, "--metadata=sqlite", "--sqlite=" + filepath.Join(dir, "db.sqlite")},
		{"--mount-point=" + dir, "--db-name=ezp"},
		{"--mount-point=/does/not/exist", "--db-name=ezp", "--default-backend=eZDFSFileHandlerDFSAmazon", "--s3-bucket=ezdfs"},
	} {
		c := mustLoad(t, args, nil)
		if err := c.Validate(); err != nil {
			t.Errorf("%q: Validate: %v", args, err)
		} else if err := c.CheckPaths(); err != nil {
			t.Errorf("%q: CheckPaths: %v", args, err)
		}
	}
}

// TestMetadataAuto: auto means MySQL as soon as any database setting is given, at any level
// (eZ install included); SQLite only when chosen.
func TestMetadataAuto(t *testing.T) {
	for _, tt := range []struct {
		args []string
		env  []string
		want string
	}{
		{args: []string{"--db-host=h"}, want: "mysql"},
		{env: []string{"EZDFSD_MYSQL_DSN=u:p@tcp(h:3306)/d"}, want: "mysql"},
		{args: []string{"--ez-root=testdata/ezroot"}, want: "mysql"},
		{args: []string{"--metadata=sqlite", "--db-host=h"}, want: "sqlite"},
		{args: nil, want: "auto"}, // unresolved: Validate refuses it
	} {
		c := mustLoad(t, tt.args, tt.env)
		if c.Metadata != tt.want {
			t.Errorf("%q %q: metadata = %q, want %q", tt.args, tt.env, c.Metadata, tt.want)
		}
	}
}

// TestSuggestions: mistyped flags, config file keys and environment variables get the closest
// setting; far-off names get none.
func TestSuggestions(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"mount-piont", "mount-point"},
		{"mountpoint", "mount-point"},
		{"EZ_ROOT", "ez-root"},
		{"ezdfsd.db-host", "db-host"},
		{"listn", "listen"},
		{"s3-acces-key-id", "s3-access-key-id"},
		{"nope", ""},
		{"frobnicate-everything", ""},
	} {
		if got := SuggestFlag(tt.in); got != tt.want {
			t.Errorf("SuggestFlag(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	if got := SuggestFlag("create-shema", "dir", "create-schema"); got != "create-schema" {
		t.Errorf("SuggestFlag with a command's own flags = %q", got)
	}
	c := mustLoad(t, nil, []string{"EZDFSD_MOUNT_PIONT=/x"})
	if want := []string{"ignoring unknown environment variable EZDFSD_MOUNT_PIONT (did you mean EZDFSD_MOUNT_POINT?)"}; strings.Join(c.Warnings, "|") != want[0] {
		t.Errorf("Warnings = %q, want %q", c.Warnings, want)
	}
}
