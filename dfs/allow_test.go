package dfs

import (
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"
)

// allowTestPatterns are the shipped patterns and ones that end in ".+" in other ways.
var allowTestPatterns = map[string]bool{ // pattern: whether shortMatch shortens it
	DefaultServedPatterns[0]:    true,
	DefaultServedPatterns[1]:    true,
	OriginalStoragePattern:      true,
	PlatformServedPatterns[0]:   true,
	`.+`:                        true,
	`^a/.+`:                     true,
	`(?s)^a/.+`:                 true,
	`(?U)^a/.+`:                 true,
	`(?m)^a/.+`:                 true,
	`^a/..+`:                    true,
	`^a/.+.+`:                   true,
	`^a/\\.+`:                   true, // an escaped backslash, then any character
	`^a/\..+`:                   true,
	`^a/\.+`:                    false, // literal dots
	`\Q^a/.+`:                   false, // quoted
	`^a/(b|c.+)`:                false,
	`^a/(.+)`:                   false,
	`^a/.+$`:                    false,
	`^a/.+?`:                    false,
	`a.+|b.+`:                   false,
	`^a/[.]+`:                   false,
	`^var/(storage|cache)/\w.+`: true,
}

// allowTestNames are names near and far from the patterns: empty tails, newlines, invalid
// UTF-8, and random mixes of their pieces.
func allowTestNames() []string {
	pieces := []string{"var/", "ezdemo_site/", "storage/", "images/", "images-versioned/", "original/",
		"cache/", "public/", "texttoimage/", "a/", "b", "c", ".", "..", "\\", "\n", "\r", "\x00", "\xff", "é",
		"x.jpg", "/", "", "^", "$"}
	names := []string{"", "a", "a/", "a/\n", "a/\nx", "a/x", "a/.", "a/..", "a/\\x", "var/storage/images/",
		"var/storage/images/x", "var/s/storage/images/\n", "var/s/storage/images-versioned/x",
		"var/cache/public/", "var/cache/public/a", "var/x/y/cache/public/a", "var/storage/original/a.pdf"}
	r := rand.New(rand.NewPCG(5, 6))
	for range 20000 {
		var b strings.Builder
		for range r.IntN(7) {
			b.WriteString(pieces[r.IntN(len(pieces))])
		}
		names = append(names, b.String())
	}
	return names
}

// TestAllowListShortMatch: with the shortened patterns, Allows answers exactly as the
// patterns as written do, and only patterns ending in a top-level ".+" are shortened.
func TestAllowListShortMatch(t *testing.T) {
	names := allowTestNames()
	for p, shortened := range allowTestPatterns {
		if got := shortMatch(p) != p; got != shortened {
			t.Errorf("shortMatch(%q) = %q: shortened %v, want %v", p, shortMatch(p), got, shortened)
		}
		a, err := NewAllowList([]string{p})
		if err != nil {
			t.Fatal(err)
		}
		re := regexp.MustCompile(p)
		for _, n := range names {
			if got, want := a.Allows(n), re.MatchString(n); got != want {
				t.Errorf("pattern %q, name %q: Allows = %v, the pattern as written matches: %v", p, n, got, want)
			}
		}
	}
	a, err := NewAllowList(DefaultServedPatterns)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		want := false
		for _, p := range DefaultServedPatterns {
			want = want || regexp.MustCompile(p).MatchString(n)
		}
		if a.Allows(n) != want {
			t.Errorf("default patterns, name %q: Allows = %v, want %v", n, !want, want)
		}
	}
}

// BenchmarkAllows compares the default patterns as written (before) and shortened (after),
// for an image and a cache name.
func BenchmarkAllows(b *testing.B) {
	written := AllowList{}
	for _, p := range DefaultServedPatterns {
		written.patterns = append(written.patterns, regexp.MustCompile(p))
	}
	short, err := NewAllowList(DefaultServedPatterns)
	if err != nil {
		b.Fatal(err)
	}
	for _, n := range []string{
		"var/ezdemo_site/storage/images/media/images/landscape/1234-5-eng-GB/landscape_large.jpg",
		"var/ezdemo_site/cache/public/stylesheets/0123456789abcdef0123456789abcdef.css",
	} {
		for _, c := range []struct {
			name string
			a    AllowList
		}{{"written", written}, {"short", short}} {
			b.Run(strings.Split(n, "/")[2]+"/"+c.name, func(b *testing.B) {
				for b.Loop() {
					if !c.a.Allows(n) {
						b.Fatal(n)
					}
				}
			})
		}
	}
}
