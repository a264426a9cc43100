package procstat

import (
	"os"
	"testing"
	"time"
)

func TestTicks(t *testing.T) {
	// utime 250 and stime 50 ticks; comm with a space and a ')' as a process may name itself.
	line := "4242 (ezdfsd (x) y) S 1 4242 4242 0 -1 4194560 1200 0 0 0 250 50 0 0 20 0 9 0 100 0 0\n"
	if got, err := Ticks([]byte(line)); err != nil || got != 300 {
		t.Errorf("Ticks = %d, %v; want 300", got, err)
	}
	if _, err := Ticks([]byte("4242 (cut) S 1 2")); err == nil {
		t.Error("a short line gave no error")
	}
}

// TestCPUSeconds: a live /proc entry parses, and its CPU time grows with work done; a process
// that does not exist is an error.
func TestCPUSeconds(t *testing.T) {
	before, err := CPUSeconds(os.Getpid())
	if err != nil {
		t.Fatalf("CPUSeconds(self): %v", err)
	}
	deadline := time.Now().Add(150 * time.Millisecond)
	x := 0
	for time.Now().Before(deadline) {
		x++
	}
	after, err := CPUSeconds(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if after-before < 0.05 {
		t.Errorf("CPU time grew by %.3f s over 150 ms of busy loop (%d turns)", after-before, x)
	}
	if _, err := CPUSeconds(-1); err == nil {
		t.Error("CPUSeconds of no process gave no error")
	}
}
