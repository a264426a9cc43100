package httpserve

import (
	"errors"
	"fmt"
	"time"

	"github.com/ezdfsd/ezdfsd/dfs"
)

// The legacy gateway's defaults, which DefaultConfig sets.
const (
	DefaultExpiryTimeout     = 86400 * time.Second // CLUSTER_EXPIRY_TIMEOUT
	DefaultMissingRetries    = 2
	DefaultMissingRetryDelay = 50 * time.Millisecond
	DefaultRetryAfter        = 5 * time.Second
	DefaultMaxRanges         = 16
	DefaultPoweredBy         = "eZ Publish" // CLUSTER_HEADER_X_POWERED_BY
)

// Config is the HTTP behaviour of the gateway. Start from DefaultConfig for the legacy gateway's
// behaviour: no field has a hidden default, and a zero duration or count means zero (only
// MaxRanges, where zero would be meaningless, falls back to DefaultMaxRanges).
type Config struct {
	// ServedBy is the value of the "Served-by" response header, sent with the legacy spelling
	// (the header map key is assigned directly, not canonicalised). "" sends none.
	ServedBy string
	// PoweredBy is the X-Powered-By value. "" sends none.
	PoweredBy string
	// HTTPCache (CLUSTER_ENABLE_HTTP_CACHE) sends Last-Modified, Expires and ETag, and evaluates
	// If-Match, If-Unmodified-Since, If-None-Match and If-Modified-Since (RFC 9110 order).
	HTTPCache bool
	// Ranges (CLUSTER_ENABLE_HTTP_RANGE) sends "Accept-Ranges: bytes" and honours Range on GET;
	// false sends "Accept-Ranges: none" and ignores Range.
	Ranges bool
	// Expires sends Expires = now + ExpiryTimeout (with HTTPCache). False is
	// CLUSTER_EXPIRY_TIMEOUT=false.
	Expires bool
	// ExpiryTimeout is the Expires offset and the Cache-Control max-age. 0 sends Expires = now,
	// as CLUSTER_EXPIRY_TIMEOUT=0 does.
	ExpiryTimeout time.Duration
	// CacheControl sends "Cache-Control: public, max-age=<ExpiryTimeout in seconds>" on 200, 206
	// and 304 (not on 416 or error pages). The legacy gateway sends none.
	CacheControl bool
	// StrictExpiry applies eZ 5's rule: rows with expired=1 or mtime <= 0 are 404. Otherwise, as
	// the legacy gateway, only deleted rows (mtime < 0) are.
	StrictExpiry bool
	// MissingRetries is how many more times a file is opened when it is missing or shorter than
	// its row, to ride out NFS lag (eZ writes the row before the bytes). 0 or negative: none.
	MissingRetries int
	// MissingRetryDelay is the pause before each such retry (0 or negative: none).
	MissingRetryDelay time.Duration
	// RetryAfter is the Retry-After of 503 answers, rounded up to whole seconds.
	RetryAfter time.Duration
	// MaxRanges is the most range-specs a Range header may hold; with more, the whole
	// representation is sent (0 = DefaultMaxRanges). Overlapping or adjacent ranges are coalesced.
	MaxRanges int
	// Profile is the product whose serving rules apply: "" or dfs.ProfileLegacy for
	// index_cluster.php, dfs.ProfilePlatform for the eZ Platform / Ibexa application. The
	// platform profile (spec §4.3) takes names from the raw path without URL decoding
	// (dfs.NameFromPathInfo), applies StrictExpiry, sends the datatype as Content-Type verbatim
	// (BinaryStreamResponse replaces Response::prepare, so no charset is appended; ibexa/core
	// @b9295936 src/bundle/IO/BinaryStreamResponse.php:138-141) and sends "Cache-Control: public"
	// (BinaryStreamResponse.php:55) unless CacheControl asks for a max-age. The other headers
	// follow the fields as in legacy: set PoweredBy, ServedBy and Expires off for the app's set.
	Profile string
	// ReadStallTimeout ends a body read from a storage backend other than the mount point (S3)
	// that brings no byte for this long, and the response with it (the connection is closed).
	// fasthttp does not cancel a request whose client went away, so without it a stalled S3
	// body would hold its request forever. 0: no bound. The daemon passes
	// --s3-first-byte-timeout.
	ReadStallTimeout time.Duration
	// AccessLog logs one Info line per request (method, path, status, bytes, duration, backend,
	// request id) through the handler's logger.
	AccessLog bool
}

// DefaultConfig returns the legacy gateway's defaults: HTTP cache and ranges on, Expires after
// one day, X-Powered-By "eZ Publish", no Served-by, no Cache-Control, legacy expiry rule.
func DefaultConfig() Config {
	return Config{
		PoweredBy:         DefaultPoweredBy,
		HTTPCache:         true,
		Ranges:            true,
		Expires:           true,
		ExpiryTimeout:     DefaultExpiryTimeout,
		MissingRetries:    DefaultMissingRetries,
		MissingRetryDelay: DefaultMissingRetryDelay,
		RetryAfter:        DefaultRetryAfter,
		MaxRanges:         DefaultMaxRanges,
	}
}

// Validate reports configuration errors: negative durations or range limits.
func (c Config) Validate() error {
	var errs []error
	if c.ExpiryTimeout < 0 {
		errs = append(errs, fmt.Errorf("expiry timeout %v is negative", c.ExpiryTimeout))
	}
	if c.RetryAfter < 0 {
		errs = append(errs, fmt.Errorf("retry-after %v is negative", c.RetryAfter))
	}
	if c.ReadStallTimeout < 0 {
		errs = append(errs, fmt.Errorf("read stall timeout %v is negative", c.ReadStallTimeout))
	}
	if c.MaxRanges < 0 {
		errs = append(errs, fmt.Errorf("max ranges %d is negative", c.MaxRanges))
	}
	return errors.Join(errs...)
}

// withDefaults turns the "negative = none" conventions into zero and a zero MaxRanges into
// DefaultMaxRanges.
func (c Config) withDefaults() Config {
	c.MissingRetries = max(c.MissingRetries, 0)
	c.MissingRetryDelay = max(c.MissingRetryDelay, 0)
	if c.MaxRanges == 0 {
		c.MaxRanges = DefaultMaxRanges
	}
	return c
}

// Routing is what the dfs package decides for a name: whether it is served, which metadata
// table holds its row, and which storage backend holds its bytes.
type Routing struct {
	// Allow lists the served names; its zero value serves nothing.
	Allow dfs.AllowList
	// Tables picks ezdfsfile or ezdfsfile_cache.
	Tables dfs.Tables
	// Dispatch picks the backend class name (PathBackends).
	Dispatch dfs.Dispatch
}
