package s3

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/ezdfsd/ezdfsd/storage/storagetest"
)

// BenchmarkS3OpenRead reads one 32 KiB object from the test versitygw server, side by side:
//   - ezdfsd: Open, Range(0, size), read to the end, Close: what the HTTP handler does per request;
//   - ezdfsd-untuned: the same with a client built without New's per-request savings (tuning);
//   - sdk-ranged: the backend's own SDK client, one ranged GetObject, no Open/Range around it;
//   - direct: GetObject of the whole object with a client left at the SDK's defaults (what a
//     plain program would do), body read to the end.
//
// The ratio ezdfsd/direct of ns/op is the backend's own per-request cost on top of the SDK's
// and the server's; allocs/op counts the client side only. Run it side by side in one go
// (-bench S3OpenRead -benchmem -count 5) on a busy machine and compare ratios, not times.
// The shared test versitygw runs without --keep-alive, so every request here also opens a
// TCP connection.
func BenchmarkS3OpenRead(b *testing.B) {
	s, srv, _ := realBucket(b, Config{})
	const name = "var/bench/storage/images/bench.jpg"
	data := storagetest.Data(7, 32<<10)
	if err := s.Put(context.Background(), name, bytes.NewReader(data), int64(len(data)), ""); err != nil {
		b.Fatalf("Put: %v", err)
	}
	ctx := context.Background()
	untuned, err := newS3(ctx, s.cfg, nil, nil, tuning{})
	if err != nil {
		b.Fatal(err)
	}
	b.Run("ezdfsd-untuned", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			obj, err := untuned.Open(ctx, name)
			if err != nil {
				b.Fatal(err)
			}
			r, err := obj.Range(ctx, 0, int64(len(data)))
			if err != nil {
				b.Fatal(err)
			}
			if n, err := io.Copy(io.Discard, r); err != nil || n != int64(len(data)) {
				b.Fatalf("read %d bytes: %v", n, err)
			}
			obj.Close()
		}
	})
	b.Run("ezdfsd", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			obj, err := s.Open(ctx, name)
			if err != nil {
				b.Fatal(err)
			}
			r, err := obj.Range(ctx, 0, int64(len(data)))
			if err != nil {
				b.Fatal(err)
			}
			if n, err := io.Copy(io.Discard, r); err != nil || n != int64(len(data)) {
				b.Fatalf("read %d bytes: %v", n, err)
			}
			obj.Close()
		}
	})
	b.Run("sdk-ranged", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			out, err := s.client.GetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String(s.Bucket()), Key: aws.String(name),
				Range: aws.String("bytes=0-" + strconv.Itoa(len(data)-1))})
			if err != nil {
				b.Fatal(err)
			}
			if n, err := io.Copy(io.Discard, out.Body); err != nil || n != int64(len(data)) {
				b.Fatalf("read %d bytes: %v", n, err)
			}
			out.Body.Close()
		}
	})
	b.Run("direct", func(b *testing.B) {
		c := awss3.New(awss3.Options{
			Region:       DefaultRegion,
			BaseEndpoint: aws.String(srv.Endpoint),
			UsePathStyle: true,
			Credentials:  credentials.NewStaticCredentialsProvider(srv.AccessKey, srv.SecretKey, ""),
		})
		b.ReportAllocs()
		for b.Loop() {
			out, err := c.GetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String(s.Bucket()), Key: aws.String(name)})
			if err != nil {
				b.Fatal(err)
			}
			if n, err := io.Copy(io.Discard, out.Body); err != nil || n != int64(len(data)) {
				b.Fatalf("read %d bytes: %v", n, err)
			}
			out.Body.Close()
		}
	})
}

