package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ezdfsd/ezdfsd/dfs"
	"github.com/ezdfsd/ezdfsd/metadata"
	"github.com/ezdfsd/ezdfsd/metadata/sqlstore"
)

// TestImportPlatformProject: `ezdfsd import --project-root` takes the files below the Symfony
// web root (public/var/…), the mount point from DFS_NFS_PATH and the table from composer.lock,
// and writes the rows as the Ibexa metadata handler does; `ezdfsd config` shows the profile.
func TestImportPlatformProject(t *testing.T) {
	root, mount := t.TempDir(), t.TempDir()
	write := func(rel string, data []byte) {
		p := filepath.Join(root, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(".env", []byte("DFS_NFS_PATH="+mount+"\n"))
	write("composer.lock", []byte(`{"packages":[{"name":"ibexa/core","version":"v5.0.3"}]}`))
	const name = "var/site/storage/images/_aliases/large/3/6/1-1-eng-GB/pic.png"
	write("public/"+name, pngBytes(t))
	db := filepath.Join(t.TempDir(), "m.sqlite")

	code, out, errOut := runCmd(t, nil, "import", "--project-root", root, "--metadata=sqlite", "--sqlite="+db)
	if code != 0 {
		t.Fatalf("import: exit %d\n%s\n%s", code, out, errOut)
	}
	if !strings.Contains(out, filepath.Join(root, "public")+"/var: ") {
		t.Errorf("import did not read the web root: %q", out)
	}
	if _, err := os.Stat(filepath.Join(mount, filepath.FromSlash(name))); err != nil {
		t.Errorf("file not copied to DFS_NFS_PATH: %v", err)
	}
	s, err := sqlstore.OpenSQLite(context.Background(), db, sqlstore.Config{Tables: []string{dfs.IbexaTable}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	row, err := s.Lookup(context.Background(), metadata.Key{Table: dfs.IbexaTable, Name: name})
	if err != nil || row.Scope != "image" || row.Datatype != "image/png" || row.Expired {
		t.Errorf("row %+v, %v", row, err)
	}

	code, out, _ = runCmd(t, nil, "config", "--project-root", root, "--metadata=sqlite", "--sqlite="+db)
	if code != 0 || !strings.Contains(out, "# default (auto: project-root is set)\nprofile = platform\n") ||
		!strings.Contains(out, "table = ibexa_dfs_file\n") {
		t.Errorf("config: exit %d\n%s", code, out)
	}
}
