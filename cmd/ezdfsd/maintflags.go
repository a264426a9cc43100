package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ownFlags takes a subcommand's own flags out of args (in the forms --f, -f, --f V, --f=V),
// leaving the daemon settings for config.Load. bools lists the flags without a value; values
// those with one. A repeated value flag keeps every value, in order.
func ownFlags(args []string, bools, values []string) (map[string][]string, []string, error) {
	isBool := map[string]bool{}
	for _, b := range bools {
		isBool[b] = true
	}
	isValue := map[string]bool{}
	for _, v := range values {
		isValue[v] = true
	}
	got := map[string][]string{}
	var rest []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			rest = append(rest, args[i:]...)
			break
		}
		name, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") {
			rest = append(rest, a)
			continue
		}
		switch {
		case isBool[name]:
			if hasVal {
				b, err := strconv.ParseBool(val)
				if err != nil {
					return nil, nil, fmt.Errorf("--%s: %q is not true or false", name, val)
				}
				if !b {
					continue
				}
			}
			got[name] = append(got[name], "true")
		case isValue[name]:
			if !hasVal {
				if i+1 >= len(args) {
					return nil, nil, fmt.Errorf("--%s needs a value", name)
				}
				i++
				val = args[i]
			}
			got[name] = append(got[name], val)
		default:
			rest = append(rest, a)
		}
	}
	return got, rest, nil
}

// last returns the last value of flag name, or def.
func last(f map[string][]string, name, def string) string {
	if v := f[name]; len(v) > 0 {
		return v[len(v)-1]
	}
	return def
}

// splitList returns the comma-separated values of every occurrence of flag name.
func splitList(f map[string][]string, name string) []string {
	var out []string
	for _, v := range f[name] {
		for s := range strings.SplitSeq(v, ",") {
			if s = strings.TrimSpace(s); s != "" {
				out = append(out, s)
			}
		}
	}
	return out
}

// parseDate reads --mtime-before: a date (2006-01-02, midnight UTC), an RFC 3339 time, or Unix
// seconds.
func parseDate(s string) (time.Time, error) {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.Unix(n, 0), nil
	}
	if t, err := time.Parse("2006-01-02", s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("%q is not a date (2006-01-02), an RFC 3339 time or Unix seconds", s)
}

// positiveInt parses a flag value that must be > 0 (0 allowed when zeroOK).
func positiveInt(name, s string, zeroOK bool) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || n == 0 && !zeroOK {
		return 0, fmt.Errorf("--%s: %q is not a positive number", name, s)
	}
	return n, nil
}
