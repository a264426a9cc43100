package httpserve

import (
	"bytes"
	"errors"
	"io"
	"mime/multipart"
	"slices"
	"strings"
	"testing"
)

func TestParseRange(t *testing.T) {
	const size = 1000
	r := func(start, length int64) byteRange { return byteRange{start: start, length: length} }
	cases := []struct {
		v     string
		size  int64 // 0: the 1000-byte fixture
		empty bool  // a zero-byte representation
		want  []byteRange
		err   error
	}{
		{v: "bytes=0-99", want: []byteRange{r(0, 100)}},
		{v: "bytes=0-0", want: []byteRange{r(0, 1)}},
		{v: "bytes=5-5", want: []byteRange{r(5, 1)}},
		{v: "bytes=999-999", want: []byteRange{r(999, 1)}},
		{v: "bytes=500-", want: []byteRange{r(500, 500)}},
		{v: "bytes=-100", want: []byteRange{r(900, 100)}},
		{v: "bytes=-1", want: []byteRange{r(999, 1)}},
		{v: "bytes=-2000", want: []byteRange{r(0, 1000)}},
		{v: "bytes=998-5000", want: []byteRange{r(998, 2)}},
		{v: "bytes=0-99999999999999999999999", want: []byteRange{r(0, 1000)}},
		{v: "bytes=-99999999999999999999999", want: []byteRange{r(0, 1000)}},
		{v: "bytes=010-020", want: []byteRange{r(10, 11)}},
		{v: "BYTES=0-1", err: errRangeUnit},
		{v: "Bytes=0-1", err: errRangeUnit}, // legacy row 40: unit is case-sensitive
		{v: "bytes=0-1,5-6", want: []byteRange{r(0, 2), r(5, 2)}},
		{v: "bytes=5-6,0-1", want: []byteRange{r(5, 2), r(0, 2)}},           // request order kept
		{v: "bytes=0-1 , 5-6", want: []byteRange{r(0, 2), r(5, 2)}},         // OWS around commas
		{v: "bytes=0-1,\t5-6", want: []byteRange{r(0, 2), r(5, 2)}},         // HTAB is OWS
		{v: "bytes=0-1,,5-6,", want: []byteRange{r(0, 2), r(5, 2)}},         // empty list elements
		{v: "bytes=,0-1", want: []byteRange{r(0, 2)}},                       // empty first element
		{v: "bytes=0-10,5-20", want: []byteRange{r(0, 21)}},                 // overlap coalesced
		{v: "bytes=10-20,0-9", want: []byteRange{r(0, 21)}},                 // adjacent coalesced
		{v: "bytes=50-60,0-1,55-70", want: []byteRange{r(0, 2), r(50, 21)}}, // coalesced, ascending
		{v: "bytes=0-1,2000-3000", want: []byteRange{r(0, 2)}},              // unsatisfiable part dropped
		{v: "bytes=-0,0-1", want: []byteRange{r(0, 2)}},                     // unsatisfiable suffix dropped
		{v: "bytes=0-", size: 1, want: []byteRange{r(0, 1)}},                // 1-byte file (legacy: 416)
		{v: "bytes=-5", empty: true, want: nil},                             // suffix on empty file: serve whole
		{v: "bytes=1000-", err: errRangeUnsatisfiable},
		{v: "bytes=2000-3000", err: errRangeUnsatisfiable},
		{v: "bytes=-0", err: errRangeUnsatisfiable},
		{v: "bytes=0-", empty: true, err: errRangeUnsatisfiable},
		{v: "bytes=1000-,2000-", err: errRangeUnsatisfiable},
		{v: "bytes=100-50", err: errRangeSyntax},
		{v: "bytes= 10-20", err: errRangeSyntax},
		{v: "bytes =10-20", err: errRangeSyntax},
		{v: "bytes=10-20 ", err: errRangeSyntax}, // trailing OWS only next to a comma (net/http trims field values first)
		{v: "bytes=1e2-200", err: errRangeSyntax},
		{v: "bytes=", err: errRangeSyntax},
		{v: "bytes=,", err: errRangeSyntax},
		{v: "bytes=-", err: errRangeSyntax},
		{v: "bytes=abc-def", err: errRangeSyntax},
		{v: "bytes=5", err: errRangeSyntax},
		{v: "bytes=0-1-2", err: errRangeSyntax},
		{v: "bytes=+1-2", err: errRangeSyntax},
		{v: "bytes=-+1", err: errRangeSyntax},
		{v: "bytes=0-1,x", err: errRangeSyntax},
		{v: "bytes", err: errRangeSyntax},
		{v: "", err: errRangeSyntax},
		{v: "items=0-5", err: errRangeUnit},
		{v: "bytes=" + strings.Repeat("0-1,", 16) + "3-4", err: errTooManyRanges},
		{v: "bytes=" + strings.Repeat("0-1,", 1000), err: errTooManyRanges},
		{v: "bytes=" + strings.Repeat("0-1,", 15) + "3-4", want: []byteRange{r(0, 2), r(3, 2)}},
	}
	for _, c := range cases {
		name := c.v
		if len(name) > 40 {
			name = name[:40]
		}
		t.Run(name, func(t *testing.T) {
			size := int64(size)
			switch {
			case c.empty:
				size = 0
			case c.size != 0:
				size = c.size
			}
			got, err := parseRange(c.v, size, DefaultMaxRanges)
			if !errors.Is(err, c.err) || (err == nil) != (c.err == nil) {
				t.Fatalf("parseRange(%q, %d) error = %v, want %v", c.v, size, err, c.err)
			}
			if !slices.Equal(got, c.want) {
				t.Errorf("parseRange(%q, %d) = %v, want %v", c.v, size, got, c.want)
			}
		})
	}
}

func TestContentRange(t *testing.T) {
	cases := []struct {
		r    byteRange
		size int64
		want string
	}{
		{byteRange{0, 100}, 1000, "bytes 0-99/1000"},
		{byteRange{999, 1}, 1000, "bytes 999-999/1000"},
		{byteRange{0, 1}, 1, "bytes 0-0/1"},
	}
	for _, c := range cases {
		t.Run(c.want, func(t *testing.T) {
			if got := c.r.contentRange(c.size); got != c.want {
				t.Errorf("got %q", got)
			}
		})
	}
	if got := unsatisfiedRange(0); got != "bytes */0" {
		t.Errorf("unsatisfiedRange(0) = %q", got)
	}
}

// TestMultipartLength checks the precomputed length against what mime/multipart writes.
func TestMultipartLength(t *testing.T) {
	cases := []struct {
		name   string
		ranges []byteRange
		ctype  string
	}{
		{"two", []byteRange{{0, 2}, {5, 2}}, "image/jpeg"},
		{"three long type", []byteRange{{0, 100}, {200, 1}, {999, 1}}, "text/css;charset=UTF-8"},
		{"empty type", []byteRange{{0, 1}, {2, 1}}, ""},
	}
	data := content(1000)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var buf bytes.Buffer
			mw := multipart.NewWriter(&buf)
			for _, r := range c.ranges {
				p, err := mw.CreatePart(partHeader(r, c.ctype, 1000))
				if err != nil {
					t.Fatal(err)
				}
				if _, err := io.Copy(p, bytes.NewReader(data[r.start:r.start+r.length])); err != nil {
					t.Fatal(err)
				}
			}
			if err := mw.Close(); err != nil {
				t.Fatal(err)
			}
			if got := multipartLength(c.ranges, c.ctype, 1000, mw.Boundary()); got != int64(buf.Len()) {
				t.Errorf("multipartLength = %d, written %d", got, buf.Len())
			}
		})
	}
}
