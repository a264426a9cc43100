// Package faults holds ezdfsd's reliability test suites and nothing else: the fault-injection
// suite (TestFault*, which takes MariaDB, memcached and the S3 server down through
// internal/faultproxy under a steady load; run with EZDFSD_SLOW_TESTS=1), the hostile-request
// corpus against a real listener (TestHostile*, part of plain `go test`), the backpressure
// tests (TestLimit*) and the listener acceptance tests (TestListener*: header names on the wire,
// timeouts, keep-alive and pipelining, dependency deadlines, access log and metrics, which any
// HTTP engine behind the serving listener must pass). Every test builds the real daemon with daemon.New from config.Load
// arguments, so what is tested is what `ezdfsd serve` runs.
package faults
