package sqlstore

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"database/sql/driver"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"

	"github.com/go-sql-driver/mysql"
)

// TLSMode says how connections to MySQL are encrypted and what is verified. The names and
// meanings are those of the MySQL client's --ssl-mode.
type TLSMode string

// The TLS modes. The zero value leaves the DSN's own tls parameter (if any) in charge.
const (
	// TLSOff never encrypts.
	TLSOff TLSMode = "off"
	// TLSPreferred encrypts when the server offers TLS, without verifying its certificate,
	// and falls back to plain text when it does not.
	TLSPreferred TLSMode = "preferred"
	// TLSRequired always encrypts, without verifying the server's certificate.
	TLSRequired TLSMode = "required"
	// TLSVerifyCA encrypts and checks that the server's certificate is signed by a trusted CA
	// (MySQLSecurity.CAFile, else the system roots), whatever name it is for.
	TLSVerifyCA TLSMode = "verify-ca"
	// TLSVerifyFull is TLSVerifyCA plus a check that the certificate is for the host name
	// connected to (the DSN's host).
	TLSVerifyFull TLSMode = "verify-full"
)

// TLSModes lists the valid TLSMode values, for settings and their messages.
var TLSModes = []TLSMode{TLSOff, TLSPreferred, TLSRequired, TLSVerifyCA, TLSVerifyFull}

// MySQLSecurity is how MySQL connections are encrypted and authenticated beyond what the DSN
// says. Its zero value changes nothing.
type MySQLSecurity struct {
	// TLS is the encryption mode ("" = as the DSN says).
	TLS TLSMode
	// CAFile is a PEM bundle of the CAs trusted for verify-ca and verify-full (e.g. the RDS
	// global bundle); "" means the system roots.
	CAFile string
	// Password, when not nil, is called for the password of every new connection instead of
	// using the DSN's: RDS IAM authentication tokens expire after 15 minutes, so a password
	// fixed at start would break the pool's later connections. It also allows the cleartext
	// authentication plugin that RDS asks for (safe only with TLS: see Validate).
	Password func(ctx context.Context) (string, error)
}

// Validate reports a TLS mode that does not exist, a CA file with nothing to verify, and a
// password callback without verified encryption (the token would cross the network in
// cleartext).
func (s MySQLSecurity) Validate() error {
	switch s.TLS {
	case "", TLSOff, TLSPreferred, TLSRequired, TLSVerifyCA, TLSVerifyFull:
	default:
		return fmt.Errorf("sqlstore: unknown TLS mode %q (want one of %v)", s.TLS, TLSModes)
	}
	if s.CAFile != "" && s.TLS != TLSVerifyCA && s.TLS != TLSVerifyFull {
		return fmt.Errorf("sqlstore: a TLS CA file is only used with TLS mode verify-ca or verify-full, not %q", s.TLS)
	}
	if s.Password != nil && s.TLS != TLSRequired && s.TLS != TLSVerifyCA && s.TLS != TLSVerifyFull {
		return fmt.Errorf("sqlstore: per-connection passwords (IAM tokens) need TLS mode required, verify-ca or verify-full, not %q", s.TLS)
	}
	return nil
}

// apply sets mc's TLS configuration and per-connection password from s.
func (s MySQLSecurity) apply(mc *mysql.Config) error {
	if err := s.Validate(); err != nil {
		return err
	}
	switch s.TLS {
	case "":
	case TLSOff:
		mc.TLS, mc.TLSConfig, mc.AllowFallbackToPlaintext = nil, "false", false
	case TLSPreferred:
		mc.TLS, mc.TLSConfig, mc.AllowFallbackToPlaintext = &tls.Config{InsecureSkipVerify: true}, "preferred", true
	case TLSRequired:
		mc.TLS, mc.TLSConfig, mc.AllowFallbackToPlaintext = &tls.Config{InsecureSkipVerify: true}, "skip-verify", false
	case TLSVerifyCA, TLSVerifyFull:
		roots, err := s.roots()
		if err != nil {
			return err
		}
		cfg := &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
		if s.TLS == TLSVerifyCA {
			// crypto/tls verifies the name too; verify-ca checks the chain only.
			cfg.InsecureSkipVerify = true
			cfg.VerifyConnection = verifyChain(roots)
		} else {
			host := mc.Addr
			if h, _, err := net.SplitHostPort(mc.Addr); err == nil {
				host = h
			}
			cfg.ServerName = host
		}
		mc.TLS, mc.TLSConfig, mc.AllowFallbackToPlaintext = cfg, "", false
	}
	if s.Password != nil {
		password := s.Password
		mc.AllowCleartextPasswords = true
		if err := mc.Apply(mysql.BeforeConnect(func(ctx context.Context, c *mysql.Config) error {
			p, err := password(ctx)
			if err != nil {
				return fmt.Errorf("connection password: %w", err)
			}
			c.Passwd = p
			return nil
		})); err != nil {
			return err
		}
	}
	return nil
}

// roots returns the CA pool of s.CAFile, or nil (the system roots) when it is empty.
func (s MySQLSecurity) roots() (*x509.CertPool, error) {
	if s.CAFile == "" {
		return nil, nil
	}
	pem, err := os.ReadFile(s.CAFile)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: TLS CA file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("sqlstore: TLS CA file %s holds no PEM certificate", s.CAFile)
	}
	return pool, nil
}

// verifyChain checks the server's certificate chain against roots (nil: the system roots)
// without looking at the names it is for.
func verifyChain(roots *x509.CertPool) func(tls.ConnectionState) error {
	return func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 {
			return errors.New("tls: the server sent no certificate")
		}
		inter := x509.NewCertPool()
		for _, c := range cs.PeerCertificates[1:] {
			inter.AddCert(c)
		}
		_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter})
		return err
	}
}

// explainingConnector turns certificate errors from connecting into messages that say what to
// change; everything else passes through unchanged.
type explainingConnector struct {
	driver.Connector
	sec  MySQLSecurity
	host string
}

// Connect implements driver.Connector.
func (c explainingConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, c.explain(err)
	}
	return conn, nil
}

func (c explainingConnector) explain(err error) error {
	trusted := "the system's CA roots"
	if c.sec.CAFile != "" {
		trusted = "the CA file " + c.sec.CAFile
	}
	var unknown x509.UnknownAuthorityError
	var host x509.HostnameError
	var invalid x509.CertificateInvalidError
	switch {
	case errors.As(err, &unknown):
		return fmt.Errorf("database TLS (%s): the server's certificate is not signed by a CA in %s; give the server's CA bundle (for RDS, the global bundle) as the TLS CA file: %w", c.sec.TLS, trusted, err)
	case errors.As(err, &host):
		names := host.Certificate.DNSNames
		for _, ip := range host.Certificate.IPAddresses {
			names = append(names, ip.String())
		}
		return fmt.Errorf("database TLS (%s): the server's certificate is for %s, not %q; connect with a name the certificate holds (e.g. the RDS endpoint name, not its address), or use TLS mode verify-ca: %w", c.sec.TLS, strings.Join(names, ", "), c.host, err)
	case errors.As(err, &invalid):
		return fmt.Errorf("database TLS (%s): the server's certificate is not valid (%v): %w", c.sec.TLS, invalid.Reason, err)
	}
	return err
}
