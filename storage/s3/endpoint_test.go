package s3

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	smithyauth "github.com/aws/smithy-go/auth"
	smithyendpoints "github.com/aws/smithy-go/endpoints"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// endpointCase is one way of addressing the bucket.
type endpointCase struct {
	name, region, endpoint, bucket string
	pathStyle                      bool
}

var endpointCases = []endpointCase{
	{"path-style custom endpoint", "us-east-1", "http://127.0.0.1:7070", "ezdfsd", true},
	{"path-style custom https endpoint with a path", "eu-west-1", "https://s3.example.test/base", "ezdfsd", true},
	{"virtual-hosted custom endpoint", "us-east-1", "https://s3.example.test", "ezdfsd", false},
	{"AWS us-east-1", "us-east-1", "", "ezdfsd-images", false},
	{"AWS eu-west-1", "eu-west-1", "", "ezdfsd-images", false},
	{"AWS ap-southeast-2", "ap-southeast-2", "", "ezdfsd-images", false},
	{"AWS path-style eu-central-1", "eu-central-1", "", "ezdfsd-images", true},
	{"AWS bucket with dots", "eu-west-1", "", "ezdfsd.images.example", false},
}

// endpointKeys are object keys whose escaping in the request path must not change.
var endpointKeys = []string{
	"var/ezdemo_site/storage/images/x.jpg",
	"var/site/storage/images/a b/c  d.jpg",
	"var/a+b=c&d;e,f.jpg",
	"var/100%/x%2Fy%20z.jpg",
	"var/ünïcødé/图片/ä.jpg",
	"var//double//slash/.jpg",
	"var/~tilde.*'()!$@:[].jpg",
	"var/?query#fragment.jpg",
}

// captureClient answers every request with an empty success and keeps the requests.
type captureClient struct {
	mu   sync.Mutex
	reqs []*http.Request
}

func (c *captureClient) Do(r *http.Request) (*http.Response, error) {
	c.mu.Lock()
	c.reqs = append(c.reqs, r)
	c.mu.Unlock()
	body := ""
	if r.URL.Query().Get("list-type") == "2" {
		body = `<?xml version="1.0" encoding="UTF-8"?><ListBucketResult><IsTruncated>false</IsTruncated></ListBucketResult>`
	}
	return &http.Response{StatusCode: http.StatusOK, Header: http.Header{}, Body: io.NopCloser(strings.NewReader(body)),
		ContentLength: int64(len(body)), Request: r}, nil
}

func (c *captureClient) last(t *testing.T) *http.Request {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.reqs) == 0 {
		t.Fatal("no request sent")
	}
	return c.reqs[len(c.reqs)-1]
}

// endpointClient is a client for ec at the SDK's defaults, with the savings tun on.
func endpointClient(ec endpointCase, hc *captureClient, tun tuning) *awss3.Client {
	return awss3.New(awss3.Options{
		Region:       ec.region,
		UsePathStyle: ec.pathStyle,
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", ""),
		HTTPClient:   hc,
	}, func(o *awss3.Options) {
		if ec.endpoint != "" {
			o.BaseEndpoint = aws.String(ec.endpoint)
		}
		tun.apply(o)
	})
}

// wire is what a request puts on the wire that must not depend on the resolver: method, URL
// as sent (escaped path and query), Host and every header but the per-request ones.
func wire(r *http.Request) string {
	var b strings.Builder
	b.WriteString(r.Method + " " + r.URL.Scheme + "://" + r.URL.Host + r.URL.EscapedPath() + "?" + r.URL.RawQuery + "\nHost: " + r.Host + "\n")
	keys := slices.Sorted(func(yield func(string) bool) {
		for k := range r.Header {
			if !yield(k) {
				return
			}
		}
	})
	for _, k := range keys {
		v := strings.Join(r.Header[k], ", ")
		switch k {
		case "Amz-Sdk-Invocation-Id", "X-Amz-Date":
			continue
		case "Authorization": // the signature depends on X-Amz-Date, compared apart
			v, _, _ = strings.Cut(v, "Signature=")
		}
		b.WriteString(k + ": " + v + "\n")
	}
	return b.String()
}

