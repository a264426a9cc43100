package s3

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/ezdfsd/ezdfsd/dfs"
	"github.com/ezdfsd/ezdfsd/storage"
	"github.com/ezdfsd/ezdfsd/storage/storagetest"
)

// newFake starts gofakes3 (in memory) and returns a backend on a fresh bucket.
func newFake(t *testing.T) (*S3, *prometheus.Registry) {
	t.Helper()
	ts := httptest.NewServer(gofakes3.New(s3mem.New(), gofakes3.WithLogger(gofakes3.DiscardLog())).Server())
	t.Cleanup(ts.Close)
	reg := prometheus.NewPedanticRegistry()
	s, err := New(context.Background(), Config{
		Bucket: "ezdfsd-unit", Region: "us-east-1", Endpoint: ts.URL, PathStyle: true,
		AccessKeyID: "k", SecretAccessKey: "s",
	}, reg, nil)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if _, err := s.client.CreateBucket(context.Background(), &awss3.CreateBucketInput{Bucket: aws.String(s.Bucket())}); err != nil {
		t.Fatalf("CreateBucket: %v", err)
	}
	return s, reg
}

func putter(s *S3) func(t *testing.T, name string, data []byte) {
	return func(t *testing.T, name string, data []byte) {
		t.Helper()
		if err := s.Put(context.Background(), name, bytes.NewReader(data), int64(len(data)), ""); err != nil {
			t.Fatalf("Put(%q): %v", name, err)
		}
	}
}

func TestConformanceFake(t *testing.T) {
	s, _ := newFake(t)
	storagetest.TestBackend(t, s, putter(s))
}

func TestFakeBasics(t *testing.T) {
	s, reg := newFake(t)
	ctx := context.Background()
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	name := "var/site/storage/images/a.png"
	if err := s.Put(ctx, name, strings.NewReader("png bytes"), 9, "image/png"); err != nil {
		t.Fatalf("Put: %v", err)
	}
	head, err := s.client.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: aws.String(s.Bucket()), Key: aws.String(name)})
	if err != nil {
		t.Fatalf("HeadObject: %v", err)
	}
	if got := aws.ToString(head.ContentType); got != "image/png" {
		t.Errorf("Content-Type %q, want image/png", got)
	}
	obj, err := s.Open(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	defer obj.Close()
	if obj.Size() != -1 {
		t.Errorf("Size() = %d, want -1", obj.Size())
	}
	if _, err := obj.Range(ctx, 0, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := storagetest.ReadRange(ctx, s, "var/missing", 0, 1); !errors.Is(err, storage.ErrNotExist) {
		t.Fatalf("missing key: %v, want storage.ErrNotExist", err)
	}
	if got := testutil.ToFloat64(s.metrics.errors.WithLabelValues(kindNoSuchKey)); got != 1 {
		t.Errorf("errors_total{kind=no_such_key} = %v, want 1", got)
	}
	if got := testutil.ToFloat64(s.metrics.requests.WithLabelValues(opGet, resultNotFound)); got != 1 {
		t.Errorf("requests_total{op=get,result=not_found} = %v, want 1", got)
	}
	if got := testutil.ToFloat64(s.metrics.requests.WithLabelValues(opPut, resultOK)); got != 1 {
		t.Errorf("requests_total{op=put,result=ok} = %v, want 1", got)
	}
	if n, err := testutil.GatherAndCount(reg, "ezdfsd_s3_first_byte_seconds"); err != nil || n != 1 {
		t.Errorf("first_byte_seconds: %d series, %v", n, err)
	}
	if _, err := s.Open(ctx, "../x"); !errors.Is(err, storage.ErrNotExist) || !errors.Is(err, dfs.ErrInvalidName) {
		t.Errorf("Open(../x): %v", err)
	}
}

func TestPutSource(t *testing.T) {
	s, _ := newFake(t)
	ctx := context.Background()
	tests := []struct {
		name    string
		data    string
		size    int64
		wantErr error // nil: success
	}{
		{"exact", "abc", 3, nil},
		{"unknown size", "abcd", -1, nil},
		{"empty", "", 0, nil},
		{"short", "abc", 10, io.ErrUnexpectedEOF},
		{"long", "abcdef", 3, errAny},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key := "put/" + strings.ReplaceAll(tt.name, " ", "-")
			err := s.Put(ctx, key, strings.NewReader(tt.data), tt.size, "")
			switch {
			case tt.wantErr == nil && err != nil:
				t.Fatalf("Put: %v", err)
			case tt.wantErr == nil:
				got, err := storagetest.ReadRange(ctx, s, key, 0, int64(len(tt.data)))
				if err != nil || string(got) != tt.data {
					t.Fatalf("read back %q, %v; want %q", got, err, tt.data)
				}
			case err == nil:
				t.Fatalf("Put succeeded, want an error")
			case tt.wantErr != errAny && !errors.Is(err, tt.wantErr):
				t.Fatalf("Put: %v, want %v", err, tt.wantErr)
			case errors.Is(err, storage.ErrUnavailable):
				t.Fatalf("Put: %v: a source fault must not look like a backend outage", err)
			default:
				if _, err := storagetest.ReadRange(ctx, s, key, 0, 1); !errors.Is(err, storage.ErrNotExist) {
					t.Fatalf("failed Put left an object: %v", err)
				}
			}
		})
	}
}

