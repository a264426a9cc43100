package daemon

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/go-sql-driver/mysql"

	"github.com/ezdfsd/ezdfsd/config"
	"github.com/ezdfsd/ezdfsd/metadata/rdsiam"
	"github.com/ezdfsd/ezdfsd/metadata/sqlstore"
)

// mysqlSecurity maps the db-tls, db-tls-ca and db-iam-auth settings onto the store's
// MySQLSecurity for the connection dsn describes. With IAM, the AWS default credential chain
// is loaded once here (it refreshes role credentials itself); tokens are built per connection.
func mysqlSecurity(ctx context.Context, cfg *config.Config, dsn string) (sqlstore.MySQLSecurity, error) {
	sec := sqlstore.MySQLSecurity{TLS: cfg.MySQLTLS(), CAFile: cfg.DB.TLSCA}
	if !cfg.DB.IAMAuth {
		return sec, nil
	}
	mc, err := mysql.ParseDSN(dsn)
	if err != nil {
		return sec, fmt.Errorf("db-iam-auth: %w", err)
	}
	if mc.Net != "tcp" {
		return sec, fmt.Errorf("db-iam-auth: RDS is reached over TCP, not %s (unset db-socket)", mc.Net)
	}
	var opts []func(*awsconfig.LoadOptions) error
	if cfg.DB.IAMRegion != "" {
		opts = append(opts, awsconfig.WithRegion(cfg.DB.IAMRegion))
	}
	aws, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return sec, fmt.Errorf("db-iam-auth: AWS configuration: %w", err)
	}
	sec.Password, err = rdsiam.Password(mc.Addr, aws.Region, mc.User, aws.Credentials)
	if err != nil {
		return sec, fmt.Errorf("db-iam-auth: %w", err)
	}
	return sec, nil
}

// memcachedTLS returns the TLS configuration of memcached-tls, -tls-ca and -tls-server-name
// (nil when memcached-tls is off).
func memcachedTLS(cfg *config.Config) (*tls.Config, error) {
	if !cfg.MemcachedTLS {
		return nil, nil
	}
	t := &tls.Config{ServerName: cfg.MemcachedTLSServerName, MinVersion: tls.VersionTLS12}
	if cfg.MemcachedTLSCA != "" {
		pem, err := os.ReadFile(cfg.MemcachedTLSCA)
		if err != nil {
			return nil, fmt.Errorf("memcached-tls-ca: %w", err)
		}
		t.RootCAs = x509.NewCertPool()
		if !t.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("memcached-tls-ca = %s: no PEM certificate in the file", cfg.MemcachedTLSCA)
		}
	}
	return t, nil
}
