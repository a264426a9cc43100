package s3

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go/encoding/httpbinding"
	"github.com/aws/smithy-go/middleware"
	smithyrand "github.com/aws/smithy-go/rand"
)

// fastGet sends the first attempt of a ranged GetObject as a plain HTTP request, built from a
// template the SDK itself produced for this client and signed with the client's own SigV4
// signer and credentials. A 200 or 206 answer is used as it comes: for such an answer the
// SDK's stack would only have copied Content-Length and Content-Range out of the headers and
// handed over the body, at the price of about 400 allocations and 60 µs of CPU per request.
// Any other outcome, an error answer or a transport error, is handed to the SDK as the result
// of its own first attempt (replayFirst): the SDK reads it, decides on retries (with its
// backoff, retry quota and clock-skew correction) and maps the error exactly as if it had sent
// the request, so retries and errors stay the SDK's.
//
// Clock skew: the SDK signs with the local clock plus the skew it keeps for the client (taken
// from the Date of the last operation's answer, whatever the operation), and judges a
// RequestTimeTooSkewed answer against that skew: it retries only if the answer shows a
// different one. The fast path signs with the same skew (sdkClockSkew follows it), so that a
// replayed answer means to the SDK what its own first attempt's would have. Signing with the
// bare local clock instead, a node whose clock is more than 15 minutes off would have every
// GetObject after the first refused and not retried.
//
// Adaptive retry mode is left to the SDK: its attempt token is a client-side rate limiter
// that must be passed before a request is sent.
//
// The template comes from probe: one GetObject through the client with a capturing HTTP
// client, so the URL (endpoint rules, path or virtual-hosted style, key escaping), the
// constant headers and the signing scope are whatever the SDK resolves for this client.
// TestFastGetMatchesSDK compares the requests over the endpoint cases and keys of the
// resolver tests.
type fastGet struct {
	http    aws.HTTPClient
	signer  awss3.HTTPSignerV4
	creds   aws.CredentialsProvider
	retryer aws.RetryerV2

	scheme, host, reqHost string // URL scheme and host, and the Host header
	path, rawPath         string // the path up to the key, unescaped and as sent
	rawQuery              string // the operation's query ("x-id=GetObject")
	header                http.Header
	values                int    // the number of values in header
	region, service       string // the signing scope

	skew *sdkClockSkew // the client's clock skew, added to the local clock when signing
}

// sdkClockSkew follows the clock skew the SDK keeps for a client. Installed in the client's
// options, it runs outside the SDK's retry loop and copies, after every operation, the skew
// the SDK then stores as the client's own: the last attempt's, from its answer's Date (none
// when the client's DisableClockSkewCorrection is on).
type sdkClockSkew struct{ v atomic.Int64 }

// install adds the follower to the stack of every operation of the client being built.
func (c *sdkClockSkew) install(o *awss3.Options) {
	o.APIOptions = append(o.APIOptions, func(st *middleware.Stack) error {
		return st.Finalize.Add(c, middleware.Before)
	})
}

// ID implements middleware.FinalizeMiddleware.
func (c *sdkClockSkew) ID() string { return "ezdfsd.SDKClockSkew" }

