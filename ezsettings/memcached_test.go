package ezsettings

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestMemcachedServers(t *testing.T) {
	tests := []struct {
		file, text string
		want       []string
		errMsg     string
	}{
		{"ezpublish_prod.yml", `
imports:
    - { resource: ezpublish.yml }
stash:
    caches:
        default:
            drivers: [ Memcache ]
            inMemory: true
            registerDoctrineAdapter: false
            Memcache:
                prefix_key: ezdemo_
                retry_timeout: 1
                servers:
                    -
                        server: cache-1.abc.0001.euw1.cache.amazonaws.com
                        port: 11211
                    - { server: 10.0.0.12 }
        session:
            drivers: [ Memcache ]
            registerSessionHandler: true
            Memcache:
                servers:
                    - { server: 10.0.0.12, port: 11211 }
                    - { server: 10.0.0.13, port: "11212" }
        files:
            drivers: [ FileSystem ]
            FileSystem: { keyHashFunction: crc32 }
`, []string{"cache-1.abc.0001.euw1.cache.amazonaws.com:11211", "10.0.0.12:11211", "10.0.0.13:11212"}, ""},
		{"old.yml", "stash:\n  caches:\n    default:\n      handlers: [Memcache]\n      Memcache:\n        servers:\n          - {server: mc, port: 11300}\n", []string{"mc:11300"}, ""},
		{"fs.yml", "stash:\n  caches:\n    default:\n      drivers: [FileSystem]\n", nil, "none found (looked for stash.caches.*.Memcache.servers with a Memcache driver)"},
		{"broken.yml", "stash: [\n", nil, "YAML:"},
		{"php.ini", "; session\nsession.save_handler = memcached\nsession.save_path = \"10.0.0.5:11211,10.0.0.6:11211\"\n", []string{"10.0.0.5:11211", "10.0.0.6:11211"}, ""},
		{"www.conf", "[www]\nphp_admin_value[session.save_handler] = memcache\nphp_admin_value[session.save_path] = \"tcp://mc-a:11211?persistent=1&weight=1, tcp://mc-b:11211\"\n", []string{"mc-a:11211", "mc-b:11211"}, ""},
		{"weights.ini", "session.save_path = 'mc1:11211:2,mc2,/var/run/mc.sock'\n", []string{"mc1:11211", "mc2:11211"}, ""},
		{"files.ini", "session.save_handler = files\n;session.save_path = \"10.0.0.9:11211\"\n", nil, "none found (looked for session.save_path)"},
		{"bad.ini", "session.save_path = \"mc:http\"\n", nil, `port "http" is not a number`},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), tt.file)
			if err := os.WriteFile(p, []byte(tt.text), 0o644); err != nil {
				t.Fatal(err)
			}
			got, err := MemcachedServers(p)
			if tt.errMsg != "" {
				if err == nil || !strings.Contains(err.Error(), tt.errMsg) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.errMsg)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("MemcachedServers = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}
