// Package httpserve is the gateway's HTTP handler: every HTTP decision ezdfsd makes about a
// cluster file (method, name, allow-list, metadata row, validators, conditional requests,
// ranges, error pages) lives here, and nowhere else turns errors into status codes.
//
// Headers come from the metadata row only (spec §2.5); the storage backend supplies bytes.
// Everything is decided before the first byte is written: the row is looked up, the file opened
// and size-checked, and the first byte range requested, so a missing or failing backend still
// gets a clean 404 or 503. A failure after the headers aborts the connection rather than
// ending a response of the wrong length.
//
// The serving listener runs on valyala/fasthttp (NewServer): the handler sets the status and
// headers, and hands fasthttp a body stream that sendfiles mount-point bytes and copies S3
// bytes with a pooled 256 KiB buffer.
package httpserve

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"mime/multipart"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"

	"github.com/ezdfsd/ezdfsd/dfs"
	"github.com/ezdfsd/ezdfsd/metadata"
	"github.com/ezdfsd/ezdfsd/storage"
)

// Handler serves cluster files over HTTP (on fasthttp, see ServeFastHTTP and NewServer). It is
// safe for concurrent use.
type Handler struct {
	cfg      Config
	routing  Routing
	store    metadata.Store
	backends map[string]storage.Backend
	log      *slog.Logger
	metrics  *metrics

	// Precomputed header values shared by all responses.
	acceptRanges string
	retryAfter   string
	cacheControl string

	nameOf  func(target string) (string, error) // dfs.NameRule(cfg.Profile)
	rawType bool                                // platform: Content-Type is the datatype verbatim

	idPrefix string
	idSeq    atomic.Uint64

	// base is every request's context: fasthttp cancels nothing when a client hangs up, so
	// lookups, opens and reads are bounded by their own per-call timeouts, and Close ends them
	// all when a shutdown gives up waiting.
	base   context.Context
	cancel context.CancelFunc

	now   func() time.Time                                 // clock for Expires; tests replace it
	sleep func(ctx context.Context, d time.Duration) error // NFS-lag pause; tests replace it

	expires atomic.Pointer[expiresValue] // the last Expires formatted (see expiresAt)
}

// New builds a Handler. backends is keyed by eZ backend class name (dfs.MountPointBackend,
// dfs.S3Backend, ...); New fails if routing.Dispatch can choose a class that has no backend, if
// store is nil, if no storage table is configured, if cfg is invalid, or if the metrics cannot
// be registered on reg (nil reg = no metrics). A nil logger discards.
func New(cfg Config, routing Routing, store metadata.Store, backends map[string]storage.Backend,
	logger *slog.Logger, reg prometheus.Registerer) (*Handler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("httpserve config: %w", err)
	}
	if store == nil {
		return nil, errors.New("httpserve: nil metadata store")
	}
	if routing.Tables.Storage == "" {
		return nil, errors.New("httpserve: routing has no storage table")
	}
	for _, class := range routing.Dispatch.Backends() {
		if backends[class] == nil {
			return nil, fmt.Errorf("httpserve: dispatch rules can choose backend %q, which is not configured", class)
		}
	}
	cfg = cfg.withDefaults()
	platform := cfg.Profile == dfs.ProfilePlatform
	if platform {
		cfg.StrictExpiry = true // LegacyDFSCluster.php:132-133: expired != true AND mtime > 0
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	var seed [4]byte
	_, _ = rand.Read(seed[:]) // crypto/rand.Read never fails on supported platforms
	base, cancel := context.WithCancel(context.Background())
	h := &Handler{
		cfg:        cfg,
		routing:    routing,
		store:      store,
		backends:   backends,
		log:        logger,
		metrics:    m,
		base:       base,
		cancel:     cancel,
		retryAfter: strconv.FormatInt(int64(math.Ceil(cfg.RetryAfter.Seconds())), 10),
		idPrefix:   hex.EncodeToString(seed[:]) + "-",
		now:        time.Now,
		sleep:      sleepCtx,
		nameOf:     dfs.NameRule(cfg.Profile),
		rawType:    platform,
	}
	if cfg.Ranges {
		h.acceptRanges = "bytes"
	} else {
		h.acceptRanges = "none"
	}
	if cfg.CacheControl {
		h.cacheControl = "public, max-age=" + strconv.FormatInt(int64(cfg.ExpiryTimeout/time.Second), 10)
	} else if platform {
		h.cacheControl = "public" // BinaryStreamResponse.php:55 setPublic()
	}
	return h, nil
}

