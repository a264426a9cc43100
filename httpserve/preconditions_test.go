package httpserve

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestParseEntityTagList(t *testing.T) {
	tag := func(weak bool, o string) entityTag { return entityTag{weak: weak, opaque: o} }
	cases := []struct {
		name  string
		lines []string
		tags  []entityTag
		star  bool
		ok    bool
	}{
		{"one", []string{`"a"`}, []entityTag{tag(false, `"a"`)}, false, true},
		{"weak", []string{`W/"a"`}, []entityTag{tag(true, `"a"`)}, false, true},
		{"list", []string{`"a", W/"b" ,"c"`}, []entityTag{tag(false, `"a"`), tag(true, `"b"`), tag(false, `"c"`)}, false, true},
		{"empty elements", []string{`, "a",,`}, []entityTag{tag(false, `"a"`)}, false, true},
		{"repeated lines", []string{`"a"`, `"b"`}, []entityTag{tag(false, `"a"`), tag(false, `"b"`)}, false, true},
		{"empty tag", []string{`""`}, []entityTag{tag(false, `""`)}, false, true},
		{"star", []string{"*"}, nil, true, true},
		{"star in list", []string{`"a", *`}, nil, false, false},
		{"bare", []string{"1700000000-1000"}, nil, false, false},
		{"lower-case weak", []string{`w/"a"`}, nil, false, false},
		{"unterminated", []string{`"a`}, nil, false, false},
		{"space inside", []string{`"a b"`}, nil, false, false},
		{"junk after", []string{`"a"b`}, nil, false, false},
		{"only commas", []string{`,,`}, nil, false, false},
		{"empty", []string{""}, nil, false, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tags, star, ok := parseEntityTagList(c.lines)
			if ok != c.ok || star != c.star || len(tags) != len(c.tags) {
				t.Fatalf("got %v %v %v, want %v %v %v", tags, star, ok, c.tags, c.star, c.ok)
			}
			for i := range tags {
				if tags[i] != c.tags[i] {
					t.Errorf("tag %d = %v, want %v", i, tags[i], c.tags[i])
				}
			}
		})
	}
}

func TestCheckPreconditions(t *testing.T) {
	v := validators{etag: entityTag{opaque: fooETag}, mtime: mtime}
	const (
		older = "Tue, 14 Nov 2023 22:13:19 GMT"
		newer = "Tue, 14 Nov 2023 22:13:21 GMT"
	)
	cases := []struct {
		name    string
		headers []string
		want    int
	}{
		{"none", nil, 0},
		{"INM match", []string{"If-None-Match", fooETag}, 304},
		{"INM weak match", []string{"If-None-Match", "W/" + fooETag}, 304},
		{"INM star", []string{"If-None-Match", "*"}, 304},
		{"INM other", []string{"If-None-Match", `"x"`}, 0},
		{"INM list match", []string{"If-None-Match", `"x", ` + fooETag}, 304},
		{"INM invalid then IMS", []string{"If-None-Match", "garbage", "If-Modified-Since", lastMod}, 304},
		{"INM other beats IMS", []string{"If-None-Match", `"x"`, "If-Modified-Since", lastMod}, 0},
		{"IMS equal", []string{"If-Modified-Since", lastMod}, 304},
		{"IMS newer", []string{"If-Modified-Since", newer}, 304},
		{"IMS older", []string{"If-Modified-Since", older}, 0},
		{"IMS RFC 850", []string{"If-Modified-Since", "Tuesday, 14-Nov-23 22:13:20 GMT"}, 304},
		{"IMS asctime", []string{"If-Modified-Since", "Tue Nov 14 22:13:20 2023"}, 304},
		{"IMS length suffix", []string{"If-Modified-Since", lastMod + "; length=1000"}, 304},
		{"IMS garbage", []string{"If-Modified-Since", "garbage"}, 0},
		{"IMS empty after cut", []string{"If-Modified-Since", "; length=1"}, 0},
		{"If-Match match", []string{"If-Match", fooETag}, 0},
		{"If-Match star", []string{"If-Match", "*"}, 0},
		{"If-Match other", []string{"If-Match", `"x"`}, 412},
		{"If-Match weak never matches", []string{"If-Match", "W/" + fooETag}, 412},
		{"If-Match invalid ignored", []string{"If-Match", "garbage"}, 0},
		{"If-Match beats IUS", []string{"If-Match", fooETag, "If-Unmodified-Since", older}, 0},
		{"IUS older", []string{"If-Unmodified-Since", older}, 412},
		{"IUS equal", []string{"If-Unmodified-Since", lastMod}, 0},
		{"IUS garbage", []string{"If-Unmodified-Since", "garbage"}, 0},
		{"412 before 304", []string{"If-Match", `"x"`, "If-None-Match", fooETag}, 412},
		{"If-Match ok then INM 304", []string{"If-Match", fooETag, "If-None-Match", fooETag}, 304},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			for i := 0; i+1 < len(c.headers); i += 2 {
				r.Header.Add(c.headers[i], c.headers[i+1])
			}
			if got := checkPreconditions(r.Header, v); got != c.want {
				t.Errorf("checkPreconditions = %d, want %d", got, c.want)
			}
		})
	}
}

func TestCheckIfRange(t *testing.T) {
	v := validators{etag: entityTag{opaque: fooETag}, mtime: mtime}
	cases := []struct {
		name  string
		value *string
		want  bool
	}{
		{"absent", nil, true},
		{"strong match", ptr(fooETag), true},
		{"strong mismatch", ptr(`"x"`), false},
		{"weak", ptr("W/" + fooETag), false},
		{"list is not allowed", ptr(fooETag + `, "x"`), false},
		{"date exact", ptr(lastMod), true},
		{"date newer", ptr("Tue, 14 Nov 2023 22:13:21 GMT"), false},
		{"date older", ptr("Tue, 14 Nov 2023 22:13:19 GMT"), false},
		{"garbage", ptr("garbage"), false},
		{"empty", ptr(""), false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			if c.value != nil {
				r.Header["If-Range"] = []string{*c.value}
			}
			if got := checkIfRange(r.Header, v); got != c.want {
				t.Errorf("checkIfRange = %v, want %v", got, c.want)
			}
		})
	}
}

func ptr(s string) *string { return &s }