// BenchmarkGetObjectCPU measures one ranged read against an in-process keep-alive server that
// answers every GET with the same 32 KiB, so no connection is opened per request and the
// difference between the sub-benchmarks is client CPU: "ezdfsd" is Open+Range+read+Close,
// "net/http" an unsigned plain GET of the same bytes (the floor: what any S3 client pays for
// HTTP alone), "sdk-default" GetObject with a client at the SDK's defaults. ns/op includes the
// in-process server's share of the work, the same for all three.
func BenchmarkGetObjectCPU(b *testing.B) {
	data := storagetest.Data(3, 32<<10)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(len(data)))
		w.Header().Set("ETag", `"x"`)
		if r.Header.Get("Range") != "" {
			w.Header().Set("Content-Range", fmt.Sprintf("bytes 0-%d/%d", len(data)-1, len(data)))
			w.WriteHeader(http.StatusPartialContent)
		}
		w.Write(data)
	}))
	defer ts.Close()
	ctx := context.Background()
	b.Run("ezdfsd", func(b *testing.B) {
		s, err := New(ctx, Config{Bucket: "bench", Endpoint: ts.URL, PathStyle: true, AccessKeyID: "k", SecretAccessKey: "s"}, nil, nil)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			obj, _ := s.Open(ctx, "var/x.jpg")
			r, err := obj.Range(ctx, 0, int64(len(data)))
			if err != nil {
				b.Fatal(err)
			}
			if n, err := io.Copy(io.Discard, r); err != nil || n != int64(len(data)) {
				b.Fatalf("read %d bytes: %v", n, err)
			}
			obj.Close()
		}
	})
	b.Run("net/http", func(b *testing.B) {
		c := ts.Client()
		b.ReportAllocs()
		for b.Loop() {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, ts.URL+"/bench/var/x.jpg", nil)
			req.Header.Set("Range", "bytes=0-32767")
			resp, err := c.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})
	b.Run("sdk-default", func(b *testing.B) {
		c := awss3.New(awss3.Options{Region: DefaultRegion, BaseEndpoint: aws.String(ts.URL), UsePathStyle: true,
			Credentials: credentials.NewStaticCredentialsProvider("k", "s", "")})
		b.ReportAllocs()
		for b.Loop() {
			out, err := c.GetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String("bench"), Key: aws.String("var/x.jpg"), Range: aws.String("bytes=0-32767")})
			if err != nil {
				b.Fatal(err)
			}
			io.Copy(io.Discard, out.Body)
			out.Body.Close()
		}
	})
}

// tunings are the variants the tuning benchmarks compare: none, each saving alone, all.
var tunings = []struct {
	name string
	tun  tuning
}{
	{"none", tuning{}},
	{"endpoints", tuning{cacheEndpoints: true}},
	{"payloadhash", tuning{emptyPayloadHash: true}},
	{"fastget", tuning{fastGet: true}},
	{"all", defaultTuning},
}

// stubHTTP answers every request at once, in memory, with a 206 of data: the client's work
// alone, without network or server.
type stubHTTP struct{ data []byte }

func (h stubHTTP) Do(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		r.Body.Close()
	}
	return &http.Response{StatusCode: http.StatusPartialContent, ContentLength: int64(len(h.data)), Request: r,
		Header: http.Header{
			"Content-Length": {strconv.Itoa(len(h.data))},
			"Content-Range":  {fmt.Sprintf("bytes 0-%d/%d", len(h.data)-1, len(h.data))},
			"Etag":           {`"x"`},
			"Last-Modified":  {"Wed, 02 Dec 2026 20:00:00 GMT"},
			"Accept-Ranges":  {"bytes"},
			"Content-Type":   {"image/jpeg"},
		},
		Body: io.NopCloser(bytes.NewReader(h.data))}, nil
}

