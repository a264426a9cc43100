package config

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// FuzzConfigFile loads arbitrary text as ezdfsd's own config file (--config FILE): Load fails
// exactly when parseFile does (with its error) or a value is unusable; when it succeeds, every
// key the file holds is applied: its source is the file and the key's last line, and its
// effective value is what that key's value(s) alone give. Validate and Dump never panic.
func FuzzConfigFile(f *testing.F) {
	if data, err := os.ReadFile("testdata/ezdfsd.conf"); err == nil {
		f.Add(string(data))
	}
	for _, s := range []string{
		"listen = :1\n", "serve-pattern = (\n", "x\n", `powered-by = "\u00e9"`, "\ufeffdb-port = 3306\r\n", "path-backend = =\n",
		"db-host = a\nmetadata = auto\nserve-pattern = ^a\nserve-pattern = ^b\nretry-after = 1.5s\nhttp-range = off\n",
		"memcached = 127.0.0.1:1, 127.0.0.1:2\nexpiry-timeout = false\ndb-password = \"p=a;s#s\"\n",
	} {
		f.Add(s)
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, text string) {
		path := filepath.Join(dir, "fuzz.conf")
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		as, perr := parseFile(text, path)
		c, err := Load([]string{"--config", path}, nil)
		if perr != nil {
			if err == nil || err.Error() != perr.Error() {
				t.Fatalf("parseFile: %v, but Load: %v", perr, err)
			}
			return
		}
		if err != nil {
			return // an unusable value, reported with its source
		}
		_ = c.Validate()
		c.Dump(discard{})

		last := map[string]int{}
		values := map[string][]string{}
		for i, a := range as {
			last[a.name] = i
			values[a.name] = append(values[a.name], a.value)
		}
		for name, i := range last {
			s := lookup(name)
			src := c.Source(name)
			want := as[i].src
			if src.Kind != FromFile || (src.Where != want.Where && !strings.HasPrefix(src.Where, want.Where+" (")) {
				t.Fatalf("%s: source %+v, want the file's line %s", name, src, want.Where)
			}
			if name == "metadata" && strings.EqualFold(strings.TrimSpace(values[name][len(values[name])-1]), "auto") {
				continue // resolved to mysql or sqlite after the levels
			}
			alone, err := applyAlone(s, values[name])
			if err != nil {
				t.Fatalf("%s: Load accepted %d value(s) that fail alone: %v", name, len(values[name]), err)
			}
			if got, want := s.show(c), s.show(alone); !reflect.DeepEqual(got, want) {
				t.Fatalf("%s: effective value %q, but the file's value(s) give %q", name, got, want)
			}
		}
	})
}

// applyAlone applies values to a Config holding only s's default: a list setting takes all of
// them, any other setting the last.
func applyAlone(s *setting, values []string) (*Config, error) {
	c := &Config{sources: map[string]Source{}}
	def := s.def
	if s.defFunc != nil {
		def = s.defFunc()
	}
	if err := s.applyDefault(c, def); err != nil {
		return nil, fmt.Errorf("default: %w", err)
	}
	if s.list {
		s.clear(c)
	} else {
		values = values[len(values)-1:]
	}
	for _, v := range values {
		if err := s.apply(c, v); err != nil {
			return nil, err
		}
	}
	return c, nil
}
