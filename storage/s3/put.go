//lint:file-ignore SA1019 manager.Uploader is the multipart uploader pinned in go.mod (deprecated in favour of feature/s3/transfermanager, which is not a dependency of this module).

package s3

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/s3/manager"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/ezdfsd/ezdfsd/dfs"
	"github.com/ezdfsd/ezdfsd/storage"
)

// Put stores size bytes from r as the object name with the given Content-Type (empty: none
// sent, S3 then records its default). Objects of at least PartSize bytes are sent as a multipart
// upload (parts of PartSize, a few in flight, aborted on failure), smaller ones with one
// PutObject; each attempt of each call is bounded by RequestTimeout. If size >= 0, r must give
// exactly size bytes (fewer: io.ErrUnexpectedEOF; more: an error) and nothing is left stored
// under name by a failed upload of a new key. No ACL is sent (eZ sent public-read; ezdfsd
// serves the bytes itself, and buckets with ACLs disabled refuse any ACL). Remote failures
// wrap storage.ErrUnavailable.
func (s *S3) Put(ctx context.Context, name string, r io.Reader, size int64, contentType string) error {
	if err := dfs.CheckName(name); err != nil {
		return fmt.Errorf("s3: put %q: %w", name, err)
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
	if contentType != "" {
		in.ContentType = aws.String(contentType)
	}
	up := manager.NewUploader(s.client, func(u *manager.Uploader) {
		u.PartSize = s.cfg.PartSize
		u.ClientOptions = append(u.ClientOptions, s.attemptTimeout())
	})
	if _, err := up.Upload(ctx, in); err != nil {
		var srcErr *sourceError
		if errors.As(err, &srcErr) {
			s.metrics.request(opPut, resultError)
			return fmt.Errorf("s3: put %q: %w", name, srcErr.err)
		}
		return s.fail(ctx, opPut, name, err)
	}
	s.metrics.request(opPut, resultOK)
	return nil
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