// resign returns the Authorization that S3's SigV4 rules give r (signed already), recomputed
// from r's own headers, credential scope and date: a request signed with other signer
// properties (name, region, path escaping) than its scope says does not match.
func resign(t *testing.T, r *http.Request) string {
	t.Helper()
	auth := r.Header.Get("Authorization")
	_, cred, _ := strings.Cut(auth, "Credential=")
	cred, _, _ = strings.Cut(cred, ",")
	scope := strings.Split(cred, "/") // AKID/date/region/service/aws4_request
	if len(scope) != 5 {
		t.Fatalf("Authorization %q has no credential scope", auth)
	}
	when, err := time.Parse("20060102T150405Z", r.Header.Get("X-Amz-Date"))
	if err != nil {
		t.Fatal(err)
	}
	c := r.Clone(context.Background())
	c.Header.Del("Authorization")
	signer := v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true })
	if err := signer.SignHTTP(context.Background(), aws.Credentials{AccessKeyID: "AKIDEXAMPLE", SecretAccessKey: "secret"},
		c, r.Header.Get("X-Amz-Content-Sha256"), scope[3], scope[2], when); err != nil {
		t.Fatal(err)
	}
	return c.Header.Get("Authorization")
}

// TestTunedClientMatchesSDK sends every operation the backend uses, for every key above,
// through a client at the SDK's defaults and one with New's savings (tuning), and requires the
// same request on the wire: URL with the key escaped the same, Host, headers, and the
// signature's credential scope (signing name and region) and signed headers; each signature
// must be the one SigV4 gives for its scope (the signatures themselves differ: the SDK signs a
// random amz-sdk-invocation-id). All but the first request of each case are answered from the
// memo.
func TestTunedClientMatchesSDK(t *testing.T) {
	ctx := context.Background()
	ops := []struct {
		name string
		call func(c *awss3.Client, bucket, key string) error
	}{
		{"GetObject", func(c *awss3.Client, bucket, key string) error {
			out, err := c.GetObject(ctx, &awss3.GetObjectInput{Bucket: &bucket, Key: &key, Range: aws.String("bytes=0-99")})
			if err == nil {
				out.Body.Close()
			}
			return err
		}},
		{"HeadObject", func(c *awss3.Client, bucket, key string) error {
			_, err := c.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: &bucket, Key: &key})
			return err
		}},
		{"DeleteObject", func(c *awss3.Client, bucket, key string) error {
			_, err := c.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: &bucket, Key: &key})
			return err
		}},
		{"PutObject", func(c *awss3.Client, bucket, key string) error {
			_, err := c.PutObject(ctx, &awss3.PutObjectInput{Bucket: &bucket, Key: &key, Body: strings.NewReader("data"), ContentType: aws.String("image/jpeg")})
			return err
		}},
		{"PutObject empty", func(c *awss3.Client, bucket, key string) error {
			_, err := c.PutObject(ctx, &awss3.PutObjectInput{Bucket: &bucket, Key: &key, Body: strings.NewReader("")})
			return err
		}},
		{"ListObjectsV2", func(c *awss3.Client, bucket, key string) error {
			_, err := c.ListObjectsV2(ctx, &awss3.ListObjectsV2Input{Bucket: &bucket, Prefix: &key})
			return err
		}},
		{"HeadBucket", func(c *awss3.Client, bucket, _ string) error {
			_, err := c.HeadBucket(ctx, &awss3.HeadBucketInput{Bucket: &bucket})
			return err
		}},
	}
	for _, ec := range endpointCases {
		t.Run(ec.name, func(t *testing.T) {
			var sdkHC, cachedHC captureClient
			sdk, cached := endpointClient(ec, &sdkHC, tuning{}), endpointClient(ec, &cachedHC, defaultTuning)
			for _, key := range endpointKeys {
				for _, op := range ops {
					if err := op.call(sdk, ec.bucket, key); err != nil {
						t.Fatalf("%s %q (SDK resolver): %v", op.name, key, err)
					}
					if err := op.call(cached, ec.bucket, key); err != nil {
						t.Fatalf("%s %q (tuned): %v", op.name, key, err)
					}
					want, got := sdkHC.last(t), cachedHC.last(t)
					if w, g := wire(want), wire(got); w != g {
						t.Errorf("%s %q: request differs\nSDK defaults:\n%s\ntuned:\n%s", op.name, key, w, g)
					}
					for _, r := range []*http.Request{want, got} {
						if a, b := r.Header.Get("Authorization"), resign(t, r); a != b {
							t.Errorf("%s %q: request signature\n%s\nis not the one computed from its scope\n%s", op.name, key, a, b)
						}
					}
				}
			}
			if !strings.Contains(wire(sdkHC.last(t)), "/s3/aws4_request") {
				t.Errorf("credential scope does not name the s3 service: %s", wire(sdkHC.last(t)))
			}
		})
	}
}

