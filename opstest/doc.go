// Package opstest holds ezdfsd's operational tests (issue 5): Varnish with the shipped VCL in
// front of the real daemon, SIGTERM during a large download against the real binary, /readyz
// flipping when MariaDB goes away, and a /metrics scrape parsed as Prometheus does.
//
// The package has no API; everything is in its _test.go files. TestVarnish* and TestSlow* need
// varnishd / a binary build and take several seconds: they skip unless EZDFSD_SLOW_TESTS=1
// (scripts/test runs them). TestReadyzFlipsWhenMariaDBStops and TestMetricsScrape run with
// plain `go test`; MariaDB is found through internal/testenv (TEST_MYSQL_DSN).
package opstest