// Close cancels the context of every request still being served: lookups, NFS-lag pauses and
// storage reads end at once. The daemon calls it when a shutdown stops waiting for in-flight
// downloads; requests that arrive afterwards are answered 503.
func (h *Handler) Close() { h.cancel() }

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// corkMinBody is the body size above which the socket is corked while the headers and the body
// go out (see bodyStream.WriteTo). fasthttp copies a file of up to 8 KiB (its maxSmallFileSize)
// into its write buffer, which NewServer makes big enough for the headers too, and sends both
// in one write: only larger bodies are sendfiled after a separate write of the headers.
const corkMinBody = 8 << 10

const (
	methodGet  = "GET"
	methodHead = "HEAD"
)

const hdrTextHTML = "text/html;charset=UTF-8"

// exchange is the state of one request.
type exchange struct {
	h       *Handler
	rc      *fasthttp.RequestCtx
	ctx     context.Context // bounds every lookup, open and read (Handler.Close cancels it)
	hdr     fastHeader      // the request's header fields
	method  string
	start   time.Time
	id      string
	name    string // cluster name, once valid
	backend string // metrics label
	status  int    // status set, 0 before writeHeader
	bytes   int64  // body bytes written
	aborted bool

	body     *bodyStream // the GET body, sent by fasthttp after ServeFastHTTP returns
	stream   bodyStream  // what body points to: allocated with the exchange
	finished bool

	// rangeCtx is the context of storage reads that cannot be sendfiled (S3): cancelled by the
	// read stall guard, and once the body is done.
	rangeCtx    context.Context
	cancelRange context.CancelFunc
}

// storageCtx returns the context for reading the object's bytes: the request's for the mount
// point, a cancellable one for other backends when Config.ReadStallTimeout is set.
func (x *exchange) storageCtx() context.Context {
	if x.backend == labelMountPoint || x.h.cfg.ReadStallTimeout <= 0 {
		return x.ctx
	}
	if x.rangeCtx == nil {
		x.rangeCtx, x.cancelRange = context.WithCancel(x.ctx)
	}
	return x.rangeCtx
}

// endStorage releases the storage reads' context.
func (x *exchange) endStorage() {
	if x.cancelRange != nil {
		x.cancelRange()
	}
}

// set sets a single-valued response header under key exactly as given: the response header's
// name normalizing is off, so eZ's spellings ("ETag", "Served-by") go out byte for byte.
func (x *exchange) set(key, value string) {
	x.rc.Response.Header.Set(key, value)
}

// ServeFastHTTP answers GET and HEAD for cluster files; see the package documentation. Every
// decision is taken and every header set before it returns; a GET body is then streamed by
// fasthttp (bodyStream), and the metrics and access log line are recorded once it went out.
func (h *Handler) ServeFastHTTP(rc *fasthttp.RequestCtx) {
	h.metrics.start()
	rc.Response.Header.DisableNormalizing()
	x := &exchange{h: h, rc: rc, ctx: h.base, hdr: fastHeader{&rc.Request.Header}, start: time.Now(),
		method: methodOf(rc), backend: labelNone}
	x.id = h.requestID(x.hdr)
	x.set("X-Request-Id", x.id)
	x.run()
	if x.body != nil {
		rc.Response.SetBodyStream(x.body, int(x.body.length))
		return // the stream's CloseWithError finishes the exchange
	}
	x.endStorage()
	x.finish()
}

// methodOf returns the request method, without allocating for GET and HEAD.
func methodOf(rc *fasthttp.RequestCtx) string {
	switch {
	case rc.IsGet():
		return methodGet
	case rc.IsHead():
		return methodHead
	}
	return string(rc.Method())
}

