package platform

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/ezdfsd/ezdfsd/dfs"
)

// Value is a variable's effective value and where it was set.
type Value struct {
	// Value is the text after parsing.
	Value string
	// Where is "<file>:<line>" relative to the project root, or "environment".
	Where string
}

// Project is what ezdfsd read from a Symfony project root.
type Project struct {
	// Root is the project directory.
	Root string
	// Env is APP_ENV as Symfony resolves it (default "dev").
	Env string
	// Files are the dotenv files read, in order, relative to Root.
	Files []string
	// Kernel names the package and version found in composer.lock ("" = none found), e.g.
	// "ibexa/core v5.0.3".
	Kernel string
	// HasLock reports whether Root has a composer.lock.
	HasLock bool
	// Table is the DFS metadata table of that version ("" = composer.lock does not show it).
	Table string
	// Warnings are non-fatal remarks (e.g. a .env.local.php that Symfony would read instead).
	Warnings []string

	vars map[string]Value
}

// Lookup returns a variable's effective value: the real environment wins over every dotenv
// file, and a later file over an earlier one.
func (p *Project) Lookup(name string) (Value, bool) {
	v, ok := p.vars[name]
	return v, ok
}

// Load reads root's dotenv files as Symfony's Dotenv::loadEnv does (symfony/dotenv): .env (or
// .env.dist when there is no .env), then, unless APP_ENV is "test", .env.local, then
// .env.$APP_ENV and .env.$APP_ENV.local (none of these when APP_ENV is "local"). APP_ENV
// comes from the real environment, else the files read so far, else "dev". A variable set in
// environ (os.Environ() style) is never overridden by a file. Then it reads composer.lock for
// the kernel version.
func Load(root string, environ []string) (*Project, error) {
	st, err := os.Stat(root)
	if err != nil {
		return nil, fmt.Errorf("project root: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("project root %s: not a directory", root)
	}
	p := &Project{Root: root, vars: map[string]Value{}}
	real := map[string]bool{}
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			p.vars[k] = Value{Value: v, Where: "environment"}
			real[k] = true
		}
	}
	if _, err := os.Stat(filepath.Join(root, ".env.local.php")); err == nil {
		p.Warnings = append(p.Warnings, filepath.Join(root, ".env.local.php")+
			" exists: Symfony reads it (composer dump-env) instead of the .env files; ezdfsd reads only the .env files, so check that they agree")
	}
	load := func(name string, optional bool) error {
		data, err := os.ReadFile(filepath.Join(root, name))
		if errors.Is(err, fs.ErrNotExist) && optional {
			return nil
		}
		if err != nil {
			return fmt.Errorf("project root: %w", err)
		}
		realEnv := func(n string) (string, bool) {
			v, ok := p.vars[n]
			return v.Value, ok && real[n]
		}
		loaded := func(n string) (string, bool) {
			v, ok := p.vars[n]
			return v.Value, ok
		}
		vars, err := ParseDotenv(string(data), realEnv, loaded)
		if err != nil {
			return fmt.Errorf("project root: %s: %w", filepath.Join(root, name), err)
		}
		p.Files = append(p.Files, name)
		for _, v := range vars {
			if !real[v.Name] {
				p.vars[v.Name] = Value{Value: v.Value, Where: name + ":" + strconv.Itoa(v.Line)}
			}
		}
		return nil
	}
	first := ".env"
	if _, err := os.Stat(filepath.Join(root, first)); errors.Is(err, fs.ErrNotExist) {
		if _, err := os.Stat(filepath.Join(root, ".env.dist")); err == nil {
			first = ".env.dist"
		}
	}
	if err := load(first, true); err != nil {
		return nil, err
	}
	env := "dev"
	if v, ok := p.vars["APP_ENV"]; ok {
		env = v.Value
	}
	if env != "test" {
		if err := load(".env.local", true); err != nil {
			return nil, err
		}
		if v, ok := p.vars["APP_ENV"]; ok {
			env = v.Value
		}
	}
	p.Env = env
	if env != "local" {
		if err := load(".env."+env, true); err != nil {
			return nil, err
		}
		if err := load(".env."+env+".local", true); err != nil {
			return nil, err
		}
	}
	if len(p.Files) == 0 {
		p.Warnings = append(p.Warnings, "no .env file in "+root+" (is it the Symfony project root?)")
	}
	if err := p.readComposerLock(); err != nil {
		return nil, err
	}
	return p, nil
}

// readComposerLock finds the installed kernel package and derives the table name: ibexa/core
// 5 and later use ibexa_dfs_file (ibexa/core v5.0.0 LegacyDFSCluster.php DFS_FILE_TABLE);
// ibexa/core 4.x, ezsystems/ezplatform-kernel and ezsystems/ezpublish-kernel use ezdfsfile.
func (p *Project) readComposerLock() error {
	data, err := os.ReadFile(filepath.Join(p.Root, "composer.lock"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("project root: %w", err)
	}
	p.HasLock = true
	var lock struct {
		Packages, PackagesDev []struct{ Name, Version string }
	}
	if err := json.Unmarshal(data, &lock); err != nil {
		return fmt.Errorf("project root: composer.lock: %w", err)
	}
	for _, pkg := range append(lock.Packages, lock.PackagesDev...) {
		switch pkg.Name {
		case "ibexa/core":
			p.Kernel = pkg.Name + " " + pkg.Version
			if major, ok := majorVersion(pkg.Version); ok {
				p.Table = dfs.PlatformTable
				if major >= 5 {
					p.Table = dfs.IbexaTable
				}
			}
			return nil
		case "ezsystems/ezplatform-kernel", "ezsystems/ezpublish-kernel":
			p.Kernel = pkg.Name + " " + pkg.Version
			p.Table = dfs.PlatformTable
			return nil
		}
	}
	return nil
}

// majorVersion reads the major version of a Composer version ("v5.0.3", "4.6.x-dev"); branch
// names such as "dev-main" have none.
func majorVersion(v string) (int, bool) {
	v = strings.TrimPrefix(v, "v")
	i := strings.IndexFunc(v, func(r rune) bool { return r < '0' || r > '9' })
	if i == 0 || i > 0 && v[i] != '.' {
		return 0, false
	}
	if i < 0 {
		i = len(v)
	}
	n, err := strconv.Atoi(v[:i])
	return n, err == nil
}
