package s3

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/ezdfsd/ezdfsd/dfs"
	"github.com/ezdfsd/ezdfsd/internal/testenv"
	"github.com/ezdfsd/ezdfsd/storage"
	"github.com/ezdfsd/ezdfsd/storage/storagetest"
)

// realBucket creates a unique bucket on the test versitygw server and returns a backend on it
// built from cfg (Bucket, Endpoint, PathStyle and keys filled in unless set), plus the server
// description and the log buffer. The bucket is removed at the end of the test.
func realBucket(t testing.TB, cfg Config) (*S3, testenv.S3, *bytes.Buffer) {
	t.Helper()
	srv := testenv.S3Server(t)
	bucket := "ezdfsd-test-" + testenv.RandomSuffix()
	admin := newReal(t, srv, Config{Bucket: bucket}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := admin.client.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		testenv.Missing(t, "versitygw answering CreateBucket at "+srv.Endpoint+": "+err.Error())
	}
	t.Cleanup(func() { deleteBucket(t, admin, srv) })
	cfg.Bucket = bucket
	var logs bytes.Buffer
	s := newReal(t, srv, cfg, slog.New(slog.NewTextHandler(&logs, nil)))
	return s, srv, &logs
}

func newReal(t testing.TB, srv testenv.S3, cfg Config, logger *slog.Logger) *S3 {
	t.Helper()
	if cfg.Endpoint == "" {
		cfg.Endpoint, cfg.PathStyle = srv.Endpoint, true
	}
	if cfg.AccessKeyID == "" {
		cfg.AccessKeyID = srv.AccessKey
	}
	if cfg.SecretAccessKey == "" {
		cfg.SecretAccessKey = srv.SecretKey
	}
	s, err := New(context.Background(), cfg, prometheus.NewRegistry(), logger)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s
}

func deleteBucket(t testing.TB, s *S3, srv testenv.S3) {
	if srv.Root != "" {
		if err := os.RemoveAll(filepath.Join(srv.Root, s.Bucket())); err != nil {
			t.Logf("remove bucket directory: %v", err)
		}
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	bucket := aws.String(s.Bucket())
	p := awss3.NewListObjectsV2Paginator(s.client, &awss3.ListObjectsV2Input{Bucket: bucket})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Logf("list bucket for cleanup: %v", err)
			return
		}
		for _, o := range page.Contents {
			s.client.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: bucket, Key: o.Key})
		}
	}
	if _, err := s.client.DeleteBucket(ctx, &awss3.DeleteBucketInput{Bucket: bucket}); err != nil {
		t.Logf("delete bucket: %v", err)
	}
}

