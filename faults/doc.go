// Package faults holds ezdfsd's reliability test suites and nothing else: the fault-injection
// suite (TestFault*, which takes MariaDB, memcached and the S3 server down through
// internal/faultproxy under a steady load; run with EZDFSD_SLOW_TESTS=1), the hostile-request
// corpus against a real listener (TestHostile*, part of plain `go test`) and the backpressure
// tests (TestLimit*). Every test builds the real daemon with daemon.New from config.Load
// arguments, so what is tested is what `ezdfsd serve` runs.
package faults
