package s3

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ezdfsd/ezdfsd/storage"
	"github.com/ezdfsd/ezdfsd/storage/storagetest"
)

// TestFastGetMatchesSDK: for every endpoint case and key of the resolver tests, the fast
// path's request is the SDK's GetObject on the wire (URL with the key escaped the same, Host,
// headers, credential scope and signed headers), and its signature is the one SigV4 gives for
// that scope. Only the per-call headers differ: the SDK's random amz-sdk-invocation-id, which
// the fast path does not send, and the date.
func TestFastGetMatchesSDK(t *testing.T) {
	ctx := context.Background()
	for _, ec := range endpointCases {
		t.Run(ec.name, func(t *testing.T) {
			var sdkHC, fastHC captureClient
			sdk := endpointClient(ec, &sdkHC, tuning{})
			f, err := newFastGet(ctx, endpointClient(ec, &fastHC, defaultTuning), ec.bucket, &sdkClockSkew{})
			if err != nil {
				t.Fatalf("no fast path: %v", err)
			}
			for _, key := range endpointKeys {
				out, err := sdk.GetObject(ctx, &awss3.GetObjectInput{Bucket: &ec.bucket, Key: &key, Range: aws.String("bytes=0-99")})
				if err != nil {
					t.Fatalf("SDK GetObject %q: %v", key, err)
				}
				out.Body.Close()
				got, err := f.request(ctx, key, "bytes=0-99")
				if err != nil {
					t.Fatalf("fast request %q: %v", key, err)
				}
				want := sdkHC.last(t)
				if w, g := wire(want), wire(got); w != g {
					t.Errorf("%q: request differs\nSDK:\n%s\nfast path:\n%s", key, w, g)
				}
				if a, b := got.Header.Get("Authorization"), resign(t, got); a != b {
					t.Errorf("%q: fast path signature\n%s\nis not the one computed from its scope\n%s", key, a, b)
				}
			}
		})
	}
}

// TestFastGetSessionToken: temporary credentials (an IAM role's) put their session token on
// the fast request, signed, as the SDK does; the template's placeholder credentials leave none.
func TestFastGetSessionToken(t *testing.T) {
	ctx := context.Background()
	var hc captureClient
	c := awss3.New(awss3.Options{Region: "eu-west-1", HTTPClient: &hc,
		Credentials: credentials.NewStaticCredentialsProvider("ASIAEXAMPLE", "secret", "session-token")})
	f, err := newFastGet(ctx, c, "ezdfsd-images", &sdkClockSkew{})
	if err != nil {
		t.Fatal(err)
	}
	r, err := f.request(ctx, "var/x.jpg", "bytes=0-9")
	if err != nil {
		t.Fatal(err)
	}
	if got := r.Header.Get("X-Amz-Security-Token"); got != "session-token" {
		t.Errorf("X-Amz-Security-Token %q, want the session token", got)
	}
	if auth := r.Header.Get("Authorization"); !strings.Contains(auth, "x-amz-security-token") {
		t.Errorf("the session token is not signed: %s", auth)
	}
}

// TestFastGetTakesSuccesses: a successful GetObject is one request sent by the fast path, and
// an error answer to it is followed by the SDK's own attempts, numbered from 2: the answer of
// the fast request was the SDK's first.
func TestFastGetTakesSuccesses(t *testing.T) {
	data := storagetest.Data(9, 10)
	var mu sync.Mutex
	var seen []string
	fail := 0
	s, _ := scripted(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Header.Get("Amz-Sdk-Request"))
		failing := fail > 0
		fail--
		mu.Unlock()
		if failing {
			s3Error(w, 500, "InternalError")
			return
		}
		answerTen(w, data)
	}, Config{})
	sent := countFast(t, s)
	read := func() {
		t.Helper()
		got, err := storagetest.ReadRange(context.Background(), s, "var/x.jpg", 0, 10)
		if err != nil || string(got) != string(data) {
			t.Fatalf("read %q, %v", got, err)
		}
	}
	read()
	fail = 2
	read()
	if want := []string{"attempt=1; max=3", "attempt=1; max=3", "attempt=2; max=3", "attempt=3; max=3"}; !slices.Equal(seen, want) {
		t.Errorf("attempts seen %q, want %q", seen, want)
	}
	if n := sent.n.Load(); n != 2 {
		t.Errorf("the fast path sent %d requests, want 2 (the first attempt of each GetObject)", n)
	}
}

// answerTen answers a ranged GET of the 10-byte data with 206.
func answerTen(w http.ResponseWriter, data []byte) {
	w.Header().Set("Content-Range", "bytes 0-9/10")
	w.WriteHeader(http.StatusPartialContent)
	w.Write(data)
}

