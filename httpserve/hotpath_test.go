package httpserve

import (
	"bytes"
	"context"
	"io"
	"math"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"

	"github.com/ezdfsd/ezdfsd/dfs"
	"github.com/ezdfsd/ezdfsd/metadata"
	"github.com/ezdfsd/ezdfsd/storage"
)

// memBackend serves one in-memory object under every name, without system calls, so that
// BenchmarkServeHotPath measures the handler's own work.
type memBackend struct{ data []byte }

func (m memBackend) Open(context.Context, string) (storage.Object, error) { return memObject(m), nil }

type memObject struct{ data []byte }

func (o memObject) Size() int64 { return int64(len(o.data)) }

func (o memObject) Range(_ context.Context, off, n int64) (io.Reader, error) {
	return bytes.NewReader(o.data[off : off+n]), nil
}

func (o memObject) Close() error { return nil }

// TestEtagOfAndRequestID: etagOf and the generated request ids are what the string
// concatenations they replace gave.
func TestEtagOfAndRequestID(t *testing.T) {
	for _, v := range []int64{0, 1, -1, 9, 10, 99, 100, mtime, math.MaxInt64, math.MinInt64} {
		for _, size := range []int64{0, 1000, -5, math.MaxInt64, math.MinInt64} {
			want := `"` + strconv.FormatInt(v, 10) + "-" + strconv.FormatInt(size, 10) + `"`
			if got := etagOf(metadata.File{MTime: v, Size: size}).opaque; got != want {
				t.Errorf("etagOf(%d, %d) = %s, want %s", v, size, got, want)
			}
		}
	}
	h := &Handler{idPrefix: "0a1b2c3d-"}
	for _, seq := range []uint64{0, 1, 35, 36, 1 << 40, math.MaxUint64 - 1} {
		h.idSeq.Store(seq)
		if got, want := h.requestID(fastHeader{new(fasthttp.RequestHeader)}), h.idPrefix+strconv.FormatUint(seq+1, 36); got != want {
			t.Errorf("request id after %d = %q, want %q", seq, got, want)
		}
	}
}

// BenchmarkServeHotPath measures the handler's user-space work per request for a cached
// 70 KiB image answered 200 (body copied to io.Discard) and a revalidation answered 304, with
// metrics on and the daemon's default routing.
func BenchmarkServeHotPath(b *testing.B) {
	const size = 70 << 10
	store := newFakeStore()
	store.put(dfs.DefaultStorageTable, metadata.File{Name: img, Datatype: "image/jpeg", Size: size, MTime: mtime})
	allow, err := dfs.NewAllowList(dfs.DefaultServedPatterns)
	if err != nil {
		b.Fatal(err)
	}
	h, err := New(testConfig(), Routing{Allow: allow, Tables: dfs.DefaultTables(), Dispatch: dfs.Dispatch{}}, store,
		map[string]storage.Backend{dfs.MountPointBackend: memBackend{make([]byte, size)}}, nil, prometheus.NewRegistry())
	if err != nil {
		b.Fatal(err)
	}
	etag := `"` + strconv.Itoa(mtime) + "-" + strconv.Itoa(size) + `"`
	for _, c := range []struct {
		name    string
		headers []string
		code    int
	}{
		{"200", nil, http.StatusOK},
		{"304", []string{"If-None-Match", etag, "If-Modified-Since", time.Unix(mtime, 0).UTC().Format(http.TimeFormat)}, http.StatusNotModified},
	} {
		b.Run(c.name, func(b *testing.B) {
			var req fasthttp.Request
			req.Header.SetMethod(http.MethodGet)
			req.Header.SetRequestURI(imgPath)
			for i := 0; i < len(c.headers); i += 2 {
				req.Header.Set(c.headers[i], c.headers[i+1])
			}
			var rc fasthttp.RequestCtx
			b.ReportAllocs()
			for b.Loop() {
				rc.Init(&req, nil, nil)
				h.ServeFastHTTP(&rc)
				if rc.Response.StatusCode() != c.code {
					b.Fatal(rc.Response.StatusCode())
				}
				if s := rc.Response.BodyStream(); s != nil {
					if _, err := s.(io.WriterTo).WriteTo(io.Discard); err != nil {
						b.Fatal(err)
					}
				}
				rc.Response.Reset()
			}
		})
	}
}
