package integration

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/ezdfsd/ezdfsd/dfs"
	"github.com/ezdfsd/ezdfsd/internal/testenv"
	"github.com/ezdfsd/ezdfsd/internal/testkit"
	"github.com/ezdfsd/ezdfsd/metadata"
)

// TestS3KeysFromTheEnvironment: a site whose dfsamazons3.ini has no AccessKeyID and
// SecretAccessKey is served with the keys of the daemon's environment (the SDK default chain,
// as the eZ S3 extension does): right AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY → 200 with the
// object's bytes; a wrong secret → 503 with Retry-After (the bucket refuses the signature),
// never a 404 that Varnish would cache. The machine's own AWS profile is kept out: HOME,
// AWS_CONFIG_FILE and AWS_SHARED_CREDENTIALS_FILE point into an empty directory.
func TestS3KeysFromTheEnvironment(t *testing.T) {
	srv := testenv.S3Server(t)
	dsn := testenv.MySQLDatabase(t)
	admin := testkit.S3Admin(srv)
	bucket := testkit.NewBucket(t, srv, admin, "ezdfsd-env-")
	store := testkit.MySQLStore(t, dsn)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	name := site + "storage/images/env/12-1-eng-GB/env.png"
	data := pngImage(t, 20, 20)
	if _, err := admin.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(name),
		Body: bytes.NewReader(data), ContentType: aws.String("image/png")}); err != nil {
		t.Fatalf("PutObject: %v", err)
	}
	root := newEZRoot(t, splitDSN(t, dsn), dfs.DispatcherBackend,
		"[DispatchableDFS]\nDefaultBackend=eZDFSFileHandlerDFSBackend\nPathBackends[storage/images/env]=eZDFSFileHandlerDFSAmazon\n")
	root.write(t, "settings/override/dfsamazons3.ini.append.php", "<?php /* #?ini charset=\"utf-8\"?\n\n"+
		"[BackendSettings]\nAccessKeyID=\nSecretAccessKey=\nBucket="+bucket+"\nRegion=us-east-1\n\n*/ ?>\n")
	put(t, store, root.Mount, metadata.File{Name: name, Datatype: "image/png", Scope: "image", Size: int64(len(data)), MTime: mtime}, nil)

	for _, tt := range []struct {
		name, secret string
		code         int
	}{
		{"right keys", srv.SecretKey, 200},
		{"wrong secret", "wrong-secret", 503},
	} {
		t.Run(tt.name, func(t *testing.T) {
			home := t.TempDir()
			for _, k := range []string{"AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_ACCESS_KEY", "AWS_SECRET_KEY",
				"AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
				"AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"} {
				t.Setenv(k, "")
				os.Unsetenv(k)
			}
			// The SDK fixes its default ~/.aws paths when the process starts: HOME alone would
			// not keep the machine's profile out.
			t.Setenv("HOME", home)
			t.Setenv("AWS_CONFIG_FILE", filepath.Join(home, "config"))
			t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(home, "credentials"))
			t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
			t.Setenv("AWS_ACCESS_KEY_ID", srv.AccessKey)
			t.Setenv("AWS_SECRET_ACCESS_KEY", tt.secret)

			d := testkit.StartDaemon(t, []string{"--ez-root", root.Dir, "--listen", "127.0.0.1:0", "--metrics-listen", "",
				"--shutdown-timeout", "2s", "--retry-after", "7"},
				[]string{"EZDFSD_S3_ENDPOINT=" + srv.Endpoint, "EZDFSD_S3_PATH_STYLE=true"})
			if d.Cfg.S3.AccessKeyID != "" || d.Cfg.S3.SecretAccessKey != "" {
				t.Fatalf("configured keys not empty: the test would not exercise the default chain")
			}
			r := do(t, newClient(t, 1), d.URL, "GET", "/"+name)
			if r.Code != tt.code {
				t.Fatalf("GET: status %d, want %d", r.Code, tt.code)
			}
			if tt.code == 200 && !bytes.Equal(r.Body, data) {
				t.Errorf("GET: %d bytes, want the object's %d", len(r.Body), len(data))
			}
			if tt.code == 503 && r.Header.Get("Retry-After") != "7" {
				t.Errorf("503 with Retry-After %q, want 7", r.Header.Get("Retry-After"))
			}
		})
	}
}
