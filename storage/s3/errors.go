package s3

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ezdfsd/ezdfsd/storage"
)

// Error kinds, the values of the ezdfsd_s3_errors_total "kind" label.
const (
	kindNoSuchKey    = "no_such_key"
	kindNoSuchBucket = "no_such_bucket"
	kindAccessDenied = "access_denied"
	kindInvalidRange = "invalid_range"
	kindShort        = "short_response"
	kindThrottled    = "throttled"
	kindServer       = "server_error"
	kindTimeout      = "timeout"
	kindConnection   = "connection"
	kindCanceled     = "canceled"
	kindOther        = "other"
)

// Operations, the values of the ezdfsd_s3_requests_total "op" label.
const (
	opGet        = "get"
	opPut        = "put"
	opHeadBucket = "head_bucket"
)

// Results, the values of the ezdfsd_s3_requests_total "result" label.
const (
	resultOK       = "ok"
	resultNotFound = "not_found"
	resultError    = "error"
	resultCanceled = "canceled"
)

// classification is what an SDK error means for ezdfsd.
type classification struct {
	kind     string
	sentinel error // storage.ErrNotExist or storage.ErrUnavailable; nil for a caller's cancel
	config   bool  // a configuration fault: logged at Error
}

// classify maps an SDK error from operation op to a kind and a storage sentinel. ctx is the
// caller's context: its cancellation (the client went away) is the caller's business, not the
// backend's health, and gets no sentinel; its deadline passing counts as a timeout.
func classify(ctx context.Context, op string, err error) classification {
	if errors.Is(ctx.Err(), context.Canceled) && errors.Is(err, context.Canceled) {
		return classification{kind: kindCanceled}
	}
	var code string
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		code = apiErr.ErrorCode()
	}
	status := 0
	var httpErr interface{ HTTPStatusCode() int }
	if errors.As(err, &httpErr) {
		status = httpErr.HTTPStatusCode()
	}
	var noSuchKey *types.NoSuchKey
	var notFound *types.NotFound
	var noSuchBucket *types.NoSuchBucket
	switch {
	case errors.As(err, &noSuchBucket) || code == "NoSuchBucket" || op == opHeadBucket && status == 404:
		return classification{kind: kindNoSuchBucket, sentinel: storage.ErrUnavailable, config: true}
	case code == "AccessDenied" || code == "SignatureDoesNotMatch" || code == "InvalidAccessKeyId" ||
		code == "InvalidToken" || code == "ExpiredToken" || code == "AllAccessDisabled" ||
		code == "XAdminUserNotFound" || status == 403 || status == 401:
		// XAdminUserNotFound: versitygw's answer (a 404) to an unknown access key ID, where AWS
		// sends 403 InvalidAccessKeyId. It is about the credentials, not about the object.
		return classification{kind: kindAccessDenied, sentinel: storage.ErrUnavailable, config: true}
	case errors.As(err, &noSuchKey) || errors.As(err, &notFound) || code == "NoSuchKey" || code == "NotFound" || status == 404 && code == "":
		return classification{kind: kindNoSuchKey, sentinel: storage.ErrNotExist}
	case code == "InvalidRange" || status == 416:
		return classification{kind: kindInvalidRange, sentinel: storage.ErrUnavailable}
	case code == "SlowDown" || code == "Throttling" || code == "ThrottlingException" || code == "RequestLimitExceeded" || status == 503 || status == 429:
		return classification{kind: kindThrottled, sentinel: storage.ErrUnavailable}
	case status >= 500:
		return classification{kind: kindServer, sentinel: storage.ErrUnavailable}
	case isTimeout(err):
		return classification{kind: kindTimeout, sentinel: storage.ErrUnavailable}
	case isConnection(err):
		return classification{kind: kindConnection, sentinel: storage.ErrUnavailable}
	default:
		return classification{kind: kindOther, sentinel: storage.ErrUnavailable}
	}
}

func isTimeout(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func isConnection(err error) bool {
	var opErr *net.OpError
	var dnsErr *net.DNSError
	return errors.As(err, &opErr) || errors.As(err, &dnsErr)
}

// fail classifies err from operation op on key, counts and logs it, and returns it wrapped
// with its storage sentinel.
func (s *S3) fail(ctx context.Context, op, key string, err error) error {
	c := classify(ctx, op, err)
	s.count(op, c)
	if c.sentinel == nil {
		return fmt.Errorf("s3: %s %q: %w", op, key, err)
	}
	switch {
	case c.config:
		s.log.Error("s3: request refused: check bucket, region, endpoint and credentials",
			"op", op, "bucket", s.cfg.Bucket, "key", key, "kind", c.kind, "err", err)
	case c.sentinel == storage.ErrUnavailable:
		s.log.Warn("s3: request failed", "op", op, "bucket", s.cfg.Bucket, "key", key, "kind", c.kind, "err", err)
	}
	return fmt.Errorf("s3: %s %q: %w: %w", op, key, c.sentinel, err)
}

// count records a failed request of operation op in the metrics.
func (s *S3) count(op string, c classification) {
	switch {
	case c.sentinel == nil:
		s.metrics.request(op, resultCanceled)
		return
	case c.sentinel == storage.ErrNotExist:
		s.metrics.request(op, resultNotFound)
	default:
		s.metrics.request(op, resultError)
	}
	s.metrics.errors.WithLabelValues(c.kind).Inc()
}

// apiCode describes the answer behind err as "HTTP 403 SignatureDoesNotMatch" (status and S3
// error code; HEAD answers have no body, so their code is the status text), without the
// request IDs that differ on every call.
func apiCode(err error) string {
	var parts []string
	var httpErr interface{ HTTPStatusCode() int }
	if errors.As(err, &httpErr) {
		parts = append(parts, fmt.Sprintf("HTTP %d", httpErr.HTTPStatusCode()))
	}
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) && apiErr.ErrorCode() != "" {
		parts = append(parts, apiErr.ErrorCode())
	}
	if len(parts) == 0 {
		return "no status"
	}
	return strings.Join(parts, " ")
}

// metrics are the backend's Prometheus collectors. Registration is optional; the collectors
// always exist so code paths do not branch on it.
type metrics struct {
	requests  *prometheus.CounterVec
	firstByte prometheus.Histogram
	errors    *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ezdfsd_s3_requests_total",
			Help: "S3 calls made by the storage backend, by operation (get, put, head_bucket) and result (ok, not_found, error, canceled).",
		}, []string{"op", "result"}),
		firstByte: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "ezdfsd_s3_first_byte_seconds",
			Help:    "Time from sending a GetObject to receiving its response headers, for successful GETs.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 15),
		}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ezdfsd_s3_errors_total",
			Help: "Failed S3 calls by kind (no_such_key, no_such_bucket, access_denied, invalid_range, short_response, throttled, server_error, timeout, connection, other).",
		}, []string{"kind"}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.requests, m.firstByte, m.errors} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("s3: register metrics: %w", err)
			}
		}
	}
	return m, nil
}

func (m *metrics) request(op, result string) {
	m.requests.WithLabelValues(op, result).Inc()
}
