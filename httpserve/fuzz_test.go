package httpserve

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ezdfsd/ezdfsd/dfs"
	"github.com/ezdfsd/ezdfsd/metadata"
	"github.com/ezdfsd/ezdfsd/storage"
)

// Native fuzz targets for the handler's parsers and for the whole handler. scripts/test runs each
// for a few seconds; the seed corpora live in testdata/fuzz/<Target>/.

// FuzzParseRange checks parseRange's invariants on arbitrary Range values: no panic; every
// returned range lies inside [0,size) with a positive length; no two returned ranges overlap or
// touch (they are coalesced); never more than maxRanges of them; a nil result without error only
// for an empty representation.
func FuzzParseRange(f *testing.F) {
	seeds := []string{
		"bytes=0-99", "bytes=0-0", "bytes=-100", "bytes=500-", "bytes=0-1,5-6", "bytes=5-6,0-1",
		"bytes=0-10,5-20", "bytes=10-20,0-9", "bytes=0-0,0-0,0-0", "bytes=-0", "bytes=1000-",
		"bytes=0-99999999999999999999999", "Bytes=0-1", "bytes=100-50", "bytes=,,0-1,", "bytes= 1-2",
		"bytes=0-1 , 5-6", "bytes=1e2-200", "items=0-1", "bytes=-", "bytes=--1", "=", "",
	}
	for _, s := range seeds {
		f.Add(s, int64(1000), uint8(16))
	}
	f.Add("bytes=-5", int64(0), uint8(16))
	f.Add("bytes=0-", int64(1), uint8(1))
	f.Add("bytes=0-1,3-4,6-7", int64(10), uint8(2))
	f.Fuzz(func(t *testing.T, v string, size int64, maxRanges uint8) {
		if size < 0 {
			size = -(size + 1) // every non-negative size, MaxInt64 included
		}
		max := int(maxRanges)%64 + 1
		ranges, err := parseRange(v, size, max)
		if err != nil {
			if ranges != nil {
				t.Fatalf("parseRange(%q, %d) = %v with error %v", v, size, ranges, err)
			}
			return
		}
		if ranges == nil && size != 0 {
			t.Fatalf("parseRange(%q, %d): nil ranges and nil error on a non-empty representation", v, size)
		}
		if len(ranges) > max {
			t.Fatalf("parseRange(%q, %d, %d) returned %d ranges", v, size, max, len(ranges))
		}
		var total int64
		for i, r := range ranges {
			if r.start < 0 || r.length <= 0 || r.start >= size || r.length > size-r.start {
				t.Fatalf("parseRange(%q, %d): range %d = %+v is outside [0,%d)", v, size, i, r, size)
			}
			total += r.length
			if total > size {
				t.Fatalf("parseRange(%q, %d): ranges cover %d bytes, more than the representation", v, size, total)
			}
			for j := range i {
				q := ranges[j]
				if r.start <= q.last()+1 && q.start <= r.last()+1 {
					t.Fatalf("parseRange(%q, %d): ranges %+v and %+v overlap or touch (not coalesced)", v, size, q, r)
				}
			}
			cr := r.contentRange(size)
			if !strings.HasPrefix(cr, "bytes ") || !strings.HasSuffix(cr, "/"+strconv.FormatInt(size, 10)) {
				t.Fatalf("content-range %q for %+v", cr, r)
			}
		}
	})
}