// HandleFinalize implements middleware.FinalizeMiddleware.
func (c *sdkClockSkew) HandleFinalize(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (
	middleware.FinalizeOutput, middleware.Metadata, error,
) {
	out, md, err := next.HandleFinalize(ctx, in)
	if skew, ok := awsmiddleware.GetAttemptSkew(md); ok {
		c.v.Store(int64(skew))
	}
	return out, md, err
}

// now is the local clock corrected by the skew.
func (c *sdkClockSkew) now() time.Time { return time.Now().Add(time.Duration(c.v.Load())) }

// probeKey is the key of the template request: characters that the SDK escapes and some it
// does not, so that the key's place in the path can be found and checked.
const probeKey = "ezdfsd-probe/a b+c%d/ü.jpg"

// probeCapture keeps the request the SDK would send and sends nothing. It answers 404 with
// no body, an answer that the SDK does not retry and that costs no retry quota.
type probeCapture struct{ req *http.Request }

func (p *probeCapture) Do(r *http.Request) (*http.Response, error) {
	p.req = r
	return &http.Response{StatusCode: http.StatusNotFound, Status: "404 Not Found", Header: http.Header{},
		Body: http.NoBody, Request: r, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1}, nil
}

// newFastGet builds the fast path of client for bucket, or returns an error saying why the
// client's requests do not fit it (another signing algorithm, an unexpected URL shape,
// adaptive retry mode); the caller then leaves every GetObject to the SDK. skew must have been
// installed in client's options. It makes no network call: the template request is captured,
// and signed with placeholder credentials.
func newFastGet(ctx context.Context, client *awss3.Client, bucket string, skew *sdkClockSkew) (*fastGet, error) {
	opts := client.Options()
	retryer, ok := opts.Retryer.(aws.RetryerV2)
	if !ok {
		return nil, fmt.Errorf("retryer %T has no attempt tokens", opts.Retryer)
	}
	if _, adaptive := opts.Retryer.(*retry.AdaptiveMode); adaptive || opts.RetryMode == aws.RetryModeAdaptive {
		return nil, errors.New("adaptive retry mode rate-limits each attempt before it is sent")
	}
	if opts.HTTPClient == nil || opts.HTTPSignerV4 == nil || opts.Credentials == nil {
		return nil, errors.New("client has no HTTP client, signer or credentials")
	}
	capture := &probeCapture{}
	_, err := client.GetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(probeKey), Range: aws.String("bytes=0-0")},
		func(o *awss3.Options) {
			o.HTTPClient = capture
			o.Credentials = credentials.NewStaticCredentialsProvider("EZDFSDPROBE", "probe", "")
		})
	if capture.req == nil {
		return nil, fmt.Errorf("template request not captured: %v", err)
	}
	r := capture.req
	f := &fastGet{http: opts.HTTPClient, signer: opts.HTTPSignerV4, creds: opts.Credentials, retryer: retryer,
		scheme: r.URL.Scheme, host: r.URL.Host, reqHost: r.Host, rawQuery: r.URL.RawQuery, header: http.Header{}, skew: skew}
	if r.Method != http.MethodGet || r.URL.Opaque != "" || r.URL.User != nil || r.URL.Fragment != "" {
		return nil, fmt.Errorf("unexpected template request %s %s", r.Method, r.URL)
	}
	var cut bool
	if f.path, cut = strings.CutSuffix(r.URL.Path, probeKey); !cut {
		return nil, fmt.Errorf("template path %q does not end with the key", r.URL.Path)
	}
	if f.rawPath, cut = strings.CutSuffix(r.URL.EscapedPath(), httpbinding.EscapePath(probeKey, false)); !cut {
		return nil, fmt.Errorf("template path %q does not end with the escaped key", r.URL.EscapedPath())
	}
	auth := r.Header.Get("Authorization")
	cred, ok := strings.CutPrefix(auth, "AWS4-HMAC-SHA256 Credential=EZDFSDPROBE/")
	if !ok {
		return nil, fmt.Errorf("template request not signed with SigV4 (%.40q)", auth)
	}
	cred, _, _ = strings.Cut(cred, ",")
	scope := strings.Split(cred, "/") // date/region/service/aws4_request
	if len(scope) != 4 || scope[3] != "aws4_request" {
		return nil, fmt.Errorf("template credential scope %q not understood", cred)
	}
	f.region, f.service = scope[1], scope[2]
	for k, v := range r.Header {
		switch k {
		case "Authorization", "X-Amz-Date", "X-Amz-Security-Token", "Amz-Sdk-Invocation-Id", "Range":
			// the signature's, the credentials' and the request's own
		default:
			f.header[k] = v
			f.values += len(v)
		}
	}
	if f.header.Get("X-Amz-Content-Sha256") != emptySHA256 {
		return nil, fmt.Errorf("template payload hash %q is not the empty hash", f.header.Get("X-Amz-Content-Sha256"))
	}
	return f, nil
}

