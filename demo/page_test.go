package demo

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

// serve runs h on a request with the raw target and returns the status and the body fasthttp
// writes (none for HEAD).
func serve(h fasthttp.RequestHandler, method, target string) (int, string) {
	var req fasthttp.Request
	req.Header.SetMethod(method)
	req.Header.SetRequestURI(target)
	var rc fasthttp.RequestCtx
	rc.Init(&req, nil, nil)
	h(&rc)
	rc.Response.SkipBody = rc.IsHead()
	var out bytes.Buffer
	bw := bufio.NewWriter(&out)
	_ = rc.Response.Write(bw)
	_ = bw.Flush()
	res, err := http.ReadResponse(bufio.NewReader(&out), &http.Request{Method: method})
	if err != nil {
		return 0, err.Error()
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// TestWithPage: the page answers exactly "/"; every other request, including ones a ServeMux
// would clean or redirect, reaches the file handler unchanged.
func TestWithPage(t *testing.T) {
	files := func(rc *fasthttp.RequestCtx) {
		rc.SetBodyString("files:" + string(rc.Request.Header.RequestURI()))
	}
	h := WithPage(files, Samples(), "127.0.0.1:9181")
	for _, tc := range []struct{ method, target, want string }{
		{"GET", "/", "<!DOCTYPE html>"},
		{"HEAD", "/", ""},
		{"GET", "/?q=1", "<!DOCTYPE html>"},
		{"GET", "//", "files://"},
		{"GET", "/%2F", "files:/%2F"},
		{"GET", "/var/../var/x.png", "files:/var/../var/x.png"},
		{"POST", "/", "Method Not Allowed"},
	} {
		code, body := serve(h, tc.method, tc.target)
		if !strings.HasPrefix(body, tc.want) {
			t.Errorf("%s %s: %d %.40q, want it to start with %q", tc.method, tc.target, code, body, tc.want)
		}
	}
	_, page := serve(h, "GET", "/")
	for _, s := range Samples() {
		if !strings.Contains(page, `href="`+strings.ReplaceAll(s.Path(), "&", "&amp;")+`"`) {
			t.Errorf("page has no link to %s", s.Path())
		}
	}
	if !strings.Contains(page, "http://127.0.0.1:9181/metrics") {
		t.Error("page has no link to the metrics listener")
	}
}
