// Package s3 is the eZDFSFileHandlerDFSAmazon storage backend: a cluster file named name is the
// object with key name (unchanged: no prefix, no leading slash) in one bucket, as the eZ S3
// extension stores it. It talks to AWS S3 or any S3-compatible server through aws-sdk-go-v2.
//
// Open makes no remote call; Object.Range issues one ranged GetObject and returns its body as
// a stream, so memory use does not grow with object size. Remote failures are reported as the
// storage sentinels: a missing key as storage.ErrNotExist, everything else (throttling, 5xx,
// timeouts, connection errors, and configuration faults such as a wrong secret, which are also
// logged at Error) as storage.ErrUnavailable.
//
// New settles once, at client construction, work the SDK would otherwise repeat on every
// request, leaving the requests on the wire, the retries and the error mapping as the SDK's
// defaults have them: endpoint resolution is memoized (cachingResolver), bodyless requests
// are signed with the constant hash of no bytes (emptyPayloadHash), and the first attempt of
// each GetObject is a plain request built from a template the SDK made, whose success is used
// as it comes and whose failure the SDK takes over as its own first attempt (fastGet).
package s3

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go/logging"
	"github.com/aws/smithy-go/middleware"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ezdfsd/ezdfsd/dfs"
	"github.com/ezdfsd/ezdfsd/storage"
)

// Defaults applied by New to zero Config fields.
const (
	DefaultRegion              = "us-east-1"
	DefaultMaxIdleConnsPerHost = 256
	DefaultFirstByteTimeout    = 10 * time.Second
	DefaultRequestTimeout      = 30 * time.Second
	DefaultMaxAttempts         = 3
	DefaultPartSize            = 16 << 20
	// MinPartSize is S3's smallest multipart part (all parts but the last).
	MinPartSize = 5 << 20
)

// Config describes the bucket and how to reach it. Zero fields take the defaults above.
type Config struct {
	// Bucket holds the cluster files (dfsamazons3.ini [BackendSettings] Bucket). Required.
	Bucket string
	// Region of the bucket (dfsamazons3.ini Region). Empty: the SDK's own sources (AWS_REGION,
	// shared config), then DefaultRegion.
	Region string
	// Endpoint overrides the S3 endpoint URL (S3-compatible servers). Empty: the SDK's default
	// resolution, which honours AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL.
	Endpoint string
	// PathStyle addresses the bucket as endpoint/bucket/key instead of bucket.endpoint/key.
	PathStyle bool
	// AccessKeyID and SecretAccessKey are static credentials. If either is empty the SDK
	// default chain is used (environment, shared profile, web identity, ECS/IMDS role), as the
	// eZ S3 extension 2.x does.
	AccessKeyID, SecretAccessKey string
	// Profile selects a shared-config profile (~/.aws/config, ~/.aws/credentials).
	Profile string
	// MaxIdleConnsPerHost bounds the kept-alive connections to the endpoint (default 256).
	MaxIdleConnsPerHost int
	// FirstByteTimeout bounds the wait for response headers of every request, and for a
	// GetObject the whole wait across all of the retryer's attempts (default 10s). There is no
	// overall client timeout: GetObject bodies may stream for minutes.
	FirstByteTimeout time.Duration
	// RequestTimeout bounds each attempt of the small calls (HeadBucket, PutObject, each
	// multipart part, create/complete/abort) from request to parsed answer (default 30s).
	RequestTimeout time.Duration
	// MaxAttempts is the SDK retryer's attempt count (default 3). Retries happen only before a
	// response body is handed out; a body that fails mid-stream is not retried.
	MaxAttempts int
	// PartSize is the multipart part size for Put (default 16 MiB, at least MinPartSize). Put
	// may buffer up to a few parts in memory when its reader cannot seek.
	PartSize int64
}

// Validate reports configuration errors without applying defaults.
func (c Config) Validate() error {
	var errs []error
	if c.Bucket == "" {
		errs = append(errs, errors.New("bucket is required"))
	} else if len(c.Bucket) < 3 || len(c.Bucket) > 63 || strings.ContainsAny(c.Bucket, "/ ") {
		errs = append(errs, fmt.Errorf("bucket %q: want 3 to 63 characters, no slash or space", c.Bucket))
	}
	if c.Endpoint != "" && !strings.HasPrefix(c.Endpoint, "http://") && !strings.HasPrefix(c.Endpoint, "https://") {
		errs = append(errs, fmt.Errorf("endpoint %q: want an http:// or https:// URL", c.Endpoint))
	}
	if c.MaxIdleConnsPerHost < 0 || c.FirstByteTimeout < 0 || c.RequestTimeout < 0 || c.MaxAttempts < 0 || c.PartSize < 0 {
		errs = append(errs, errors.New("negative limits are not allowed"))
	}
	if c.PartSize != 0 && c.PartSize < MinPartSize {
		errs = append(errs, fmt.Errorf("part size %d below S3's minimum %d", c.PartSize, MinPartSize))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("s3 config: %w", err)
	}
	return nil
}

