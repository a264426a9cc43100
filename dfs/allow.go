package dfs

import (
	"fmt"
	"regexp"
)

// DefaultServedPatterns are the paths the legacy rewrite rules send to index_cluster.php
// (eZ Publish 5 vhost templates): image storage and the public / texttoimage caches. Binary files
// under storage/original are deliberately absent: eZ serves them through content/download after a
// permission check.
var DefaultServedPatterns = []string{
	`^var/([^/]+/)?storage/images(-versioned)?/.+`,
	`^var/([^/]+/)?cache/(texttoimage|public)/.+`,
}

// OriginalStoragePattern matches binary files (storage/original). Adding it to the served
// patterns bypasses eZ's content/download permission checks; only do so for sites whose binary
// files are all public.
const OriginalStoragePattern = `^var/([^/]+/)?storage/original/.+`

// AllowList decides which cluster names the daemon serves at all. Names outside it are answered
// 404 without a metadata lookup.
type AllowList struct {
	patterns []*regexp.Regexp
}

// NewAllowList compiles the given regular expressions (Go RE2 syntax, matched against the
// cluster name without leading slash). A name is allowed if any pattern matches.
func NewAllowList(patterns []string) (AllowList, error) {
	a := AllowList{patterns: make([]*regexp.Regexp, 0, len(patterns))}
	for _, p := range patterns {
		re, err := regexp.Compile(p)
		if err != nil {
			return AllowList{}, fmt.Errorf("served path pattern %q: %w", p, err)
		}
		a.patterns = append(a.patterns, re)
	}
	return a, nil
}

// Allows reports whether name may be served.
func (a AllowList) Allows(name string) bool {
	for _, re := range a.patterns {
		if re.MatchString(name) {
			return true
		}
	}
	return false
}
