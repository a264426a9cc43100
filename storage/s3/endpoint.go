package s3

import (
	"context"
	"sync"
	"sync/atomic"

	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	smithyauth "github.com/aws/smithy-go/auth"
	smithyendpoints "github.com/aws/smithy-go/endpoints"
)

// maxCachedEndpoints bounds the memo of cachingResolver. One client talks to one bucket, so
// the parameter sets it sees differ only by operation kind (a handful); past the bound it
// resolves without remembering.
const maxCachedEndpoints = 64

// cachingResolver memoizes an EndpointResolverV2 over the parameters that the S3 endpoint
// rules read. The SDK calls the resolver twice per request (once to pick the auth scheme, once
// for the URL) and its rules engine parses URLs and builds maps each time, although for a
// client bound to one bucket the answer never changes. The object key, prefix and copy source
// are left out of the memo key: the rules do not read them (the key goes into the request path
// later, by the serializer). TestTunedClientMatchesSDK compares the requests with the SDK's
// own resolver's, and TestCachingResolverMatchesSDKParams the answers.
//
// Every call returns a deep copy of the remembered endpoint's properties: the SDK's auth
// resolver rewrites the auth options it is given, and the signer writes into their property
// maps, so sharing them between concurrent requests would be a data race.
type cachingResolver struct {
	next awss3.EndpointResolverV2
	memo sync.Map // endpointKey -> smithyendpoints.Endpoint
	size atomic.Int32
}

func newCachingResolver(next awss3.EndpointResolverV2) *cachingResolver {
	return &cachingResolver{next: next}
}

// ResolveEndpoint returns the remembered endpoint for params, resolving it with the wrapped
// resolver the first time. Errors are not remembered.
func (r *cachingResolver) ResolveEndpoint(ctx context.Context, params awss3.EndpointParameters) (smithyendpoints.Endpoint, error) {
	k := keyOf(&params)
	if v, ok := r.memo.Load(k); ok {
		return copyEndpoint(v.(smithyendpoints.Endpoint)), nil
	}
	ep, err := r.next.ResolveEndpoint(ctx, params)
	if err != nil {
		return ep, err
	}
	if r.size.Load() < maxCachedEndpoints {
		if _, loaded := r.memo.LoadOrStore(k, copyEndpoint(ep)); !loaded {
			r.size.Add(1)
		}
	}
	return ep, nil
}

// copyEndpoint copies ep so that the SDK may change what it changes without touching the
// original: the URL (by value; its Userinfo is immutable), the properties, and each auth option
// with its property maps. The headers map is shared: the SDK only reads it (it copies each
// header into the request).
func copyEndpoint(ep smithyendpoints.Endpoint) smithyendpoints.Endpoint {
	out := smithyendpoints.Endpoint{URI: ep.URI, Headers: ep.Headers}
	out.Properties.SetAll(&ep.Properties)
	if opts, ok := smithyauth.GetAuthOptions(&ep.Properties); ok {
		cp := make([]*smithyauth.Option, len(opts))
		for i, o := range opts {
			c := &smithyauth.Option{SchemeID: o.SchemeID}
			c.IdentityProperties.SetAll(&o.IdentityProperties)
			c.SignerProperties.SetAll(&o.SignerProperties)
			cp[i] = c
		}
		smithyauth.SetAuthOptions(&out.Properties, cp)
	}
	return out
}

// optString and optBool keep "unset" apart from the zero value in endpointKey.
type (
	optString struct {
		set bool
		v   string
	}
	optBool uint8 // 0 unset, 1 false, 2 true
)

func ostr(p *string) optString {
	if p == nil {
		return optString{}
	}
	return optString{true, *p}
}

func obool(p *bool) optBool {
	switch {
	case p == nil:
		return 0
	case !*p:
		return 1
	}
	return 2
}

// endpointKey is EndpointParameters by value, without Key, Prefix and CopySource.
type endpointKey struct {
	bucket, region, endpoint                                optString
	useFIPS, useDualStack, forcePathStyle, accelerate       optBool
	useGlobalEndpoint, useObjectLambdaEndpoint              optBool
	disableAccessPoints, disableMultiRegionAccessPoints     optBool
	useArnRegion, useS3ExpressControl, disableS3ExpressAuth optBool
}

func keyOf(p *awss3.EndpointParameters) endpointKey {
	return endpointKey{
		bucket:                         ostr(p.Bucket),
		region:                         ostr(p.Region),
		endpoint:                       ostr(p.Endpoint),
		useFIPS:                        obool(p.UseFIPS),
		useDualStack:                   obool(p.UseDualStack),
		forcePathStyle:                 obool(p.ForcePathStyle),
		accelerate:                     obool(p.Accelerate),
		useGlobalEndpoint:              obool(p.UseGlobalEndpoint),
		useObjectLambdaEndpoint:        obool(p.UseObjectLambdaEndpoint),
		disableAccessPoints:            obool(p.DisableAccessPoints),
		disableMultiRegionAccessPoints: obool(p.DisableMultiRegionAccessPoints),
		useArnRegion:                   obool(p.UseArnRegion),
		useS3ExpressControl:            obool(p.UseS3ExpressControlEndpoint),
		disableS3ExpressAuth:           obool(p.DisableS3ExpressSessionAuth),
	}
}

// Compile-time check that the memo fits where the SDK's resolver goes.
var _ awss3.EndpointResolverV2 = (*cachingResolver)(nil)
