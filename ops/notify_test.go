package ops

import (
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// notifyListener opens a unixgram socket like systemd's notify socket.
func notifyListener(t *testing.T, name string) *net.UnixConn {
	t.Helper()
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		t.Fatalf("listen %s: %v", name, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func readDatagram(t *testing.T, c *net.UnixConn) string {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 4096)
	n, err := c.Read(buf)
	if err != nil {
		t.Fatalf("read notification: %v", err)
	}
	return string(buf[:n])
}

func TestNotify(t *testing.T) {
	for _, tc := range []struct {
		name   string
		socket func(t *testing.T) string
		state  string
	}{
		{"path socket ready", func(t *testing.T) string { return filepath.Join(t.TempDir(), "notify.sock") }, NotifyReady},
		{"path socket stopping", func(t *testing.T) string { return filepath.Join(t.TempDir(), "notify.sock") }, NotifyStopping},
		{"abstract socket", func(t *testing.T) string { return "@ezdfsd-notify-test-" + strings.ReplaceAll(t.Name(), "/", "-") }, NotifyReady},
		{"several lines", func(t *testing.T) string { return filepath.Join(t.TempDir(), "n.sock") }, "READY=1\nSTATUS=serving"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sock := tc.socket(t)
			l := notifyListener(t, sock)
			if err := Notify(sock, tc.state); err != nil {
				t.Fatal(err)
			}
			if got := readDatagram(t, l); got != tc.state {
				t.Fatalf("received %q, want %q", got, tc.state)
			}
		})
	}
}

func TestNotifyNoSocketIsNoop(t *testing.T) {
	if err := Notify("", NotifyReady); err != nil {
		t.Fatalf("Notify without socket = %v, want nil", err)
	}
}

func TestNotifyErrors(t *testing.T) {
	for _, tc := range []struct{ name, socket string }{
		{"relative path", "run/notify.sock"},
		{"missing socket", filepath.Join(t.TempDir(), "absent.sock")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := Notify(tc.socket, NotifyReady); err == nil {
				t.Fatal("no error")
			}
		})
	}
}
