// Package httpserve is the gateway's HTTP handler: every HTTP decision ezdfsd makes about a
// cluster file (method, name, allow-list, metadata row, validators, conditional requests,
// ranges, error pages) lives here, and nowhere else turns errors into status codes.
//
// Headers come from the metadata row only (spec §2.5); the storage backend supplies bytes.
// Everything is decided before the first byte is written: the row is looked up, the file opened
// and size-checked, and the first byte range requested, so a missing or failing backend still
// gets a clean 404 or 503. A failure after the headers aborts the connection rather than
// ending a response of the wrong length.
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
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ezdfsd/ezdfsd/dfs"
	"github.com/ezdfsd/ezdfsd/metadata"
	"github.com/ezdfsd/ezdfsd/storage"
)

// Handler serves cluster files over HTTP. It is safe for concurrent use.
type Handler struct {
	cfg      Config
	routing  Routing
	store    metadata.Store
	backends map[string]storage.Backend
	log      *slog.Logger
	metrics  *metrics

	// Precomputed header values (read-only slices shared by all responses).
	servedBy     []string
	poweredBy    []string
	acceptRanges []string
	retryAfter   []string
	cacheControl []string

	nameOf  func(target string) (string, error) // dfs.NameRule(cfg.Profile)
	rawType bool                                // platform: Content-Type is the datatype verbatim

	idPrefix string
	idSeq    atomic.Uint64

	now   func() time.Time                                 // clock for Expires; tests replace it
	sleep func(ctx context.Context, d time.Duration) error // NFS-lag pause; tests replace it
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
	h := &Handler{
		cfg:        cfg,
		routing:    routing,
		store:      store,
		backends:   backends,
		log:        logger,
		metrics:    m,
		retryAfter: []string{strconv.FormatInt(int64(math.Ceil(cfg.RetryAfter.Seconds())), 10)},
		idPrefix:   hex.EncodeToString(seed[:]) + "-",
		now:        time.Now,
		sleep:      sleepCtx,
		nameOf:     dfs.NameRule(cfg.Profile),
		rawType:    platform,
	}
	if cfg.ServedBy != "" {
		h.servedBy = []string{cfg.ServedBy}
	}
	if cfg.PoweredBy != "" {
		h.poweredBy = []string{cfg.PoweredBy}
	}
	if cfg.Ranges {
		h.acceptRanges = []string{"bytes"}
	} else {
		h.acceptRanges = []string{"none"}
	}
	if cfg.CacheControl {
		h.cacheControl = []string{"public, max-age=" + strconv.FormatInt(int64(cfg.ExpiryTimeout/time.Second), 10)}
	} else if platform {
		h.cacheControl = []string{"public"} // BinaryStreamResponse.php:55 setPublic()
	}
	return h, nil
}

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

// sniffLen is the body prefix net/http's ResponseWriter.ReadFrom copies through its buffer
// before it switches to sendfile, unless the headers were already flushed.
const sniffLen = 512

var (
	hdrTextHTML = []string{"text/html;charset=UTF-8"}
	hdrAllow    = []string{"GET, HEAD"}
)

// exchange is the state of one request.
type exchange struct {
	h       *Handler
	w       http.ResponseWriter
	r       *http.Request
	id      string
	name    string // cluster name, once valid
	backend string // metrics label
	status  int    // status sent, 0 before WriteHeader
	bytes   int64  // body bytes written
	aborted bool

	// hv backs the per-request header values, saving one allocation per header.
	hv  [8]string
	nhv int
}

// set sets a single-valued response header under key exactly as given (callers pass canonical
// keys, or a deliberate legacy spelling).
func (x *exchange) set(key, value string) {
	if x.nhv < len(x.hv) {
		i := x.nhv
		x.hv[i] = value
		x.nhv++
		x.w.Header()[key] = x.hv[i : i+1 : i+1]
		return
	}
	x.w.Header()[key] = []string{value}
}

// ServeHTTP answers GET and HEAD for cluster files; see the package documentation.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	h.metrics.start()
	x := &exchange{h: h, w: w, r: r, id: h.requestID(r), backend: labelNone}
	x.set("X-Request-Id", x.id)
	defer h.finish(x, start)
	x.serve()
}