// run serves the request, turning an unexpected panic into the 500 page: nothing has been sent
// while the handler runs, so the client always gets a clean answer.
func (x *exchange) run() {
	defer func() {
		p := recover()
		if p == nil {
			return
		}
		x.h.log.LogAttrs(x.ctx, slog.LevelError, "panic serving request",
			slog.String("request_id", x.id), slog.Any("panic", p), slog.String("stack", string(debug.Stack())))
		if x.body != nil {
			x.body.closeObject()
			x.body = nil
		}
		id := x.id
		x.rc.Response.Reset()
		x.rc.Response.Header.DisableNormalizing()
		x.set("X-Request-Id", id)
		x.writePage(http.StatusInternalServerError, page500)
	}()
	x.serve()
}

// finish records metrics and the access log line, once per request: after the body went out
// (or failed), or at once for an answer without a streamed body.
func (x *exchange) finish() {
	if x.finished {
		return
	}
	x.finished = true
	h := x.h
	d := time.Since(x.start)
	h.metrics.done(x.status, x.backend, x.method, x.bytes, d.Seconds())
	if h.cfg.AccessLog {
		path := x.name
		if path == "" {
			path = displayName(requestTarget(x.rc))
		}
		h.log.LogAttrs(x.ctx, slog.LevelInfo, "request",
			slog.String("method", x.method),
			slog.String("path", path),
			slog.Int("status", x.status),
			slog.Int64("bytes", x.bytes),
			slog.Duration("duration", d),
			slog.String("backend", x.backend),
			slog.String("request_id", x.id),
			slog.Bool("aborted", x.aborted),
		)
	}
}

// requestID returns the client's X-Request-Id when it is 1..64 characters of [A-Za-z0-9._-],
// otherwise a new process-unique id.
func (h *Handler) requestID(hdr fastHeader) string {
	if v := hdr.Get("X-Request-Id"); saneRequestID(v) {
		return v
	}
	var buf [32]byte // the 9-byte prefix and at most 13 base-36 digits
	return string(strconv.AppendUint(append(buf[:0], h.idPrefix...), h.idSeq.Add(1), 36))
}

