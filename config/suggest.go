package config

import (
	"fmt"
	"strings"
)

// UnknownFlagError is Load's error for a flag no setting has. Suggestion is the closest known
// flag name (without dashes, "" if none is close); a command with flags of its own may replace
// it with SuggestFlag(Name, ownFlags...).
type UnknownFlagError struct {
	// Name is the flag as given, without its leading dashes.
	Name string
	// Suggestion is the closest known flag name, or "".
	Suggestion string
}

// Error keeps the flag package's wording ("flag provided but not defined") and adds the
// suggestion.
func (e *UnknownFlagError) Error() string {
	msg := "flag provided but not defined: --" + e.Name
	if e.Suggestion != "" {
		msg += " (did you mean --" + e.Suggestion + "?)"
	}
	return msg
}

// unknownFlagPrefix is how flag.FlagSet.Parse words an undefined flag; the package has no
// error type for it.
const unknownFlagPrefix = "flag provided but not defined: -"

// asUnknownFlag turns the flag package's undefined-flag error into an *UnknownFlagError.
func asUnknownFlag(err error) (*UnknownFlagError, bool) {
	name, ok := strings.CutPrefix(err.Error(), unknownFlagPrefix)
	if !ok {
		return nil, false
	}
	name = strings.TrimLeft(name, "-")
	return &UnknownFlagError{Name: name, Suggestion: SuggestFlag(name)}, true
}

// SuggestFlag returns the setting name (or one of extra, a command's own flags) that name most
// probably meant: the same after normalising case, "_" and a leading "ezdfsd-", or within a few
// edits of it. It returns "" when nothing is close.
func SuggestFlag(name string, extra ...string) string {
	candidates := append([]string(nil), extra...)
	for i := range table {
		candidates = append(candidates, table[i].name)
	}
	return Closest(normalizeName(name), candidates)
}

// normalizeName maps the usual misspellings of a setting name (--DB_HOST, ezdfsd.db-host,
// EZDFSD_DB_HOST) onto the table's form (db-host).
func normalizeName(name string) string {
	n := strings.ToLower(strings.NewReplacer("_", "-", ".", "-").Replace(strings.TrimLeft(name, "-")))
	return strings.TrimPrefix(n, "ezdfsd-")
}

// Closest returns the candidate a mistyped name most probably meant: the nearest by edit
// distance (the first of equals), if it is near enough to be a typo (at most 1 edit, plus 1 per
// 4 characters of name), else "".
func Closest(name string, candidates []string) string {
	best, bestD := "", 1+len(name)/4+1
	for _, c := range candidates {
		if d := levenshtein(name, c); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

// levenshtein is the edit distance (insertions, deletions, substitutions) between two short
// ASCII names. No library in go.mod offers it and it is a dozen lines.
func levenshtein(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// suggestKey proposes the setting a mistyped config file key probably meant.
func suggestKey(key string) string {
	if s := SuggestFlag(key); s != "" {
		return fmt.Sprintf(" (did you mean %q?)", s)
	}
	return ""
}

// suggestEnv proposes the EZDFSD_* variable a mistyped one probably meant.
func suggestEnv(name string) string {
	if s := SuggestFlag(strings.TrimPrefix(name, envPrefix)); s != "" {
		return " (did you mean " + lookup(s).env + "?)"
	}
	return ""
}