// finish records metrics and the access log line, turns an unexpected panic into a 500 when
// nothing was sent yet, and re-raises http.ErrAbortHandler so net/http drops the connection.
func (h *Handler) finish(x *exchange, start time.Time) {
	p := recover()
	if p != nil {
		if p != http.ErrAbortHandler {
			h.log.LogAttrs(x.r.Context(), slog.LevelError, "panic serving request",
				slog.String("request_id", x.id), slog.Any("panic", p), slog.String("stack", string(debug.Stack())))
			if x.status == 0 {
				x.writePage(http.StatusInternalServerError, page500)
				p = nil
			} else {
				p = http.ErrAbortHandler
			}
		}
		if p != nil {
			x.aborted = true
		}
	}
	d := time.Since(start)
	h.metrics.done(x.status, x.backend, x.r.Method, x.bytes, d.Seconds())
	if h.cfg.AccessLog {
		path := x.name
		if path == "" {
			path = displayName(requestTarget(x.r))
		}
		h.log.LogAttrs(x.r.Context(), slog.LevelInfo, "request",
			slog.String("method", x.r.Method),
			slog.String("path", path),
			slog.Int("status", x.status),
			slog.Int64("bytes", x.bytes),
			slog.Duration("duration", d),
			slog.String("backend", x.backend),
			slog.String("request_id", x.id),
			slog.Bool("aborted", x.aborted),
		)
	}
	if p != nil {
		panic(p)
	}
}

