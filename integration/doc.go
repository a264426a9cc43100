// Package integration holds ezdfsd's end-to-end tests: the real daemon (daemon.New + Run, built
// from config.Load exactly as `ezdfsd serve` builds it) against the real MariaDB, memcached and
// versitygw servers that scripts/services.sh starts, asserted with a real HTTP client.
//
// The package has no API; everything is in its _test.go files. The servers are found through
// internal/testenv (TEST_MYSQL_DSN, TEST_MEMCACHED_ADDR, TEST_S3_*): a missing one skips the
// tests locally and fails them under CI=true.
package integration