// FuzzPreconditions feeds arbitrary If-Match, If-None-Match, If-Modified-Since,
// If-Unmodified-Since and If-Range values to the precondition evaluation: no panic, the result is
// always one of 0/304/412, If-None-Match "*" always matches (304 once If-Match and
// If-Unmodified-Since are out of the way), and a list holding the current ETag always matches too.
func FuzzPreconditions(f *testing.F) {
	type seed struct{ im, inm, ims, ius, ir string }
	for _, s := range []seed{
		{inm: "*"},
		{inm: fooETag},
		{inm: "W/" + fooETag},
		{inm: `"a", "b",` + fooETag},
		{inm: `"a" "b"`},
		{inm: "1700000000-1000"},
		{im: "*", inm: `"x"`},
		{im: `"other"`},
		{im: fooETag, ius: lastMod},
		{ims: lastMod},
		{ims: lastMod + "; length=1000"},
		{ims: "Sunday, 06-Nov-94 08:49:37 GMT"},
		{ims: "Sun Nov  6 08:49:37 1994"},
		{ius: "Tue, 14 Nov 2023 22:13:19 GMT"},
		{ir: fooETag},
		{ir: "W/" + fooETag},
		{ir: lastMod},
		{ir: `"`},
		{inm: `W/"`, im: `,,,`, ims: ";", ius: "\x00", ir: "W/"},
	} {
		f.Add(s.im, s.inm, s.ims, s.ius, s.ir, int64(mtime), int64(1000))
	}
	f.Fuzz(func(t *testing.T, im, inm, ims, ius, ir string, mt, size int64) {
		v := validators{etag: etagOf(metadata.File{MTime: mt, Size: size}), mtime: mt}
		r := httptest.NewRequest(http.MethodGet, "/x", nil)
		setIf := func(k, val string) {
			if val != "" {
				r.Header[k] = strings.Split(val, "\n") // repeated field lines too
			}
		}
		setIf("If-Match", im)
		setIf("If-None-Match", inm)
		setIf("If-Modified-Since", ims)
		setIf("If-Unmodified-Since", ius)
		setIf("If-Range", ir)

		switch got := checkPreconditions(r.Header, v); got {
		case 0, http.StatusNotModified, http.StatusPreconditionFailed:
		default:
			t.Fatalf("checkPreconditions = %d", got)
		}
		_ = checkIfRange(r.Header, v)

		// If-None-Match: * matches any existing representation, whatever If-Modified-Since says.
		star := httptest.NewRequest(http.MethodGet, "/x", nil)
		star.Header.Set("If-None-Match", "*")
		if ims != "" {
			star.Header["If-Modified-Since"] = []string{ims}
		}
		if got := checkPreconditions(star.Header, v); got != http.StatusNotModified {
			t.Fatalf("If-None-Match: * with If-Modified-Since %q = %d, want 304", ims, got)
		}
		// Adding the current ETag (strong or weak) to any valid list makes it match; If-Match
		// "*" never fails.
		own := httptest.NewRequest(http.MethodGet, "/x", nil)
		own.Header.Set("If-Match", "*")
		own.Header.Set("If-None-Match", "W/"+v.etag.opaque)
		if got := checkPreconditions(own.Header, v); got != http.StatusNotModified {
			t.Fatalf("If-None-Match: W/%s = %d, want 304", v.etag.opaque, got)
		}
		// If-Range with the current strong ETag always honours the Range; the weak form never.
		strong := httptest.NewRequest(http.MethodGet, "/x", nil)
		strong.Header.Set("If-Range", v.etag.opaque)
		if !checkIfRange(strong.Header, v) {
			t.Fatalf("If-Range %s did not match", v.etag.opaque)
		}
		strong.Header.Set("If-Range", "W/"+v.etag.opaque)
		if checkIfRange(strong.Header, v) {
			t.Fatalf("weak If-Range W/%s matched", v.etag.opaque)
		}
	})
}