// requestID returns the client's X-Request-Id when it is 1..64 characters of [A-Za-z0-9._-],
// otherwise a new process-unique id.
func (h *Handler) requestID(r *http.Request) string {
	if v := r.Header.Get("X-Request-Id"); saneRequestID(v) {
		return v
	}
	return h.idPrefix + strconv.FormatUint(h.idSeq.Add(1), 36)
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

// requestTarget returns the raw origin-form target (path and query, percent-escapes intact).
// Absolute-form targets ("http://host/path?q", RFC 9112 §3.2.2) are reduced to their path and
// query; handlers invoked without RequestURI (not from net/http's server) use the URL.
func requestTarget(r *http.Request) string {
	t := r.RequestURI
	if t == "" {
		return r.URL.RequestURI()
	}
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
	ctx := x.r.Context()
	if x.r.Method != http.MethodGet && x.r.Method != http.MethodHead {
		x.w.Header()["Allow"] = hdrAllow
		x.writePage(http.StatusMethodNotAllowed, page405)
		return
	}
	target := requestTarget(x.r)
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
		switch checkPreconditions(x.r, v) {
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
	ctx := x.r.Context()
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
		if err := h.sleep(ctx, h.cfg.MissingRetryDelay); err != nil {
			x.unavailable() // the client is gone; nobody reads this
			return nil, false
		}
	}
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
	if h.cfg.Ranges && x.r.Method == http.MethodGet {
		if lines := x.r.Header.Values("Range"); len(lines) == 1 && checkIfRange(x.r, v) {
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
	if x.r.Method == http.MethodGet && br.length > 0 {
		rd, ok := x.openRange(obj, br)
		if !ok {
			return
		}
		body = rd
	}
	x.setRepresentationHeaders(row, v)
	x.set("Content-Type", ctype)
	if code == http.StatusPartialContent {
		x.set("Content-Range", br.contentRange(row.Size))
	}
	x.set("Content-Length", strconv.FormatInt(br.length, 10))
	x.writeHeader(code)
	if body != nil {
		if x.startBody(br.length) {
			defer cork(x.r.Context(), false)
		}
		x.copyBody(body, br.length)
	}
}

// sendMultipart sends a 206 multipart/byteranges body (RFC 9110 §14.6) with its exact
// Content-Length. Only the first range is requested before the header is written; a failure on a
// later one aborts the connection.
func (x *exchange) sendMultipart(obj storage.Object, row metadata.File, v validators, ctype string, ranges []byteRange) {
	framing := &countingWriter{w: x.w}
	mw := multipart.NewWriter(framing)
	boundary := mw.Boundary()
	length := multipartLength(ranges, ctype, row.Size, boundary)
	first, ok := x.openRange(obj, ranges[0])
	if !ok {
		return
	}
	x.setRepresentationHeaders(row, v)
	x.set("Content-Type", "multipart/byteranges; boundary="+boundary)
	x.set("Content-Length", strconv.FormatInt(length, 10))
	x.writeHeader(http.StatusPartialContent)
	if x.startBody(length) {
		defer cork(x.r.Context(), false)
	}

	defer func() { x.bytes += framing.n }()
	for i, br := range ranges {
		rd := first
		if i > 0 {
			var err error
			if rd, err = obj.Range(x.r.Context(), br.start, br.length); err != nil {
				x.lateStorageFailure(err)
			}
		}
		if _, err := mw.CreatePart(partHeader(br, ctype, row.Size)); err != nil {
			x.abort("writing multipart header", err)
		}
		x.copyBody(rd, br.length)
	}
	if err := mw.Close(); err != nil {
		x.abort("writing multipart trailer", err)
	}
	_ = http.NewResponseController(x.w).Flush() // the trailer leaves before the socket is uncorked
}

// openRange asks the backend for a range before any header is sent, answering 404 (object gone,
// e.g. S3 NoSuchKey) or 503 itself when it fails.
func (x *exchange) openRange(obj storage.Object, br byteRange) (io.Reader, bool) {
	rd, err := obj.Range(x.r.Context(), br.start, br.length)
	if err == nil {
		return rd, true
	}
	if errors.Is(err, storage.ErrNotExist) {
		x.h.metrics.event(eventMissingFile)
		x.h.log.LogAttrs(x.r.Context(), slog.LevelWarn, "metadata row without object",
			slog.String("request_id", x.id), slog.String("name", x.name), slog.String("error", err.Error()))
		x.notFound(x.name)
		return nil, false
	}
	x.h.metrics.event(eventStorageError)
	x.logError("reading storage object", err)
	x.unavailable()
	return nil, false
}

// startBody prepares the socket for a body of n bytes, once per response, right after
// writeHeader. For bodies longer than net/http's 512-byte sniffing prefix the status line and
// headers are flushed first: ReadFrom then goes straight to sendfile instead of read(2)-ing the
// first 512 bytes into a buffer, which saves a system call and a copy per response. The socket
// is corked (TCP_CORK, nginx's tcp_nopush) meanwhile, so the headers leave in the same segment
// as the start of the body; it reports whether it corked, and the caller then uncorks when the
// body is written. A writer that cannot flush just keeps the old path.
func (x *exchange) startBody(n int64) (corked bool) {
	if n <= sniffLen {
		return false
	}
	corked = cork(x.r.Context(), true)
	_ = http.NewResponseController(x.w).Flush()
	return corked
}

// copyBody copies exactly n bytes of rd to the ResponseWriter. It hands rd to io.Copy
// unwrapped, so the mount point's *io.LimitedReader over an *os.File reaches the
// ResponseWriter's ReadFrom and sendfile. A short or failed copy aborts the connection.
func (x *exchange) copyBody(rd io.Reader, n int64) {
	written, err := copyTo(x.w, rd)
	x.bytes += written
	if err == nil && written == n {
		return
	}
	ctx := x.r.Context()
	if ctx.Err() != nil || clientGone(err) { // the client went away: not a storage problem
		x.h.metrics.event(eventClientGone)
		x.h.log.LogAttrs(ctx, slog.LevelDebug, "client gone during body",
			slog.String("request_id", x.id), slog.String("name", x.name), slog.Int64("written", written))
		panic(http.ErrAbortHandler)
	}
	if err == nil || errors.Is(err, io.ErrUnexpectedEOF) {
		x.h.metrics.event(eventShortFile)
		err = fmt.Errorf("body ended after %d of %d bytes: %w", written, n, io.ErrUnexpectedEOF)
	} else {
		x.h.metrics.event(eventStorageError)
	}
	x.abort("copying body", err)
}

// streamBufSize is the copy buffer for bodies that cannot use sendfile (S3): net/http's
// generic path copies 32 KiB at a time, i.e. 16 read/write pairs for a 500 KB image.
const streamBufSize = 256 << 10

var streamBufs = sync.Pool{New: func() any { b := make([]byte, streamBufSize); return &b }}

// copyTo copies rd to w. A mount-point reader (*io.LimitedReader over *os.File) goes to the
// ResponseWriter's ReadFrom untouched, which sendfiles it. Any other body (an S3 response) is
// copied with a pooled 256 KiB buffer, past ReadFrom, so each system call moves up to 256 KiB.
func copyTo(w http.ResponseWriter, rd io.Reader) (int64, error) {
	if lr, ok := rd.(*io.LimitedReader); ok {
		if _, ok := lr.R.(*os.File); ok {
			return io.Copy(w, rd)
		}
	}
	bp := streamBufs.Get().(*[]byte)
	defer streamBufs.Put(bp)
	return io.CopyBuffer(writerOnly{w}, rd, *bp)
}

// writerOnly hides the ResponseWriter's ReadFrom from io.CopyBuffer.
type writerOnly struct{ io.Writer }

// clientGone reports whether a body copy failed because the client closed its connection
// (browsers cancel image loads all the time): a write to the client socket, plain or through
// sendfile ("readfrom" on the TCP connection), failing with EPIPE or ECONNRESET. The request
// context only notices this a moment later, so it cannot be relied on alone. A reset of the
// S3 connection fails a "read" instead and stays a storage error.
func clientGone(err error) bool {
	var op *net.OpError
	if !errors.As(err, &op) || (op.Op != "write" && op.Op != "readfrom") {
		return false
	}
	return errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET)
}

func (x *exchange) lateStorageFailure(err error) {
	x.h.metrics.event(eventStorageError)
	x.abort("reading storage object after headers", err)
}

// abort logs a failure that happened after the status line was sent and drops the connection,
// so the client sees a broken response, never a complete-looking one of the wrong length.
func (x *exchange) abort(what string, err error) {
	x.h.log.LogAttrs(x.r.Context(), slog.LevelError, "aborting response: "+what,
		slog.String("request_id", x.id), slog.String("name", x.name), slog.Any("error", err))
	panic(http.ErrAbortHandler)
}

func (x *exchange) logError(msg string, err error) {
	level := slog.LevelError
	if x.r.Context().Err() != nil {
		level = slog.LevelDebug // canceled by the client
	}
	// The error value, not its text: the logger's rate limit keys on its class (ops.NewRateLimitHandler).
	x.h.log.LogAttrs(x.r.Context(), level, msg,
		slog.String("request_id", x.id), slog.String("name", x.name), slog.Any("error", err))
}

// etagOf is the legacy validator "<mtime>-<size>", always strong.
func etagOf(row metadata.File) entityTag {
	return entityTag{opaque: `"` + strconv.FormatInt(row.MTime, 10) + "-" + strconv.FormatInt(row.Size, 10) + `"`}
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
	hdr := x.w.Header()
	if h.servedBy != nil {
		hdr["Served-by"] = h.servedBy
	}
	if h.poweredBy != nil {
		hdr["X-Powered-By"] = h.poweredBy
	}
	if h.cfg.HTTPCache {
		x.set("Last-Modified", time.Unix(row.MTime, 0).UTC().Format(http.TimeFormat))
		if h.cfg.Expires {
			x.set("Expires", h.now().Add(h.cfg.ExpiryTimeout).UTC().Format(http.TimeFormat))
		}
		x.set("ETag", v.etag.opaque) // the legacy spelling: set bypasses net/http's "Etag" canonicalization
	}
}

// setRepresentationHeaders sets the headers of 200, 206 and 416 answers except Content-Type,
// Content-Length and Content-Range.
func (x *exchange) setRepresentationHeaders(row metadata.File, v validators) {
	x.setValidatorHeaders(row, v)
	x.w.Header()["Accept-Ranges"] = x.h.acceptRanges
}

// writeHeader sends the status line and headers. The opt-in Cache-Control goes on 2xx and 304
// answers only: it must not make an error answer (416, error pages) explicitly cacheable.
func (x *exchange) writeHeader(code int) {
	if code < 400 && x.h.cacheControl != nil {
		x.w.Header()["Cache-Control"] = x.h.cacheControl
	}
	x.status = code
	x.w.WriteHeader(code)
}

// writePage sends a small HTML page with an explicit Content-Length (no body for HEAD).
func (x *exchange) writePage(code int, body string) {
	hdr := x.w.Header()
	hdr["Content-Type"] = hdrTextHTML
	x.set("Content-Length", strconv.Itoa(len(body)))
	x.writeHeader(code)
	if x.r.Method == http.MethodHead {
		return
	}
	n, err := io.WriteString(x.w, body)
	x.bytes += int64(n)
	if err != nil {
		x.h.log.LogAttrs(x.r.Context(), slog.LevelDebug, "writing error page",
			slog.String("request_id", x.id), slog.String("error", err.Error()))
	}
}

// notFound sends the legacy 404 page for name, without any eZ header.
func (x *exchange) notFound(name string) {
	x.writePage(http.StatusNotFound, page404(name))
}

// unavailable sends 503 with Retry-After.
func (x *exchange) unavailable() {
	x.w.Header()["Retry-After"] = x.h.retryAfter
	x.writePage(http.StatusServiceUnavailable, page503)
}

// Unavailable answers 503 exactly as the handler does when a backend is down: Retry-After from
// Config.RetryAfter and the gateway's 503 page (no body for HEAD). It is for a front that turns
// a request away before ServeHTTP, such as ops.LimitConcurrency when every slot is taken, so
// clients see one 503 whatever refused them.
func (h *Handler) Unavailable(w http.ResponseWriter, r *http.Request) {
	hdr := w.Header()
	hdr["Retry-After"] = h.retryAfter
	hdr["Content-Type"] = hdrTextHTML
	hdr["Content-Length"] = []string{strconv.Itoa(len(page503))}
	w.WriteHeader(http.StatusServiceUnavailable)
	if r.Method != http.MethodHead {
		io.WriteString(w, page503)
	}
}