func (c Config) withDefaults() Config {
	if c.MaxIdleConnsPerHost == 0 {
		c.MaxIdleConnsPerHost = DefaultMaxIdleConnsPerHost
	}
	if c.FirstByteTimeout == 0 {
		c.FirstByteTimeout = DefaultFirstByteTimeout
	}
	if c.RequestTimeout == 0 {
		c.RequestTimeout = DefaultRequestTimeout
	}
	if c.MaxAttempts == 0 {
		c.MaxAttempts = DefaultMaxAttempts
	}
	if c.PartSize == 0 {
		c.PartSize = DefaultPartSize
	}
	return c
}

// S3 reads and writes cluster files in one bucket. It is safe for concurrent use.
type S3 struct {
	cfg     Config
	client  *awss3.Client
	log     *slog.Logger
	metrics *metrics
	// fast is the plain-HTTP first attempt of GetObject (nil: every GetObject through the SDK).
	fast *fastGet
}

// Compile-time checks that S3 is a backend and a writer.
var (
	_ storage.Backend = (*S3)(nil)
	_ storage.Writer  = (*S3)(nil)
)

// New validates cfg, loads the SDK configuration (credentials, region, endpoint overrides from
// the usual SDK sources where cfg leaves them empty) and returns a client for the bucket. It
// makes no network call; use Ping to check the bucket. Metrics are registered on reg (nil: none);
// logger may be nil.
func New(ctx context.Context, cfg Config, reg prometheus.Registerer, logger *slog.Logger) (*S3, error) {
	return newS3(ctx, cfg, reg, logger, defaultTuning)
}

// tuning switches the per-request savings that New settles once at client construction. Each
// leaves the requests on the wire and the retry and error behaviour as the SDK's defaults
// have them; the switches exist so that benchmarks can compare with and without in one run.
type tuning struct {
	// cacheEndpoints memoizes endpoint resolution (cachingResolver).
	cacheEndpoints bool
	// emptyPayloadHash signs bodyless requests with the constant hash of no bytes instead of
	// hashing an empty body (emptyPayloadHash).
	emptyPayloadHash bool
	// fastGet sends the first attempt of each GetObject as a signed plain request and leaves
	// to the SDK only the answers that are not a success (fastGet).
	fastGet bool
}

// defaultTuning is what New uses: every saving on.
var defaultTuning = tuning{cacheEndpoints: true, emptyPayloadHash: true, fastGet: true}

// apply sets the savings on the options of a client being built.
func (t tuning) apply(o *awss3.Options) {
	if t.cacheEndpoints {
		o.EndpointResolverV2 = newCachingResolver(o.EndpointResolverV2)
	}
	if t.emptyPayloadHash {
		o.APIOptions = append(o.APIOptions, swapEmptyPayloadHash)
	}
}

func newS3(ctx context.Context, cfg Config, reg prometheus.Registerer, logger *slog.Logger, tun tuning) (*S3, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, err
	}

	httpClient := awshttp.NewBuildableClient().WithTransportOptions(func(tr *http.Transport) {
		tr.MaxIdleConnsPerHost = cfg.MaxIdleConnsPerHost
		tr.MaxIdleConns = max(tr.MaxIdleConns, cfg.MaxIdleConnsPerHost)
		tr.ResponseHeaderTimeout = cfg.FirstByteTimeout
	}).WithTimeout(0)
	opts := []func(*config.LoadOptions) error{
		config.WithHTTPClient(httpClient),
		config.WithRetryMaxAttempts(cfg.MaxAttempts),
		config.WithLogger(sdkLogger(logger)),
		config.WithDefaultRegion(DefaultRegion),
	}
	if cfg.Region != "" {
		opts = append(opts, config.WithRegion(cfg.Region))
	}
	if cfg.Profile != "" {
		opts = append(opts, config.WithSharedConfigProfile(cfg.Profile))
	}
	switch {
	case cfg.AccessKeyID != "" && cfg.SecretAccessKey != "":
		opts = append(opts, config.WithCredentialsProvider(
			credentials.NewStaticCredentialsProvider(cfg.AccessKeyID, cfg.SecretAccessKey, "")))
	case cfg.AccessKeyID != "" || cfg.SecretAccessKey != "":
		logger.Warn("s3: only one of AccessKeyID and SecretAccessKey is set; using the SDK default credential chain, as eZ does")
	}
	awsCfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("s3: load SDK configuration: %w", err)
	}
	skew := &sdkClockSkew{}
	client := awss3.NewFromConfig(awsCfg, func(o *awss3.Options) {
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
		}
		o.UsePathStyle = cfg.PathStyle
		// eZ's objects carry no checksums, and ranged GETs never do: validating only when
		// required avoids hashing every body and the SDK's "Response has no supported
		// checksum" line on each ranged GET.
		o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
		o.DisableLogOutputChecksumValidationSkipped = true
		tun.apply(o)
		if tun.fastGet {
			skew.install(o)
		}
	})
	s := &S3{cfg: cfg, client: client, log: logger, metrics: m}
	if tun.fastGet {
		if s.fast, err = newFastGet(ctx, client, cfg.Bucket, skew); err != nil {
			logger.Debug("s3: every GetObject goes through the SDK", "reason", err)
		}
	}
	return s, nil
}

