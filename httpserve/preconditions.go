package httpserve

import (
	"net/http"
	"strings"
	"time"
)

// Conditional requests after RFC 9110 §13, in the shape of net/http's checkPreconditions, with
// the validators of the metadata row: the strong ETag "<mtime>-<size>" and Last-Modified = mtime
// (whole seconds). The legacy gateway's inverted comparisons (spec §2.6) are not reproduced.

// condResult is the outcome of one precondition: absent (or ignored as invalid), true or false.
type condResult int

const (
	condNone condResult = iota
	condTrue
	condFalse
)

// validators are what the row lets us compare preconditions against.
type validators struct {
	etag  entityTag // always strong
	mtime int64     // Unix seconds
}

// entityTag is a parsed entity-tag (RFC 9110 §8.8.3): opaque is the quoted string including
// its double quotes.
type entityTag struct {
	weak   bool
	opaque string
}

// strongMatch is RFC 9110 §8.8.3.2 strong comparison: both strong, same opaque-tag.
func (a entityTag) strongMatch(b entityTag) bool {
	return !a.weak && !b.weak && a.opaque == b.opaque
}

// weakMatch is RFC 9110 §8.8.3.2 weak comparison: same opaque-tag, weakness ignored.
func (a entityTag) weakMatch(b entityTag) bool { return a.opaque == b.opaque }

// parseEntityTag parses one entity-tag at the start of s and returns the rest.
//
//	entity-tag = [ "W/" ] DQUOTE *etagc DQUOTE
//	etagc      = %x21 / %x23-7E / obs-text
func parseEntityTag(s string) (entityTag, string, bool) {
	var t entityTag
	if strings.HasPrefix(s, "W/") {
		t.weak = true
		s = s[2:]
	}
	if len(s) < 2 || s[0] != '"' {
		return entityTag{}, "", false
	}
	for i := 1; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"':
			t.opaque = s[:i+1]
			return t, s[i+1:], true
		case c == 0x21 || (c >= 0x23 && c <= 0x7e) || c >= 0x80:
		default:
			return entityTag{}, "", false
		}
	}
	return entityTag{}, "", false
}

// parseEntityTagList parses a field value of the form `"*" / #entity-tag` (If-Match,
// If-None-Match), joining repeated field lines with commas as RFC 9110 §5.3 allows. ok is false
// for anything that does not match the grammar; callers then ignore the field.
func parseEntityTagList(lines []string) (tags []entityTag, star bool, ok bool) {
	v := strings.TrimSpace(strings.Join(lines, ","))
	if v == "*" {
		return nil, true, true
	}
	for v != "" {
		v = strings.TrimLeft(v, " \t")
		if v == "" {
			break
		}
		if v[0] == ',' {
			v = v[1:]
			continue
		}
		t, rest, ok := parseEntityTag(v)
		if !ok {
			return nil, false, false
		}
		tags = append(tags, t)
		rest = strings.TrimLeft(rest, " \t")
		if rest != "" && rest[0] != ',' {
			return nil, false, false
		}
		v = rest
	}
	if len(tags) == 0 {
		return nil, false, false
	}
	return tags, false, true
}

// parseHTTPDate parses an HTTP-date (IMF-fixdate, or the obsolete RFC 850 and asctime forms
// RFC 9110 §5.6.7 obliges recipients to accept).
func parseHTTPDate(v string) (time.Time, bool) {
	t, err := http.ParseTime(strings.TrimSpace(v))
	return t, err == nil
}

// checkIfMatch evaluates If-Match (RFC 9110 §13.1.1) with strong comparison. An unparsable
// field is ignored like an absent one.
func checkIfMatch(r headerSource, v validators) condResult {
	lines := r.Values("If-Match")
	if len(lines) == 0 {
		return condNone
	}
	tags, star, ok := parseEntityTagList(lines)
	if !ok {
		return condNone
	}
	if star {
		return condTrue // the representation exists, or we would not be here
	}
	for _, t := range tags {
		if t.strongMatch(v.etag) {
			return condTrue
		}
	}
	return condFalse
}

// checkIfUnmodifiedSince evaluates If-Unmodified-Since (RFC 9110 §13.1.4); an invalid date is
// ignored.
func checkIfUnmodifiedSince(r headerSource, v validators) condResult {
	s := r.Get("If-Unmodified-Since")
	if s == "" {
		return condNone
	}
	t, ok := parseHTTPDate(s)
	if !ok {
		return condNone
	}
	if v.mtime <= t.Unix() {
		return condTrue
	}
	return condFalse
}

// checkIfNoneMatch evaluates If-None-Match (RFC 9110 §13.1.2) with weak comparison: condFalse
// when "*" or any listed tag matches (the request becomes a 304), condTrue when none does,
// condNone when absent or unparsable (bare, unquoted tags, as legacy clients may send).
func checkIfNoneMatch(r headerSource, v validators) condResult {
	lines := r.Values("If-None-Match")
	if len(lines) == 0 {
		return condNone
	}
	tags, star, ok := parseEntityTagList(lines)
	if !ok {
		return condNone
	}
	if star {
		return condFalse
	}
	for _, t := range tags {
		if t.weakMatch(v.etag) {
			return condFalse
		}
	}
	return condTrue
}

// checkIfModifiedSince evaluates If-Modified-Since (RFC 9110 §13.1.3): condFalse (304) when
// the row's mtime is not after the given date. The value is cut at the first ";" first, as the
// legacy gateway does for old browsers' "; length=N" suffix (spec row 31); an invalid date is
// ignored.
func checkIfModifiedSince(r headerSource, v validators) condResult {
	s := r.Get("If-Modified-Since")
	if s == "" {
		return condNone
	}
	if i := strings.IndexByte(s, ';'); i >= 0 {
		s = s[:i]
	}
	t, ok := parseHTTPDate(s)
	if !ok {
		return condNone
	}
	if v.mtime <= t.Unix() {
		return condFalse
	}
	return condTrue
}

// checkIfRange evaluates If-Range (RFC 9110 §13.1.5) for a request that carries a Range:
// true when the Range may be honoured. An entity-tag must match strongly (a weak tag never
// does); a date must equal Last-Modified exactly; anything else is false, so the whole
// representation is sent.
func checkIfRange(r headerSource, v validators) bool {
	s := strings.TrimSpace(r.Get("If-Range"))
	if s == "" {
		return len(r.Values("If-Range")) == 0
	}
	if s[0] == '"' || strings.HasPrefix(s, "W/") {
		t, rest, ok := parseEntityTag(s)
		return ok && rest == "" && t.strongMatch(v.etag)
	}
	t, ok := parseHTTPDate(s)
	return ok && t.Unix() == v.mtime
}

// checkPreconditions applies RFC 9110 §13.2.2's order for a GET or HEAD and returns 0 to
// proceed, http.StatusNotModified or http.StatusPreconditionFailed.
func checkPreconditions(r headerSource, v validators) int {
	ch := checkIfMatch(r, v)
	if ch == condNone {
		ch = checkIfUnmodifiedSince(r, v)
	}
	if ch == condFalse {
		return http.StatusPreconditionFailed
	}
	switch checkIfNoneMatch(r, v) {
	case condFalse:
		return http.StatusNotModified
	case condNone:
		if checkIfModifiedSince(r, v) == condFalse {
			return http.StatusNotModified
		}
	}
	return 0
}
