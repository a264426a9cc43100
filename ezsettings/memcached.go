package ezsettings

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// MemcachedServers reads the memcached servers (host:port) an eZ site already uses, so the
// daemon can share them without a second list to keep in sync. It understands:
//
//   - an eZ 5 / eZ Platform Symfony config file (ezpublish.yml, ezplatform.yml, config_prod.yml;
//     any *.yml / *.yaml): every cache under stash.caches whose drivers include Memcache or
//     Memcached contributes its Memcache.servers (server, port; port 11211 when absent), in file
//     order;
//   - anything else is read as php.ini or a php-fpm pool file: the session.save_path value
//     (also php_value[session.save_path] / php_admin_value[...]), in the memcached extension's
//     form "host:port,host2:port" or the memcache extension's "tcp://host:port?params, ...".
//
// Duplicates are dropped; unix sockets are skipped (the daemon's memcached client speaks TCP).
// It is an error if the file names no server.
func MemcachedServers(path string) ([]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("memcached servers: %w", err)
	}
	var servers []string
	switch strings.ToLower(filepath.Ext(path)) {
	case ".yml", ".yaml":
		servers, err = stashServers(data)
	default:
		servers, err = sessionSavePathServers(data)
	}
	if err != nil {
		return nil, fmt.Errorf("memcached servers in %s: %w", path, err)
	}
	if len(servers) == 0 {
		return nil, fmt.Errorf("memcached servers in %s: none found (looked for %s)", path, lookedFor(path))
	}
	return servers, nil
}

func lookedFor(path string) string {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".yml", ".yaml":
		return "stash.caches.*.Memcache.servers with a Memcache driver"
	}
	return "session.save_path"
}

// stashConfig is the part of eZ's stash bundle configuration that names memcached servers.
type stashConfig struct {
	Stash struct {
		Caches yaml.Node `yaml:"caches"`
	} `yaml:"stash"`
}

type stashCache struct {
	Drivers  []string `yaml:"drivers"`
	Handlers []string `yaml:"handlers"` // pre-2014 name of drivers
	Memcache struct {
		Servers []struct {
			Server string `yaml:"server"`
			Port   any    `yaml:"port"`
		} `yaml:"servers"`
	} `yaml:"Memcache"`
}

func stashServers(data []byte) ([]string, error) {
	var cfg stashConfig
	if err := yaml.Unmarshal(data, &cfg); err != nil {
		return nil, fmt.Errorf("YAML: %w", err)
	}
	caches := cfg.Stash.Caches
	if caches.Kind != yaml.MappingNode {
		return nil, nil
	}
	var out []string
	seen := map[string]bool{}
	// A mapping node's children alternate key, value: keep file order.
	for i := 1; i < len(caches.Content); i += 2 {
		var c stashCache
		if err := caches.Content[i].Decode(&c); err != nil {
			return nil, fmt.Errorf("stash cache %q: %w", caches.Content[i-1].Value, err)
		}
		if !usesMemcache(append(c.Drivers, c.Handlers...)) {
			continue
		}
		for _, s := range c.Memcache.Servers {
			port := "11211"
			switch p := s.Port.(type) {
			case int:
				port = strconv.Itoa(p)
			case string:
				if p != "" {
					port = p
				}
			}
			if s.Server == "" {
				continue
			}
			addServer(&out, seen, net.JoinHostPort(strings.TrimSpace(s.Server), port))
		}
	}
	return out, nil
}

func usesMemcache(drivers []string) bool {
	for _, d := range drivers {
		if strings.EqualFold(d, "Memcache") || strings.EqualFold(d, "Memcached") {
			return true
		}
	}
	return false
}

// reSavePath matches a session.save_path assignment in php.ini or a php-fpm pool file.
var reSavePath = regexp.MustCompile(`^\s*(?:php(?:_admin)?_value\[\s*session\.save_path\s*\]|session\.save_path)\s*=\s*(.*?)\s*$`)

func sessionSavePathServers(data []byte) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := sc.Text()
		if t := strings.TrimSpace(line); t == "" || t[0] == ';' || t[0] == '#' {
			continue
		}
		m := reSavePath.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		value := strings.Trim(m[1], `"'`)
		for _, item := range strings.Split(value, ",") {
			item = strings.TrimSpace(item)
			item = strings.TrimPrefix(item, "tcp://")
			if i := strings.IndexAny(item, "?"); i >= 0 {
				item = item[:i]
			}
			if item == "" || strings.HasPrefix(item, "/") || strings.HasPrefix(item, "unix://") {
				continue
			}
			host, port, err := net.SplitHostPort(item)
			if err != nil {
				// memcached's "host:port:weight", or a bare host.
				parts := strings.Split(item, ":")
				switch {
				case len(parts) == 3:
					host, port = parts[0], parts[1]
				case len(parts) == 1:
					host, port = parts[0], "11211"
				default:
					return nil, fmt.Errorf("session.save_path entry %q: %w", item, err)
				}
			}
			if _, err := strconv.Atoi(port); err != nil {
				return nil, fmt.Errorf("session.save_path entry %q: port %q is not a number", item, port)
			}
			addServer(&out, seen, net.JoinHostPort(host, port))
		}
	}
	return out, sc.Err()
}

func addServer(out *[]string, seen map[string]bool, s string) {
	if !seen[s] {
		seen[s] = true
		*out = append(*out, s)
	}
}