var errAny = errors.New("any error")

// TestPutMultipart uploads an object bigger than PartSize (several parts, generated on the fly,
// non-seekable) and reads it back.
func TestPutMultipart(t *testing.T) {
	s, _ := newFake(t)
	s.cfg.PartSize = MinPartSize
	ctx := context.Background()
	data := storagetest.Data(9, 3*MinPartSize+12345)
	if err := s.Put(ctx, "big/multi.bin", io.MultiReader(bytes.NewReader(data)), int64(len(data)), "application/x-test"); err != nil {
		t.Fatalf("Put: %v", err)
	}
	got, err := storagetest.ReadRange(ctx, s, "big/multi.bin", 0, int64(len(data)))
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read back %d bytes, %v; want the %d stored", len(got), err, len(data))
	}
	head, err := s.client.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: aws.String(s.Bucket()), Key: aws.String("big/multi.bin")})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(head.ContentType) != "application/x-test" {
		t.Errorf("Content-Type %q after multipart upload", aws.ToString(head.ContentType))
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{"ok", Config{Bucket: "ezp-var"}, ""},
		{"no bucket", Config{}, "bucket is required"},
		{"short bucket", Config{Bucket: "b"}, "3 to 63 characters"},
		{"slash", Config{Bucket: "a/b/c"}, "no slash"},
		{"endpoint", Config{Bucket: "abc", Endpoint: "127.0.0.1:9000"}, "http:// or https://"},
		{"negative", Config{Bucket: "abc", MaxAttempts: -1}, "negative"},
		{"part size", Config{Bucket: "abc", PartSize: 1 << 20}, "below S3's minimum"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Validate: %v, want an error containing %q", err, tt.wantErr)
			}
			if _, err := New(context.Background(), tt.cfg, nil, nil); err == nil {
				t.Fatalf("New accepted an invalid config")
			}
		})
	}
}

