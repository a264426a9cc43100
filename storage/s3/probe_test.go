package s3

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/ezdfsd/ezdfsd/internal/testenv"
	"github.com/ezdfsd/ezdfsd/storage"
)

// TestVersitygwPingReasons: the readiness probe (HeadBucket) against versitygw passes for an
// existing bucket, and otherwise names the problem in operator terms: a bucket that does not
// exist, or credentials the server refuses. Ping leaves logging to readiness (which logs each
// change once), so a failing probe repeated every few seconds writes nothing itself.
func TestVersitygwPingReasons(t *testing.T) {
	good, srv, _ := realBucket(t, Config{})
	ctx := context.Background()
	if err := good.Ping(ctx); err != nil {
		t.Fatalf("Ping of an existing bucket: %v", err)
	}

	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	missing := "ezdfsd-missing-" + testenv.RandomSuffix()
	s := newReal(t, srv, Config{Bucket: missing}, logger)
	err := s.Ping(ctx)
	want := "s3 bucket " + missing + " does not exist at " + srv.Endpoint
	if err == nil || !strings.HasPrefix(err.Error(), want) || !errors.Is(err, ErrNoSuchBucket) || !errors.Is(err, storage.ErrUnavailable) {
		t.Errorf("Ping of a missing bucket = %v, want %q... wrapping ErrNoSuchBucket and ErrUnavailable", err, want)
	}
	t.Logf("missing bucket: %v", err)

	bad := newReal(t, srv, Config{Bucket: good.Bucket(), SecretAccessKey: "not-the-secret"}, logger)
	err = bad.Ping(ctx)
	want = "s3 bucket " + good.Bucket() + " at " + srv.Endpoint + " refuses the credentials (HTTP 403 Forbidden)"
	if err == nil || !strings.HasPrefix(err.Error(), want) || !errors.Is(err, ErrAccessDenied) {
		t.Errorf("Ping with a wrong secret = %v, want %q...", err, want)
	}
	if logs.Len() != 0 {
		t.Errorf("Ping logged by itself:\n%s", logs.String())
	}
}

// TestPingReasonStable: a server error is reported by status alone, so the reason is the same on
// every probe (the SDK's text carries a new request ID each time) and readiness logs it once.
func TestPingReasonStable(t *testing.T) {
	n := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n++
		w.Header().Set("x-amz-request-id", fmt.Sprint("REQ", n))
		w.WriteHeader(http.StatusInternalServerError)
	}))
	defer srv.Close()
	s, err := New(context.Background(), Config{Bucket: "ezdfsd-b", Endpoint: srv.URL, PathStyle: true,
		AccessKeyID: "k", SecretAccessKey: "s", MaxAttempts: 1}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	first, second := s.Ping(context.Background()), s.Ping(context.Background())
	want := "s3 bucket ezdfsd-b at " + srv.URL + " answers HTTP 500"
	if first == nil || second == nil || !strings.HasPrefix(first.Error(), want) || first.Error() != second.Error() || !errors.Is(first, storage.ErrUnavailable) {
		t.Errorf("Pings = %q, %q; want the same %q...", first, second, want)
	}
}
