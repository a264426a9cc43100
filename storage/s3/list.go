package s3

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/ezdfsd/ezdfsd/dfs"
)

// Operations of the maintenance commands, values of the ezdfsd_s3_requests_total "op" label.
const (
	opList   = "list"
	opHead   = "head"
	opDelete = "delete"
)

// List calls fn for every object of the bucket whose key starts with prefix ("" for all), in
// key order, reading one ListObjectsV2 page (up to 1000 keys) at a time. It stops at fn's first
// error. Remote failures wrap storage.ErrUnavailable.
func (s *S3) List(ctx context.Context, prefix string, fn func(key string, size int64, modified time.Time) error) error {
	in := &awss3.ListObjectsV2Input{Bucket: aws.String(s.cfg.Bucket)}
	if prefix != "" {
		in.Prefix = aws.String(prefix)
	}
	p := awss3.NewListObjectsV2Paginator(s.client, in)
	for p.HasMorePages() {
		page, err := p.NextPage(ctx, s.attemptTimeout())
		if err != nil {
			return s.fail(ctx, opList, prefix, err)
		}
		s.metrics.request(opList, resultOK)
		for _, o := range page.Contents {
			if err := fn(aws.ToString(o.Key), aws.ToInt64(o.Size), aws.ToTime(o.LastModified)); err != nil {
				return err
			}
		}
	}
	return nil
}

// Stat returns the size of the object name (HeadObject). A missing key wraps
// storage.ErrNotExist, other failures storage.ErrUnavailable.
func (s *S3) Stat(ctx context.Context, name string) (int64, error) {
	if err := dfs.CheckName(name); err != nil {
		return 0, fmt.Errorf("s3: stat %q: %w", name, err)
	}
	out, err := s.client.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: aws.String(s.cfg.Bucket), Key: aws.String(name)},
		s.attemptTimeout())
	if err != nil {
		return 0, s.fail(ctx, opHead, name, err)
	}
	s.metrics.request(opHead, resultOK)
	return aws.ToInt64(out.ContentLength), nil
}

// Remove deletes the object name. Deleting a missing key succeeds, as S3's DeleteObject does.
// Failures wrap storage.ErrUnavailable.
func (s *S3) Remove(ctx context.Context, name string) error {
	if err := dfs.CheckName(name); err != nil {
		return fmt.Errorf("s3: remove %q: %w", name, err)
	}
	_, err := s.client.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: aws.String(s.cfg.Bucket), Key: aws.String(name)},
		s.attemptTimeout())
	if err != nil {
		return s.fail(ctx, opDelete, name, err)
	}
	s.metrics.request(opDelete, resultOK)
	return nil
}
