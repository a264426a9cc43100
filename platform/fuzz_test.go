package platform

import (
	"strings"
	"testing"
)

// FuzzParseDotenv: any input parses or fails without panicking, and a value written back as a
// double-quoted assignment (escaping \, ", $ and newlines) reads back unchanged.
func FuzzParseDotenv(f *testing.F) {
	for _, s := range []string{"A=1", "export A='x y'\nB=\"$A\\n\" # c", "A=${B:-d}${C:=e}$C", "A=\"multi\nline\"", "A=a\\ b"} {
		f.Add(s)
	}
	none := func(string) (string, bool) { return "", false }
	f.Fuzz(func(t *testing.T, in string) {
		vars, err := ParseDotenv(in, none, nil)
		if err != nil {
			return
		}
		for _, v := range vars {
			q := strings.NewReplacer(`\`, `\\`, `"`, `\"`, `$`, `\$`, "\n", `\n`).Replace(v.Value)
			back, err := ParseDotenv(v.Name+`="`+q+`"`, none, nil)
			if err != nil || len(back) != 1 || back[0].Value != v.Value {
				t.Fatalf("%q: value %q written as %q reads back %+v, %v", in, v.Value, q, back, err)
			}
		}
	})
}
