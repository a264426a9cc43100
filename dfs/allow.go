package dfs

import (
	"fmt"
	"regexp"
	"regexp/syntax"
	"strings"
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
		if short := shortMatch(p); short != p {
			if sre, err := regexp.Compile(short); err == nil {
				re = sre
			}
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

// shortMatch returns a pattern that Allows can use instead of p, with the same result for
// every name: p without its final "+" when p ends with "." repeated by "+" at the top level,
// as the default patterns do. Allows asks whether a match starts anywhere in the name and
// ignores what follows it, and a name has a match of "X.+" exactly when it has one of "X."
// (the shortest ".+" is one character), so the matcher can stop one character after the
// directory prefix instead of running to the end of the name. Any other p is returned as it
// is: the parsed pattern must confirm that the final ".+" is an unescaped "." (any character)
// under a top-level "+", not a literal dot, a quoted \Q...\E or part of a group or an
// alternation.
func shortMatch(p string) string {
	if !strings.HasSuffix(p, ".+") {
		return p
	}
	re, err := syntax.Parse(p, syntax.Perl) // as regexp.Compile parses it
	if err != nil {
		return p
	}
	last := re
	if re.Op == syntax.OpConcat {
		last = re.Sub[len(re.Sub)-1]
	}
	if last.Op != syntax.OpPlus || (last.Sub[0].Op != syntax.OpAnyCharNotNL && last.Sub[0].Op != syntax.OpAnyChar) {
		return p
	}
	return p[:len(p)-1]
}
