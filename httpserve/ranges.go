package httpserve

import (
	"cmp"
	"errors"
	"io"
	"math"
	"mime/multipart"
	"net/textproto"
	"slices"
	"strconv"
	"strings"
)

// Range handling after RFC 9110 §14. Unlike net/http's parseRange, a Range header that is not
// a valid ranges-specifier for the "bytes" unit is ignored (200 with the whole representation),
// never answered with 416: only a valid but unsatisfiable range set is 416.

// Reasons parseRange gives for ignoring a Range header, and the one for 416.
var (
	errRangeUnit          = errors.New("range unit is not bytes")
	errRangeSyntax        = errors.New("invalid ranges-specifier")
	errTooManyRanges      = errors.New("too many ranges")
	errRangeUnsatisfiable = errors.New("range set not satisfiable")
)

// byteRange is one satisfiable range of the selected representation: length bytes from start.
type byteRange struct {
	start, length int64
}

// last returns the offset of the range's last byte.
func (r byteRange) last() int64 { return r.start + r.length - 1 }

// contentRange formats the Content-Range value for r within a representation of size bytes
// (RFC 9110 §14.4: "bytes first-last/complete-length").
func (r byteRange) contentRange(size int64) string {
	return "bytes " + strconv.FormatInt(r.start, 10) + "-" + strconv.FormatInt(r.last(), 10) + "/" +
		strconv.FormatInt(size, 10)
}

// unsatisfiedRange is the Content-Range of a 416 answer (RFC 9110 §14.4: "bytes */complete-length").
func unsatisfiedRange(size int64) string {
	return "bytes */" + strconv.FormatInt(size, 10)
}

// parseRange evaluates a Range field value against a representation of size bytes:
//
//	ranges-specifier = range-unit "=" range-set     (unit compared case-insensitively)
//	range-set        = 1#range-spec                 (empty list elements allowed, RFC 9110 §5.6.1.2)
//	range-spec       = int-range / suffix-range
//	int-range        = first-pos "-" [ last-pos ]   (last-pos < first-pos is invalid)
//	suffix-range     = "-" suffix-length
//
// It returns the satisfiable ranges, coalesced when any of them overlap or touch (then in
// ascending order, otherwise in request order). A nil slice with a nil error means "serve the
// whole representation" (only for suffix ranges on an empty representation, which RFC 9110
// calls satisfiable but no Content-Range can express). Errors errRangeUnit, errRangeSyntax and
// errTooManyRanges (more than maxRanges range-specs) mean the header must be ignored;
// errRangeUnsatisfiable means 416.
func parseRange(v string, size int64, maxRanges int) ([]byteRange, error) {
	unit, set, ok := strings.Cut(v, "=")
	// The unit is matched case-sensitively, as the legacy gateway does (spec §7 row 40:
	// "Bytes=0-99" is ignored). RFC 9110 lets a server ignore any Range, so this stays compliant,
	// and every client that sends ranges (browsers, Varnish, curl) writes "bytes".
	if !ok || unit != "bytes" {
		if ok && isToken(unit) {
			return nil, errRangeUnit
		}
		return nil, errRangeSyntax
	}
	var (
		ranges      []byteRange
		specs       int
		emptyButSat bool
	)
	elems := strings.Split(set, ",")
	for i, e := range elems {
		// OWS is allowed only next to a comma.
		if i > 0 {
			e = strings.TrimLeft(e, " \t")
		}
		if i < len(elems)-1 {
			e = strings.TrimRight(e, " \t")
		}
		if e == "" {
			continue
		}
		specs++
		if specs > maxRanges {
			return nil, errTooManyRanges
		}
		r, sat, err := parseRangeSpec(e, size)
		if err != nil {
			return nil, err
		}
		switch {
		case sat && r.length > 0:
			ranges = append(ranges, r)
		case sat:
			emptyButSat = true
		}
	}
	if specs == 0 {
		return nil, errRangeSyntax
	}
	if len(ranges) == 0 {
		if emptyButSat {
			return nil, nil
		}
		return nil, errRangeUnsatisfiable
	}
	return coalesceRanges(ranges), nil
}

