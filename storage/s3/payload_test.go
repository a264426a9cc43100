package s3

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// TestEmptyPayloadHashSwapped checks which operations get emptyPayloadHash in New's client:
// the bodyless ones, in place of ComputePayloadSHA256, and not PutObject, whose middleware
// signs an unsigned payload over TLS. TestTunedClientMatchesSDK checks that the requests stay
// the same.
func TestEmptyPayloadHashSwapped(t *testing.T) {
	var mu sync.Mutex
	seen := map[string]string{}
	record := func(st *middleware.Stack) error {
		m, _ := st.Finalize.Get(payloadHashID)
		mu.Lock()
		seen[st.ID()] = fmt.Sprintf("%T", m)
		mu.Unlock()
		return nil
	}
	var hc captureClient
	c := awss3.New(endpointClient(endpointCases[3], &hc, defaultTuning).Options(), func(o *awss3.Options) {
		o.APIOptions = append(o.APIOptions, record)
		o.RetryMaxAttempts = 0
	})
	ctx := context.Background()
	b, k := aws.String("ezdfsd"), aws.String("var/x.jpg")
	if out, err := c.GetObject(ctx, &awss3.GetObjectInput{Bucket: b, Key: k}); err != nil {
		t.Fatal(err)
	} else {
		out.Body.Close()
	}
	if _, err := c.HeadBucket(ctx, &awss3.HeadBucketInput{Bucket: b}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutObject(ctx, &awss3.PutObjectInput{Bucket: b, Key: k, Body: strings.NewReader("x")}); err != nil {
		t.Fatal(err)
	}
	for op, want := range map[string]string{"GetObject": "s3.emptyPayloadHash", "HeadBucket": "s3.emptyPayloadHash",
		"PutObject": "*v4.dynamicPayloadSigningMiddleware"} {
		if seen[op] != want {
			t.Errorf("%s payload hash middleware %q, want %q", op, seen[op], want)
		}
	}
	if h := hc.reqs[0].Header.Get("X-Amz-Content-Sha256"); h != emptySHA256 {
		t.Errorf("GetObject payload hash %q, want %q", h, emptySHA256)
	}
}

// BenchmarkPayloadHash is the payload hash step of one bodyless request: "sdk" the SDK's
// ComputePayloadSHA256 (hashes the empty body), "constant" emptyPayloadHash.
func BenchmarkPayloadHash(b *testing.B) {
	next := middleware.FinalizeHandlerFunc(func(ctx context.Context, in middleware.FinalizeInput) (middleware.FinalizeOutput, middleware.Metadata, error) {
		if v4.GetPayloadHash(ctx) != emptySHA256 {
			b.Fatal("wrong payload hash")
		}
		return middleware.FinalizeOutput{}, middleware.Metadata{}, nil
	})
	in := middleware.FinalizeInput{Request: smithyhttp.NewStackRequest()}
	for _, v := range []struct {
		name string
		m    middleware.FinalizeMiddleware
	}{
		{"sdk", &v4.ComputePayloadSHA256{}},
		{"constant", emptyPayloadHash{}},
	} {
		b.Run(v.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				v.m.HandleFinalize(context.Background(), in, next)
			}
		})
	}
}
