package ezsettings

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestReadDefines(t *testing.T) {
	tests := []struct {
		name, src string
		want      map[string]Value
	}{
		{"single quoted", `<?php define( 'A', 'x' );`, map[string]Value{"A": {Kind: String, Str: "x", Line: 1}}},
		{"double quoted name", `<?php define("A","x");`, map[string]Value{"A": {Kind: String, Str: "x", Line: 1}}},
		{"single-quote escapes", `<?php define('A', 'it\'s \\ \n');`, map[string]Value{"A": {Kind: String, Str: `it's \ \n`, Line: 1}}},
		{"double-quote escapes", `<?php define('A', "a\tb\n\"\\\$\x41\101\u{e9}\q");`, map[string]Value{"A": {Kind: String, Str: "a\tb\n\"\\$AA\u00e9\\q", Line: 1}}},
		{"strings holding punctuation", `<?php define('A', '('); define('B', ','); define("C", ";"); const D = ';', E = ','; define('F', ')' . '.');`,
			map[string]Value{"A": {Kind: String, Str: "(", Line: 1}, "B": {Kind: String, Str: ",", Line: 1}, "C": {Kind: String, Str: ";", Line: 1},
				"D": {Kind: String, Str: ";", Line: 1}, "E": {Kind: String, Str: ",", Line: 1}, "F": {Kind: String, Str: ").", Line: 1}}},
		{"password chars", `<?php define('P', 'p=a;s#s"w\'rd//x/*y*/');`, map[string]Value{"P": {Kind: String, Str: `p=a;s#s"w'rd//x/*y*/`, Line: 1}}},
		{"ints", "<?php define('A', 3307); define('B', -1); define('C', 0x1F); define('D', 0755); define('E', 1_000); define('F', 0b11); define('G', +5);",
			map[string]Value{"A": {Kind: Int, Int: 3307, Line: 1}, "B": {Kind: Int, Int: -1, Line: 1}, "C": {Kind: Int, Int: 31, Line: 1},
				"D": {Kind: Int, Int: 493, Line: 1}, "E": {Kind: Int, Int: 1000, Line: 1}, "F": {Kind: Int, Int: 3, Line: 1}, "G": {Kind: Int, Int: 5, Line: 1}}},
		{"bools and null any case", "<?php define('A', TRUE); define('B', False); define('C', NULL); define('D', \\true);",
			map[string]Value{"A": {Kind: Bool, Bool: true, Line: 1}, "B": {Kind: Bool, Line: 1}, "C": {Kind: Null, Line: 1}, "D": {Kind: Bool, Bool: true, Line: 1}}},
		{"concatenation of literals", `<?php define('A', '/mnt' . "/nfs");`, map[string]Value{"A": {Kind: String, Str: "/mnt/nfs", Line: 1}}},
		{"parenthesised", `<?php define('A', ( 5 ));`, map[string]Value{"A": {Kind: Int, Int: 5, Line: 1}}},
		{"expressions", `<?php define('A', __DIR__ . '/x'); define('B', 60 * 60); define('C', "pass$word"); define('D', 1.5); define('E', getenv('X'));`,
			map[string]Value{"A": {Kind: Expr, Str: "__DIR__ . '/x'", Line: 1}, "B": {Kind: Expr, Str: "60 * 60", Line: 1},
				"C": {Kind: Expr, Str: `"pass$word"`, Line: 1}, "D": {Kind: Expr, Str: "1.5", Line: 1}, "E": {Kind: Expr, Str: "getenv('X')", Line: 1}}},
		{"first define wins", "<?php\ndefine('A', 1);\ndefine('A', 2);", map[string]Value{"A": {Kind: Int, Int: 1, Line: 2}}},
		{"comments skipped", "<?php\n// define('A', 1);\n# define('B', 1);\n/* define('C', 1);\n*/ define('D', 1);",
			map[string]Value{"D": {Kind: Int, Int: 1, Line: 5}}},
		{"define in string ignored", `<?php $x = "define('A', 1);"; echo 'define("B", 2)';`, map[string]Value{}},
		{"inside if", "<?php\nif ( !defined( 'A' ) )\n{\n    define( 'A', 'x' );\n}\n", map[string]Value{"A": {Kind: String, Str: "x", Line: 4}}},
		{"third argument", `<?php define('A', 'x', true);`, map[string]Value{"A": {Kind: String, Str: "x", Line: 1}}},
		{"const statement", "<?php\nconst A = 'x', B = 2;\n", map[string]Value{"A": {Kind: String, Str: "x", Line: 2}, "B": {Kind: Int, Int: 2, Line: 2}}},
		{"class const ignored", "<?php class X { const A = 1; }", map[string]Value{}},
		{"method named define ignored", `<?php $o->define('A', 1); X::define('B', 2); function define2() {}`, map[string]Value{}},
		{"dynamic name ignored", `<?php define($name, 1); define('', 2);`, map[string]Value{}},
		{"case-insensitive define", `<?php DEFINE('A', 1); \define('B', 2);`, map[string]Value{"A": {Kind: Int, Int: 1, Line: 1}, "B": {Kind: Int, Int: 2, Line: 1}}},
		{"html outside php", "<html>define('A', 1)</html><?php define('B', 2); ?>define('C', 3)<?php define('D', 4);",
			map[string]Value{"B": {Kind: Int, Int: 2, Line: 1}, "D": {Kind: Int, Int: 4, Line: 1}}},
		{"comment ends at ?>", "<?php // x ?>define('A', 1)<?php define('B', 2);", map[string]Value{"B": {Kind: Int, Int: 2, Line: 1}}},
		{"heredoc skipped", "<?php\n$x = <<<EOT\ndefine('A', 1);\nEOT;\ndefine('B', 2);\n", map[string]Value{"B": {Kind: Int, Int: 2, Line: 5}}},
		{"multi-line string counts lines", "<?php\ndefine('A', 'a\nb');\ndefine('B', 1);", map[string]Value{"A": {Kind: String, Str: "a\nb", Line: 2}, "B": {Kind: Int, Int: 1, Line: 4}}},
		{"empty file", "", map[string]Value{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ReadDefines(strings.NewReader(tt.src))
			if err != nil {
				t.Fatalf("ReadDefines: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %#v\nwant %#v", got, tt.want)
			}
		})
	}
}

