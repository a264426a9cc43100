package s3

import (
	"context"
	"fmt"

	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// emptySHA256 is the hex SHA-256 of no bytes: the SigV4 payload hash of a request without a
// body (GetObject, HeadObject, HeadBucket, DeleteObject, ListObjectsV2).
const emptySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

// payloadHashID is the ID under which the SDK adds its payload hash middleware.
var payloadHashID = (&v4.ComputePayloadSHA256{}).ID()

// emptyPayloadHash stands in for the SDK's v4.ComputePayloadSHA256 middleware: a request
// without a body gets the constant hash of no bytes, which is what ComputePayloadSHA256 would
// compute (with a new hasher, a hex encoding and three allocations, on every request); any
// other request, or one whose hash is already set, goes to ComputePayloadSHA256 itself.
type emptyPayloadHash struct{}

// ID is the SDK middleware's ID, so that later SDK steps that look it up still find it.
func (emptyPayloadHash) ID() string { return payloadHashID }

// HandleFinalize sets the payload hash of a bodyless request, or delegates.
func (emptyPayloadHash) HandleFinalize(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (
	middleware.FinalizeOutput, middleware.Metadata, error,
) {
	if req, ok := in.Request.(*smithyhttp.Request); ok && req.GetStream() == nil && v4.GetPayloadHash(ctx) == "" {
		return next.HandleFinalize(v4.SetPayloadHash(ctx, emptySHA256), in)
	}
	return (&v4.ComputePayloadSHA256{}).HandleFinalize(ctx, in, next)
}

// swapEmptyPayloadHash is an API option that puts emptyPayloadHash in the place of the SDK's
// ComputePayloadSHA256 middleware, and only of that one: operations that sign their payload
// otherwise (unsigned over TLS for PutObject and UploadPart, no hash at all) keep theirs. A
// swap replaces the middleware in place; it allocates nothing per request.
func swapEmptyPayloadHash(st *middleware.Stack) error {
	m, ok := st.Finalize.Get(payloadHashID)
	if !ok {
		return nil
	}
	if _, ok := m.(*v4.ComputePayloadSHA256); !ok {
		return nil
	}
	if _, err := st.Finalize.Swap(payloadHashID, emptyPayloadHash{}); err != nil {
		return fmt.Errorf("s3: swap payload hash middleware: %w", err)
	}
	return nil
}
