// Package ops holds the pieces that make ezdfsd operable in production but have
// nothing to do with serving cluster files: the readiness state machine, the
// metrics/health/readiness HTTP handler, the Prometheus registry, logger
// construction and secret redaction, graceful HTTP serving, a connection-count
// limiting listener and systemd readiness notification.
//
// Nothing here reads the environment or global state: the caller (cmd/ezdfsd)
// passes every value in.
package ops
