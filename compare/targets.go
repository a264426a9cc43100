package compare

import (
	"bufio"
	"fmt"
	"io"
	"strings"
)

// maxLine bounds one input line (URL list or access log); a longer line is an error, not a
// silent cut.
const maxLine = 1 << 20

// ReadURLs reads one URL per line: a request target ("/var/site/storage/images/a.jpg") or a
// full URL whose scheme and host are dropped. Blank lines and lines starting with "#" are
// skipped; duplicates are kept once, in first-seen order. Targets are kept byte for byte
// (percent-escapes and query included).
func ReadURLs(r io.Reader) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	err := eachLine(r, func(n int, line string) error {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			return nil
		}
		t, ok := requestTarget(line)
		if !ok {
			return fmt.Errorf("line %d: %q is neither a path starting with / nor an http(s) URL", n, line)
		}
		if !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
		return nil
	})
	return out, err
}

// ReadAccessLog reads an nginx or Apache access log in the combined (or common) format and
// returns the cluster URLs worth comparing: GET or HEAD requests answered 200, 206 or 304 whose
// name the legacy rewrite rules send to index_cluster.php (dfs.DefaultServedPatterns, matched
// against the name the legacy gateway derives). The query string is dropped (the gateway
// ignores it), so "a.jpg?v=1" and "a.jpg?v=2" are compared once, as "a.jpg". Lines that are not
// in the format are skipped and counted in skipped.
func ReadAccessLog(r io.Reader) (targets []string, skipped int, err error) {
	seen := map[string]bool{}
	err = eachLine(r, func(_ int, line string) error {
		method, target, status, ok := parseCombined(line)
		if !ok {
			if strings.TrimSpace(line) != "" {
				skipped++
			}
			return nil
		}
		if method != "GET" && method != "HEAD" {
			return nil
		}
		if status != "200" && status != "206" && status != "304" {
			return nil
		}
		t, ok := requestTarget(target)
		if !ok {
			return nil
		}
		t, _, _ = strings.Cut(t, "?")
		if !servedNames.Allows(legacyName(t)) || seen[t] {
			return nil
		}
		seen[t] = true
		targets = append(targets, t)
		return nil
	})
	return targets, skipped, err
}

// parseCombined picks the method, target and status out of a common/combined log line:
//
//	host ident user [time] "METHOD TARGET PROTO" status bytes ["referer" "agent"]
//
// The request line is the first double-quoted field; inside it Apache escapes '"' as \" and
// nginx as \x22, so a backslash always escapes the next byte.
func parseCombined(line string) (method, target, status string, ok bool) {
	open := strings.IndexByte(line, '"')
	if open < 0 || !strings.Contains(line[:open], "[") {
		return "", "", "", false
	}
	end := -1
	for i := open + 1; i < len(line); i++ {
		if line[i] == '\\' {
			i++
			continue
		}
		if line[i] == '"' {
			end = i
			break
		}
	}
	if end < 0 {
		return "", "", "", false
	}
	parts := strings.Fields(line[open+1 : end])
	if len(parts) != 3 || !strings.HasPrefix(parts[2], "HTTP/") {
		return "", "", "", false
	}
	rest := strings.Fields(line[end+1:])
	if len(rest) < 1 || len(rest[0]) != 3 {
		return "", "", "", false
	}
	return parts[0], parts[1], rest[0], true
}

// requestTarget turns an origin-form target or an absolute http(s) URL into an origin-form
// target, verbatim.
func requestTarget(s string) (string, bool) {
	if strings.HasPrefix(s, "/") {
		return s, true
	}
	for _, scheme := range []string{"http://", "https://"} {
		if len(s) > len(scheme) && strings.EqualFold(s[:len(scheme)], scheme) {
			rest := s[len(scheme):]
			i := strings.IndexAny(rest, "/?")
			if i < 0 {
				return "/", true
			}
			if rest[i] == '?' {
				return "/" + rest[i:], true
			}
			return rest[i:], true
		}
	}
	return "", false
}

func eachLine(r io.Reader, fn func(n int, line string) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxLine)
	n := 0
	for sc.Scan() {
		n++
		if err := fn(n, sc.Text()); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("line %d: %w", n+1, err)
	}
	return nil
}
