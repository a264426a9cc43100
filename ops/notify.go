package ops

import (
	"fmt"
	"net"
	"strings"
	"time"
)

// sd_notify states the daemon sends.
const (
	// NotifyReady tells systemd (Type=notify) that start-up is complete.
	NotifyReady = "READY=1"
	// NotifyStopping tells systemd that shutdown has begun.
	NotifyStopping = "STOPPING=1"
)

// Notify sends state (e.g. NotifyReady, or several "KEY=value" lines joined by
// '\n') to the systemd notification socket named by socket, the value of
// $NOTIFY_SOCKET which the caller reads. An empty socket is a no-op (not run
// by systemd). socket is an absolute path or an abstract name starting with
// '@'. The datagram is sent from the calling process, which matters with
// NotifyAccess=main.
func Notify(socket, state string) error {
	if socket == "" {
		return nil
	}
	if !strings.HasPrefix(socket, "/") && !strings.HasPrefix(socket, "@") {
		return fmt.Errorf("sd_notify: socket %q is neither an absolute path nor an abstract '@' name", socket)
	}
	// Go maps a leading '@' to the Linux abstract namespace (leading NUL).
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: socket, Net: "unixgram"})
	if err != nil {
		return fmt.Errorf("sd_notify: dial %s: %w", socket, err)
	}
	defer conn.Close()
	_ = conn.SetWriteDeadline(time.Now().Add(time.Second))
	if _, err := conn.Write([]byte(state)); err != nil {
		return fmt.Errorf("sd_notify: send %q to %s: %w", state, socket, err)
	}
	return nil
}
