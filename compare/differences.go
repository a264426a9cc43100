package compare

import (
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/ezdfsd/ezdfsd/dfs"
)

// Difference is one documented way ezdfsd answers differently from index_cluster.php: one row of
// the README's "Differences from index_cluster.php" table. Request, Legacy and Ezdfsd are the
// row's three cells verbatim (markdown), so a test can hold the README and this list together.
type Difference struct {
	// ID names the difference in reports and JSON ("one-byte-range").
	ID string
	// Request is the README's "request" cell.
	Request string
	// Legacy is the README's "index_cluster.php" cell.
	Legacy string
	// Ezdfsd is the README's "ezdfsd" cell.
	Ezdfsd string
	// Explains reports whether this difference accounts for a probe whose reference and
	// candidate answers differ. Nil means compare's own requests cannot show this difference
	// (a method it never sends, a header it never compares).
	Explains func(p Probe, ref, cand Observation) bool
	// Fields are the compared fields this difference may change (FieldDiff.Field names); any
	// other field that differs is still undocumented. Nil means every field (another file, or
	// an error page instead of the file).
	Fields []string
}

// rangeFields are what a range answered differently changes: the part sent, not the file.
var rangeFields = []string{"status", "content-length", "content-range", "body-sha256"}

// BigFile is the size from which a legacy 500 beside an ezdfsd success is put down to PHP's
// memory_limit (the gateway reads the whole file into memory; php-fpm's default limit is 128M).
const BigFile = 64 << 20

// servedNames is the daemon's default allow-list, for the "other paths" difference.
var servedNames = mustAllowList(dfs.DefaultServedPatterns)

func mustAllowList(patterns []string) dfs.AllowList {
	a, err := dfs.NewAllowList(patterns)
	if err != nil {
		panic(err) // the package's own constants: a test catches it
	}
	return a
}

// Differences is every row of the README's differences table, in the README's order. Where more
// than one Explains a probe, the first wins.
var Differences = []Difference{
	{
		ID: "method", Request: "POST/PUT/DELETE", Legacy: "200 + the file", Ezdfsd: "405, `Allow: GET, HEAD`",
	},
	{
		ID: "if-none-match", Request: "`If-None-Match: \"other\"` / any INM", Legacy: "304 (inverted comparison)",
		Ezdfsd: "200, or 304 only when it matches (weak comparison, `*`)",
	},
	{
		ID: "if-modified-since", Request: "If-Modified-Since older than the file / garbage IMS", Legacy: "304",
		Ezdfsd: "200",
	},
	{
		ID: "one-byte-range", Request: "`bytes=0-0`, `bytes=5-5`, `bytes=-1`", Legacy: "whole file / 416",
		Ezdfsd: "206 with 1 byte", Explains: oneByteRange, Fields: rangeFields,
	},
	{
		ID: "suffix-range", Request: "`bytes=-2000` on 1000 bytes", Legacy: "500 with a wrong Content-Length",
		Ezdfsd: "206 `0-999/1000`",
	},
	{
		ID: "multi-range", Request: "`bytes=0-1,5-6`", Legacy: "200", Ezdfsd: "206 `multipart/byteranges`",
	},
	{
		ID: "bad-range", Request: "`bytes=abc`, `bytes=`, `bytes= 1-2`", Legacy: "500 or a raw echo",
		Ezdfsd: "Range ignored → 200",
	},
	{
		ID: "if-range", Request: "If-Range", Legacy: "ignored", Ezdfsd: "honoured (strong ETag or date)",
	},
	{
		ID: "encoded-question-mark", Request: "`…/q%3Fmark.jpg`", Legacy: "looks up `…/q`",
		Ezdfsd: "looks up `…/q?mark.jpg` (query cut before decoding)", Explains: encodedQuestionMark,
	},
	{
		ID: "missing-file", Request: "row exists, file missing / short on NFS",
		Legacy: "500 with the file's Content-Length, truncated", Ezdfsd: "brief retry (NFS lag), then 404 / 503",
		Explains: missingFile,
	},
	{
		ID: "database-down", Request: "database down", Legacy: "500 after 3 connect attempts per request",
		Ezdfsd: "stale-if-error from the cache, else 503 + Retry-After", Explains: databaseDown,
	},
	{
		ID: "big-file", Request: "big files", Legacy: "buffered in PHP memory (500 over memory_limit)",
		Ezdfsd: "streamed, constant memory", Explains: bigFile,
	},
	{
		ID: "s3", Request: "S3-dispatched file", Legacy: "500 (the gateway never reads S3)",
		Ezdfsd: "streamed from S3, headers from the row", Explains: s3File,
	},
	{
		ID: "other-paths", Request: "`storage/original/…`, other paths", Legacy: "whatever the web server routes",
		Ezdfsd: "404 unless allowed", Explains: otherPath,
	},
	{
		ID: "connection-close", Request: "`Connection: close` (Apache)", Legacy: "sent", Ezdfsd: "keep-alive",
	},
	{
		ID: "head-range", Request: "HEAD with `Range`", Legacy: "206 (HEAD runs the GET logic)",
		Ezdfsd: "200 with the full-file headers (RFC 9110 ignores Range on HEAD)", Explains: headRange, Fields: rangeFields,
	},
	{
		ID: "if-match", Request: "If-Match, If-Unmodified-Since", Legacy: "ignored",
		Ezdfsd: "honoured: 412 when they fail",
	},
	{
		ID: "request-id", Request: "`X-Request-Id`", Legacy: "not sent",
		Ezdfsd: "taken from the request (or generated) and echoed on every response",
	},
	{
		ID: "refused-names", Request: "`.` or empty path segments, control bytes in the name",
		Legacy: "looked up (served if such a row exists)", Ezdfsd: "404 without a lookup (eZ never writes such names)", Explains: refusedName,
	},
}

