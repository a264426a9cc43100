package testkit

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/ezdfsd/ezdfsd/internal/testenv"
)

// S3Admin is an SDK client on the test S3 server, for setting up and inspecting buckets. It is
// built from srv alone: no AWS_* variable or shared config file of the machine is read.
func S3Admin(srv testenv.S3) *awss3.Client {
	return awss3.New(awss3.Options{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider(srv.AccessKey, srv.SecretKey, ""),
		BaseEndpoint: aws.String(srv.Endpoint),
		UsePathStyle: true,
	})
}

// NewBucket creates a bucket named prefix + a random suffix on srv, emptied and removed when
// the test ends (with versitygw's posix root, the directory is removed if the delete fails). A
// server that does not answer CreateBucket fails the test or skips it, as testenv.Missing says.
func NewBucket(t testing.TB, srv testenv.S3, cli *awss3.Client, prefix string) string {
	t.Helper()
	bucket := prefix + testenv.RandomSuffix()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := cli.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		testenv.Missing(t, "versitygw answering CreateBucket at "+srv.Endpoint+": "+err.Error())
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		p := awss3.NewListObjectsV2Paginator(cli, &awss3.ListObjectsV2Input{Bucket: aws.String(bucket)})
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				t.Logf("list bucket for cleanup: %v", err)
				break
			}
			for _, o := range page.Contents {
				cli.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: aws.String(bucket), Key: o.Key})
			}
		}
		if _, err := cli.DeleteBucket(ctx, &awss3.DeleteBucketInput{Bucket: aws.String(bucket)}); err != nil {
			t.Logf("delete bucket %s: %v", bucket, err)
			if srv.Root != "" {
				os.RemoveAll(filepath.Join(srv.Root, bucket)) // posix backend: the bucket is a directory
			}
		}
	})
	return bucket
}