func TestConformanceVersitygw(t *testing.T) {
	s, _, _ := realBucket(t, Config{})
	if err := s.Ping(context.Background()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	storagetest.TestBackend(t, s, putter(s))
}

func TestVersitygwNoSuchKey(t *testing.T) {
	s, _, logs := realBucket(t, Config{})
	_, err := storagetest.ReadRange(context.Background(), s, "var/site/storage/images/none.jpg", 0, 100)
	if !errors.Is(err, storage.ErrNotExist) {
		t.Fatalf("error %v, want storage.ErrNotExist", err)
	}
	if got := testutil.ToFloat64(s.metrics.errors.WithLabelValues(kindNoSuchKey)); got != 1 {
		t.Errorf("errors_total{kind=no_such_key} = %v, want 1", got)
	}
	if strings.Contains(logs.String(), "level=ERROR") || strings.Contains(logs.String(), "level=WARN") {
		t.Errorf("a missing key was logged loudly:\n%s", logs)
	}
}

func TestVersitygwWrongSecret(t *testing.T) {
	good, srv, _ := realBucket(t, Config{})
	name := "var/x.txt"
	putter(good)(t, name, []byte("secret stuff"))

	var logs bytes.Buffer
	bad := newReal(t, srv, Config{Bucket: good.Bucket(), SecretAccessKey: "not-the-secret"}, slog.New(slog.NewTextHandler(&logs, nil)))
	ctx := context.Background()
	_, err := storagetest.ReadRange(ctx, bad, name, 0, 12)
	if !errors.Is(err, storage.ErrUnavailable) || errors.Is(err, storage.ErrNotExist) {
		t.Fatalf("GET with a wrong secret: %v, want storage.ErrUnavailable", err)
	}
	if err := bad.Ping(ctx); !errors.Is(err, storage.ErrUnavailable) {
		t.Fatalf("Ping with a wrong secret: %v, want storage.ErrUnavailable", err)
	}
	if err := bad.Put(ctx, "var/y.txt", strings.NewReader("y"), 1, ""); !errors.Is(err, storage.ErrUnavailable) {
		t.Fatalf("Put with a wrong secret: %v, want storage.ErrUnavailable", err)
	}
	if got := testutil.ToFloat64(bad.metrics.errors.WithLabelValues(kindAccessDenied)); got != 3 {
		t.Errorf("errors_total{kind=access_denied} = %v, want 3", got)
	}
	if !strings.Contains(logs.String(), "level=ERROR") {
		t.Errorf("a wrong secret was not logged at Error:\n%s", logs.String())
	}
}

func TestUnreachableEndpoint(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now: connection refused
	s, err := New(context.Background(), Config{
		Bucket: "ezdfsd-nowhere", Endpoint: "http://" + addr, PathStyle: true,
		AccessKeyID: "k", SecretAccessKey: "s", FirstByteTimeout: time.Second,
	}, prometheus.NewRegistry(), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err = storagetest.ReadRange(ctx, s, "var/x", 0, 10)
	if !errors.Is(err, storage.ErrUnavailable) || ctx.Err() != nil {
		t.Fatalf("error %v (ctx %v), want storage.ErrUnavailable before the test's deadline", err, ctx.Err())
	}
	if err := s.Ping(ctx); !errors.Is(err, storage.ErrUnavailable) {
		t.Fatalf("Ping: %v, want storage.ErrUnavailable", err)
	}
	if got := testutil.ToFloat64(s.metrics.errors.WithLabelValues(kindConnection)); got != 2 {
		t.Errorf("errors_total{kind=connection} = %v, want 2", got)
	}
}

func TestVersitygwContentType(t *testing.T) {
	s, _, _ := realBucket(t, Config{})
	ctx := context.Background()
	tests := []struct{ name, contentType string }{
		{"var/site/storage/images/a.jpg", "image/jpeg"},
		{"var/site/cache/public/b.css", "text/css; charset=utf-8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := s.Put(ctx, tt.name, strings.NewReader("bytes"), 5, tt.contentType); err != nil {
				t.Fatalf("Put: %v", err)
			}
			head, err := s.client.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: aws.String(s.Bucket()), Key: aws.String(tt.name)})
			if err != nil {
				t.Fatal(err)
			}
			if got := aws.ToString(head.ContentType); got != tt.contentType {
				t.Errorf("HeadObject Content-Type %q, want %q", got, tt.contentType)
			}
			get, err := s.client.GetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String(s.Bucket()), Key: aws.String(tt.name)})
			if err != nil {
				t.Fatal(err)
			}
			get.Body.Close()
			if got := aws.ToString(get.ContentType); got != tt.contentType {
				t.Errorf("GetObject Content-Type %q, want %q", got, tt.contentType)
			}
		})
	}
}