// NotCompared lists the response headers compare never looks at, and why; Observation holds
// none of them.
var NotCompared = []string{
	"Date and Expires: both are computed from the clock at each response",
	"Served-by: each node names itself",
	"Connection: `close` from Apache + mod_php, keep-alive from nginx and ezdfsd",
	"X-Request-Id, X-Powered-By, Server, Accept-Ranges",
	"Content-Type and Content-Length on a 304 (nginx drops them, php -S keeps them)",
	"Content-Length when one side sends none (chunked error pages); the body hash still counts",
}

// Lookup returns the documented difference with the given ID.
func Lookup(id string) (Difference, bool) {
	for _, d := range Differences {
		if d.ID == id {
			return d, true
		}
	}
	return Difference{}, false
}

// explain returns the documented difference that accounts for a differing probe, and the
// differing fields it leaves unexplained: the first that explains every field, else the first
// that explains the probe at all.
func explain(p Probe, ref, cand Observation, fields []FieldDiff) (Difference, []FieldDiff, bool) {
	var best Difference
	var bestRest []FieldDiff
	found := false
	for _, d := range Differences {
		if d.Explains == nil || !d.Explains(p, ref, cand) {
			continue
		}
		allowed := d.Fields
		if allowed != nil && (ref.Status == http.StatusRequestedRangeNotSatisfiable) != (cand.Status == http.StatusRequestedRangeNotSatisfiable) {
			// A 416 is an HTML page: its Content-Type goes with the status.
			allowed = append(slices.Clip(allowed), "content-type")
		}
		var rest []FieldDiff
		for _, f := range fields {
			if allowed != nil && !slices.Contains(allowed, f.Field) {
				rest = append(rest, f)
			}
		}
		if len(rest) == 0 {
			return d, nil, true
		}
		if !found {
			best, bestRest, found = d, rest, true
		}
	}
	return best, bestRest, found
}

// MarkdownRows renders Differences as the README's table rows, one line each.
func MarkdownRows() []string {
	rows := make([]string, len(Differences))
	for i, d := range Differences {
		rows[i] = "| " + d.Request + " | " + d.Legacy + " | " + d.Ezdfsd + " |"
	}
	return rows
}