// TestCachingResolverMatchesSDKParams compares the resolved endpoints themselves (URL,
// headers, properties with the auth schemes' signer properties) over more parameter sets than
// the request test, FIPS and dual-stack included, for different keys from one memo.
func TestCachingResolverMatchesSDKParams(t *testing.T) {
	ctx := context.Background()
	sdk := awss3.NewDefaultEndpointResolverV2()
	for _, ec := range endpointCases {
		for _, fips := range []bool{false, true} {
			for _, dual := range []bool{false, true} {
				cached := newCachingResolver(sdk)
				for _, key := range endpointKeys {
					p := awss3.EndpointParameters{
						Bucket: aws.String(ec.bucket), Key: aws.String(key), Region: aws.String(ec.region),
						UseFIPS: aws.Bool(fips), UseDualStack: aws.Bool(dual), ForcePathStyle: aws.Bool(ec.pathStyle),
						Accelerate: aws.Bool(false), DisableMultiRegionAccessPoints: aws.Bool(false), UseArnRegion: aws.Bool(false),
					}
					if ec.endpoint != "" {
						p.Endpoint = aws.String(ec.endpoint)
					}
					want, werr := sdk.ResolveEndpoint(ctx, p)
					got, gerr := cached.ResolveEndpoint(ctx, p)
					if (werr == nil) != (gerr == nil) || werr != nil && werr.Error() != gerr.Error() {
						t.Fatalf("%s fips=%v dual=%v key %q: error %v, SDK %v", ec.name, fips, dual, key, gerr, werr)
					}
					if !reflect.DeepEqual(want, got) {
						t.Errorf("%s fips=%v dual=%v key %q:\nSDK     %+v\ncaching %+v", ec.name, fips, dual, key, want, got)
					}
				}
			}
		}
	}
}

// TestCachingResolverCopies changes everything the SDK may change in a resolved endpoint and
// requires the next answer to be as the first: the auth options and their properties must not
// be shared between requests.
func TestCachingResolverCopies(t *testing.T) {
	ctx := context.Background()
	r := newCachingResolver(awss3.NewDefaultEndpointResolverV2())
	p := awss3.EndpointParameters{Bucket: aws.String("ezdfsd"), Region: aws.String("eu-west-1"), UseFIPS: aws.Bool(false),
		UseDualStack: aws.Bool(false), ForcePathStyle: aws.Bool(false), Accelerate: aws.Bool(false),
		DisableMultiRegionAccessPoints: aws.Bool(false)}
	change := func(ep *smithyendpoints.Endpoint) {
		opts, ok := smithyauth.GetAuthOptions(&ep.Properties)
		if !ok || len(opts) == 0 {
			t.Fatal("no auth options")
		}
		for _, o := range opts {
			o.SchemeID = "changed"
			smithyhttp.SetSigV4SigningRegion(&o.SignerProperties, "changed")
			o.IdentityProperties.Set("k", "changed")
		}
		smithyauth.SetAuthOptions(&ep.Properties, nil)
		ep.URI.Host = "changed"
	}
	want, _ := awss3.NewDefaultEndpointResolverV2().ResolveEndpoint(ctx, p)
	for i := range 3 { // the first answer is the one remembered, the others copies
		ep, err := r.ResolveEndpoint(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(ep, want) {
			t.Fatalf("answer %d after changes: %+v, want %+v", i, ep, want)
		}
		change(&ep)
	}
}

// TestEndpointKeyCoversParams requires every endpoint parameter but Key, Prefix and CopySource
// (which the rules do not read) to be part of the memo key, nil apart from false: a parameter
// added by an SDK upgrade fails here until keyOf knows it.
func TestEndpointKeyCoversParams(t *testing.T) {
	var zero awss3.EndpointParameters
	base := keyOf(&zero)
	typ := reflect.TypeOf(zero)
	for i := range typ.NumField() {
		f := typ.Field(i)
		var vals []reflect.Value
		switch f.Type {
		case reflect.TypeOf((*string)(nil)):
			vals = []reflect.Value{reflect.ValueOf(aws.String("")), reflect.ValueOf(aws.String("x"))}
		case reflect.TypeOf((*bool)(nil)):
			vals = []reflect.Value{reflect.ValueOf(aws.Bool(false)), reflect.ValueOf(aws.Bool(true))}
		default:
			t.Errorf("parameter %s has type %s, unknown to keyOf", f.Name, f.Type)
			continue
		}
		ignored := f.Name == "Key" || f.Name == "Prefix" || f.Name == "CopySource"
		seen := map[endpointKey]bool{base: true}
		for _, v := range vals {
			p := zero
			reflect.ValueOf(&p).Elem().Field(i).Set(v)
			k := keyOf(&p)
			switch {
			case ignored && k != base:
				t.Errorf("parameter %s is part of the memo key; the rules do not read it", f.Name)
			case !ignored && seen[k]:
				t.Errorf("parameter %s = %v is not told apart by the memo key", f.Name, v.Elem())
			}
			seen[k] = true
		}
	}
}

// TestCachingResolverConcurrent runs requests through one client from many goroutines; with
// -race it fails if the memo's answers share anything the SDK writes to.
func TestCachingResolverConcurrent(t *testing.T) {
	var hc captureClient
	c := endpointClient(endpointCases[0], &hc, tuning{cacheEndpoints: true})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 20 {
				out, err := c.GetObject(context.Background(), &awss3.GetObjectInput{Bucket: aws.String("ezdfsd"),
					Key: aws.String(endpointKeys[(g+i)%len(endpointKeys)])})
				if err != nil {
					t.Error(err)
					return
				}
				out.Body.Close()
			}
		})
	}
	wg.Wait()
}