// parseRangeSpec parses one int-range or suffix-range and resolves it against size. sat reports
// whether it is satisfiable (RFC 9110 §14.1.1: an int-range whose first-pos is below size, or a
// suffix-range with a non-zero suffix-length); a satisfiable suffix-range on an empty
// representation yields a zero-length range.
func parseRangeSpec(spec string, size int64) (r byteRange, sat bool, err error) {
	first, last, ok := strings.Cut(spec, "-")
	if !ok {
		return byteRange{}, false, errRangeSyntax
	}
	if first == "" { // suffix-range
		n, ok := parseDigits(last)
		if !ok {
			return byteRange{}, false, errRangeSyntax
		}
		if n == 0 {
			return byteRange{}, false, nil
		}
		n = min(n, size)
		return byteRange{start: size - n, length: n}, true, nil
	}
	start, ok := parseDigits(first)
	if !ok {
		return byteRange{}, false, errRangeSyntax
	}
	end := int64(math.MaxInt64)
	if last != "" {
		if end, ok = parseDigits(last); !ok || end < start {
			return byteRange{}, false, errRangeSyntax
		}
	}
	if start >= size {
		return byteRange{}, false, nil
	}
	end = min(end, size-1)
	return byteRange{start: start, length: end - start + 1}, true, nil
}

// parseDigits parses 1*DIGIT (leading zeros allowed, as the ABNF allows them), saturating at
// math.MaxInt64 instead of failing: a position beyond any representation is still valid syntax.
func parseDigits(s string) (int64, bool) {
	if s == "" {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		d := int64(c - '0')
		if n > (math.MaxInt64-d)/10 {
			n = math.MaxInt64
			continue
		}
		n = n*10 + d
	}
	return n, true
}

// coalesceRanges merges ranges that overlap or are adjacent (RFC 9110 §14.2 lets a server
// coalesce them, and the §17.15 advice against overlapping ranges is the reason to). If nothing
// needs merging, the request order is kept.
func coalesceRanges(ranges []byteRange) []byteRange {
	if len(ranges) < 2 {
		return ranges
	}
	sorted := slices.Clone(ranges)
	slices.SortFunc(sorted, func(a, b byteRange) int { return cmp.Compare(a.start, b.start) })
	out := sorted[:1]
	for _, r := range sorted[1:] {
		p := &out[len(out)-1]
		if r.start <= p.last()+1 {
			if r.last() > p.last() {
				p.length = r.last() - p.start + 1
			}
			continue
		}
		out = append(out, r)
	}
	if len(out) == len(ranges) { // nothing merged (every merge drops one range)
		return ranges
	}
	return out
}

// isToken reports whether s is an RFC 9110 token (what a range-unit must be).
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}

// partHeader is the MIME header of one multipart/byteranges body part (RFC 9110 §14.6).
func partHeader(r byteRange, contentType string, size int64) textproto.MIMEHeader {
	return textproto.MIMEHeader{
		"Content-Range": {r.contentRange(size)},
		"Content-Type":  {contentType},
	}
}

// multipartLength returns the exact length of the multipart/byteranges body that sendMultipart
// produces for these ranges and boundary, so Content-Length can be sent first. boundary comes
// from a multipart.Writer, so SetBoundary accepts it, and writes to io.Discard cannot fail:
// neither error can occur.
func multipartLength(ranges []byteRange, contentType string, size int64, boundary string) int64 {
	cw := countingWriter{w: io.Discard}
	mw := multipart.NewWriter(&cw)
	_ = mw.SetBoundary(boundary)
	for _, r := range ranges {
		_, _ = mw.CreatePart(partHeader(r, contentType, size))
		cw.n += r.length
	}
	_ = mw.Close()
	return cw.n
}

// countingWriter counts what is written to it and forwards it to w. It is only ever put in
// front of the multipart framing, never in front of the body copies, so the ResponseWriter's
// io.ReaderFrom stays reachable for the bytes themselves.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
