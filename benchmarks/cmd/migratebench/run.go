package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// summary is the JSON object `ezdfsd migrate --json` prints at its end (the fields the
// benchmark reads; the command may print more).
type summary struct {
	FilesCopied  int64   `json:"files_copied"`
	BytesCopied  int64   `json:"bytes_copied"`
	FilesSkipped int64   `json:"files_skipped"`
	FilesFailed  int64   `json:"files_failed"`
	Seconds      float64 `json:"seconds"`
}

// summaryKeys are the fields every summary must have: a missing one means the command and the
// benchmark disagree about the contract, which must not pass as zero.
var summaryKeys = []string{"files_copied", "bytes_copied", "files_skipped", "files_failed", "seconds"}

// parseSummary returns the last line of out that is a JSON object. Other lines (progress,
// logs) are ignored; an object without one of summaryKeys is an error.
func parseSummary(out []byte) (summary, error) {
	var last []byte
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if line := bytes.TrimSpace(sc.Bytes()); len(line) > 0 && line[0] == '{' {
			last = append(last[:0], line...)
		}
	}
	if last == nil {
		return summary{}, errors.New("no JSON summary on stdout (is --json supported?)")
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(last, &fields); err != nil {
		return summary{}, fmt.Errorf("summary %s: %w", last, err)
	}
	var missing []string
	for _, k := range summaryKeys {
		if _, ok := fields[k]; !ok {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		return summary{}, fmt.Errorf("summary %s lacks %s", last, strings.Join(missing, ", "))
	}
	var s summary
	if err := json.Unmarshal(last, &s); err != nil {
		return summary{}, fmt.Errorf("summary %s: %w", last, err)
	}
	return s, nil
}

// process is one finished command: its wall time, CPU time (user + system), peak RSS and
// output.
type process struct {
	wall, cpu      time.Duration
	serverCPU      time.Duration // the S3 server's CPU time meanwhile (bench.run)
	peakRSS        int64
	stdout, stderr []byte
}

// runCommand runs name with args and env (added to the inherited environment) and measures it.
// A non-zero exit is an error that carries the end of its output.
func runCommand(ctx context.Context, env []string, name string, args ...string) (process, error) {
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(cmd.Environ(), env...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	p := process{wall: time.Since(start), stdout: stdout.Bytes(), stderr: stderr.Bytes()}
	if cmd.ProcessState != nil {
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
			p.peakRSS = ru.Maxrss * 1024
			p.cpu = cpuTime(ru)
		}
	}
	if err != nil {
		return p, fmt.Errorf("%s %s: %w\n%s", name, args[0], err, tail(stderr.String()+stdout.String()))
	}
	return p, nil
}

// cpuTime returns the user + system time in ru.
func cpuTime(ru *syscall.Rusage) time.Duration {
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// selfCPU returns the CPU time this process has used so far.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return cpuTime(&ru)
}

// tail returns the last 8 lines of s.
func tail(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-8):], "\n")
}
