//lint:file-ignore SA1019 manager.Uploader is the multipart uploader pinned in go.mod (deprecated in favour of feature/s3/transfermanager, which is not a dependency of this module).

package s3

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/s3/manager"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/ezdfsd/ezdfsd/dfs"
	"github.com/ezdfsd/ezdfsd/storage"
)

// Put stores size bytes from r as the object name with the given Content-Type (empty: none
// sent, S3 then records its default). Objects of at least PartSize bytes (or of unknown size)
// are sent as a multipart upload (parts of PartSize, a few in flight, aborted on failure),
// smaller ones with one PutObject from a buffer of their size; each attempt of each call is bounded by RequestTimeout. If size >= 0, r must give
// exactly size bytes (fewer: io.ErrUnexpectedEOF; more: an error) and nothing is left stored
// under name by a failed upload of a new key. No ACL is sent (eZ sent public-read; ezdfsd
// serves the bytes itself, and buckets with ACLs disabled refuse any ACL). Remote failures
// wrap storage.ErrUnavailable.
func (s *S3) Put(ctx context.Context, name string, r io.Reader, size int64, contentType string) error {
	_, err := s.PutWith(ctx, name, r, size, PutOptions{ContentType: contentType})
	return err
}

// PutOptions are what PutWith records with an object besides its bytes.
type PutOptions struct {
	// ContentType is sent as Content-Type (empty: none, S3 records its default).
	ContentType string
	// Metadata is stored as x-amz-meta-* headers (keys lower case, values ASCII).
	Metadata map[string]string
	// ACL is a canned ACL sent with the upload (e.g. "public-read"; empty: none).
	ACL string
	// Checksum asks S3 to verify and store a CRC64NVME checksum of the whole object
	// (x-amz-checksum-crc64nvme, a full-object checksum also for multipart uploads), which
	// Head then returns.
	Checksum bool
	// CRC64NVME, when not empty, is that checksum (base64) computed by the caller from the
	// bytes it sends: S3 refuses the upload if what it receives differs, and the SDK does not
	// read the body once more to compute it. Only uploads smaller than PartSize use it (a
	// multipart upload computes its own).
	CRC64NVME string
	// IfAbsent asks S3 to store the object only if no object has the key yet (If-None-Match:
	// *); if one has, PutWith fails with an error wrapping ErrExists and nothing is changed.
	// Only uploads smaller than PartSize can be conditional: PutWith refuses a larger one.
	IfAbsent bool
}

// ErrExists means a conditional upload (PutOptions.IfAbsent) found the key already taken.
var ErrExists = errors.New("an object with this key already exists")

// PartSize is the size from which Put and PutWith send a multipart upload.
func (s *S3) PartSize() int64 { return s.cfg.PartSize }

// PutResult is what S3 answered to a successful PutWith.
type PutResult struct {
	// CRC64NVME is the full-object checksum S3 computed from the bytes it stored (base64), as
	// the upload's answer carries it: "" unless PutOptions.Checksum was set and the server
	// returned it (Head then tells it).
	CRC64NVME string
}

