// Package scripts holds the project's shell scripts (test, services.sh, ports.sh) and the Go
// tests that check them; it has no Go code of its own.
package scripts
