package scripts

import (
	"net"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// svcPort runs ports.sh's svc_port for the variable TEST_PORT in a fresh bash, with given as its
// environment value ("" = unset), and returns the port a child process sees exported, the
// exit status and stderr.
func svcPort(t *testing.T, given, def, owned string) (port string, code int, stderr string) {
	t.Helper()
	script := `set -euo pipefail; SVC=/tmp/svc-test-dir; source ./ports.sh
svc_port TEST_PORT "$1" "$2"; bash -c 'echo "$TEST_PORT"'`
	cmd := exec.Command("bash", "-c", script, "bash", def, owned)
	cmd.Env = []string{"PATH=/usr/bin:/bin"}
	if given != "" {
		cmd.Env = append(cmd.Env, "TEST_PORT="+given)
	}
	var errb strings.Builder
	cmd.Stderr = &errb
	out, err := cmd.Output()
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(out)), code, errb.String()
}

// listen holds a loopback port until the test ends, as another program would.
func listen(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
}

// freePort returns a loopback port nothing listens on.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
}

// TestServicePorts: a free default is kept; a default that another program holds is replaced by a
// free port and exported; a port set in the environment that is taken fails naming the variable;
// a server of this SVC_DIR keeps its port.
func TestServicePorts(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("bash not installed")
	}
	t.Run("free default is used", func(t *testing.T) {
		def := freePort(t)
		if port, code, errOut := svcPort(t, "", def, ""); code != 0 || port != def {
			t.Errorf("got port %q exit %d (%s), want %s", port, code, errOut, def)
		}
	})
	t.Run("taken default is replaced", func(t *testing.T) {
		def := listen(t)
		port, code, errOut := svcPort(t, "", def, "")
		t.Logf("stderr: %s", errOut)
		if code != 0 || port == "" || port == def {
			t.Fatalf("got port %q exit %d, want another port than the taken %s", port, code, def)
		}
		if c, err := net.Dial("tcp", "127.0.0.1:"+port); err == nil {
			c.Close()
			t.Errorf("port %s was chosen, but something listens on it", port)
		}
		if !strings.Contains(errOut, "port "+def+" is taken by another program: using "+port+" for TEST_PORT (set TEST_PORT to choose)") {
			t.Errorf("stderr does not say which port replaced which: %s", errOut)
		}
	})
	t.Run("taken port set in the environment fails", func(t *testing.T) {
		given := listen(t)
		port, code, errOut := svcPort(t, given, "1", "")
		t.Logf("stderr: %s", errOut)
		if code == 0 {
			t.Errorf("exit 0 with port %q, want a failure", port)
		}
		if !strings.Contains(errOut, "TEST_PORT="+given+" is taken by another program") || !strings.Contains(errOut, "set TEST_PORT to a free port") {
			t.Errorf("stderr does not name the variable and the way out: %s", errOut)
		}
	})
	t.Run("own server keeps its port", func(t *testing.T) {
		owned := listen(t) // our own server listens there
		if port, code, errOut := svcPort(t, "", "1", owned); code != 0 || port != owned {
			t.Errorf("got port %q exit %d (%s), want the owned %s", port, code, errOut, owned)
		}
		if port, code, errOut := svcPort(t, owned, "1", owned); code != 0 || port != owned {
			t.Errorf("given = owned: got port %q exit %d (%s), want %s", port, code, errOut, owned)
		}
	})
	t.Run("environment contradicts own server", func(t *testing.T) {
		owned, given := listen(t), freePort(t)
		_, code, errOut := svcPort(t, given, "1", owned)
		if code == 0 || !strings.Contains(errOut, "TEST_PORT="+given+", but the server in /tmp/svc-test-dir already runs on "+owned) {
			t.Errorf("exit %d, stderr %s; want a failure naming both ports", code, errOut)
		}
	})
}
