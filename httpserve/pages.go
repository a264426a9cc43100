package httpserve

import (
	"strings"
	"unicode/utf8"

	"github.com/ezdfsd/ezdfsd/dfs"
)

// The error pages reproduce index_cluster.php's bodies byte for byte (spec §2.8): HTML lines
// joined by "\n", no trailing newline. Pages the legacy gateway never sent (405, 412, 503) follow
// the same shape. None of them carries internal detail.
const (
	pageDoctype = `<!DOCTYPE HTML PUBLIC "-//IETF//DTD HTML 2.0//EN">`

	page404Head = pageDoctype + "\n<html><head>\n<title>404 Not Found</title>\n</head><body>\n<H1>Not Found</H1>\n<p>The requested URL "
	page404Tail = " was not found on this server.<p>\n</body></html>"

	page416 = pageDoctype + "\n<html><head>\n<title>416 Requested Range Not Satisfiable</title>\n</head><body>\n" +
		"<h1>416 Requested Range Not Satisfiable</h1>\n</body></html>"
	page500 = pageDoctype + "\n<html><head>\n<title>500 Internal Server Error</title>\n</head><body>\n" +
		"<h1>An error has occured</h1>\n</body></html>"
	page405 = pageDoctype + "\n<html><head>\n<title>405 Method Not Allowed</title>\n</head><body>\n" +
		"<h1>405 Method Not Allowed</h1>\n</body></html>"
	page412 = pageDoctype + "\n<html><head>\n<title>412 Precondition Failed</title>\n</head><body>\n" +
		"<h1>412 Precondition Failed</h1>\n</body></html>"
	page503 = pageDoctype + "\n<html><head>\n<title>503 Service Unavailable</title>\n</head><body>\n" +
		"<h1>503 Service Unavailable</h1>\n</body></html>"
)

// page404 returns the legacy 404 body for the decoded cluster name.
func page404(name string) string {
	return page404Head + htmlSpecialChars(name) + page404Tail
}

// htmlSpecialChars is PHP ≥ 8.1's htmlspecialchars($s) with its default flags
// (ENT_QUOTES | ENT_SUBSTITUTE | ENT_HTML401, UTF-8): & " ' < > become &amp; &quot; &#039; &lt;
// &gt;, and each invalid UTF-8 sequence becomes U+FFFD, delimited exactly as PHP's
// get_next_char does (see phpNextUTF8).
func htmlSpecialChars(s string) string {
	clean := true
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '&', c == '"', c == '\'', c == '<', c == '>', c >= 0x80:
			clean = false
		}
		if !clean {
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 16)
	for pos := 0; pos < len(s); {
		c := s[pos]
		if c < 0x80 {
			switch c {
			case '&':
				b.WriteString("&amp;")
			case '"':
				b.WriteString("&quot;")
			case '\'':
				b.WriteString("&#039;")
			case '<':
				b.WriteString("&lt;")
			case '>':
				b.WriteString("&gt;")
			default:
				b.WriteByte(c)
			}
			pos++
			continue
		}
		n, ok := phpNextUTF8(s[pos:])
		if ok {
			b.WriteString(s[pos : pos+n])
		} else {
			b.WriteRune(utf8.RuneError)
		}
		pos += n
	}
	return b.String()
}

// phpNextUTF8 measures the multi-byte sequence at the start of s (s[0] >= 0x80) as PHP's
// ext/standard/html.c get_next_char (cs_utf_8) does: it returns the number of bytes consumed
// and whether they form a valid character. Invalid sequences are consumed up to (not including)
// the first byte that could start a new character, so one U+FFFD replaces each.
func phpNextUTF8(s string) (int, bool) {
	trail := func(i int) bool { return i < len(s) && s[i] >= 0x80 && s[i] <= 0xbf }
	lead := func(i int) bool { return s[i] < 0x80 || (s[i] >= 0xc2 && s[i] <= 0xf4) }
	c := s[0]
	switch {
	case c < 0xc2:
		return 1, false
	case c < 0xe0:
		if len(s) < 2 {
			return 1, false
		}
		if !trail(1) {
			if lead(1) {
				return 1, false
			}
			return 2, false
		}
		return 2, true // a 0xc2..0xdf lead cannot produce a non-shortest form
	case c < 0xf0:
		if len(s) < 3 || !trail(1) || !trail(2) {
			switch {
			case len(s) < 2 || lead(1):
				return 1, false
			case len(s) < 3 || lead(2):
				return 2, false
			default:
				return 3, false
			}
		}
		r := rune(c&0x0f)<<12 | rune(s[1]&0x3f)<<6 | rune(s[2]&0x3f)
		if r < 0x800 || (r >= 0xd800 && r <= 0xdfff) {
			return 3, false
		}
		return 3, true
	case c < 0xf5:
		if len(s) < 4 || !trail(1) || !trail(2) || !trail(3) {
			switch {
			case len(s) < 2 || lead(1):
				return 1, false
			case len(s) < 3 || lead(2):
				return 2, false
			case len(s) < 4 || lead(3):
				return 3, false
			default:
				return 4, false
			}
		}
		r := rune(c&0x07)<<18 | rune(s[1]&0x3f)<<12 | rune(s[2]&0x3f)<<6 | rune(s[3]&0x3f)
		if r < 0x10000 || r > 0x10ffff {
			return 4, false
		}
		return 4, true
	default:
		return 1, false
	}
}

// displayName turns a request target that dfs.NameFromTarget refused into something to show on
// the 404 page: query cut, %XX decoded leniently (bad escapes kept, like PHP's rawurldecode),
// leading slashes stripped, control bytes replaced by U+FFFD, and at most dfs.MaxNameLength
// bytes kept so a hostile target cannot inflate the page.
func displayName(target string) string {
	if i := strings.IndexByte(target, '?'); i >= 0 {
		target = target[:i]
	}
	if len(target) > 3*dfs.MaxNameLength {
		target = target[:3*dfs.MaxNameLength]
	}
	name := strings.TrimLeft(dfs.RawURLDecode(target), "/")
	if len(name) > dfs.MaxNameLength {
		name = name[:dfs.MaxNameLength]
	}
	if strings.IndexFunc(name, func(r rune) bool { return r < 0x20 || r == 0x7f }) >= 0 {
		name = strings.Map(func(r rune) rune {
			if r < 0x20 || r == 0x7f {
				return utf8.RuneError
			}
			return r
		}, name)
	}
	return name
}