func saneRequestID(v string) bool {
	if v == "" || len(v) > 64 {
		return false
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// requestTarget returns the raw origin-form target (path and query, percent-escapes intact) as
// the request line carried it. Absolute-form targets ("http://host/path?q", RFC 9112 §3.2.2)
// are reduced to their path and query.
func requestTarget(rc *fasthttp.RequestCtx) string {
	return originForm(string(rc.Request.Header.RequestURI()))
}

// originForm reduces an absolute-form target to its path and query; other targets are
// returned as they are.
func originForm(t string) string {
	if strings.HasPrefix(t, "/") {
		return t
	}
	if i := strings.Index(t, "://"); i > 0 {
		rest := t[i+3:]
		j := strings.IndexAny(rest, "/?")
		switch {
		case j < 0:
			return "/"
		case rest[j] == '?':
			return "/" + rest[j:]
		default:
			return rest[j:]
		}
	}
	return t
}

func (x *exchange) serve() {
	h := x.h
	ctx := x.ctx
	if x.method != methodGet && x.method != methodHead {
		x.set("Allow", "GET, HEAD")
		x.writePage(http.StatusMethodNotAllowed, page405)
		return
	}
	target := requestTarget(x.rc)
	name, err := h.nameOf(target)
	if err != nil {
		x.notFound(displayName(target))
		return
	}
	x.name = name
	if !h.routing.Allow.Allows(name) {
		x.notFound(name)
		return
	}
	class := h.routing.Dispatch.BackendFor(name)
	x.backend = backendLabel(class)
	backend := h.backends[class]

	row, err := h.store.Lookup(ctx, metadata.Key{Table: h.routing.Tables.For(name), Name: name})
	switch {
	case errors.Is(err, metadata.ErrNotFound):
		x.notFound(name)
		return
	case err != nil:
		h.metrics.event(eventMetadataError)
		x.logError("metadata lookup failed", err)
		x.unavailable()
		return
	case row.Deleted(), h.cfg.StrictExpiry && (row.Expired || row.MTime <= 0):
		x.notFound(name)
		return
	case row.Size < 0: // the column is unsigned; a store bug must not become a bad Content-Length
		h.metrics.event(eventMetadataError)
		x.logError("metadata row with negative size", fmt.Errorf("size %d", row.Size))
		x.unavailable()
		return
	}

	v := validators{etag: etagOf(row), mtime: row.MTime}
	if h.cfg.HTTPCache {
		switch checkPreconditions(x.hdr, v) {
		case http.StatusNotModified:
			x.setValidatorHeaders(row, v)
			x.writeHeader(http.StatusNotModified)
			return
		case http.StatusPreconditionFailed:
			x.writePage(http.StatusPreconditionFailed, page412)
			return
		}
	}

	obj, ok := x.open(backend, row)
	if !ok {
		return
	}
	defer func() {
		if x.body != nil {
			return // the body stream closes obj once the body went out
		}
		if err := obj.Close(); err != nil {
			x.logError("closing storage object", err)
		}
	}()
	x.serveBytes(obj, row, v)
}

// open opens the row's bytes, retrying while the file is missing or shorter than the row (NFS
// lag). It answers 404/503 itself and returns false when there is nothing to serve.
func (x *exchange) open(backend storage.Backend, row metadata.File) (storage.Object, bool) {
	h := x.h
	ctx := x.ctx
	for attempt := 0; ; attempt++ {
		obj, err := backend.Open(ctx, x.name)
		short := false
		if err == nil {
			size := obj.Size()
			switch {
			case size >= 0 && size < row.Size:
				short = true
				if cerr := obj.Close(); cerr != nil {
					x.logError("closing short storage object", cerr)
				}
			case size > row.Size:
				h.metrics.event(eventLongFile)
				h.log.LogAttrs(ctx, slog.LevelWarn, "file longer than its metadata row; serving the row's size",
					slog.String("request_id", x.id), slog.String("name", x.name),
					slog.Int64("row_size", row.Size), slog.Int64("file_size", size))
				return obj, true
			default:
				return obj, true
			}
		} else if !errors.Is(err, storage.ErrNotExist) {
			h.metrics.event(eventStorageError)
			x.logError("opening storage object", err)
			x.unavailable()
			return nil, false
		}
		if attempt >= h.cfg.MissingRetries || ctx.Err() != nil {
			if short {
				h.metrics.event(eventShortFile)
				h.log.LogAttrs(ctx, slog.LevelWarn, "file shorter than its metadata row",
					slog.String("request_id", x.id), slog.String("name", x.name), slog.Int64("row_size", row.Size))
				x.unavailable()
			} else {
				h.metrics.event(eventMissingFile)
				h.log.LogAttrs(ctx, slog.LevelWarn, "metadata row without file",
					slog.String("request_id", x.id), slog.String("name", x.name))
				x.notFound(x.name)
			}
			return nil, false
		}
		h.metrics.event(eventNFSRetry)
		if err := x.pause(h.cfg.MissingRetryDelay); err != nil {
			x.unavailable() // the client is gone; nobody reads this
			return nil, false
		}
	}
}

// pause waits d before the next NFS-lag retry. fasthttp does not cancel anything when a client
// hangs up, so the connection is watched meanwhile: the pause ends early, with an error, when
// the client closed it (or the handler was closed).
func (x *exchange) pause(d time.Duration) error {
	ctx, stop := watchClient(x.ctx, x.rc.Conn())
	defer stop()
	return x.h.sleep(ctx, d)
}

// serveBytes sends 200, 206 or 416 for an opened object.
func (x *exchange) serveBytes(obj storage.Object, row metadata.File, v validators) {
	h := x.h
	size := row.Size
	ctype := contentType(row.Datatype)
	if h.rawType {
		ctype = cmp.Or(row.Datatype, "application/octet-stream") // BinaryStreamResponse.php:141
	}

	var ranges []byteRange
	if h.cfg.Ranges && x.method == methodGet {
		if lines := x.hdr.Values("Range"); len(lines) == 1 && checkIfRange(x.hdr, v) {
			rs, err := parseRange(lines[0], size, h.cfg.MaxRanges)
			switch {
			case errors.Is(err, errRangeUnsatisfiable):
				x.setRepresentationHeaders(row, v) // legacy sends its Expires on 416 too
				x.set("Content-Range", unsatisfiedRange(size))
				x.writePage(http.StatusRequestedRangeNotSatisfiable, page416)
				return
			case err == nil:
				ranges = rs
			}
		}
	}

	switch len(ranges) {
	case 0:
		x.sendSingle(obj, row, v, ctype, byteRange{start: 0, length: size}, http.StatusOK)
	case 1:
		x.sendSingle(obj, row, v, ctype, ranges[0], http.StatusPartialContent)
	default:
		x.sendMultipart(obj, row, v, ctype, ranges)
	}
}

// sendSingle sends one contiguous part: the whole file (200) or one range (206).
func (x *exchange) sendSingle(obj storage.Object, row metadata.File, v validators, ctype string, br byteRange, code int) {
	var body io.Reader
	if x.method == methodGet && br.length > 0 {
		rd, ok := x.openRange(obj, br)
		if !ok {
			return
		}
		body = rd
	}
	x.setRepresentationHeaders(row, v)
	x.rc.Response.Header.SetContentType(ctype)
	if code == http.StatusPartialContent {
		x.set("Content-Range", br.contentRange(row.Size))
	}
	x.writeHeader(code)
	if body != nil {
		x.stream = bodyStream{x: x, obj: obj, length: br.length, first: body}
		x.body = &x.stream
		return
	}
	x.rc.Response.Header.SetContentLength(int(br.length))
}

// sendMultipart sends a 206 multipart/byteranges body (RFC 9110 §14.6) with its exact
// Content-Length. Only the first range is requested before the header is set; a failure on a
// later one aborts the connection.
func (x *exchange) sendMultipart(obj storage.Object, row metadata.File, v validators, ctype string, ranges []byteRange) {
	boundary := multipart.NewWriter(io.Discard).Boundary()
	length := multipartLength(ranges, ctype, row.Size, boundary)
	first, ok := x.openRange(obj, ranges[0])
	if !ok {
		return
	}
	x.setRepresentationHeaders(row, v)
	x.rc.Response.Header.SetContentType("multipart/byteranges; boundary=" + boundary)
	x.writeHeader(http.StatusPartialContent)
	x.stream = bodyStream{x: x, obj: obj, length: length, first: first,
		multi: &multipartBody{ranges: ranges, ctype: ctype, size: row.Size, boundary: boundary}}
	x.body = &x.stream
}

// openRange asks the backend for a range before any header is sent, answering 404 (object gone,
// e.g. S3 NoSuchKey) or 503 itself when it fails.
func (x *exchange) openRange(obj storage.Object, br byteRange) (io.Reader, bool) {
	rd, err := obj.Range(x.storageCtx(), br.start, br.length)
	if err == nil {
		return rd, true
	}
	if errors.Is(err, storage.ErrNotExist) {
		x.h.metrics.event(eventMissingFile)
		x.h.log.LogAttrs(x.ctx, slog.LevelWarn, "metadata row without object",
			slog.String("request_id", x.id), slog.String("name", x.name), slog.String("error", err.Error()))
		x.notFound(x.name)
		return nil, false
	}
	x.h.metrics.event(eventStorageError)
	x.logError("reading storage object", err)
	x.unavailable()
	return nil, false
}

func (x *exchange) logError(msg string, err error) {
	level := slog.LevelError
	if x.ctx.Err() != nil {
		level = slog.LevelDebug // canceled by the shutdown
	}
	// The error value, not its text: the logger's rate limit keys on its class (ops.NewRateLimitHandler).
	x.h.log.LogAttrs(x.ctx, level, msg,
		slog.String("request_id", x.id), slog.String("name", x.name), slog.Any("error", err))
}

// etagOf is the legacy validator "<mtime>-<size>", always strong.
func etagOf(row metadata.File) entityTag {
	var buf [48]byte // two quotes, a dash and two int64s of at most 20 bytes each
	b := append(buf[:0], '"')
	b = strconv.AppendInt(b, row.MTime, 10)
	b = append(b, '-')
	b = strconv.AppendInt(b, row.Size, 10)
	return entityTag{opaque: string(append(b, '"'))}
}

// contentType is the row's datatype as the legacy gateway sends it, with PHP's default_charset
// rule (main/SAPI.c sapi_apply_default_charset; spec §2.5 and §7): ";charset=UTF-8" (no
// space) is appended when the type starts with "text/" and does not contain "charset=", both
// tested case-sensitively (strncmp, strstr). So "TEXT/css" is left alone, and
// "text/css; Charset=latin1" gets the suffix after its own parameter, byte for byte as PHP
// sends them. An empty datatype (eZ's .generating rows) would be sent as an empty Content-Type
// by the legacy gateway; ezdfsd sends application/octet-stream instead, which is what an empty
// type means. Labels such as "misc" or "php" stay as they are (spec row 23).
func contentType(datatype string) string {
	if datatype == "" {
		return "application/octet-stream"
	}
	if strings.HasPrefix(datatype, "text/") && !strings.Contains(datatype, "charset=") {
		return datatype + ";charset=UTF-8"
	}
	return datatype
}

// setValidatorHeaders sets what a 304 carries (RFC 9110 §15.4.5): the validators, Expires and
// the gateway's identity headers (writeHeader adds Cache-Control); no Content-Type or
// Content-Length.
func (x *exchange) setValidatorHeaders(row metadata.File, v validators) {
	h := x.h
	if h.cfg.ServedBy != "" {
		x.set("Served-by", h.cfg.ServedBy)
	}
	if h.cfg.PoweredBy != "" {
		x.set("X-Powered-By", h.cfg.PoweredBy)
	}
	if h.cfg.HTTPCache {
		var buf [httpDateLen]byte
		x.rc.Response.Header.SetBytesV("Last-Modified", appendHTTPDate(buf[:0], time.Unix(row.MTime, 0)))
		if h.cfg.Expires {
			x.rc.Response.Header.SetBytesV("Expires", h.expiresAt(h.now().Add(h.cfg.ExpiryTimeout)))
		}
		x.set("ETag", v.etag.opaque) // the legacy spelling, kept: normalizing is off
	}
}

// setRepresentationHeaders sets the headers of 200, 206 and 416 answers except Content-Type,
// Content-Length and Content-Range.
func (x *exchange) setRepresentationHeaders(row metadata.File, v validators) {
	x.setValidatorHeaders(row, v)
	x.set("Accept-Ranges", x.h.acceptRanges)
}

// writeHeader sets the status. The opt-in Cache-Control goes on 2xx and 304 answers only: it
// must not make an error answer (416, error pages) explicitly cacheable.
func (x *exchange) writeHeader(code int) {
	if code < 400 && x.h.cacheControl != "" {
		x.set("Cache-Control", x.h.cacheControl)
	}
	x.status = code
	x.rc.SetStatusCode(code)
}

// writePage sends a small HTML page with an explicit Content-Length (fasthttp sends no body
// for HEAD).
func (x *exchange) writePage(code int, body string) {
	x.rc.Response.Header.SetContentType(hdrTextHTML)
	x.writeHeader(code)
	x.rc.Response.SetBodyString(body)
	if x.method != methodHead {
		x.bytes += int64(len(body))
	}
}

// notFound sends the legacy 404 page for name, without any eZ header.
func (x *exchange) notFound(name string) {
	x.writePage(http.StatusNotFound, page404(name))
}

// unavailable sends 503 with Retry-After.
func (x *exchange) unavailable() {
	x.set("Retry-After", x.h.retryAfter)
	x.writePage(http.StatusServiceUnavailable, page503)
}

// Unavailable answers 503 exactly as the handler does when a backend is down: Retry-After from
// Config.RetryAfter and the gateway's 503 page (no body for HEAD). It is for a front that turns
// a request away before ServeFastHTTP, such as ops.LimitConcurrency when every slot is taken,
// so clients see one 503 whatever refused them.
func (h *Handler) Unavailable(rc *fasthttp.RequestCtx) {
	rc.Response.Header.DisableNormalizing()
	rc.Response.Header.Set("Retry-After", h.retryAfter)
	rc.Response.Header.SetContentType(hdrTextHTML)
	rc.SetStatusCode(http.StatusServiceUnavailable)
	rc.Response.SetBodyString(page503)
}