// TestVersitygwMultipartPut uploads a generated, non-seekable stream bigger than PartSize and
// checks the object is a multipart one with the right bytes. 40 MiB in 5 MiB parts by default,
// 256 MiB in 16 MiB parts with EZDFSD_SLOW_TESTS=1.
func TestVersitygwMultipartPut(t *testing.T) {
	if testing.Short() {
		t.Skip("multipart upload skipped in -short mode")
	}
	size, part := int64(40<<20), int64(MinPartSize)
	if testenv.Slow() {
		size, part = 256<<20, DefaultPartSize
	}
	s, _, _ := realBucket(t, Config{PartSize: part})
	ctx := context.Background()
	name := "var/site/storage/original/video/big.mp4"
	want := sha256.New()
	if err := s.Put(ctx, name, io.TeeReader(newPattern(size), want), size, "video/mp4"); err != nil {
		t.Fatalf("Put: %v", err)
	}
	head, err := s.client.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: aws.String(s.Bucket()), Key: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToInt64(head.ContentLength) != size {
		t.Fatalf("stored %d bytes, want %d", aws.ToInt64(head.ContentLength), size)
	}
	if wantParts := fmt.Sprintf("-%d\"", (size+part-1)/part); !strings.HasSuffix(aws.ToString(head.ETag), wantParts) {
		t.Errorf("ETag %s, want a multipart ETag ending in %s", aws.ToString(head.ETag), wantParts)
	}
	obj, _ := s.Open(ctx, name)
	defer obj.Close()
	r, err := obj.Range(ctx, 0, size)
	if err != nil {
		t.Fatal(err)
	}
	got := sha256.New()
	if n, err := io.Copy(got, r); err != nil || n != size {
		t.Fatalf("read back %d bytes, %v", n, err)
	}
	if !bytes.Equal(got.Sum(nil), want.Sum(nil)) {
		t.Fatalf("content read back differs from the content uploaded")
	}
}

// TestVersitygwLargeObjectFlatMemory streams a large object (256 MiB, 1 GiB with
// EZDFSD_SLOW_TESTS=1) through Range(0, size) into a checking writer and asserts that the Go
// heap and the memory obtained from the OS grow by less than 64 MiB meanwhile. The object is a
// sparse file dropped into versitygw's posix root (zeros with markers), or uploaded when the
// root is not known.
func TestVersitygwLargeObjectFlatMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("large object skipped in -short mode")
	}
	size := int64(256 << 20)
	if testenv.Slow() {
		size = 1 << 30
	}
	s, srv, _ := realBucket(t, Config{})
	ctx := context.Background()
	name := "var/site/storage/original/big.bin"
	markers := map[int64][]byte{
		0:            []byte("EZDFSD<0"),
		size/2 + 3:   []byte("EZDFSD~M"),
		size - 8:     []byte("EZDFSD>E"),
		64<<20 - 4:   []byte("EZDFSD|B"), // across a 64 MiB boundary
		size/3 + 999: []byte("EZDFSD:T"),
	}
	if dir := srv.Root; dir != "" {
		path := filepath.Join(dir, s.Bucket(), name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.Truncate(size); err != nil {
			t.Fatal(err)
		}
		for off, m := range markers {
			if _, err := f.WriteAt(m, off); err != nil {
				t.Fatal(err)
			}
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
	} else {
		t.Log("TEST_S3_ROOT unset: uploading the object")
		if err := s.Put(ctx, name, &markedZeros{size: size, markers: markers}, size, ""); err != nil {
			t.Fatalf("Put: %v", err)
		}
	}

	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	w := &checkingWriter{markers: markers, sampleEvery: 16 << 20, peakHeap: before.HeapInuse, peakSys: before.Sys}

	obj, err := s.Open(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	defer obj.Close()
	r, err := obj.Range(ctx, 0, size)
	if err != nil {
		t.Fatalf("Range: %v", err)
	}
	n, err := io.Copy(w, r)
	if err != nil || n != size {
		t.Fatalf("copied %d of %d bytes, %v", n, size, err)
	}
	if w.err != nil {
		t.Fatal(w.err)
	}
	w.sample()
	const limit = 64 << 20
	heapGrowth := int64(w.peakHeap) - int64(before.HeapInuse)
	sysGrowth := int64(w.peakSys) - int64(before.Sys)
	t.Logf("streamed %d MiB: HeapInuse peak +%d KiB, Sys peak +%d KiB", size>>20, heapGrowth>>10, sysGrowth>>10)
	if heapGrowth > limit || sysGrowth > limit {
		t.Fatalf("memory grew while streaming: HeapInuse +%d MiB, Sys +%d MiB (limit %d MiB)", heapGrowth>>20, sysGrowth>>20, limit>>20)
	}

	// Ranges inside the big object land on the markers.
	for off, m := range markers {
		got, err := storagetest.ReadRange(ctx, s, name, off, int64(len(m)))
		if err != nil || !bytes.Equal(got, m) {
			t.Errorf("range at %d: %q, %v; want %q", off, got, err, m)
		}
	}
}

// checkingWriter verifies a stream of zeros with markers and samples memory statistics.
type checkingWriter struct {
	markers     map[int64][]byte
	pos         int64
	err         error
	sampleEvery int64
	nextSample  int64
	peakHeap    uint64
	peakSys     uint64
	want        []byte
}

func (w *checkingWriter) Write(p []byte) (int, error) {
	if cap(w.want) < len(p) {
		w.want = make([]byte, len(p))
	}
	want := w.want[:len(p)]
	fillExpected(want, w.pos, w.markers)
	if w.err == nil && !bytes.Equal(p, want) {
		i := 0
		for p[i] == want[i] {
			i++
		}
		w.err = fmt.Errorf("byte %d is %#x, want %#x", w.pos+int64(i), p[i], want[i])
	}
	w.pos += int64(len(p))
	if w.pos >= w.nextSample {
		w.sample()
		w.nextSample = w.pos + w.sampleEvery
	}
	return len(p), nil
}

func (w *checkingWriter) sample() {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	w.peakHeap = max(w.peakHeap, ms.HeapInuse)
	w.peakSys = max(w.peakSys, ms.Sys)
}

// fillExpected writes into b the content at pos of a zero file carrying markers.
func fillExpected(b []byte, pos int64, markers map[int64][]byte) {
	clear(b)
	end := pos + int64(len(b))
	for off, m := range markers {
		if off < end && off+int64(len(m)) > pos {
			lo := max(off, pos)
			hi := min(off+int64(len(m)), end)
			copy(b[lo-pos:hi-pos], m[lo-off:hi-off])
		}
	}
}

// markedZeros generates the same content as the sparse file: zeros with markers.
type markedZeros struct {
	size    int64
	pos     int64
	markers map[int64][]byte
}

func (z *markedZeros) Read(p []byte) (int, error) {
	if z.pos >= z.size {
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), z.size-z.pos)]
	fillExpected(p, z.pos, z.markers)
	z.pos += int64(len(p))
	return len(p), nil
}

