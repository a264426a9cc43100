package deploy

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/ezdfsd/ezdfsd/config"
)

var update = flag.Bool("update", false, "rewrite systemd/ezdfsd.env.example from config.Settings()")

const envExamplePath = "systemd/ezdfsd.env.example"

const envHeader = `# /etc/default/ezdfsd — environment for ezdfsd.service (EnvironmentFile=).
# GENERATED from config.Settings() by: go test ./deploy -run TestEnvExample -update
#
# Every setting is also a flag of ` + "`ezdfsd serve`" + `: the variable is EZDFSD_ + the flag name in
# upper case with '-' → '_' (--mount-point → EZDFSD_MOUNT_POINT). Precedence: flags >
# environment > the --config file > eZ settings read from --ez-root (config.php /
# config.cluster.php CLUSTER_* constants, settings/override/*.ini.append.php) > defaults.
# Uncomment what you need; the value shown is the default. Unknown EZDFSD_* names are
# reported as warnings at start-up.
# Repeatable settings (marked "repeatable") take one value per line; EnvironmentFile cannot
# hold a newline portably, so give those as flags in DAEMON_ARGS or in the --config file.
# This file may hold passwords (marked "secret"): chmod 0600, owned by root.

# Extra command-line flags appended to ExecStart; flags win over the variables below.
#DAEMON_ARGS=
`

// renderEnvExample builds the file from the settings table.
func renderEnvExample(settings []config.Info) []byte {
	var b bytes.Buffer
	b.WriteString(envHeader)
	group := ""
	for _, s := range settings {
		if s.Group != group {
			group = s.Group
			fmt.Fprintf(&b, "\n# --- %s %s\n", group, strings.Repeat("-", 80-7-len(group)))
		}
		notes := ""
		if s.Secret {
			notes += " (secret)"
		}
		if s.List {
			notes += " (repeatable)"
		}
		def := s.Default
		if strings.HasPrefix(def, "(") && strings.HasSuffix(def, ")") {
			notes += " Default: " + strings.Trim(def, "()") + "."
			def = ""
		}
		fmt.Fprintf(&b, "# --%s: %s%s\n", s.Name, s.Help, notes)
		if s.List && strings.Contains(def, "\n") {
			for _, line := range strings.Split(def, "\n") {
				fmt.Fprintf(&b, "#   default: %s\n", line)
			}
			def = ""
		}
		fmt.Fprintf(&b, "#%s=%s\n", s.Env, def)
	}
	return b.Bytes()
}

func TestEnvExample(t *testing.T) {
	want := renderEnvExample(config.Settings())
	if *update {
		if err := os.WriteFile(envExamplePath, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(envExamplePath)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s is out of date with config.Settings(); run: go test ./deploy -run TestEnvExample -update", envExamplePath)
	}
	for _, s := range config.Settings() {
		t.Run(s.Name, func(t *testing.T) {
			if !bytes.Contains(got, []byte("\n#"+s.Env+"=")) {
				t.Fatalf("%s missing", s.Env)
			}
			if want := "EZDFSD_" + strings.ToUpper(strings.ReplaceAll(s.Name, "-", "_")); s.Env != want {
				t.Fatalf("setting %s has env %s, want %s", s.Name, s.Env, want)
			}
		})
	}
}
