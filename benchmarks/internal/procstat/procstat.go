// Package procstat reads the CPU time of other processes from /proc/<pid>/stat, for the
// benchmark commands that report a server's CPU per request or per run.
package procstat

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// ClockTicks is USER_HZ, the unit of the times in /proc/<pid>/stat: 100 on every Linux port
// (the kernel converts to it whatever its internal HZ).
const ClockTicks = 100

// CPUSeconds sums the user and system CPU time of the processes pids (all their threads), from
// /proc/<pid>/stat.
func CPUSeconds(pids ...int) (float64, error) {
	var ticks int64
	for _, pid := range pids {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return 0, fmt.Errorf("server CPU: %w", err)
		}
		t, err := Ticks(b)
		if err != nil {
			return 0, fmt.Errorf("server CPU: /proc/%d/stat: %w", pid, err)
		}
		ticks += t
	}
	return float64(ticks) / ClockTicks, nil
}

// Ticks returns utime+stime from a /proc/<pid>/stat line "pid (comm) state ppid ... utime
// stime ...". comm may hold spaces and parentheses, so fields are counted after the last ')';
// utime and stime are fields 14 and 15 of the line.
func Ticks(b []byte) (int64, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, errors.New("no (comm)")
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, errors.New("too few fields")
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	s, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("utime %q, stime %q: not numbers", f[11], f[12])
	}
	return u + s, nil
}