// pattern is a cheap non-seekable generated stream: a counter pattern that differs per 8 bytes.
type pattern struct{ pos, size int64 }

func newPattern(size int64) io.Reader { return &pattern{size: size} }

func (p *pattern) Read(b []byte) (int, error) {
	if p.pos >= p.size {
		return 0, io.EOF
	}
	b = b[:min(int64(len(b)), p.size-p.pos)]
	for i := range b {
		q := p.pos + int64(i)
		b[i] = byte(q>>3) ^ byte(q>>11) ^ byte(q)
	}
	p.pos += int64(len(b))
	return len(b), nil
}

// TestVersitygwFastGetKeys reads objects whose keys need escaping through the fast path
// against versitygw, which checks every SigV4 signature: each read must be the fast path's
// one request (no error answer handed to the SDK), with the bytes that were stored.
func TestVersitygwFastGetKeys(t *testing.T) {
	s, _, _ := realBucket(t, Config{})
	if s.fast == nil {
		t.Fatal("New built no fast path for versitygw")
	}
	sent := &countingClient{next: s.fast.http}
	s.fast.http = sent
	put := putter(s)
	var keys []string
	for _, k := range endpointKeys {
		if checkNameOK(k) {
			keys = append(keys, k)
		}
	}
	for i, key := range keys {
		data := storagetest.Data(uint64(i), 100+i)
		put(t, key, data)
		got, err := storagetest.ReadRange(context.Background(), s, key, 10, 50)
		if err != nil || !bytes.Equal(got, data[10:60]) {
			t.Errorf("%q: read %d bytes, %v", key, len(got), err)
		}
	}
	if n := int(sent.n.Load()); n != len(keys) {
		t.Errorf("the fast path sent %d requests for %d reads", n, len(keys))
	}
	if got := testutil.ToFloat64(s.metrics.requests.WithLabelValues(opGet, resultOK)); int(got) != len(keys) {
		t.Errorf("requests_total{op=get,result=ok} = %v, want %d", got, len(keys))
	}
}

// checkNameOK reports whether name is a valid cluster file name (dfs.CheckName).
func checkNameOK(name string) bool { return dfs.CheckName(name) == nil }
