package s3

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ezdfsd/ezdfsd/storage"
	"github.com/ezdfsd/ezdfsd/storage/storagetest"
)

// awsEnv is every environment variable through which the SDK's default chain could pick up
// credentials, a profile, a region or an endpoint from the machine running the test.
var awsEnv = []string{
	"HOME", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE", "AWS_PROFILE", "AWS_DEFAULT_PROFILE",
	"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ACCESS_KEY", "AWS_SECRET_KEY", "AWS_SESSION_TOKEN",
	"AWS_ROLE_ARN", "AWS_ROLE_SESSION_NAME", "AWS_WEB_IDENTITY_TOKEN_FILE",
	"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_AUTHORIZATION_TOKEN",
	"AWS_EC2_METADATA_DISABLED", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_REGION", "AWS_DEFAULT_REGION",
}

// isolateAWS clears awsEnv for the test, points HOME, AWS_CONFIG_FILE and
// AWS_SHARED_CREDENTIALS_FILE into an empty directory and turns the EC2 metadata lookup off,
// then sets env. It returns that directory. Setting HOME alone would not do: the SDK computes
// its default ~/.aws paths once, when the process starts, so only the two variables (read at
// every LoadDefaultConfig) keep the machine user's profiles out.
func isolateAWS(t *testing.T, env map[string]string) string {
	t.Helper()
	home := t.TempDir()
	for _, k := range awsEnv {
		t.Setenv(k, "") // restored at the end of the test
		os.Unsetenv(k)
	}
	t.Setenv("HOME", home)
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(home, ".aws", "config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(home, ".aws", "credentials"))
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	for k, v := range env {
		t.Setenv(k, v)
	}
	return home
}

// writeAWSFile writes ~/.aws/<name> in home.
func writeAWSFile(t *testing.T, home, name, text string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(home, ".aws"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(home, ".aws", name), []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestDefaultCredentialChain: with the configured keys empty (dfsamazons3.ini without
// AccessKeyID/SecretAccessKey), the backend signs with the SDK default chain, as eZ's S3
// extension does. Against versitygw, which checks every SigV4 signature: keys from
// AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY work; a wrong secret there fails (503-class
// ErrUnavailable, not 404) even when ~/.aws/credentials holds right keys, because the
// environment comes first; without environment keys, ~/.aws/credentials is used; with neither,
// every call fails. The machine's own AWS settings are kept out (HOME and AWS_* isolated).
func TestDefaultCredentialChain(t *testing.T) {
	s, srv, _ := realBucket(t, Config{}) // creates the bucket with the server's keys
	bucket := s.Bucket()
	data := storagetest.Data(7, 3000)
	good := fmt.Sprintf("[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n", srv.AccessKey, srv.SecretKey)
	bad := fmt.Sprintf("[default]\naws_access_key_id = %s\naws_secret_access_key = wrong-secret\n", srv.AccessKey)
	right := map[string]string{"AWS_ACCESS_KEY_ID": srv.AccessKey, "AWS_SECRET_ACCESS_KEY": srv.SecretKey}
	wrongSecret := map[string]string{"AWS_ACCESS_KEY_ID": srv.AccessKey, "AWS_SECRET_ACCESS_KEY": "wrong-secret"}
	tests := []struct {
		name        string
		env         map[string]string
		credentials string // ~/.aws/credentials in the isolated HOME
		works       bool
	}{
		{"environment keys", right, "", true},
		{"wrong environment secret", wrongSecret, "", false},
		// versitygw answers an unknown key ID with 404 XAdminUserNotFound (AWS: 403
		// InvalidAccessKeyId): still a credentials failure (ErrUnavailable), not a missing object.
		{"unknown environment key ID", map[string]string{"AWS_ACCESS_KEY_ID": "unknown-key", "AWS_SECRET_ACCESS_KEY": "x"}, "", false},
		{"wrong environment secret beats a right profile", wrongSecret, good, false},
		{"environment keys beat a wrong profile", right, bad, true},
		{"shared credentials file", nil, good, true},
		{"no credentials anywhere", nil, "", false},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			home := isolateAWS(t, tt.env)
			if tt.credentials != "" {
				writeAWSFile(t, home, "credentials", tt.credentials)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			// Exactly what the daemon builds from dfsamazons3.ini with empty keys.
			b, err := New(ctx, Config{Bucket: bucket, Endpoint: srv.Endpoint, PathStyle: true, MaxAttempts: 1}, prometheus.NewRegistry(), nil)
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			name := fmt.Sprintf("var/site/storage/images/env/%d.bin", i)
			pingErr := b.Ping(ctx)
			putErr := b.Put(ctx, name, bytes.NewReader(data), int64(len(data)), "application/octet-stream")
			if !tt.works {
				for op, err := range map[string]error{"Ping": pingErr, "Put": putErr} {
					if err == nil || !errors.Is(err, storage.ErrUnavailable) {
						t.Errorf("%s: error %v, want a failure wrapping storage.ErrUnavailable", op, err)
					}
				}
				// Nothing reached the bucket: the server's own keys do not find the object.
				if _, err := storagetest.ReadRange(ctx, s, name, 0, 1); !errors.Is(err, storage.ErrNotExist) {
					t.Errorf("object written despite failing credentials: %v", err)
				}
				t.Logf("Ping: %v", pingErr)
				return
			}
			if pingErr != nil || putErr != nil {
				t.Fatalf("Ping: %v; Put: %v", pingErr, putErr)
			}
			got, err := storagetest.ReadRange(ctx, b, name, 1000, 1500)
			if err != nil || !bytes.Equal(got, data[1000:2500]) {
				t.Fatalf("read back through the chain: %d bytes, %v", len(got), err)
			}
			// And the server's own keys see the same object: it really was written.
			if got, err := storagetest.ReadRange(ctx, s, name, 0, int64(len(data))); err != nil || !bytes.Equal(got, data) {
				t.Fatalf("read back with the server's keys: %d bytes, %v", len(got), err)
			}
		})
	}
}
