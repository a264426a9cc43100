package platform

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseDotenv(t *testing.T) {
	env := map[string]string{"REAL": "fromenv", "EMPTY": ""}
	lookup := func(n string) (string, bool) { v, ok := env[n]; return v, ok }
	tests := []struct {
		in, name, want string
	}{
		{"A=plain", "A", "plain"},
		{"export A=exported", "A", "exported"},
		{"A=value # comment", "A", "value"},
		{"A=val#ue", "A", "val#ue"},
		{"A='single $REAL \\n'", "A", `single $REAL \n`},
		{`A="double $REAL \"q\" \\ \n"`, "A", "double fromenv \"q\" \\ \n"},
		{"A=${REAL}", "A", "fromenv"},
		{"A=$REAL/x", "A", "fromenv/x"},
		{"A=${NOPE:-dflt}", "A", "dflt"},
		{"A=${EMPTY:-dflt}", "A", "dflt"},
		{"A=${REAL:-dflt}", "A", "fromenv"},
		{"A=${NOPE:=set}\nB=$NOPE", "B", "set"},
		{"A=x\nB=${A}y", "B", "xy"},
		{"A=\\$REAL", "A", "$REAL"},
		{`A=C:\path\to`, "A", `C:\path\to`},   // other backslashes stay (Symfony)
		{`A=a\"b\\c`, "A", `a"b\c`},           //
		{`A="tab\tstays"`, "A", `tab\tstays`}, // Symfony converts only \n and \r
		{`A="cr\r"`, "A", "cr\r"},
		{`A="multi
line"`, "A", "multi\nline"},
		{"A=", "A", ""},
		{"A=a'b c'\"d\"", "A", "ab cd"},
		{"# only\n\n  A=1\r\n", "A", "1"},
		{"A=mysql://u:p%40ss@db:3306/ezp?serverVersion=8.0&charset=utf8mb4", "A", "mysql://u:p%40ss@db:3306/ezp?serverVersion=8.0&charset=utf8mb4"},
	}
	for _, tt := range tests {
		vars, err := ParseDotenv(tt.in, lookup, nil)
		if err != nil {
			t.Errorf("ParseDotenv(%q): %v", tt.in, err)
			continue
		}
		got, found := "", false
		for _, v := range vars {
			if v.Name == tt.name {
				got, found = v.Value, true
			}
		}
		if !found || got != tt.want {
			t.Errorf("ParseDotenv(%q)[%s] = %q (found %v), want %q", tt.in, tt.name, got, found, tt.want)
		}
	}
	for _, bad := range []string{"A = 1", "A =1", "A= 1", "A=two words", "A='open", `A="open`, "A=$(id)", "1A=x", "A=${B", "A=${B:?err}", "A=${B:-$C}", "A=${B:-'x'}"} {
		if _, err := ParseDotenv(bad, lookup, nil); err == nil {
			t.Errorf("ParseDotenv(%q) accepted", bad)
		}
	}
	vars, _ := ParseDotenv("\n\nA=1\nB=\"x\ny\"\nC=3", lookup, nil)
	if len(vars) != 3 || vars[0].Line != 3 || vars[1].Line != 4 || vars[2].Line != 6 {
		t.Errorf("lines = %+v", vars)
	}
}