// FuzzServeHTTP runs the whole handler in process (serveWritten: the request as fasthttp parsed
// it, the response as fasthttp writes it), with the conformance fixture's fake mount point, S3
// and metadata store, on arbitrary methods, targets, Range and conditional headers: it never
// answers 500, never panics, never fails writing the body (the fakes do not fail mid-body), and
// every body it sends has exactly the announced Content-Length, and the bytes are the file's: a
// 200 is the whole representation (the row's size of the opened object), a single range and
// every multipart part are exactly the bytes their Content-Range names.
func FuzzServeHTTP(f *testing.F) {
	root := f.TempDir()
	var once sync.Once
	for _, s := range []struct{ method, target, rng, inm, ims string }{
		{"GET", imgPath, "", "", ""},
		{"GET", imgPath, "bytes=0-99", "", ""},
		{"GET", imgPath, "bytes=0-0,0-0,0-0", "", ""},
		{"GET", imgPath, "bytes=0-1,5-6,900-", "", ""},
		{"GET", imgPath, "bytes=-0", "", ""},
		{"GET", imgPath, "bytes=5000-", "", ""},
		{"GET", imgPath, "", fooETag, ""},
		{"GET", imgPath, "", "", lastMod},
		{"HEAD", imgPath, "bytes=0-9", "", ""},
		{"POST", imgPath, "", "", ""},
		{"GET", "/" + s3Prefix + "img.png", "bytes=1-3,5-6", "", ""},
		{"GET", "/" + s3Prefix + "gone.png", "", "", ""},
		{"GET", "/" + s3Prefix + "broken.png", "bytes=0-1", "", ""},
		{"GET", "/" + imgX + "short.jpg", "", "", ""},
		{"GET", "/" + imgX + "long.jpg", "bytes=990-1500", "", ""},
		{"GET", "/" + imgX + "empty.jpg", "bytes=-5", "", ""},
		{"GET", "/" + imgX + "missing.jpg", "", "", ""},
		{"GET", "/" + imgX + "negative-size.jpg", "", "", ""},
		{"GET", "/" + imgX + "foo%20bar.jpg?x=%3F", "", "", ""},
		{"GET", "/" + imgX + "q%3Fmark.jpg", "", "", ""},
		{"GET", "/" + cssName, "", "", ""},
		{"GET", "/var/ezdemo_site/storage/images/../../../etc/passwd", "", "", ""},
		{"GET", "/var/ezdemo_site/storage/images/%2e%2e/%2e%2e/x", "", "", ""},
		{"GET", "http://example.com" + imgPath, "", "", ""},
		{"GET", "*", "", "", ""},
		{"GET", "", "", "", ""},
		{"GET", "/var/%00", "", "", ""},
	} {
		f.Add(s.method, s.target, s.rng, s.inm, s.ims, "")
	}
	f.Fuzz(func(t *testing.T, method, target, rng, inm, ims, ir string) {
		once.Do(func() { copyFixtureFiles(t, root) })
		fx := newFixtureIn(t, root)
		h, opened := recordingHandler(t, fx)
		switch {
		case method == "" || strings.EqualFold(method, "get"):
			method = http.MethodGet
		case strings.EqualFold(method, "head"):
			method = http.MethodHead
		}
		if target == "" {
			target = "/"
		}
		var headers []string
		for k, v := range map[string]string{"Range": rng, "If-None-Match": inm, "If-Modified-Since": ims, "If-Range": ir} {
			if v != "" {
				headers = append(headers, k, v)
			}
		}
		rec := httptest.NewRecorder()
		func() {
			defer func() {
				if p := recover(); p != nil {
					t.Fatalf("%s %q Range %q: handler panicked: %v", method, target, rng, p)
				}
			}()
			if err := serveWritten(h, rec, method, target, headers...); err != nil {
				t.Fatalf("%s %q Range %q: %v", method, target, rng, err)
			}
		}()
		res := rec.Result()
		body := rec.Body.Bytes()
		if res.StatusCode >= 500 && res.StatusCode != http.StatusServiceUnavailable {
			t.Fatalf("%s %q Range %q: status %d", method, target, rng, res.StatusCode)
		}
		if res.StatusCode == http.StatusServiceUnavailable && res.Header.Get("Retry-After") == "" {
			t.Fatalf("%s %q: 503 without Retry-After", method, target)
		}
		cl := res.Header.Get("Content-Length")
		if method == http.MethodHead || res.StatusCode == http.StatusNotModified {
			if len(body) != 0 {
				t.Fatalf("%s %q: %d-byte body on HEAD/304", method, target, len(body))
			}
			return
		}
		if cl == "" {
			t.Fatalf("%s %q: status %d without Content-Length", method, target, res.StatusCode)
		}
		if n, err := strconv.Atoi(cl); err != nil || n != len(body) {
			t.Fatalf("%s %q Range %q: Content-Length %q, body %d bytes", method, target, rng, cl, len(body))
		}
		if res.StatusCode != http.StatusOK && res.StatusCode != http.StatusPartialContent {
			return
		}
		// The bytes themselves: the representation is the row's size worth of the file the
		// handler opened; a 200 is all of it, each 206 part exactly its Content-Range of it.
		rep := opened.representation(t, fx, root)
		if res.StatusCode == http.StatusOK && !bytes.Equal(body, rep) {
			t.Fatalf("%s %q: 200 body (%d bytes) differs from the %d-byte representation of %s",
				method, target, len(body), len(rep), opened.name)
		}
		if res.StatusCode == http.StatusPartialContent {
			checkPartialBody(t, res.Header, body, rep)
		}
	})
}

// openLog records the last name opened through the backends it wraps.
type openLog struct {
	mu      sync.Mutex
	name    string
	backend string
}