// countFast makes the fast path of s send through a countingClient, and returns it.
func countFast(t *testing.T, s *S3) *countingClient {
	t.Helper()
	if s.fast == nil {
		t.Fatal("New built no fast path for a path-style endpoint")
	}
	sent := &countingClient{next: s.fast.http}
	s.fast.http = sent
	return sent
}

// countingClient counts the requests it passes on.
type countingClient struct {
	next aws.HTTPClient
	n    atomic.Int32
}

func (c *countingClient) Do(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return c.next.Do(r)
}

func boolString(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

// tokenLog records how a retryer's tokens are taken and given back.
type tokenLog struct {
	aws.RetryerV2
	mu  sync.Mutex
	log []string
}

func (l *tokenLog) add(s string) {
	l.mu.Lock()
	l.log = append(l.log, s)
	l.mu.Unlock()
}

func (l *tokenLog) GetAttemptToken(ctx context.Context) (func(error) error, error) {
	release, err := l.RetryerV2.GetAttemptToken(ctx)
	l.add("attempt token")
	return func(e error) error {
		l.add("release attempt token, error " + boolString(e != nil))
		return release(e)
	}, err
}

func (l *tokenLog) GetRetryToken(ctx context.Context, opErr error) (func(error) error, error) {
	release, err := l.RetryerV2.GetRetryToken(ctx, opErr)
	l.add("retry token")
	return func(e error) error {
		l.add("release retry token, error " + boolString(e != nil))
		return release(e)
	}, err
}

// TestFastGetRetryQuota: the fast path takes and gives back the retryer's tokens as the SDK
// does for the same answers (a success refills the retry quota, a retried failure spends from
// it), so that retries stay available as long as they would without it.
func TestFastGetRetryQuota(t *testing.T) {
	data := storagetest.Data(2, 10)
	answers := []int{206, 500, 206, 404, 503, 503, 503, 206}
	var logs [2][]string
	for i, fast := range []bool{false, true} {
		var mu sync.Mutex
		next := 0
		var hc http.Client
		ts := newAnswering(t, func(w http.ResponseWriter) {
			mu.Lock()
			code := answers[next%len(answers)]
			next++
			mu.Unlock()
			if code != 206 {
				s3Error(w, code, http.StatusText(code))
				return
			}
			w.Header().Set("Content-Range", "bytes 0-9/10")
			w.WriteHeader(code)
			w.Write(data)
		})
		tl := &tokenLog{RetryerV2: retry.NewStandard(func(o *retry.StandardOptions) { o.MaxAttempts = 2; o.Backoff = noBackoff{} })}
		client := awss3.New(awss3.Options{Region: DefaultRegion, BaseEndpoint: aws.String(ts), UsePathStyle: true,
			Credentials: credentials.NewStaticCredentialsProvider("k", "s", ""), HTTPClient: &hc, Retryer: tl})
		m, _ := newMetrics(prometheus.NewRegistry())
		s := &S3{cfg: Config{Bucket: "ezdfsd-quota"}.withDefaults(), client: client, metrics: m, log: slog.New(slog.DiscardHandler)}
		if fast {
			var err error
			if s.fast, err = newFastGet(context.Background(), client, "ezdfsd-quota", &sdkClockSkew{}); err != nil {
				t.Fatal(err)
			}
		}
		tl.log = nil // the template request's own
		for range 5 {
			_, err := storagetest.ReadRange(context.Background(), s, "var/x.jpg", 0, 10)
			if err != nil && !errors.Is(err, storage.ErrNotExist) && !errors.Is(err, storage.ErrUnavailable) {
				t.Fatalf("fast %v: %v", fast, err)
			}
		}
		logs[i] = tl.log
	}
	if !slices.Equal(logs[0], logs[1]) {
		t.Errorf("tokens differ\nSDK only:\n  %s\nfast path:\n  %s", strings.Join(logs[0], "\n  "), strings.Join(logs[1], "\n  "))
	}
}

// noBackoff retries at once.
type noBackoff struct{}

func (noBackoff) BackoffDelay(int, error) (time.Duration, error) { return 0, nil }

// newAnswering starts a server whose every request gets answer, and returns its URL.
func newAnswering(t *testing.T, answer func(w http.ResponseWriter)) string {
	t.Helper()
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		answer(w)
	}))
	t.Cleanup(ts.Close)
	return ts.URL
}

