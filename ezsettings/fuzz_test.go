package ezsettings

import (
	"fmt"
	"hash/fnv"
	"reflect"
	"strings"
	"testing"
)

// Native fuzz targets for the eZ settings readers. scripts/test runs each for a few seconds; the
// seed corpora live in testdata/fuzz/<Target>/.

// FuzzParseINI: ParseINI never panics and fails only with a *SyntaxError; what it parses,
// rendered back as a canonical eZ INI file, parses to the same sections, keys, scalars and array
// elements (keys and order included) with no ignored line; merging it into an empty INI gives
// the same values; and, split in two files, parsing the first and merging the second on top
// gives what eZ gets by reading the second file's lines after the first's (Merge's promise).
func FuzzParseINI(f *testing.F) {
	for _, s := range []string{
		"[S]\nK=v\n", "<?php /* #?ini charset=\"utf-8\"?\n[S]\nA[]\nA[]=x\nA[k]=y\n*/ ?>\n",
		"\xef\xbb\xbf[S]\r\nK=a##b\r\n", "[S\n", "K [x]=y", "A[5]=x\nA[]=y\nA[05]=z\n",
		"[DispatchableDFS]\nPathBackends[var/site/storage]=eZDFSFileHandlerDFSBackend\nPathBackends[]\nPathBackends[var/x]=S3\n",
		"[S]\nA[]=a\nA[k]=b\n[S]\nA[]=c\nA[k]=d\n",
		"A[5]=x\nA[0]=z\n",
		"A[-3]=x\nA[]=y\nA[0]=z\nA[7]=w\nA[7]=v\n[ ]\nB=1\n[T]\nB=p=a;s#s\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ini, err := ParseINI(strings.NewReader(s), "fuzz.ini")
		if err != nil {
			if _, ok := err.(*SyntaxError); !ok {
				t.Fatalf("non-syntax error %T: %v", err, err)
			}
			return
		}
		want := iniValues(ini)

		merged := &INI{}
		merged.Merge(ini)
		if got := iniValues(merged); !reflect.DeepEqual(got, want) {
			t.Fatalf("merged into an empty INI:\n got %q\nwant %q", got, want)
		}

		checkMergeIsConcatenation(t, s)

		text, ok := renderINI(ini)
		if !ok {
			return // a value eZ's syntax cannot hold again (it contains "##")
		}
		again, err := ParseINI(strings.NewReader(text), "rendered.ini")
		if err != nil {
			t.Fatalf("rendered INI does not parse: %v\n%s", err, text)
		}
		if ign := again.Ignored(); len(ign) > 0 {
			t.Fatalf("rendered INI has ignored lines (first: %v):\n%s", ign[0], text)
		}
		if got := iniValues(again); !reflect.DeepEqual(got, want) {
			t.Fatalf("rendered and parsed again:\n got %q\nwant %q\nrendered:\n%s", got, want, text)
		}
	})
}

// checkMergeIsConcatenation splits s into two files at its middle line and checks that
// ParseINI(first).Merge(ParseINI(second)) holds the values of ParseINI of both files' lines in
// one (the second starting in the section named ""), as eZ reads override files line after line
// into the same arrays.
func checkMergeIsConcatenation(t *testing.T, s string) {
	t.Helper()
	lines := strings.Split(s, "\n")
	mid := len(lines) / 2
	first, second := strings.Join(lines[:mid], "\n"), strings.Join(lines[mid:], "\n")
	if strings.HasPrefix(second, "\xef\xbb\xbf") || scalarThenArray(second) {
		// A BOM is only skipped on a file's first line; and Key=x then Key[]=y in one file is
		// a PHP fatal error ("[] operator not supported for strings"), so eZ has no answer.
		return
	}
	base, err1 := ParseINI(strings.NewReader(first), "first.ini")
	over, err2 := ParseINI(strings.NewReader(second), "second.ini")
	whole, err3 := ParseINI(strings.NewReader(first+"\n[ ]\n"+second), "whole.ini")
	if err1 != nil || err2 != nil || err3 != nil {
		return // an over-long line, in whichever file holds it
	}
	base.Merge(over)
	if got, want := nonEmpty(iniValues(base)), nonEmpty(iniValues(whole)); !reflect.DeepEqual(got, want) {
		t.Fatalf("merge of two files differs from reading their lines in one:\n got %q\nwant %q\nfirst:\n%s\nsecond:\n%s", got, want, first, second)
	}
}

