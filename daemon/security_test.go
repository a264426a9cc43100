package daemon

import (
	"context"
	"net/url"
	"strings"
	"testing"

	"github.com/ezdfsd/ezdfsd/config"
)

// TestIAMTokensFromTheDefaultChain checks the wiring of db-iam-auth: the credentials and region
// come from the AWS default chain (here the environment), and each connection's password is a
// token for the configured user at the database's host:port.
func TestIAMTokensFromTheDefaultChain(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIAFROMENVIRONMENT0")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret-from-environment")
	t.Setenv("AWS_REGION", "eu-central-1")
	t.Setenv("AWS_CONFIG_FILE", t.TempDir()+"/none")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", t.TempDir()+"/none")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	cfg, err := config.Load([]string{"--db-host=mydb.abc.eu-central-1.rds.amazonaws.com", "--db-port=3306",
		"--db-user=ezdfsd", "--db-name=ezp", "--db-tls=verify-full", "--db-iam-auth", "--mount-point=/mnt"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	dsn, _ := cfg.MySQLDSN()
	sec, err := mysqlSecurity(context.Background(), cfg, dsn)
	if err != nil {
		t.Fatal(err)
	}
	if sec.TLS != "verify-full" || sec.Password == nil {
		t.Fatalf("security %+v: want verify-full and a per-connection password", sec)
	}
	token, err := sec.Password(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse("https://" + token)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	if u.Host != "mydb.abc.eu-central-1.rds.amazonaws.com:3306" || q.Get("DBUser") != "ezdfsd" ||
		!strings.HasPrefix(q.Get("X-Amz-Credential"), "AKIAFROMENVIRONMENT0/") || !strings.Contains(q.Get("X-Amz-Credential"), "/eu-central-1/rds-db/") {
		t.Errorf("token %q: want one for ezdfsd at the RDS endpoint, signed with the environment's key for eu-central-1", token)
	}

	cfg, _ = config.Load([]string{"--db-host=db", "--db-user=u", "--db-name=ezp", "--db-tls=required", "--db-iam-auth", "--db-iam-region=ap-south-1", "--mount-point=/mnt"}, nil)
	dsn, _ = cfg.MySQLDSN()
	sec, err = mysqlSecurity(context.Background(), cfg, dsn)
	if err != nil {
		t.Fatal(err)
	}
	token, _ = sec.Password(context.Background())
	if !strings.Contains(token, "%2Fap-south-1%2Frds-db%2F") {
		t.Errorf("db-iam-region ignored: %s", token)
	}
}