// oneByteRange: the legacy gateway treats an end of "0" as absent (bytes=0-0 → the whole file)
// and refuses every range whose start equals its end (416), where ezdfsd sends that one byte.
func oneByteRange(p Probe, ref, cand Observation) bool {
	if p.Range == "" || p.Method != http.MethodGet || cand.Status != http.StatusPartialContent || cand.ContentLength != "1" {
		return false
	}
	return ref.Status == http.StatusRequestedRangeNotSatisfiable ||
		ref.Status == http.StatusPartialContent && ref.ContentRange != cand.ContentRange
}

// encodedQuestionMark: the legacy gateway decodes before cutting the query, so a name with %3F
// is a different file there.
func encodedQuestionMark(p Probe, _, _ Observation) bool {
	path, _, _ := strings.Cut(p.Target, "?")
	return strings.Contains(strings.ToUpper(path), "%3F")
}

// missingFile: the legacy 500 after the headers (ETag already set) where ezdfsd retried and
// gave up with 404 or 503.
func missingFile(_ Probe, ref, cand Observation) bool {
	return ref.Status == http.StatusInternalServerError && ref.ETag != "" &&
		(cand.Status == http.StatusNotFound || cand.Status == http.StatusServiceUnavailable)
}

// databaseDown: the legacy 500 before any header (connect failed three times).
func databaseDown(_ Probe, ref, cand Observation) bool {
	return ref.Status == http.StatusInternalServerError && ref.ETag == "" && cand.Status != http.StatusInternalServerError
}

// bigFile: a legacy 500 after the headers for a file large enough to exceed PHP's memory_limit.
func bigFile(_ Probe, ref, cand Observation) bool {
	return ref.Status == http.StatusInternalServerError && ref.ETag != "" && success(cand.Status) &&
		max(atoi(ref.ContentLength), atoi(cand.ContentLength), totalSize(cand.ContentRange)) >= BigFile
}

// s3File: a legacy 500 after the headers where ezdfsd answered (the gateway never reads S3).
// An empty file is left out: PHP 8's fread(…, 0) fails the same way for it, and the README
// documents no row for that.
func s3File(_ Probe, ref, cand Observation) bool {
	return ref.Status == http.StatusInternalServerError && ref.ETag != "" && success(cand.Status) &&
		!strings.HasSuffix(ref.ETag, `-0"`)
}

// otherPath: a name outside the served patterns, which ezdfsd answers 404 without a lookup.
func otherPath(p Probe, _, cand Observation) bool {
	return cand.Status == http.StatusNotFound && !servedNames.Allows(legacyName(p.Target))
}

// headRange: the legacy gateway answers a HEAD with Range as it would the GET (206 or 416
// headers).
func headRange(p Probe, ref, cand Observation) bool {
	return p.Method == http.MethodHead && p.Range != "" && cand.Status == http.StatusOK &&
		(ref.Status == http.StatusPartialContent || ref.Status == http.StatusRequestedRangeNotSatisfiable)
}

// refusedName: "." or empty segments or control bytes, which ezdfsd refuses before any lookup.
func refusedName(p Probe, _, cand Observation) bool {
	if cand.Status != http.StatusNotFound {
		return false
	}
	name := legacyName(p.Target)
	for i := 0; i < len(name); i++ {
		if c := name[i]; c < 0x20 || c == 0x7f {
			return true
		}
	}
	for seg := range strings.SplitSeq(name, "/") {
		if seg == "" || seg == "." {
			return true
		}
	}
	return false
}

// legacyName is the cluster name index_cluster.php looks up for a request target: all leading
// slashes stripped, every valid %XX decoded, cut at the first "?" after decoding.
func legacyName(target string) string {
	name := strings.TrimLeft(dfs.RawURLDecode(target), "/")
	name, _, _ = strings.Cut(name, "?")
	return name
}

func success(status int) bool {
	return status == http.StatusOK || status == http.StatusPartialContent || status == http.StatusNotModified
}

func atoi(s string) int64 {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return -1
	}
	return n
}

// totalSize reads the complete length from a Content-Range ("bytes 0-99/1000" → 1000).
func totalSize(contentRange string) int64 {
	_, total, ok := strings.Cut(contentRange, "/")
	if !ok {
		return -1
	}
	return atoi(total)
}
