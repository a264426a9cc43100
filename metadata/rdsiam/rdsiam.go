// Package rdsiam authenticates MySQL connections to Amazon RDS (and Aurora) with IAM database
// authentication: instead of a password, each new connection presents a token signed with the
// AWS credentials of the process (instance or task role, web identity, environment, profile).
//
// A token is valid for 15 minutes and only for opening a connection; open connections stay
// open past its expiry. So Password builds a fresh token for every new connection (it plugs
// into sqlstore.MySQLSecurity.Password), and the connection pool keeps working for as long as
// the credentials do.
//
// What only AWS can test: that RDS accepts the token (the database user must exist with
// `IDENTIFIED WITH AWSAuthenticationPlugin AS 'RDS'`, the role needs rds-db:connect on
// arn:aws:rds-db:REGION:ACCOUNT:dbuser:DBI-RESOURCE-ID/USER, and the connection must use TLS).
// This package's tests check the token's form and signature offline, and a MariaDB user whose
// password is set to the token.
package rdsiam

import (
	"context"
	"errors"
	"fmt"
	"net"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/rds/auth"
)

// Password returns a function that builds a new IAM authentication token for user at
// endpoint (host:port, the RDS endpoint name as clients connect to it) in region, with the
// credentials of creds, each time it is called. It fails at once for an endpoint without a port,
// an empty region or user, or nil credentials.
func Password(endpoint, region, user string, creds aws.CredentialsProvider) (func(ctx context.Context) (string, error), error) {
	if _, port, err := net.SplitHostPort(endpoint); err != nil || port == "" {
		return nil, fmt.Errorf("rdsiam: endpoint %q: want host:port", endpoint)
	}
	switch {
	case region == "":
		return nil, errors.New("rdsiam: no AWS region (set the region setting, AWS_REGION, or the profile's region)")
	case user == "":
		return nil, errors.New("rdsiam: no database user")
	case creds == nil:
		return nil, errors.New("rdsiam: no AWS credentials")
	}
	return func(ctx context.Context) (string, error) {
		token, err := auth.BuildAuthToken(ctx, endpoint, region, user, creds)
		if err != nil {
			return "", fmt.Errorf("rdsiam: build IAM token for %s@%s: %w", user, endpoint, err)
		}
		return token, nil
	}, nil
}
