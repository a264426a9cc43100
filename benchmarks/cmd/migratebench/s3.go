package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// s3Target is the S3-compatible server the data set is copied to.
type s3Target struct {
	endpoint, accessKey, secretKey string
	client                         *awss3.Client
}

// newS3Target returns a target with an SDK client for endpoint (path style, static keys, the
// SDK's default request checksums): the client the baseline uploads with.
func newS3Target(endpoint, ak, sk string) *s3Target {
	hc := awshttp.NewBuildableClient().WithTimeout(0)
	return &s3Target{endpoint: endpoint, accessKey: ak, secretKey: sk, client: awss3.New(awss3.Options{
		Region:                     "us-east-1",
		BaseEndpoint:               aws.String(endpoint),
		UsePathStyle:               true,
		Credentials:                credentials.NewStaticCredentialsProvider(ak, sk, ""),
		HTTPClient:                 hc,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
		DisableLogOutputChecksumValidationSkipped: true,
	})}
}

func (t *s3Target) createBucket(ctx context.Context, bucket string) error {
	if _, err := t.client.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		return fmt.Errorf("create bucket %s at %s: %w", bucket, t.endpoint, err)
	}
	return nil
}

// usage returns how many objects bucket holds and their total size.
func (t *s3Target) usage(ctx context.Context, bucket string) (objects int, bytes int64, err error) {
	p := awss3.NewListObjectsV2Paginator(t.client, &awss3.ListObjectsV2Input{Bucket: aws.String(bucket)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return 0, 0, fmt.Errorf("list bucket %s: %w", bucket, err)
		}
		for _, o := range page.Contents {
			objects++
			bytes += aws.ToInt64(o.Size)
		}
	}
	return objects, bytes, nil
}

// deleteBucket deletes every object of bucket, then bucket.
func (t *s3Target) deleteBucket(ctx context.Context, bucket string) error {
	p := awss3.NewListObjectsV2Paginator(t.client, &awss3.ListObjectsV2Input{Bucket: aws.String(bucket)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("list bucket %s: %w", bucket, err)
		}
		if len(page.Contents) == 0 {
			continue
		}
		ids := make([]types.ObjectIdentifier, len(page.Contents))
		for i, o := range page.Contents {
			ids[i] = types.ObjectIdentifier{Key: o.Key}
		}
		out, err := t.client.DeleteObjects(ctx, &awss3.DeleteObjectsInput{Bucket: aws.String(bucket),
			Delete: &types.Delete{Objects: ids, Quiet: aws.Bool(true)}})
		if err != nil {
			return fmt.Errorf("empty bucket %s: %w", bucket, err)
		}
		if len(out.Errors) > 0 {
			return fmt.Errorf("empty bucket %s: %s: %s", bucket, aws.ToString(out.Errors[0].Key), aws.ToString(out.Errors[0].Message))
		}
	}
	if _, err := t.client.DeleteBucket(ctx, &awss3.DeleteBucketInput{Bucket: aws.String(bucket)}); err != nil {
		return fmt.Errorf("delete bucket %s: %w", bucket, err)
	}
	return nil
}

// putSequential is the baseline: one PutObject after the other, each streaming its file from
// the mount point with the row's content type, as the simplest migration script would.
func (t *s3Target) putSequential(ctx context.Context, bucket, dir string, files []file) error {
	for _, f := range files {
		if err := t.put(ctx, bucket, dir, f); err != nil {
			return err
		}
	}
	return nil
}

func (t *s3Target) put(ctx context.Context, bucket, dir string, f file) error {
	r, err := os.Open(filepath.Join(dir, f.name))
	if err != nil {
		return fmt.Errorf("baseline: %w", err)
	}
	defer r.Close()
	_, err = t.client.PutObject(ctx, &awss3.PutObjectInput{
		Bucket:        aws.String(bucket),
		Key:           aws.String(f.name),
		Body:          r,
		ContentLength: aws.Int64(f.size),
		ContentType:   aws.String(f.datatype),
	})
	if err != nil {
		return fmt.Errorf("baseline: put %s: %w", f.name, err)
	}
	return nil
}
