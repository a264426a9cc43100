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
	var n int          // sequence length the lead byte announces
	var r, lo rune     // the code point so far; the smallest one n bytes may encode
	hi := rune(0xffff) // the largest one
	switch c := s[0]; {
	case c < 0xc2 || c > 0xf4:
		return 1, false
	case c < 0xe0:
		n, r, lo = 2, rune(c&0x1f), 0x80
	case c < 0xf0:
		n, r, lo = 3, rune(c&0x0f), 0x800
	default:
		n, r, lo, hi = 4, rune(c&0x07), 0x10000, 0x10ffff
	}
	lead := func(b byte) bool { return b < 0x80 || (b >= 0xc2 && b <= 0xf4) } // could start a character
	for i := 1; i < n; i++ {
		if i >= len(s) || s[i] < 0x80 || s[i] > 0xbf {
			// Consume up to the first byte that is missing or could start a character.
			j := i
			for j < n && j < len(s) && !lead(s[j]) {
				j++
			}
			return j, false
		}
		r = r<<6 | rune(s[i]&0x3f)
	}
	if r < lo || r > hi || (r >= 0xd800 && r <= 0xdfff) {
		return n, false
	}
	return n, true
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
