package rdsiam

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

// countingCreds is a fixed set of credentials that counts how often it was asked.
type countingCreds struct {
	aws.CredentialsProvider
	calls atomic.Int32
}

func (c *countingCreds) Retrieve(ctx context.Context) (aws.Credentials, error) {
	c.calls.Add(1)
	return c.CredentialsProvider.Retrieve(ctx)
}

// TestTokenIsASignedConnectRequest checks, offline, that the token is what RDS verifies: a
// presigned GET of Action=connect for the user at the endpoint, signed for the rds-db service
// in the region, valid 900 s, with the given credentials; and that the signature is right (it is
// computed again from the same request, credentials and signing time).
func TestTokenIsASignedConnectRequest(t *testing.T) {
	const (
		endpoint = "mydb.abc123.eu-west-1.rds.amazonaws.com:3306"
		region   = "eu-west-1"
		user     = "ezdfsd"
		keyID    = "AKIAEXAMPLEKEYID0000"
		secret   = "example/secret/key/0123456789abcdefghij"
	)
	creds := &countingCreds{CredentialsProvider: credentials.NewStaticCredentialsProvider(keyID, secret, "")}
	password, err := Password(endpoint, region, user, creds)
	if err != nil {
		t.Fatal(err)
	}
	before := time.Now().UTC().Truncate(time.Second)
	token, err := password(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse("https://" + token)
	if err != nil {
		t.Fatalf("token %q is not a URL without its scheme: %v", token, err)
	}
	q := u.Query()
	signedAt, err := time.Parse("20060102T150405Z", q.Get("X-Amz-Date"))
	if err != nil {
		t.Fatalf("X-Amz-Date %q: %v", q.Get("X-Amz-Date"), err)
	}
	for k, want := range map[string]string{
		"Action":              "connect",
		"DBUser":              user,
		"X-Amz-Algorithm":     "AWS4-HMAC-SHA256",
		"X-Amz-Expires":       "900",
		"X-Amz-SignedHeaders": "host",
		"X-Amz-Credential":    keyID + "/" + signedAt.Format("20060102") + "/" + region + "/rds-db/aws4_request",
	} {
		if got := q.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if u.Host != endpoint || strings.Trim(u.Path, "/") != "" {
		t.Errorf("token is for %q path %q, want %q and no path", u.Host, u.Path, endpoint)
	}
	if signedAt.Before(before) || signedAt.After(time.Now().UTC()) {
		t.Errorf("signed at %v, want the time of the call (%v..now)", signedAt, before)
	}

	// Sign the same request again at the token's own time: the signatures must agree.
	unsigned := url.Values{"Action": {"connect"}, "DBUser": {user}, "X-Amz-Expires": {"900"}}
	req, _ := http.NewRequest(http.MethodGet, "https://"+endpoint+"/?"+unsigned.Encode(), nil)
	fixed, _ := credentials.NewStaticCredentialsProvider(keyID, secret, "").Retrieve(context.Background())
	const emptyPayload = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	again, _, err := v4.NewSigner().PresignHTTP(context.Background(), fixed, req, emptyPayload, "rds-db", region, signedAt)
	if err != nil {
		t.Fatal(err)
	}
	ref, _ := url.Parse(again)
	if got, want := q.Get("X-Amz-Signature"), ref.Query().Get("X-Amz-Signature"); got == "" || got != want {
		t.Errorf("X-Amz-Signature = %q, want %q (the signature of the same request with the same key and time)", got, want)
	}

	// Each call is a new token: the credentials are asked again (a role's keys rotate).
	if _, err := password(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := creds.calls.Load(); got != 2 {
		t.Errorf("credentials retrieved %d times for 2 tokens, want 2", got)
	}
}

func TestPasswordRefusesIncompleteSettings(t *testing.T) {
	creds := credentials.NewStaticCredentialsProvider("k", "s", "")
	for _, tc := range []struct {
		endpoint, region, user string
		creds                  aws.CredentialsProvider
		want                   string
	}{
		{"db.example", "eu-west-1", "u", creds, "want host:port"},
		{"db.example:3306", "", "u", creds, "no AWS region"},
		{"db.example:3306", "eu-west-1", "", creds, "no database user"},
		{"db.example:3306", "eu-west-1", "u", nil, "no AWS credentials"},
	} {
		if _, err := Password(tc.endpoint, tc.region, tc.user, tc.creds); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Password(%q, %q, %q): %v, want an error containing %q", tc.endpoint, tc.region, tc.user, err, tc.want)
		}
	}
}