// recordingBackend is a storage.Backend that notes each Open in an openLog.
type recordingBackend struct {
	storage.Backend
	log   *openLog
	label string
}

func (b recordingBackend) Open(ctx context.Context, name string) (storage.Object, error) {
	b.log.mu.Lock()
	b.log.name, b.log.backend = name, b.label
	b.log.mu.Unlock()
	return b.Backend.Open(ctx, name)
}

// recordingHandler is fx.handler with the fixture's backends wrapped in an openLog.
func recordingHandler(t *testing.T, fx *fixture) (*Handler, *openLog) {
	t.Helper()
	log := &openLog{}
	h, err := New(testConfig(), fx.routing(t), fx.store, map[string]storage.Backend{
		dfs.MountPointBackend: recordingBackend{fx.mount, log, dfs.MountPointBackend},
		dfs.S3Backend:         recordingBackend{fx.s3, log, dfs.S3Backend},
	}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	h.now = func() time.Time { return fixedNow }
	h.sleep = func(ctx context.Context, d time.Duration) error { return ctx.Err() }
	return h, log
}

// representation returns the bytes the handler must serve for the file it opened: the first
// row-size bytes of the object (the row's size is the representation's size).
func (l *openLog) representation(t *testing.T, fx *fixture, root string) []byte {
	t.Helper()
	l.mu.Lock()
	name, backend := l.name, l.backend
	l.mu.Unlock()
	if name == "" {
		t.Fatal("200/206 without any backend Open")
	}
	size := int64(-1)
	for k, row := range fx.store.rows {
		if k.Name == name {
			size = row.Size
		}
	}
	var data []byte
	if backend == dfs.S3Backend {
		data = fx.s3.objects[name]
	} else {
		var err error
		if data, err = os.ReadFile(filepath.Join(root, filepath.FromSlash(name))); err != nil {
			t.Fatalf("served %s, which the fixture cannot read: %v", name, err)
		}
	}
	if size < 0 || size > int64(len(data)) {
		t.Fatalf("served %s: row size %d, object %d bytes", name, size, len(data))
	}
	return data[:size]
}

// checkPartialBody checks that a 206 body (single part) or every part of a multipart/byteranges
// body holds exactly the bytes of rep its Content-Range names.
func checkPartialBody(t *testing.T, hdr http.Header, body, rep []byte) {
	t.Helper()
	mt, params, err := mime.ParseMediaType(hdr.Get("Content-Type"))
	if err != nil {
		t.Fatalf("206 Content-Type %q: %v", hdr.Get("Content-Type"), err)
	}
	if mt != "multipart/byteranges" {
		checkPart(t, hdr.Get("Content-Range"), body, rep)
		return
	}
	mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
	parts := 0
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("multipart body: %v", err)
		}
		data, err := io.ReadAll(p)
		if err != nil {
			t.Fatalf("multipart part: %v", err)
		}
		checkPart(t, p.Header.Get("Content-Range"), data, rep)
		parts++
	}
	if parts < 2 {
		t.Fatalf("multipart/byteranges with %d parts", parts)
	}
}

// checkPart checks that part is rep[first:last+1] for its Content-Range "bytes first-last/size",
// and that size is rep's length.
func checkPart(t *testing.T, contentRange string, part, rep []byte) {
	t.Helper()
	var first, last, size int64
	if _, err := fmt.Sscanf(contentRange, "bytes %d-%d/%d", &first, &last, &size); err != nil {
		t.Fatalf("Content-Range %q: %v", contentRange, err)
	}
	if first < 0 || last < first || last >= size || last-first+1 != int64(len(part)) {
		t.Fatalf("Content-Range %q with a %d-byte part", contentRange, len(part))
	}
	if size != int64(len(rep)) {
		t.Fatalf("Content-Range %q: the representation is %d bytes", contentRange, len(rep))
	}
	if !bytes.Equal(part, rep[first:last+1]) {
		t.Fatalf("Content-Range %q: the part's bytes differ from the representation's", contentRange)
	}
}

// copyFixtureFiles writes the conformance fixture's files into root (which outlives t).
func copyFixtureFiles(t *testing.T, root string) {
	t.Helper()
	src := newFixture(t).mount.root
	if err := os.CopyFS(root, os.DirFS(src)); err != nil {
		t.Fatalf("copy fixture files: %v", err)
	}
}
