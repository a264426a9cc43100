package dfs

import (
	"errors"
	"testing"
)

func TestNameFromPathInfo(t *testing.T) {
	const img = "var/site/storage/images/3/6/4/6/6463-1-eng-GB/kidding.png"
	tests := []struct {
		target string
		want   string // "" means ErrInvalidName
	}{
		{"/" + img, img},
		{"/" + img + "?v=1", img},
		{"//" + img, img},
		{"/var/site/storage/images/a%20b.jpg", "var/site/storage/images/a%20b.jpg"},   // not decoded (IBX-1314)
		{"/var/site/storage/images/100%25.jpg", "var/site/storage/images/100%25.jpg"}, // kernel PR #3126's case
		{"/var/site/storage/images/some%25special+chars.jpg", "var/site/storage/images/some%25special+chars.jpg"},
		{"/var/site/storage/images/q%3Fmark.jpg", "var/site/storage/images/q%3Fmark.jpg"}, // %3F stays escaped too
		{"/var/site/storage/images/%C3%A9.png", "var/site/storage/images/%C3%A9.png"},     // raw bytes of the path
		{"/var/site/storage/images/é.png", "var/site/storage/images/é.png"},
		{"/var/site/storage/images/../../../etc/passwd", ""},
		{"/var/site/storage/images/%2e%2e/%2e%2e/etc/passwd", ""}, // a decoding proxy would climb
		{"/var/site/storage/images/..%2f..%2fetc/passwd", ""},
		{"/var/site/storage/images/a%00.png", ""},
		{"/var/site/storage/images/a%5c..%5cb.png", ""},
		{"/var/site/storage/images/a\\b.png", ""},
		{"/var/site/storage/images//a.png", ""},
		{"/", ""},
	}
	for _, tt := range tests {
		t.Run(tt.target, func(t *testing.T) {
			got, err := NameFromPathInfo(tt.target)
			if tt.want == "" {
				if !errors.Is(err, ErrInvalidName) {
					t.Fatalf("NameFromPathInfo(%q) = %q, %v; want ErrInvalidName", tt.target, got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("NameFromPathInfo(%q) = %q, %v; want %q", tt.target, got, err, tt.want)
			}
		})
	}
}

func TestPlatformRouting(t *testing.T) {
	allow, err := NewAllowList(PlatformServedPatterns)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]bool{
		"var/site/storage/images/a/b.jpg":                  true,
		"var/site/storage/images/_aliases/large/3/6/a.jpg": true,
		"var/site/storage/images-versioned/a/b.jpg":        true,
		"var/storage/images/a.jpg":                         true,
		"var/site/storage/original/application/x.pdf":      false,
		"var/site/cache/public/x.css":                      false, // legacy serves it; the platform has none
		"var/cache/texttoimage/x.png":                      false,
		"public/var/site/storage/images/a.jpg":             false,
		"var/site/storage/images":                          false,
	} {
		if got := allow.Allows(name); got != want {
			t.Errorf("platform Allows(%q) = %v, want %v", name, got, want)
		}
	}
	tb := PlatformTables(IbexaTable)
	if got := tb.For("var/site/cache/public/x.css"); got != IbexaTable {
		t.Errorf("PlatformTables.For(cache name) = %q, want %q (no cache table)", got, IbexaTable)
	}
	if got := tb.Names(); len(got) != 1 || got[0] != IbexaTable {
		t.Errorf("PlatformTables.Names() = %v", got)
	}
	if n, _ := NameRule(ProfilePlatform)("/var/a%20b"); n != "var/a%20b" {
		t.Errorf("NameRule(platform) decoded: %q", n)
	}
	if n, _ := NameRule(ProfileLegacy)("/var/a%20b"); n != "var/a b" {
		t.Errorf("NameRule(legacy) did not decode: %q", n)
	}
}

func TestFlysystemKey(t *testing.T) {
	tests := []struct{ prefix, name, want string }{
		{"", "var/site/storage/images/3/6/a.jpg", "images/3/6/a.jpg"},
		{"my_site", "var/site/storage/images/3/6/a.jpg", "my_site/images/3/6/a.jpg"},
		{"/my_site/", "var/site/storage/images/_aliases/large/a.jpg", "my_site/images/_aliases/large/a.jpg"},
		{"p", "var/storage/images/a.jpg", "p/images/a.jpg"},
		{"p", "var/site/storage/images/a%20b.jpg", "p/images/a%20b.jpg"},
	}
	for _, tt := range tests {
		if got := FlysystemKey(tt.prefix, tt.name); got != tt.want {
			t.Errorf("FlysystemKey(%q, %q) = %q, want %q", tt.prefix, tt.name, got, tt.want)
		}
	}
}