func TestMetricsRegisterTwice(t *testing.T) {
	reg := prometheus.NewRegistry()
	cfg := Config{Bucket: "abc", Endpoint: "http://127.0.0.1:1", AccessKeyID: "k", SecretAccessKey: "s"}
	if _, err := New(context.Background(), cfg, reg, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := New(context.Background(), cfg, reg, nil); err == nil {
		t.Fatal("second New on the same registry: no error")
	}
}

// s3Error writes an S3 XML error answer.
func s3Error(w http.ResponseWriter, status int, code string) {
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(status)
	fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>%s</Code><Message>test</Message><RequestId>r</RequestId></Error>`, code)
}

// scripted returns a backend whose endpoint answers every request with h.
func scripted(t *testing.T, h http.HandlerFunc, cfg Config) (*S3, *bytes.Buffer) {
	t.Helper()
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	cfg.Bucket, cfg.Endpoint, cfg.PathStyle = "ezdfsd-scripted", ts.URL, true
	cfg.AccessKeyID, cfg.SecretAccessKey = "k", "s"
	var logs bytes.Buffer
	s, err := New(context.Background(), cfg, prometheus.NewRegistry(), slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	return s, &logs
}

func TestErrorMapping(t *testing.T) {
	tests := []struct {
		name     string
		status   int
		code     string
		want     error
		kind     string
		logError bool
	}{
		{"NoSuchKey", 404, "NoSuchKey", storage.ErrNotExist, kindNoSuchKey, false},
		{"bare 404", 404, "", storage.ErrNotExist, kindNoSuchKey, false},
		{"NoSuchBucket", 404, "NoSuchBucket", storage.ErrUnavailable, kindNoSuchBucket, true},
		{"AccessDenied", 403, "AccessDenied", storage.ErrUnavailable, kindAccessDenied, true},
		{"SignatureDoesNotMatch", 403, "SignatureDoesNotMatch", storage.ErrUnavailable, kindAccessDenied, true},
		{"InvalidAccessKeyId", 403, "InvalidAccessKeyId", storage.ErrUnavailable, kindAccessDenied, true},
		{"InvalidRange", 416, "InvalidRange", storage.ErrUnavailable, kindInvalidRange, false},
		{"SlowDown", 503, "SlowDown", storage.ErrUnavailable, kindThrottled, false},
		{"InternalError", 500, "InternalError", storage.ErrUnavailable, kindServer, false},
		{"bad gateway", 502, "", storage.ErrUnavailable, kindServer, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var hits atomic.Int32
			s, logs := scripted(t, func(w http.ResponseWriter, r *http.Request) {
				hits.Add(1)
				if tt.code == "" {
					w.WriteHeader(tt.status)
					return
				}
				s3Error(w, tt.status, tt.code)
			}, Config{MaxAttempts: 2})
			_, err := storagetest.ReadRange(context.Background(), s, "var/x.jpg", 0, 10)
			if !errors.Is(err, tt.want) {
				t.Fatalf("error %v, want %v", err, tt.want)
			}
			if got := testutil.ToFloat64(s.metrics.errors.WithLabelValues(tt.kind)); got != 1 {
				t.Errorf("errors_total{kind=%s} = %v, want 1", tt.kind, got)
			}
			if got := strings.Contains(logs.String(), "level=ERROR"); got != tt.logError {
				t.Errorf("logged at Error: %v, want %v; log:\n%s", got, tt.logError, logs)
			}
			retried := tt.status >= 500
			if n := hits.Load(); retried && n != 2 || !retried && n != 1 {
				t.Errorf("%d requests with MaxAttempts=2 (retry expected: %v)", n, retried)
			}
		})
	}
}

func TestRangeHeaderAndLength(t *testing.T) {
	data := storagetest.Data(1, 1000)
	tests := []struct {
		name      string
		handler   func(w http.ResponseWriter, off, last int)
		wantRange error // nil: Range succeeds
		wantRead  error // from reading the body
	}{
		{"exact", func(w http.ResponseWriter, off, last int) {
			w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/1000", off, last))
			w.WriteHeader(206)
			w.Write(data[off : last+1])
		}, nil, nil},
		{"shorter answer", func(w http.ResponseWriter, off, last int) {
			w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/1000", off, last-5))
			w.WriteHeader(206)
			w.Write(data[off : last-4])
		}, storage.ErrUnavailable, nil},
		{"range ignored", func(w http.ResponseWriter, off, last int) {
			w.WriteHeader(200)
			w.Write(data[:last-off+1])
		}, storage.ErrUnavailable, nil},
		{"body cut", func(w http.ResponseWriter, off, last int) {
			w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/1000", off, last))
			w.Header().Set("Content-Length", fmt.Sprint(last-off+1))
			w.WriteHeader(206)
			w.Write(data[off : off+10])
			// returning closes the connection: the body is short of Content-Length
		}, nil, io.ErrUnexpectedEOF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var gotRange string
			s, _ := scripted(t, func(w http.ResponseWriter, r *http.Request) {
				gotRange = r.Header.Get("Range")
				var off, last int
				fmt.Sscanf(gotRange, "bytes=%d-%d", &off, &last)
				tt.handler(w, off, last)
			}, Config{MaxAttempts: 1})
			ctx := context.Background()
			obj, _ := s.Open(ctx, "var/x.bin")
			defer obj.Close()
			r, err := obj.Range(ctx, 100, 50)
			if gotRange != "bytes=100-149" {
				t.Errorf("Range header %q, want bytes=100-149", gotRange)
			}
			if tt.wantRange != nil {
				if !errors.Is(err, tt.wantRange) {
					t.Fatalf("Range: %v, want %v", err, tt.wantRange)
				}
				return
			}
			if err != nil {
				t.Fatalf("Range: %v", err)
			}
			got, err := io.ReadAll(r)
			if tt.wantRead != nil {
				if !errors.Is(err, tt.wantRead) {
					t.Fatalf("read: %d bytes, %v; want %v", len(got), err, tt.wantRead)
				}
				return
			}
			if err != nil || !bytes.Equal(got, data[100:150]) {
				t.Fatalf("read %d bytes, %v", len(got), err)
			}
		})
	}
}

// TestFirstByteTimeout: a server that accepts but never answers gives ErrUnavailable (kind
// timeout) once FirstByteTimeout passes, not a hang.
func TestFirstByteTimeout(t *testing.T) {
	release := make(chan struct{})
	s, _ := scripted(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}, Config{MaxAttempts: 1, FirstByteTimeout: 200 * time.Millisecond})
	defer close(release)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := storagetest.ReadRange(ctx, s, "var/slow", 0, 10)
	if !errors.Is(err, storage.ErrUnavailable) || ctx.Err() != nil {
		t.Fatalf("error %v (ctx %v), want storage.ErrUnavailable before the test's deadline", err, ctx.Err())
	}
	if got := testutil.ToFloat64(s.metrics.errors.WithLabelValues(kindTimeout)); got != 1 {
		t.Errorf("errors_total{kind=timeout} = %v, want 1", got)
	}
}

// TestFirstByteTimeoutSpansRetries: a hung endpoint costs one FirstByteTimeout per GetObject,
// not MaxAttempts of them (seen in the fault suite: 3 x 1 s per request before this bound). It
// counts the attempts the server saw, not the time taken: once the single budget is spent the
// context is cancelled and the SDK cannot retry, so there is exactly one, however slow the
// machine; with a per-attempt timeout only there are MaxAttempts.
func TestFirstByteTimeoutSpansRetries(t *testing.T) {
	release := make(chan struct{})
	var entered, left atomic.Int32
	s, _ := scripted(t, func(w http.ResponseWriter, r *http.Request) {
		entered.Add(1)
		defer left.Add(1)
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}, Config{MaxAttempts: 3, FirstByteTimeout: 300 * time.Millisecond})
	defer close(release)
	_, err := storagetest.ReadRange(context.Background(), s, "var/hung", 0, 10)
	if !errors.Is(err, storage.ErrUnavailable) {
		t.Fatalf("error %v, want storage.ErrUnavailable", err)
	}
	// Every attempt was sent before ReadRange returned, and each handler returns once its client
	// has given up: wait for the server to have seen them all.
	deadline := time.Now().Add(30 * time.Second)
	for entered.Load() == 0 || left.Load() != entered.Load() {
		if time.Now().After(deadline) {
			t.Fatalf("server saw %d attempts, %d finished, 30 s after GetObject returned", entered.Load(), left.Load())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if n := entered.Load(); n != 1 {
		t.Errorf("GetObject on a hung endpoint made %d attempts; want 1: FirstByteTimeout (300ms) bounds all of them together", n)
	}
	if got := testutil.ToFloat64(s.metrics.errors.WithLabelValues(kindTimeout)); got != 1 {
		t.Errorf("errors_total{kind=timeout} = %v, want 1", got)
	}
}

// TestRequestTimeout: HeadBucket attempts are bounded by RequestTimeout even when headers
// would come later than that.
func TestRequestTimeout(t *testing.T) {
	release := make(chan struct{})
	s, _ := scripted(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}, Config{MaxAttempts: 1, RequestTimeout: 200 * time.Millisecond})
	defer close(release)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.Ping(ctx); !errors.Is(err, storage.ErrUnavailable) || ctx.Err() != nil {
		t.Fatalf("Ping: %v (ctx %v), want storage.ErrUnavailable before the test's deadline", err, ctx.Err())
	}
}

func TestCanceledNotCounted(t *testing.T) {
	started := make(chan struct{})
	s, _ := scripted(t, func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-r.Context().Done()
	}, Config{MaxAttempts: 1})
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-started; cancel() }()
	_, err := storagetest.ReadRange(ctx, s, "var/x", 0, 10)
	if !errors.Is(err, context.Canceled) || errors.Is(err, storage.ErrUnavailable) {
		t.Fatalf("error %v, want context.Canceled and not ErrUnavailable", err)
	}
	if got := testutil.ToFloat64(s.metrics.requests.WithLabelValues(opGet, resultCanceled)); got != 1 {
		t.Errorf("requests_total{op=get,result=canceled} = %v, want 1", got)
	}
}