// scalarThenArray reports whether text sets a key as a scalar and later as an array element in
// the same section.
func scalarThenArray(text string) bool {
	section, scalars := "", map[[2]string]bool{}
	for _, line := range strings.Split(strings.ReplaceAll(text, "\r", ""), "\n") {
		if m := reSection.FindStringSubmatch(line); m != nil {
			section = strings.TrimSpace(m[1])
			continue
		}
		if m := reAssign.FindStringSubmatch(line); m != nil {
			k := [2]string{section, m[1]}
			if m[2] == "" {
				scalars[k] = true
			} else if scalars[k] {
				return true
			}
		}
	}
	return false
}

// nonEmpty drops the header lines of sections without keys from iniValues output.
func nonEmpty(values []string) []string {
	var out []string
	for i, v := range values {
		if strings.HasPrefix(v, "[") && (i+1 == len(values) || strings.HasPrefix(values[i+1], "[")) {
			continue
		}
		out = append(out, v)
	}
	return out
}

// iniValues lists everything ini's accessors show, in order: one line per section, per key
// (with its scalar or array elements).
func iniValues(ini *INI) []string {
	var out []string
	for _, sec := range ini.Sections() {
		out = append(out, fmt.Sprintf("[%s]", sec))
		for _, k := range ini.Keys(sec) {
			if v, ok := ini.Get(sec, k); ok {
				out = append(out, fmt.Sprintf("%s=%q", k, v))
				continue
			}
			if !ini.Has(sec, k) {
				out = append(out, "missing "+k)
				continue
			}
			out = append(out, fmt.Sprintf("%s%q", k, ini.Hash(sec, k)))
		}
	}
	return out
}

// renderINI writes ini as an eZ INI file: every section header (including "[ ]" for the
// section named "", so Sections keeps its order), scalars as Key=Value, arrays as a bare Key[]
// followed by Key[k]=v lines (Key[]=v for the key "0", which eZ can only make by appending). It
// reports false when a name or value contains "##", which eZ would cut as a comment.
func renderINI(ini *INI) (string, bool) {
	var b strings.Builder
	for _, sec := range ini.Sections() {
		if strings.Contains(sec, "##") {
			return "", false
		}
		name := sec
		if name == "" {
			name = " "
		}
		fmt.Fprintf(&b, "[%s]\n", name)
		for _, k := range ini.Keys(sec) {
			if v, ok := ini.Get(sec, k); ok {
				if strings.Contains(v, "##") {
					return "", false
				}
				fmt.Fprintf(&b, "%s=%s\n", k, v)
				continue
			}
			fmt.Fprintf(&b, "%s[]\n", k)
			for _, e := range ini.Hash(sec, k) {
				if strings.Contains(e.Key+"]="+e.Value, "##") {
					return "", false
				}
				if e.Key == "0" {
					fmt.Fprintf(&b, "%s[]=%s\n", k, e.Value)
				} else {
					fmt.Fprintf(&b, "%s[%s]=%s\n", k, e.Key, e.Value)
				}
			}
		}
	}
	return b.String(), true
}

