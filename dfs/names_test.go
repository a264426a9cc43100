package dfs

import (
	"errors"
	"strings"
	"testing"
)

func TestNameFromTarget(t *testing.T) {
	const img = "var/ezdemo_site/storage/images/a/b/c/1-1-eng-GB/foo.jpg"
	tests := []struct {
		target string
		want   string // "" means ErrInvalidName
	}{
		{"/" + img, img},
		{"/" + img + "?v=123", img},                           // row 4: query ignored
		{"//" + img, img},                                     // row 5: all leading slashes stripped
		{"///" + img, img},                                    //
		{"/var/x/foo%20bar.jpg", "var/x/foo bar.jpg"},         // row 6
		{"/var/x/foo+bar.jpg", "var/x/foo+bar.jpg"},           // row 7: + is not a space
		{"/var/x/it%27s%20%22q%22.jpg", `var/x/it's "q".jpg`}, // row 8
		{"/var/x/q%3Fmark.jpg", "var/x/q?mark.jpg"},           // row 9 fix: raw query cut first
		{"/var/x/q%3Fmark.jpg?a=b", "var/x/q?mark.jpg"},       //
		{"/var%2Fezdemo_site%2Fstorage/images/x.jpg", "var/ezdemo_site/storage/images/x.jpg"}, // row 10
		{"/var/x/%C3%A9t%C3%A9.png", "var/x/été.png"},                                         // UTF-8 bytes
		{"/var/x/100%25.png", "var/x/100%.png"},                                               // %25 decoded once only
		{"/var/x/%2541.png", "var/x/%41.png"},                                                 // not twice
		{"/var/x/a.png#frag", "var/x/a.png"},                                                  //
		{"/var/x/%00.png", ""},                                                                // row 11: NUL
		{"/var/x/a%0a.png", ""},                                                               // control byte
		{"/var/x/../../etc/passwd", ""},                                                       // traversal
		{"/var/x/%2e%2e/%2e%2e/etc/passwd", ""},                                               // encoded traversal
		{"/var/x/..%2f..%2fetc/passwd", ""},                                                   //
		{"/var/x/./a.png", ""},                                                                //
		{"/var/x/a\\..\\b.png", ""},                                                           // backslash
		{"/var/x/a%5c..%5cb.png", ""},                                                         // encoded backslash
		{"/var/x//a.png", ""},                                                                 // empty segment
		{"/var/x/", ""},                                                                       // trailing slash
		{"/", ""},                                                                             //
		{"", ""},                                                                              //
		{"/var/x/%zz.png", ""},                                                                // bad escape
		{"/var/x/%4", ""},                                                                     //
		{"/" + strings.Repeat("a/", MaxNameLength), ""},                                       // too long
	}
	for _, tt := range tests {
		t.Run(tt.target, func(t *testing.T) {
			got, err := NameFromTarget(tt.target)
			if tt.want == "" {
				if !errors.Is(err, ErrInvalidName) {
					t.Fatalf("NameFromTarget(%q) = %q, %v; want ErrInvalidName", tt.target, got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("NameFromTarget(%q) = %q, %v; want %q", tt.target, got, err, tt.want)
			}
		})
	}
}

func TestAllowList(t *testing.T) {
	def, err := NewAllowList(DefaultServedPatterns)
	if err != nil {
		t.Fatal(err)
	}
	withOriginal, err := NewAllowList(append(append([]string{}, DefaultServedPatterns...), OriginalStoragePattern))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name                string
		byDefault, original bool
	}{
		{"var/ezdemo_site/storage/images/a/foo.jpg", true, true},
		{"var/storage/images/a/foo.jpg", true, true},
		{"var/ezdemo_site/storage/images-versioned/a/foo.jpg", true, true},
		{"var/ezdemo_site/cache/public/stylesheets/x.css", true, true},
		{"var/cache/texttoimage/x.png", true, true},
		{"var/ezdemo_site/storage/original/application/x.pdf", false, true},
		{"var/ezdemo_site/cache/content/x.php", false, false},
		{"var/ezdemo_site/storage/images", false, false},
		{"settings/override/site.ini.append.php", false, false},
		{"xvar/ezdemo_site/storage/images/a.jpg", false, false},
		{"var/a/b/storage/images/x.jpg", false, false},
	}
	for _, tt := range tests {
		if got := def.Allows(tt.name); got != tt.byDefault {
			t.Errorf("default Allows(%q) = %v, want %v", tt.name, got, tt.byDefault)
		}
		if got := withOriginal.Allows(tt.name); got != tt.original {
			t.Errorf("with original Allows(%q) = %v, want %v", tt.name, got, tt.original)
		}
	}
	if _, err := NewAllowList([]string{"("}); err == nil {
		t.Error("NewAllowList accepted an invalid pattern")
	}
}

func TestTablesFor(t *testing.T) {
	def := DefaultTables()
	tests := []struct {
		tables Tables
		name   string
		want   string
	}{
		{def, "var/ezdemo_site/storage/images/a.jpg", "ezdfsfile"},
		{def, "var/ezdemo_site/cache/public/x.css", "ezdfsfile_cache"},                          // row 21
		{def, "var/cache/texttoimage/x.png", "ezdfsfile_cache"},                                 //
		{def, "var/ezdemo_site/cache/storage/x", "ezdfsfile"},                                   // storage needle wins
		{def, "cache/public/x.css", "ezdfsfile"},                                                // no leading slash: "/cache/" absent
		{def, "var/mycache/x.css", "ezdfsfile"},                                                 // substring needs the slashes
		{Tables{Storage: "ezdfsfile", Cache: "ezdfsfile"}, "var/s/cache/public/x", "ezdfsfile"}, // split off
		{Tables{Storage: "ibexa_dfs_file"}, "var/s/cache/public/x", "ibexa_dfs_file"},
	}
	for _, tt := range tests {
		if got := tt.tables.For(tt.name); got != tt.want {
			t.Errorf("%+v.For(%q) = %q, want %q", tt.tables, tt.name, got, tt.want)
		}
	}
	if got := def.Names(); len(got) != 2 || got[0] != "ezdfsfile" || got[1] != "ezdfsfile_cache" {
		t.Errorf("Names() = %v", got)
	}
}

func TestDispatch(t *testing.T) {
	// The dispatcher's own unit test: path/to/ listed first captures otherpath/to/file and differentpath/to/file.
	d := Dispatch{
		Rules: []Rule{
			{Key: "path/to/", Backend: "A"},
			{Key: "otherpath/to/", Backend: "B"},
			{Key: "var/ezdemo_site/storage/images", Backend: S3Backend},
		},
	}
	tests := []struct{ name, want string }{
		{"path/to/file", "A"},
		{"otherpath/to/file", "A"}, // substring, first match wins
		{"differentpath/to/file", "A"},
		{"var/ezdemo_site/storage/images/a.jpg", S3Backend},
		{"var/ezdemo_site/storage/images-versioned/a.jpg", S3Backend}, // substring captures -versioned too
		{"var/ezdemo_site/cache/public/a.css", MountPointBackend},     // default
	}
	for _, tt := range tests {
		if got := d.BackendFor(tt.name); got != tt.want {
			t.Errorf("BackendFor(%q) = %q, want %q", tt.name, got, tt.want)
		}
	}
	if got := d.Backends(); len(got) != 4 || got[0] != MountPointBackend {
		t.Errorf("Backends() = %v", got)
	}
	if got := (Dispatch{Default: S3Backend}).BackendFor("x"); got != S3Backend {
		t.Errorf("default backend = %q", got)
	}
}

func FuzzNameFromTarget(f *testing.F) {
	for _, s := range []string{"/var/x/a.jpg", "/var/x/%2e%2e/a", "//var/%00", "/var/x/q%3F?x", "/a%zz"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, target string) {
		name, err := NameFromTarget(target)
		if err != nil {
			return
		}
		if CheckName(name) != nil {
			t.Fatalf("NameFromTarget(%q) returned %q which CheckName rejects", target, name)
		}
		for seg := range strings.SplitSeq(name, "/") {
			if seg == ".." || seg == "." || seg == "" {
				t.Fatalf("NameFromTarget(%q) = %q has segment %q", target, name, seg)
			}
		}
		if strings.ContainsAny(name, "\x00\\") {
			t.Fatalf("NameFromTarget(%q) = %q has NUL or backslash", target, name)
		}
	})
}

func TestRawURLDecode(t *testing.T) {
	for in, want := range map[string]string{
		"a%20b":     "a b",
		"100%":      "100%",
		"%zz%41":    "%zzA",
		"%4":        "%4",
		"a+b":       "a+b",
		"%2541":     "%41",
		"no-escape": "no-escape",
	} {
		if got := RawURLDecode(in); got != want {
			t.Errorf("RawURLDecode(%q) = %q, want %q", in, got, want)
		}
	}
}