// PutWith is Put with the options opts: metadata, an ACL, and a full-object checksum that S3
// verifies against the bytes it received and keeps with the object.
func (s *S3) PutWith(ctx context.Context, name string, r io.Reader, size int64, opts PutOptions) (PutResult, error) {
	if err := dfs.CheckName(name); err != nil {
		return PutResult{}, fmt.Errorf("s3: put %q: %w", name, err)
	}
	body := r
	if size >= 0 {
		body = sourceReader{storage.ExactReader(r, size)}
	}
	in := &awss3.PutObjectInput{
		Bucket: aws.String(s.cfg.Bucket),
		Key:    aws.String(name),
		Body:   body,
	}
	if opts.ContentType != "" {
		in.ContentType = aws.String(opts.ContentType)
	}
	if len(opts.Metadata) > 0 {
		in.Metadata = opts.Metadata
	}
	if opts.ACL != "" {
		in.ACL = types.ObjectCannedACL(opts.ACL)
	}
	if opts.Checksum {
		in.ChecksumAlgorithm = types.ChecksumAlgorithmCrc64nvme
	}
	if size >= 0 && size < s.cfg.PartSize {
		// One PutObject from a buffer of the object's own size: the uploader would take a
		// whole PartSize buffer for it, 16 MiB per small file in flight. A *bytes.Reader of
		// the right length is sent as it is.
		br, ok := r.(*bytes.Reader)
		if !ok || int64(br.Len()) != size {
			buf, err := readExactly(body, size)
			if err != nil {
				s.metrics.request(opPut, resultError)
				var srcErr *sourceError
				if errors.As(err, &srcErr) {
					err = srcErr.err
				}
				return PutResult{}, fmt.Errorf("s3: put %q: %w", name, err)
			}
			br = bytes.NewReader(buf)
		}
		in.Body = br
		if opts.CRC64NVME != "" {
			in.ChecksumCRC64NVME = aws.String(opts.CRC64NVME)
		}
		if opts.IfAbsent {
			in.IfNoneMatch = aws.String("*")
		}
		out, err := s.client.PutObject(ctx, in, s.attemptTimeout())
		if err != nil {
			var httpErr interface{ HTTPStatusCode() int }
			if opts.IfAbsent && errors.As(err, &httpErr) && httpErr.HTTPStatusCode() == http.StatusPreconditionFailed {
				// The answer asked for, not a failure: counted as a completed request.
				s.metrics.request(opPut, resultOK)
				return PutResult{}, fmt.Errorf("s3: put %q: %w", name, ErrExists)
			}
			return PutResult{}, s.fail(ctx, opPut, name, err)
		}
		s.metrics.request(opPut, resultOK)
		return PutResult{CRC64NVME: fullObjectCRC(out.ChecksumType, out.ChecksumCRC64NVME)}, nil
	}
	if opts.IfAbsent {
		return PutResult{}, fmt.Errorf("s3: put %q: a conditional upload must be smaller than the part size (%d bytes)", name, s.cfg.PartSize)
	}
	up := manager.NewUploader(s.client, func(u *manager.Uploader) {
		u.PartSize = s.cfg.PartSize
		u.ClientOptions = append(u.ClientOptions, s.attemptTimeout())
	})
	out, err := up.Upload(ctx, in)
	if err != nil {
		var srcErr *sourceError
		if errors.As(err, &srcErr) {
			s.metrics.request(opPut, resultError)
			return PutResult{}, fmt.Errorf("s3: put %q: %w", name, srcErr.err)
		}
		return PutResult{}, s.fail(ctx, opPut, name, err)
	}
	s.metrics.request(opPut, resultOK)
	// CRC64NVME checksums are full-object ones, multipart uploads included (S3 has no
	// composite CRC64NVME); the uploader's answer does not carry the type.
	return PutResult{CRC64NVME: aws.ToString(out.ChecksumCRC64NVME)}, nil
}

// readExactly reads body, a storage.ExactReader of size bytes, into a buffer of that size. The
// read past the end is ExactReader's check that the source holds no more than size bytes.
func readExactly(body io.Reader, size int64) ([]byte, error) {
	buf := make([]byte, size)
	if _, err := io.ReadFull(body, buf); err != nil {
		return nil, err
	}
	if _, err := body.Read(make([]byte, 1)); err != io.EOF {
		return nil, err
	}
	return buf, nil
}

// fullObjectCRC is the CRC64NVME value of an answer when it is a full-object checksum (a
// composite one, "checksum of checksums", is not the bytes' CRC).
func fullObjectCRC(typ types.ChecksumType, crc *string) string {
	if typ == types.ChecksumTypeFullObject || typ == "" {
		return aws.ToString(crc)
	}
	return ""
}

// ObjectInfo is what Head tells of an object.
type ObjectInfo struct {
	// Size is the object's length in bytes.
	Size int64
	// ContentType is the stored Content-Type.
	ContentType string
	// Metadata are the x-amz-meta-* values, keys lower case.
	Metadata map[string]string
	// CRC64NVME is the stored full-object checksum (base64), "" when the object has none.
	CRC64NVME string
	// Modified is the object's Last-Modified time.
	Modified time.Time
}

// Head returns the size, type, metadata and stored full-object checksum of the object name
// (HeadObject with checksum mode on), without reading its bytes. A missing key wraps
// storage.ErrNotExist, other failures storage.ErrUnavailable.
func (s *S3) Head(ctx context.Context, name string) (ObjectInfo, error) {
	if err := dfs.CheckName(name); err != nil {
		return ObjectInfo{}, fmt.Errorf("s3: head %q: %w", name, err)
	}
	out, err := s.client.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: aws.String(s.cfg.Bucket), Key: aws.String(name),
		ChecksumMode: types.ChecksumModeEnabled}, s.attemptTimeout())
	if err != nil {
		return ObjectInfo{}, s.fail(ctx, opHead, name, err)
	}
	s.metrics.request(opHead, resultOK)
	info := ObjectInfo{Size: aws.ToInt64(out.ContentLength), ContentType: aws.ToString(out.ContentType), Metadata: out.Metadata,
		Modified: aws.ToTime(out.LastModified)}
	info.CRC64NVME = fullObjectCRC(out.ChecksumType, out.ChecksumCRC64NVME)
	return info, nil
}

// sourceError marks a failure of the caller's reader (not of S3) inside an upload.
type sourceError struct{ err error }

func (e *sourceError) Error() string { return e.err.Error() }
func (e *sourceError) Unwrap() error { return e.err }

// sourceReader marks every failure of the caller's reader as a sourceError, so Put can tell
// it from a failure of S3.
type sourceReader struct{ r io.Reader }

func (s sourceReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if err != nil && err != io.EOF {
		err = &sourceError{err}
	}
	return n, err
}