// FuzzReadDefines: ReadDefines never panics and fails only with a *SyntaxError; the values it
// reads are consistent with their conversions; and a config.php rendered from the input (the
// input as a single-quoted string, a double-quoted string with escapes, a "." concatenation,
// a constant name, an integer, a boolean and null, with a redefinition that must not win) reads
// back exactly, with the line of each define().
func FuzzReadDefines(f *testing.F) {
	for _, s := range []string{
		"<?php define( 'CLUSTER_STORAGE_HOST', 'db1' ); define(\"P\", \"a\\x41$b\");",
		"<?php const A = 1, B = -0x1f; if (1) { define('C', TRUE); }",
		"<?php /* x */ # y\n// z ?>html<?= define('D', NULL) ?>",
		"<?php $x = <<<'EOT'\nabc\nEOT;\n define('E', ('a' . 'b'));",
		"<?php define('F', 1.5e3); define('G', __DIR__ . '/x');",
		"<?php define(", "<?php \"\\u{", "<?php 'a\\",
		"p'a\\ss\"w$rd\n{$x}\x00\xff\u00e9",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		defs, err := ReadDefines(strings.NewReader(s))
		if err != nil {
			if _, ok := err.(*SyntaxError); !ok {
				t.Fatalf("non-syntax error %T: %v", err, err)
			}
		}
		for name, v := range defs {
			if name == "" {
				t.Fatalf("empty constant name")
			}
			if v.Kind == String && v.PHPString() != v.Str || v.Kind == Bool && v.Truthy() != v.Bool {
				t.Fatalf("%s: inconsistent conversions of %+v", name, v)
			}
			if n, ok := v.PHPInt(); v.Kind == Int && (!ok || n != v.Int) {
				t.Fatalf("%s: PHPInt of %+v = %d, %v", name, v, n, ok)
			}
		}

		src, want := renderDefines(s)
		got, err := ReadDefines(strings.NewReader(src))
		if err != nil {
			t.Fatalf("rendered config.php: %v\n%s", err, src)
		}
		if !reflect.DeepEqual(got, want) {
			for name := range want {
				if !reflect.DeepEqual(got[name], want[name]) {
					t.Errorf("%q = %+v, want %+v", name, got[name], want[name])
				}
			}
			t.Fatalf("rendered config.php read back %d constants, want %d:\n%s", len(got), len(want), src)
		}
	})
}

// renderDefines writes a config.php whose constants are derived from s, and returns it with
// the values ReadDefines must read from it.
func renderDefines(s string) (string, map[string]Value) {
	h := fnv.New64a()
	h.Write([]byte(s))
	n := int64(h.Sum64() >> 1) // any non-negative int64; the sign is written separately
	if len(s)%3 == 0 {
		n = -n
	}
	var b strings.Builder
	want := map[string]Value{}
	line := 1
	b.WriteString("<?php\n")
	line++
	define := func(name, nameLit, valueLit string, v Value) {
		v.Line = line
		if _, dup := want[name]; !dup {
			want[name] = v
		}
		stmt := fmt.Sprintf("define( %s, %s );\n", nameLit, valueLit)
		b.WriteString(stmt)
		line += strings.Count(stmt, "\n")
	}
	half := len(s) / 2
	define("SINGLE", "'SINGLE'", phpSingleQuoted(s), Value{Kind: String, Str: s})
	define("DOUBLE", `"DOUBLE"`, phpDoubleQuoted(s), Value{Kind: String, Str: s})
	define("CONCAT", "'CONCAT'", phpSingleQuoted(s[:half])+" . "+phpDoubleQuoted(s[half:])+" . ''", Value{Kind: String, Str: s})
	define("INT", "'INT'", fmt.Sprint(n), Value{Kind: Int, Int: n})
	define("HEX", "'HEX'", fmt.Sprintf("0x%x", n&0x7fffffff), Value{Kind: Int, Int: n & 0x7fffffff})
	define("BOOL", "'BOOL'", []string{"false", "TRUE"}[len(s)%2], Value{Kind: Bool, Bool: len(s)%2 == 1})
	define("NULLED", "'NULLED'", "NULL", Value{Kind: Null})
	if s != "" {
		// define() takes any string as the name, whatever it holds.
		define(s, phpSingleQuoted(s), "'named'", Value{Kind: String, Str: "named"})
	}
	define("SINGLE", "'SINGLE'", "'redefined'", Value{}) // PHP keeps the first definition
	b.WriteString("?>\n")
	return b.String(), want
}

// phpSingleQuoted quotes s as a PHP single-quoted string literal.
func phpSingleQuoted(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

// phpDoubleQuoted quotes s as a PHP double-quoted string literal: printable ASCII as is (with
// \\, \" and \$), every other byte as \xHH.
func phpDoubleQuoted(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\' || c == '"' || c == '$':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c >= 0x20 && c < 0x7f:
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, `\x%02x`, c)
		}
	}
	b.WriteByte('"')
	return b.String()
}
