// Package comparetest holds a stand-in for the legacy gateway (index_cluster.php behind nginx
// and php-fpm) for tests of `ezdfsd compare`. It is imported only from tests.
package comparetest

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/ezdfsd/ezdfsd/dfs"
)

// File is one row of the fake's metadata table with its bytes on the "mount point".
type File struct {
	Datatype string
	MTime    int64
	Body     []byte
	// Missing makes the row's file absent on NFS: the gateway sends every header, Content-Length
	// included, then a 500 and a truncated page (spec §2.8).
	Missing bool
}

// Legacy answers like index_cluster.php 2019.03 on PHP 8 behind nginx (spec §2 and the "legacy"
// column of §7), for GET and HEAD with the headers `ezdfsd compare` sends: any If-None-Match is
// a 304, If-Modified-Since is compared the inverted way, Range follows the gateway's own parser
// (bytes=0-0 is the whole file, a one-byte range is a 416), HEAD runs the GET logic. It does no
// routing of its own: every name it holds is served, as when the web server routes it there.
type Legacy struct {
	// Files maps cluster names to rows.
	Files map[string]File
	// ServedBy is the Served-by value (nginx: the first server_name).
	ServedBy string
}

// htmlSpecialChars is PHP 8.1's htmlspecialchars() with its default flags.
var htmlSpecialChars = strings.NewReplacer("&", "&amp;", `"`, "&quot;", "'", "&#039;", "<", "&lt;", ">", "&gt;")

const doctype = `<!DOCTYPE HTML PUBLIC "-//IETF//DTD HTML 2.0//EN">`

// ServeHTTP answers one request.
func (l *Legacy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// index_cluster.php: strip leading slashes, rawurldecode, then cut at the first "?".
	name := strings.TrimLeft(dfs.RawURLDecode(r.RequestURI), "/")
	name, _, _ = strings.Cut(name, "?")
	f, ok := l.Files[name]
	if !ok || f.MTime < 0 {
		w.Header().Set("Content-Type", "text/html;charset=UTF-8")
		w.WriteHeader(http.StatusNotFound)
		flush(w) // nginx sends PHP's pages chunked: no Content-Length
		w.Write([]byte(doctype + "\n<html><head>\n<title>404 Not Found</title>\n</head><body>\n<H1>Not Found</H1>\n" +
			"<p>The requested URL " + htmlSpecialChars.Replace(name) + " was not found on this server.<p>\n</body></html>"))
		return
	}
	h := w.Header()
	ctype := f.Datatype
	if strings.HasPrefix(ctype, "text/") && !strings.Contains(ctype, "charset") {
		ctype += ";charset=UTF-8"
	}
	size := int64(len(f.Body))
	h.Set("Content-Type", ctype)
	h["Served-by"] = []string{l.ServedBy}
	h.Set("X-Powered-By", "eZ Publish")
	mtime := time.Unix(f.MTime, 0).UTC()
	h.Set("Last-Modified", mtime.Format(http.TimeFormat))
	h.Set("Expires", time.Now().Add(24*time.Hour).UTC().Format(http.TimeFormat))
	etag := strconv.FormatInt(f.MTime, 10) + "-" + strconv.FormatInt(size, 10)
	h.Set("ETag", `"`+etag+`"`)

	if inm, ok := r.Header["If-None-Match"]; ok && strings.TrimSpace(strings.Join(inm, ",")) != etag {
		w.WriteHeader(http.StatusNotModified) // inverted: the quoted ETag never equals the bare one
		return
	}
	if ims := r.Header.Get("If-Modified-Since"); ims != "" {
		ims, _, _ = strings.Cut(ims, ";")
		t, err := http.ParseTime(strings.TrimSpace(ims))
		if err != nil || t.Unix() <= f.MTime { // strtotime false <= n is true
			w.WriteHeader(http.StatusNotModified)
			return
		}
	}
	h.Set("Accept-Ranges", "bytes")
	start, end, status := int64(0), size-1, http.StatusOK
	if rg := r.Header.Get("Range"); strings.HasPrefix(rg, "bytes=") && !strings.Contains(rg, ",") {
		parts := strings.Split(rg[len("bytes="):], "-")
		s := parts[0]
		e := ""
		if len(parts) > 1 {
			e = parts[1]
		}
		eAbsent := e == "" || e == "0" // PHP empty()
		// Content-Range echoes $start and $end: the strings as sent, unless recomputed.
		switch {
		case !eAbsent && s == "":
			start, end = size-phpInt(e), size-1
			s, e = strconv.FormatInt(start, 10), strconv.FormatInt(end, 10)
		case eAbsent || phpInt(e) > size-1:
			start, end = phpInt(s), size-1
			e = strconv.FormatInt(end, 10)
		default:
			start, end = phpInt(s), phpInt(e)
		}
		if start >= end {
			h.Set("Content-Range", "bytes */"+strconv.FormatInt(size, 10))
			h.Set("Content-Type", "text/html;charset=UTF-8")
			w.WriteHeader(http.StatusRequestedRangeNotSatisfiable)
			flush(w)
			w.Write([]byte(doctype + "\n<html><head>\n<title>416 Requested Range Not Satisfiable</title>\n</head><body>\n" +
				"<h1>416 Requested Range Not Satisfiable</h1>\n</body></html>"))
			return
		}
		h.Set("Content-Range", "bytes "+s+"-"+e+"/"+strconv.FormatInt(size, 10))
		status = http.StatusPartialContent
	}
	length := end - start + 1
	h.Set("Content-Length", strconv.FormatInt(length, 10))
	if f.Missing {
		// The headers stand; the page is cut to the Content-Length already sent.
		w.WriteHeader(http.StatusInternalServerError)
		page := doctype + "\n<html><head>\n<title>500 Internal Server Error</title>\n</head><body>\n" +
			"<h1>An error has occured</h1>\n</body></html>"
		if int64(len(page)) > length {
			page = page[:length]
		}
		w.Write([]byte(page))
		return
	}
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		w.Write(f.Body[start : start+length])
	}
}

// phpInt converts like PHP's (int) cast of a numeric-leading string: leading digits, else 0
// (PHP 8 also reads an exponent, "1e2" → 100; compare never sends one).
func phpInt(s string) int64 {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	n, _ := strconv.ParseInt(s[:i], 10, 64)
	return n
}

func flush(w http.ResponseWriter) {
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
}
