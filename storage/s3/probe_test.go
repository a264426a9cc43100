package s3

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
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