func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(root, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func TestLoadOrder(t *testing.T) {
	root := writeFiles(t, map[string]string{
		".env":            "APP_ENV=prod\nA=env\nB=env\nC=env\nD=env\nE=env\n",
		".env.local":      "B=local\nC=local\nD=local\nE=local\n",
		".env.prod":       "C=prod\nD=prod\nE=prod\n",
		".env.prod.local": "D=prodlocal\nE=${A}-x\n",
		".env.dev":        "C=dev\n",
		".env.test":       "C=test\n",
	})
	p, err := Load(root, []string{"E=real"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"A": "env", "B": "local", "C": "prod", "D": "prodlocal", "E": "real"}
	for k, w := range want {
		if v, _ := p.Lookup(k); v.Value != w {
			t.Errorf("%s = %q (%s), want %q", k, v.Value, v.Where, w)
		}
	}
	if v, _ := p.Lookup("D"); v.Where != ".env.prod.local:1" {
		t.Errorf("D from %q", v.Where)
	}
	if strings.Join(p.Files, ",") != ".env,.env.local,.env.prod,.env.prod.local" || p.Env != "prod" {
		t.Errorf("files %v env %q", p.Files, p.Env)
	}
	// APP_ENV=test skips .env.local; the real APP_ENV wins over the files.
	p, err = Load(root, []string{"APP_ENV=test"})
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := p.Lookup("B"); v.Value != "env" {
		t.Errorf("test env read .env.local: B = %q", v.Value)
	}
	if v, _ := p.Lookup("C"); v.Value != "test" {
		t.Errorf("C = %q, want test", v.Value)
	}
	// Expansion order (Dotenv::resolveVariables): the real environment, then this file, then
	// earlier files.
	root3 := writeFiles(t, map[string]string{
		".env":       "H=env\nU=${H}\n",
		".env.local": "A1=${H}\nH=local\nA2=${H}\nR=${REALV}\nREALV=file\nR2=${REALV}\n",
	})
	p, _ = Load(root3, []string{"REALV=real"})
	for k, w := range map[string]string{"U": "env", "A1": "env", "A2": "local", "R": "real", "R2": "real", "REALV": "real"} {
		if v, _ := p.Lookup(k); v.Value != w {
			t.Errorf("%s = %q, want %q", k, v.Value, w)
		}
	}
	// A file's expansion sees the real environment first.
	root2 := writeFiles(t, map[string]string{".env": "HOST=file\nURL=mysql://u@${HOST}/db\n"})
	p, _ = Load(root2, []string{"HOST=real"})
	if v, _ := p.Lookup("URL"); v.Value != "mysql://u@real/db" {
		t.Errorf("URL = %q", v.Value)
	}
	if _, err := Load(writeFiles(t, map[string]string{".env": "A = 1"}), nil); err == nil || !strings.Contains(err.Error(), ".env: line 1") {
		t.Errorf("bad .env: %v", err)
	}
}

func TestComposerLockTable(t *testing.T) {
	lock := func(name, version string) string {
		return `{"packages":[{"name":"symfony/dotenv","version":"v7.1.0"},{"name":"` + name + `","version":"` + version + `"}],"packages-dev":[]}`
	}
	tests := []struct{ lock, table string }{
		{lock("ibexa/core", "v5.0.3"), "ibexa_dfs_file"},
		{lock("ibexa/core", "5.0.x-dev"), "ibexa_dfs_file"},
		{lock("ibexa/core", "v4.6.29"), "ezdfsfile"},
		{lock("ezsystems/ezplatform-kernel", "v1.3.40"), "ezdfsfile"},
		{lock("ezsystems/ezpublish-kernel", "v7.5.31"), "ezdfsfile"},
		{lock("ibexa/core", "dev-main"), ""},
		{lock("symfony/console", "v6.4.0"), ""},
		{"", ""},
	}
	for _, tt := range tests {
		files := map[string]string{".env": "A=1"}
		if tt.lock != "" {
			files["composer.lock"] = tt.lock
		}
		p, err := Load(writeFiles(t, files), nil)
		if err != nil {
			t.Fatal(err)
		}
		if p.Table != tt.table {
			t.Errorf("composer.lock %s: table %q, want %q", tt.lock, p.Table, tt.table)
		}
	}
}

func TestParseDatabaseURL(t *testing.T) {
	db, err := ParseDatabaseURL("mysql://ezp:p%40ss%2Fw@db.local:3307/ez_db?serverVersion=mariadb-10.11.0&charset=utf8mb4")
	if err != nil {
		t.Fatal(err)
	}
	if db.Driver != "mysql" || db.User != "ezp" || db.Password != "p@ss/w" || db.Host != "db.local" || db.Port != 3307 ||
		db.Name != "ez_db" || db.Charset != "utf8mb4" || db.ServerVersion != "mariadb-10.11.0" {
		t.Errorf("%+v", db)
	}
	for _, s := range []string{"pdo-mysql", "pdo_mysql", "mysql2", "mysqli", "MYSQL"} {
		if db, err := ParseDatabaseURL(s + "://u:p@h/d"); err != nil || db.Driver != "mysql" {
			t.Errorf("%s: %+v %v", s, db, err)
		}
	}
	for _, s := range []string{"postgresql", "postgres", "pgsql", "pdo-pgsql"} {
		db, err := ParseDatabaseURL(s + "://u:p%40@h:5433/d?serverVersion=15&charset=utf8")
		if err != nil || db.Driver != "postgres" || db.PostgresURL != "postgres://u:p%40@h:5433/d?client_encoding=utf8" {
			t.Errorf("%s: %+v %v", s, db, err)
		}
	}
	if db, _ := ParseDatabaseURL("mysql://u@localhost/d?unix_socket=/run/mysqld/mysqld.sock"); db.Socket != "/run/mysqld/mysqld.sock" {
		t.Errorf("socket %q", db.Socket)
	}
	for _, bad := range []string{"sqlite:///var/db.sqlite", "mysql+pymysql://u@h/d", "db.local:3306", "mysql://u:secretpw@h:99999/d"} {
		_, err := ParseDatabaseURL(bad)
		if err == nil {
			t.Errorf("ParseDatabaseURL(%q) accepted", bad)
		} else if strings.Contains(err.Error(), "secretpw") {
			t.Errorf("error quotes the password: %v", err)
		}
	}
}