func TestValueConversions(t *testing.T) {
	tests := []struct {
		v      Value
		str    string
		truthy bool
		n      int64
		nOK    bool
	}{
		{Value{Kind: String, Str: "abc"}, "abc", true, 0, false},
		{Value{Kind: String, Str: "0"}, "0", false, 0, true},
		{Value{Kind: String, Str: ""}, "", false, 0, false},
		{Value{Kind: String, Str: "3307"}, "3307", true, 3307, true},
		{Value{Kind: Int, Int: 0}, "0", false, 0, true},
		{Value{Kind: Int, Int: 86400}, "86400", true, 86400, true},
		{Value{Kind: Bool, Bool: true}, "1", true, 1, true},
		{Value{Kind: Bool}, "", false, 0, true},
		{Value{Kind: Null}, "", false, 0, true},
		{Value{Kind: Expr, Str: "__DIR__"}, "__DIR__", true, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.v.Kind.String()+"/"+tt.v.Str, func(t *testing.T) {
			if got := tt.v.PHPString(); got != tt.str {
				t.Errorf("PHPString = %q; want %q", got, tt.str)
			}
			if got := tt.v.Truthy(); got != tt.truthy {
				t.Errorf("Truthy = %v; want %v", got, tt.truthy)
			}
			n, ok := tt.v.PHPInt()
			if n != tt.n || ok != tt.nOK {
				t.Errorf("PHPInt = %d, %v; want %d, %v", n, ok, tt.n, tt.nOK)
			}
		})
	}
}

func TestReadDefinesBadFiles(t *testing.T) {
	tests := []struct {
		filename, errMsg string
	}{
		{"unterminated-string.bad.php", "unterminated-string.bad.php:3: unterminated single-quoted string"},
		{"unterminated-comment.bad.php", "unterminated-comment.bad.php:2: unterminated /* comment"},
		{"unterminated-define.bad.php", "unterminated-define.bad.php:2: unterminated define( call"},
	}
	for _, tt := range tests {
		t.Run(tt.filename, func(t *testing.T) {
			f, err := os.Open(filepath.Join("testdata", "bad", tt.filename))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			_, err = readDefines(f, tt.filename)
			if err == nil {
				t.Fatalf("readDefines succeeded; want %q", tt.errMsg)
			}
			if err.Error() != tt.errMsg {
				t.Errorf("error\n got: %s\nwant: %s", err, tt.errMsg)
			}
			if strings.Contains(err.Error(), "secret") {
				t.Errorf("error quotes a value: %s", err)
			}
		})
	}
	if _, err := ReadDefines(strings.NewReader(`<?php define('A', "x`)); err == nil || err.Error() != "line 1: unterminated double-quoted string" {
		t.Errorf("no file name: %v", err)
	}
}