// Bucket returns the bucket name.
func (s *S3) Bucket() string { return s.cfg.Bucket }

// Ping checks that the bucket is reachable with the configured credentials (HeadBucket, each
// attempt bounded by RequestTimeout); it is the readiness probe. Errors wrap
// storage.ErrUnavailable and read as an operator's reason: a missing bucket wraps
// ErrNoSuchBucket ("s3 bucket B does not exist at ENDPOINT"), refused credentials wrap
// ErrAccessDenied. Ping counts its requests in the metrics but does not log: readiness logs
// each change of reason once.
func (s *S3) Ping(ctx context.Context) error {
	_, err := s.client.HeadBucket(ctx, &awss3.HeadBucketInput{Bucket: aws.String(s.cfg.Bucket)},
		s.attemptTimeout())
	if err == nil {
		s.metrics.request(opHeadBucket, resultOK)
		return nil
	}
	c := classify(ctx, opHeadBucket, err)
	s.count(opHeadBucket, c)
	switch {
	case c.sentinel == nil: // the caller gave up
		return fmt.Errorf("s3: bucket %s: %w", s.cfg.Bucket, err)
	case c.kind == kindNoSuchBucket:
		return &reasonError{fmt.Sprintf("s3 bucket %s does not exist at %s", s.cfg.Bucket, s.where()), []error{ErrNoSuchBucket, storage.ErrUnavailable, err}}
	case c.kind == kindAccessDenied:
		return &reasonError{fmt.Sprintf("s3 bucket %s at %s refuses the credentials (%s)", s.cfg.Bucket, s.where(), apiCode(err)), []error{ErrAccessDenied, storage.ErrUnavailable, err}}
	}
	// Whatever else HeadBucket says, the backend cannot serve. An HTTP answer is named by its
	// status and code only: the SDK's text has request IDs, which would make every probe a new
	// reason to log.
	var httpErr interface{ HTTPStatusCode() int }
	if errors.As(err, &httpErr) && httpErr.HTTPStatusCode() > 0 {
		return &reasonError{fmt.Sprintf("s3 bucket %s at %s answers %s", s.cfg.Bucket, s.where(), apiCode(err)), []error{storage.ErrUnavailable, err}}
	}
	return fmt.Errorf("s3 bucket %s at %s does not answer: %w: %w", s.cfg.Bucket, s.where(), storage.ErrUnavailable, err)
}

// ErrNoSuchBucket means the configured bucket does not exist (HeadBucket answered 404).
var ErrNoSuchBucket = errors.New("no such bucket")

// ErrAccessDenied means the endpoint refused the credentials or denied access to the bucket.
var ErrAccessDenied = errors.New("access denied")

// reasonError reads as an operator's reason alone (the SDK's text carries request IDs that
// differ on every probe) and wraps the sentinels and the SDK error.
type reasonError struct {
	reason string
	errs   []error
}

func (e *reasonError) Error() string   { return e.reason }
func (e *reasonError) Unwrap() []error { return e.errs }

// where names the endpoint in operator messages.
func (s *S3) where() string {
	if s.cfg.Endpoint != "" {
		return s.cfg.Endpoint
	}
	return "AWS"
}

// Open returns an object for name without contacting S3: Size is -1, and a missing key is
// reported by the first Range call. Names failing dfs.CheckName give an error wrapping
// storage.ErrNotExist and dfs.ErrInvalidName.
func (s *S3) Open(ctx context.Context, name string) (storage.Object, error) {
	if err := dfs.CheckName(name); err != nil {
		return nil, fmt.Errorf("s3: open %q: %w: %w", name, storage.ErrNotExist, err)
	}
	return &object{s: s, key: name}, nil
}

// attemptTimeout bounds each attempt of a call (not the retries as a whole) by RequestTimeout.
// It must not be used on GetObject: the deadline would cut the streamed body.
func (s *S3) attemptTimeout() func(*awss3.Options) {
	d := s.cfg.RequestTimeout
	return func(o *awss3.Options) {
		o.APIOptions = append(o.APIOptions, func(st *middleware.Stack) error {
			return st.Finalize.Add(middleware.FinalizeMiddlewareFunc("ezdfsdAttemptTimeout",
				func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
					ctx, cancel := context.WithTimeout(ctx, d)
					defer cancel()
					return next.HandleFinalize(ctx, in)
				}), middleware.After)
		})
	}
}

// sdkLogger routes the SDK's own log lines to logger: its warnings at Warn, the rest at Debug.
func sdkLogger(logger *slog.Logger) logging.Logger {
	return logging.LoggerFunc(func(c logging.Classification, format string, v ...any) {
		level := slog.LevelDebug
		if c == logging.Warn {
			level = slog.LevelWarn
		}
		logger.Log(context.Background(), level, "s3 sdk: "+fmt.Sprintf(format, v...))
	})
}
