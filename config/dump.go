package config

import (
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Dump writes every effective setting in config file syntax, each preceded by a comment
// naming its source. Secret values are written as <redacted> (empty secrets stay empty). Apart
// from redaction the output can be read back with --config.
func (c *Config) Dump(w io.Writer) {
	fmt.Fprintln(w, "# ezdfsd effective configuration")
	group := ""
	for i := range table {
		s := &table[i]
		if s.group != group {
			group = s.group
			fmt.Fprintf(w, "\n# --- %s ---\n", group)
		}
		fmt.Fprintf(w, "# %s\n", c.Source(s.name))
		vals := s.show(c)
		if s.list && len(vals) == 0 {
			fmt.Fprintf(w, "# %s: (none)\n", s.name)
			continue
		}
		for _, v := range vals {
			if s.secret && v != "" {
				v = redacted
			} else {
				v = quoteIfNeeded(v)
			}
			fmt.Fprintf(w, "%s = %s\n", s.name, v)
		}
	}
}

// quoteIfNeeded Go-quotes values the file format would otherwise change (empty, surrounding
// blanks, a leading quote, control characters).
func quoteIfNeeded(v string) string {
	if v == "" || strings.TrimSpace(v) != v || strings.HasPrefix(v, `"`) ||
		strings.ContainsFunc(v, func(r rune) bool { return r < ' ' || r == 0x7f }) {
		return strconv.Quote(v)
	}
	return v
}

// Usage writes the settings part of the help of `ezdfsd <subcommand>`: every setting with its
// flag, environment variable, default and description, grouped as in the config file. The
// command's own description and flags come before it.
func Usage(w io.Writer, subcommand string) {
	fmt.Fprintf(w, "Settings (ezdfsd %s [--name=value ...]; the same for serve, demo, import and config):\n", subcommand)
	fmt.Fprintln(w, "Every setting can be given as a flag, as an environment variable, as \"name = value\" in the")
	fmt.Fprintln(w, "--config file, or read from the eZ install (--ez-root); that is also the precedence order.")
	fmt.Fprintln(w, "Repeatable settings take one value per flag / file line, or newline-separated in the environment.")
	group := ""
	for _, s := range Settings() {
		if s.Group != group {
			group = s.Group
			fmt.Fprintf(w, "\n%s:\n", group)
		}
		meta := lookup(s.Name).metavar
		fmt.Fprintf(w, "  --%s %s\n", s.Name, meta)
		fmt.Fprintf(w, "        %s\n", s.Help)
		var facts []string
		facts = append(facts, "env "+s.Env)
		switch {
		case s.List && s.Default != "":
			facts = append(facts, "default "+strings.Join(quoteAll(strings.Split(s.Default, "\n")), " "))
		case s.Default != "":
			facts = append(facts, "default "+strconv.Quote(s.Default))
		}
		if s.List {
			facts = append(facts, "repeatable")
		}
		if s.Secret {
			facts = append(facts, "secret")
		}
		fmt.Fprintf(w, "        (%s)\n", strings.Join(facts, "; "))
	}
}

func quoteAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = strconv.Quote(s)
	}
	return out
}
