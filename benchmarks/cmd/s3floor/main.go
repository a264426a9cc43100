// Command s3floor is the floor of the S3 benchmark: the least a proxy between the load generator
// and S3 can do. It presigns a GetObject URL for every key at start, and for each request sends
// the presigned GET with net/http's client (as ezdfsd's S3 backend does) and streams the answer
// back on fasthttp (ezdfsd's serving engine), with no metadata lookup, no rules, no metrics and no
// logging. benchmarks/run's S3 scenario runs it beside ezdfsd and the direct GetObject, so that
// the cost of the extra hop itself shows apart from ezdfsd's own work.
//
//	s3floor -listen 127.0.0.1:18082 -s3-endpoint http://127.0.0.1:17171 -bucket B \
//	  -s3-access-key K -s3-secret-key S -keys zipf-keys.txt
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/valyala/fasthttp"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:18082", "address to serve on")
	endpoint := flag.String("s3-endpoint", "", "S3 endpoint URL (path style)")
	bucket := flag.String("bucket", "", "bucket")
	ak := flag.String("s3-access-key", "", "access key")
	sk := flag.String("s3-secret-key", "", "secret key")
	keys := flag.String("keys", "", "file with one key per line (the names the load generator asks for)")
	flag.Parse()
	if err := run(*listen, *endpoint, *bucket, *ak, *sk, *keys); err != nil {
		log.Fatalf("s3floor: %v", err)
	}
}

func run(listen, endpoint, bucket, ak, sk, keysFile string) error {
	if endpoint == "" || bucket == "" || keysFile == "" {
		return fmt.Errorf("-s3-endpoint, -bucket and -keys are required")
	}
	urls, err := presignAll(context.Background(), endpoint, bucket, ak, sk, keysFile)
	if err != nil {
		return err
	}
	client := &http.Client{Transport: &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        256,
		MaxIdleConnsPerHost: 256,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}}
	srv := &fasthttp.Server{
		Handler: func(c *fasthttp.RequestCtx) {
			u, ok := urls[strings.TrimPrefix(string(c.Path()), "/")]
			if !ok {
				c.SetStatusCode(http.StatusNotFound)
				return
			}
			req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, u, nil)
			if err != nil {
				c.SetStatusCode(http.StatusInternalServerError)
				return
			}
			resp, err := client.Do(req)
			if err != nil {
				c.SetStatusCode(http.StatusBadGateway)
				return
			}
			c.SetStatusCode(resp.StatusCode)
			c.SetContentType(resp.Header.Get("Content-Type"))
			c.SetBodyStream(resp.Body, int(resp.ContentLength)) // closed by fasthttp once sent
		},
		NoDefaultServerHeader: true,
	}
	log.Printf("s3floor: %d keys presigned, serving on %s", len(urls), listen)
	return srv.ListenAndServe(listen)
}

// presignAll returns a presigned GetObject URL, valid for a day, for every key in keysFile.
func presignAll(ctx context.Context, endpoint, bucket, ak, sk, keysFile string) (map[string]string, error) {
	f, err := os.Open(keysFile)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	pc := awss3.NewPresignClient(awss3.New(awss3.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(endpoint),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(ak, sk, ""),
	}), awss3.WithPresignExpires(24*time.Hour))
	urls := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		key := strings.TrimSpace(sc.Text())
		if key == "" || urls[key] != "" {
			continue
		}
		req, err := pc.PresignGetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
		if err != nil {
			return nil, fmt.Errorf("presign %q: %w", key, err)
		}
		urls[key] = req.URL
	}
	return urls, sc.Err()
}