// BenchmarkGetObjectClientCost is Open+Range+read+Close against an in-memory HTTP client
// (stubHTTP), so ns/op and allocs/op are the client's per-request work only (SDK and
// backend), without a server or the network: "none" is the client before New's savings,
// "all" New's own, the others one saving alone, "sdk-default" a bare GetObject with a client
// at the SDK's defaults.
func BenchmarkGetObjectClientCost(b *testing.B) {
	data := storagetest.Data(3, 32<<10)
	ctx := context.Background()
	for _, v := range tunings {
		b.Run(v.name, func(b *testing.B) {
			s, err := newS3(ctx, Config{Bucket: "bench", Endpoint: "http://127.0.0.1:1", PathStyle: true, AccessKeyID: "k", SecretAccessKey: "s"}, nil, nil, v.tun)
			if err != nil {
				b.Fatal(err)
			}
			// The options carry the retryer with its attempts already; RetryMaxAttempts 0
			// keeps New from wrapping it a second time.
			s.client = awss3.New(s.client.Options(), func(o *awss3.Options) { o.HTTPClient, o.RetryMaxAttempts = stubHTTP{data}, 0 })
			if v.tun.fastGet {
				if s.fast, err = newFastGet(ctx, s.client, "bench", &sdkClockSkew{}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportAllocs()
			cpu := processCPU()
			defer func() { b.ReportMetric(float64((processCPU()-cpu).Nanoseconds())/float64(b.N), "cpu-ns/op") }()
			for b.Loop() {
				obj, _ := s.Open(ctx, "var/x.jpg")
				r, err := obj.Range(ctx, 0, int64(len(data)))
				if err != nil {
					b.Fatal(err)
				}
				if n, err := io.Copy(io.Discard, r); err != nil || n != int64(len(data)) {
					b.Fatalf("read %d bytes: %v", n, err)
				}
				obj.Close()
			}
		})
	}
	b.Run("sdk-default", func(b *testing.B) {
		c := awss3.New(awss3.Options{Region: DefaultRegion, BaseEndpoint: aws.String("http://127.0.0.1:1"), UsePathStyle: true,
			Credentials: credentials.NewStaticCredentialsProvider("k", "s", ""), HTTPClient: stubHTTP{data}})
		b.ReportAllocs()
		cpu := processCPU()
		defer func() { b.ReportMetric(float64((processCPU()-cpu).Nanoseconds())/float64(b.N), "cpu-ns/op") }()
		for b.Loop() {
			out, err := c.GetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String("bench"), Key: aws.String("var/x.jpg"), Range: aws.String("bytes=0-32767")})
			if err != nil {
				b.Fatal(err)
			}
			io.Copy(io.Discard, out.Body)
			out.Body.Close()
		}
	})
}

// BenchmarkGetObjectTuning compares the per-request savings of New (tuning) side by side, in
// one run, against the same in-process keep-alive server as BenchmarkGetObjectCPU: "none" is
// the client New built before any of them, "all" is New's client, and each other
// sub-benchmark turns on one saving alone. Compare ns/op and allocs/op as ratios to "none".
func BenchmarkGetObjectTuning(b *testing.B) {
	data := storagetest.Data(3, 32<<10)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(len(data)))
		w.Header().Set("Content-Range", fmt.Sprintf("bytes 0-%d/%d", len(data)-1, len(data)))
		w.WriteHeader(http.StatusPartialContent)
		w.Write(data)
	}))
	defer ts.Close()
	ctx := context.Background()
	for _, v := range tunings {
		b.Run(v.name, func(b *testing.B) {
			s, err := newS3(ctx, Config{Bucket: "bench", Endpoint: ts.URL, PathStyle: true, AccessKeyID: "k", SecretAccessKey: "s"}, nil, nil, v.tun)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			cpu := processCPU()
			for b.Loop() {
				obj, _ := s.Open(ctx, "var/x.jpg")
				r, err := obj.Range(ctx, 0, int64(len(data)))
				if err != nil {
					b.Fatal(err)
				}
				if n, err := io.Copy(io.Discard, r); err != nil || n != int64(len(data)) {
					b.Fatalf("read %d bytes: %v", n, err)
				}
				obj.Close()
			}
			b.ReportMetric(float64((processCPU()-cpu).Microseconds())/float64(b.N), "cpu-µs/op")
		})
	}
}

// processCPU is the CPU time (user and system) this process has used so far. Per operation it
// is less sensitive than wall time to other programs on a busy machine; it counts the
// in-process test server as well as the client.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
