package config

import (
	"fmt"
	"strconv"
	"strings"
)

type namedAssignment struct {
	name string
	assignment
}

// parseFile reads ezdfsd's own config file format:
//
//	# comment (only at the start of a line, after optional blanks)
//	listen = 127.0.0.1:8081
//	serve-pattern = ^var/([^/]+/)?storage/images/.+
//	serve-pattern = ^var/([^/]+/)?cache/public/.+
//	powered-by = ""
//
// Keys are flag names. The value is everything after the first "=", trimmed; a value starting
// with a double quote is a Go-quoted string (for empty values or surrounding blanks). List
// settings may repeat; any other repeated key, an unknown key, "config" itself, or a line
// without "=" is an error naming path:line (never the value).
func parseFile(text, path string) ([]namedAssignment, error) {
	byName := map[string]*setting{}
	for i := range table {
		byName[table[i].name] = &table[i]
	}
	seen := map[string]int{}
	var out []namedAssignment
	text = strings.TrimPrefix(text, "\ufeff")
	for n, line := range strings.Split(text, "\n") {
		lineNo := n + 1
		line = strings.TrimRight(line, "\r")
		t := strings.TrimSpace(line)
		if t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		at := func(format string, args ...any) error {
			return fmt.Errorf("config: %s:%d: %s", path, lineNo, fmt.Sprintf(format, args...))
		}
		key, value, ok := strings.Cut(t, "=")
		if !ok {
			return nil, at("want key = value")
		}
		key = strings.TrimSpace(key)
		value = strings.TrimSpace(value)
		s := byName[key]
		switch {
		case key == "":
			return nil, at("missing key before \"=\"")
		case s == nil:
			return nil, at("unknown setting %q%s", key, suggestKey(key))
		case key == "config":
			return nil, at("\"config\" cannot be set in the config file itself")
		}
		if prev, dup := seen[key]; dup && !s.list {
			return nil, at("%s already set at line %d (only list settings may repeat)", key, prev)
		}
		seen[key] = lineNo
		if strings.HasPrefix(value, `"`) {
			uq, err := strconv.Unquote(value)
			if err != nil {
				return nil, at("%s: malformed quoted value", key)
			}
			value = uq
		}
		out = append(out, namedAssignment{key, assignment{value, Source{FromFile, fmt.Sprintf("%s:%d", path, lineNo)}}})
	}
	return out, nil
}
