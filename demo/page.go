package demo

import (
	"bytes"
	"fmt"
	"html/template"
	"net/http"
	"net/url"

	"github.com/valyala/fasthttp"
)

// Path returns the sample's URL path on the daemon, "/" + its name, %-encoded where a URL
// needs it (spaces in names).
func (s Sample) Path() string {
	return (&url.URL{Path: "/" + s.Name}).EscapedPath()
}

// pageData is what the page template shows.
type pageData struct {
	Samples []Sample
	// Metrics is the metrics listener's host:port, "" when there is none.
	Metrics string
}

var pageTemplate = template.Must(template.New("demo").Funcs(template.FuncMap{
	"statusText": http.StatusText,
}).Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>ezdfsd demo</title>
<style>
body { font-family: sans-serif; max-width: 60em; margin: 2em auto; padding: 0 1em; color: #223; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .4em .6em; border-bottom: 1px solid #ccd; vertical-align: top; }
td.status { font-family: monospace; white-space: nowrap; }
code { background: #f2f2f6; padding: 0 .2em; }
</style>
</head>
<body>
<h1>ezdfsd demo</h1>
<p>ezdfsd serves the eZ Publish cluster files below, as <code>index_cluster.php</code> would. Each link
is a sample file; the status is the answer it should get. This page exists only in <code>ezdfsd demo</code>:
<code>ezdfsd serve</code> answers 404 at <code>/</code>, as the legacy gateway does.</p>
<table id="samples">
<thead><tr><th>expected status</th><th>sample</th><th>what it shows</th></tr></thead>
<tbody>
{{- range .Samples}}
<tr class="sample"><td class="status" data-status="{{.Status}}">{{.Status}} {{statusText .Status}}</td><td><a href="{{.Path}}">{{.Name}}</a></td><td>{{.Note}}</td></tr>
{{- end}}
</tbody>
</table>
<p>With curl: <code>curl -i -H 'Range: bytes=0-99' URL</code> shows a 206 partial answer.</p>
{{- if .Metrics}}
<p>Operations listener: <a href="http://{{.Metrics}}/metrics">metrics</a>,
<a href="http://{{.Metrics}}/healthz">health</a>, <a href="http://{{.Metrics}}/readyz">readiness</a>.</p>
{{- end}}
</body>
</html>
`))

// Page returns a handler that answers GET and HEAD with an HTML page listing every sample as a
// link with the status it should get, and a link to the metrics listener at metricsAddr ("" for
// none). It is for the demo only: the daemon itself serves nothing at "/".
func Page(samples []Sample, metricsAddr string) fasthttp.RequestHandler {
	var buf bytes.Buffer
	err := pageTemplate.Execute(&buf, pageData{Samples: samples, Metrics: metricsAddr})
	page := buf.Bytes()
	return func(rc *fasthttp.RequestCtx) {
		if err != nil {
			rc.Error(fmt.Sprintf("demo page: %v", err), http.StatusInternalServerError)
			return
		}
		if !rc.IsGet() && !rc.IsHead() {
			rc.Error(http.StatusText(http.StatusMethodNotAllowed), http.StatusMethodNotAllowed)
			rc.Response.Header.Set("Allow", "GET, HEAD")
			return
		}
		rc.SetContentType("text/html; charset=utf-8")
		rc.Response.Header.Set("Cache-Control", "no-store")
		rc.SetBody(page) // fasthttp sends the Content-Length, and no body for HEAD
	}
}

// WithPage serves Page at exactly "/" (the raw request target, a query aside) and hands every
// other request to files unchanged (no path cleaning or redirects, so the daemon sees each
// request as `ezdfsd serve` would).
func WithPage(files fasthttp.RequestHandler, samples []Sample, metricsAddr string) fasthttp.RequestHandler {
	page := Page(samples, metricsAddr)
	return func(rc *fasthttp.RequestCtx) {
		if path, _, _ := bytes.Cut(rc.Request.Header.RequestURI(), []byte("?")); string(path) == "/" {
			page(rc)
			return
		}
		files(rc)
	}
}