// TestFastGetHeadersNotShared: writing into one request's header values leaves the template,
// and so every later request, as it was.
func TestFastGetHeadersNotShared(t *testing.T) {
	ctx := context.Background()
	var hc captureClient
	f, err := newFastGet(ctx, endpointClient(endpointCases[0], &hc, defaultTuning), endpointCases[0].bucket, &sdkClockSkew{})
	if err != nil {
		t.Fatal(err)
	}
	first, err := f.request(ctx, "var/x.jpg", "bytes=0-9")
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range first.Header {
		for i := range v {
			v[i] = "overwritten"
		}
	}
	second, err := f.request(ctx, "var/x.jpg", "bytes=0-9")
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range second.Header {
		if slices.Contains(v, "overwritten") {
			t.Errorf("%s of a later request is %q: the values are shared with an earlier request", k, v)
		}
	}
}

// TestFastGetClockSkew: the fast path signs with the clock skew the SDK keeps for the client,
// whichever operation taught it. With the local clock an hour off the server's, the first
// GetObject is refused as RequestTimeTooSkewed and served by the SDK's corrected retry, and the
// next ones are one request each; the same when HeadBucket (the readiness Ping) learnt the
// skew first, and again each way when the clocks come to agree. A fast path with a skew of
// its own, or none, fails some of these reads: the SDK retries a RequestTimeTooSkewed only if
// it shows a skew other than the one the SDK signed with.
func TestFastGetClockSkew(t *testing.T) {
	data := storagetest.Data(11, 10)
	var serverOffset atomic.Int64 // the server's clock minus the local one
	var requests atomic.Int32
	s, _ := scripted(t, func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		now := time.Now().Add(time.Duration(serverOffset.Load()))
		w.Header().Set("Date", now.UTC().Format(http.TimeFormat))
		signed, err := time.Parse("20060102T150405Z", r.Header.Get("X-Amz-Date"))
		if err != nil || now.Sub(signed).Abs() > 15*time.Minute {
			s3Error(w, http.StatusForbidden, "RequestTimeTooSkewed")
			return
		}
		if r.Method == http.MethodHead {
			return // HeadBucket
		}
		answerTen(w, data)
	}, Config{})
	sent := countFast(t, s)
	check := func(step string, wantRequests, wantFast int32) {
		t.Helper()
		if n, f := requests.Load(), sent.n.Load(); n != wantRequests || f != wantFast {
			t.Errorf("%s: %d requests, %d of them by the fast path; want %d and %d", step, n, f, wantRequests, wantFast)
		}
		requests.Store(0)
		sent.n.Store(0)
	}
	read := func(step string, wantRequests, wantFast int32) {
		t.Helper()
		got, err := storagetest.ReadRange(context.Background(), s, "var/x.jpg", 0, 10)
		if err != nil || string(got) != string(data) {
			t.Fatalf("%s: read %q, %v", step, got, err)
		}
		check(step, wantRequests, wantFast)
	}
	// A refused HEAD has no body, so no error code: the SDK does not retry it, but keeps the
	// skew its Date shows, and the next HeadBucket passes.
	pings := func(step string) {
		t.Helper()
		_ = s.Ping(context.Background())
		if err := s.Ping(context.Background()); err != nil {
			t.Fatalf("%s: second ping: %v", step, err)
		}
		check(step, 2, 0)
	}

	serverOffset.Store(int64(time.Hour))
	read("first read, clock an hour behind", 2, 1)
	read("second read", 1, 1)
	serverOffset.Store(0)
	read("first read after the clocks agree", 2, 1)
	read("second read after the clocks agree", 1, 1)

	serverOffset.Store(int64(time.Hour))
	pings("pings, clock an hour behind")
	read("first read after the pings", 1, 1)
	serverOffset.Store(0)
	pings("pings after the clocks agree")
	read("first read after those pings", 1, 1)
}

// TestFastGetNotWithAdaptiveRetries: in adaptive retry mode (AWS_RETRY_MODE or a profile's
// retry_mode) every GetObject goes through the SDK, whose attempt token is a rate limiter
// passed before each request is sent.
func TestFastGetNotWithAdaptiveRetries(t *testing.T) {
	t.Setenv("AWS_RETRY_MODE", "adaptive")
	data := storagetest.Data(12, 10)
	s, _ := scripted(t, func(w http.ResponseWriter, r *http.Request) { answerTen(w, data) }, Config{})
	if s.fast != nil {
		t.Fatal("fast path built for a client in adaptive retry mode")
	}
	got, err := storagetest.ReadRange(context.Background(), s, "var/x.jpg", 0, 10)
	if err != nil || string(got) != string(data) {
		t.Fatalf("read %q, %v", got, err)
	}
}