// request builds and signs the GET of key with the Range header rng.
func (f *fastGet) request(ctx context.Context, key, rng string) (*http.Request, error) {
	creds, err := f.creds.Retrieve(ctx)
	if err != nil {
		return nil, err
	}
	// The values are copied (into one array) rather than shared with the template, so that
	// nothing done to this request's headers can reach another request's.
	h := make(http.Header, len(f.header)+5)
	vals := make([]string, 0, f.values)
	for k, v := range f.header {
		i := len(vals)
		vals = append(vals, v...)
		h[k] = vals[i:len(vals):len(vals)]
	}
	id, err := smithyrand.NewUUID(rand.Reader).GetUUID()
	if err != nil {
		return nil, err
	}
	h["Amz-Sdk-Invocation-Id"] = []string{id}
	h["Range"] = []string{rng}
	r := (&http.Request{
		Method: http.MethodGet,
		URL: &url.URL{Scheme: f.scheme, Host: f.host, Path: f.path + key,
			RawPath: f.rawPath + httpbinding.EscapePath(key, false), RawQuery: f.rawQuery},
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: h,
		Host:   f.reqHost,
	}).WithContext(ctx)
	if err := f.signer.SignHTTP(ctx, creds, r, emptySHA256, f.service, f.region, f.skew.now().UTC()); err != nil {
		return nil, err
	}
	return r, nil
}

// getAnswer is what Range needs of a successful GetObject.
type getAnswer struct {
	body          io.ReadCloser
	contentLength *int64 // nil: the answer did not say
	contentRange  string
}

// getObject sends the GetObject of key with the Range header rng: on the fast path when the
// client has one, through the SDK otherwise and for everything the fast path does not take.
func (s *S3) getObject(ctx context.Context, key, rng string) (getAnswer, error) {
	f := s.fast
	if f == nil {
		return s.sdkGetObject(ctx, key, rng)
	}
	req, err := f.request(ctx, key, rng)
	if err != nil {
		// Credentials or signing failed: the SDK meets the same failure and reports it its way.
		return s.sdkGetObject(ctx, key, rng)
	}
	resp, err := f.http.Do(req)
	if err == nil && (resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusPartialContent) {
		// The SDK's first attempt returns its attempt token with no error: a success refills
		// the retry quota by the same amount here.
		if release, terr := f.retryer.GetAttemptToken(ctx); terr == nil {
			_ = release(nil)
		}
		a := getAnswer{body: resp.Body, contentRange: strings.TrimSpace(resp.Header.Get("Content-Range"))}
		if resp.ContentLength >= 0 {
			a.contentLength = aws.Int64(resp.ContentLength)
		}
		return a, nil
	}
	replay := &replayFirst{resp: resp, err: err}
	a, sdkErr := s.sdkGetObject(ctx, key, rng, func(o *awss3.Options) {
		replay.next = o.HTTPClient
		o.HTTPClient = replay
	})
	replay.discard()
	return a, sdkErr
}

// sdkGetObject is GetObject through the SDK's stack.
func (s *S3) sdkGetObject(ctx context.Context, key, rng string, optFns ...func(*awss3.Options)) (getAnswer, error) {
	out, err := s.client.GetObject(ctx, &awss3.GetObjectInput{
		Bucket: aws.String(s.cfg.Bucket),
		Key:    aws.String(key),
		Range:  aws.String(rng),
	}, optFns...)
	if err != nil {
		return getAnswer{}, err
	}
	return getAnswer{body: out.Body, contentLength: out.ContentLength, contentRange: aws.ToString(out.ContentRange)}, nil
}

// replayFirst is the HTTP client of an SDK GetObject that takes over from the fast path: its
// first Do returns what the fast path's request got (an error answer or a transport error)
// instead of sending the SDK's request; later attempts go to next.
type replayFirst struct {
	mu   sync.Mutex
	resp *http.Response
	err  error
	used bool
	next aws.HTTPClient
}

func (r *replayFirst) Do(req *http.Request) (*http.Response, error) {
	r.mu.Lock()
	if !r.used {
		r.used = true
		resp, err := r.resp, r.err
		r.mu.Unlock()
		return resp, err
	}
	r.mu.Unlock()
	return r.next.Do(req)
}

// discard closes the replayed answer's body if the SDK never took it (its context was done
// before the first attempt).
func (r *replayFirst) discard() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.used && r.resp != nil {
		r.resp.Body.Close()
	}
	r.used = true
}