// TestNewCachesEndpoints checks that New's client resolves endpoints through the memo.
func TestNewCachesEndpoints(t *testing.T) {
	isolateAWS(t, nil)
	s, err := New(context.Background(), Config{Bucket: "ezdfsd", Endpoint: "http://127.0.0.1:1", PathStyle: true,
		AccessKeyID: "k", SecretAccessKey: "s"}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := s.client.Options().EndpointResolverV2.(*cachingResolver); !ok {
		t.Errorf("endpoint resolver is %T, want *cachingResolver", s.client.Options().EndpointResolverV2)
	}
}

// BenchmarkEndpointResolve is one endpoint resolution as GetObject does it (twice per request):
// "sdk" with the SDK's rules engine, "caching" from the memo (a copy of the remembered answer).
func BenchmarkEndpointResolve(b *testing.B) {
	ctx := context.Background()
	p := awss3.EndpointParameters{Bucket: aws.String("ezdfsd"), Key: aws.String("var/x.jpg"), Region: aws.String("us-east-1"),
		Endpoint: aws.String("http://127.0.0.1:7070"), UseFIPS: aws.Bool(false), UseDualStack: aws.Bool(false),
		ForcePathStyle: aws.Bool(true), Accelerate: aws.Bool(false), DisableMultiRegionAccessPoints: aws.Bool(false),
		UseArnRegion: aws.Bool(false)}
	for _, v := range []struct {
		name string
		r    awss3.EndpointResolverV2
	}{
		{"sdk", awss3.NewDefaultEndpointResolverV2()},
		{"caching", newCachingResolver(awss3.NewDefaultEndpointResolverV2())},
	} {
		b.Run(v.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.r.ResolveEndpoint(ctx, p); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestCachingResolverBound resolves more distinct parameter sets than the memo keeps: the
// memo stops growing at maxCachedEndpoints and the answers past it are still the SDK's.
func TestCachingResolverBound(t *testing.T) {
	ctx := context.Background()
	sdk := awss3.NewDefaultEndpointResolverV2()
	r := newCachingResolver(sdk)
	for i := range 2 * maxCachedEndpoints {
		p := awss3.EndpointParameters{Bucket: aws.String(fmt.Sprintf("ezdfsd-%d", i)), Region: aws.String("eu-west-1"),
			UseFIPS: aws.Bool(false), UseDualStack: aws.Bool(false), ForcePathStyle: aws.Bool(false),
			Accelerate: aws.Bool(false), DisableMultiRegionAccessPoints: aws.Bool(false)}
		for range 2 {
			got, err := r.ResolveEndpoint(ctx, p)
			if err != nil {
				t.Fatal(err)
			}
			if want, _ := sdk.ResolveEndpoint(ctx, p); !reflect.DeepEqual(got, want) {
				t.Fatalf("bucket %d: %+v, want %+v", i, got, want)
			}
		}
	}
	if n := r.size.Load(); n != maxCachedEndpoints {
		t.Errorf("memo holds %d endpoints, want %d", n, maxCachedEndpoints)
	}
}
