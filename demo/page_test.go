package demo

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestWithPage: the page answers exactly "/"; every other request, including ones a ServeMux
// would clean or redirect, reaches the file handler unchanged.
func TestWithPage(t *testing.T) {
	files := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "files:"+r.URL.RawPath+"|"+r.URL.Path)
	})
	h := WithPage(files, Samples(), "127.0.0.1:9181")
	for _, tc := range []struct{ method, target, want string }{
		{"GET", "/", "<!DOCTYPE html>"},
		{"HEAD", "/", ""},
		{"GET", "/?q=1", "<!DOCTYPE html>"},
		{"GET", "//", "files:|//"},
		{"GET", "/%2F", "files:/%2F|//"},
		{"GET", "/var/../var/x.png", "files:|/var/../var/x.png"},
		{"POST", "/", "Method Not Allowed"},
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(tc.method, tc.target, nil))
		if body := rec.Body.String(); !strings.HasPrefix(body, tc.want) {
			t.Errorf("%s %s: %d %.40q, want it to start with %q", tc.method, tc.target, rec.Code, body, tc.want)
		}
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	for _, s := range Samples() {
		if !strings.Contains(rec.Body.String(), `href="`+strings.ReplaceAll(s.Path(), "&", "&amp;")+`"`) {
			t.Errorf("page has no link to %s", s.Path())
		}
	}
	if !strings.Contains(rec.Body.String(), "http://127.0.0.1:9181/metrics") {
		t.Error("page has no link to the metrics listener")
	}
}
