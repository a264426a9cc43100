package ezsettings

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Kind is the PHP type of a constant's value.
type Kind int

// The kinds ReadDefines reports. Expr is a value ReadDefines does not evaluate (a variable, a
// function call, another constant, __DIR__, a float, an interpolated string): its Str holds the
// PHP source text.
const (
	Null Kind = iota
	String
	Int
	Bool
	Expr
)

func (k Kind) String() string {
	switch k {
	case Null:
		return "null"
	case String:
		return "string"
	case Int:
		return "int"
	case Bool:
		return "bool"
	case Expr:
		return "expression"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Value is the value of one define()d constant.
type Value struct {
	Kind Kind
	// Str is the string value (Kind String) or the PHP source text (Kind Expr).
	Str string
	// Int is the integer value (Kind Int).
	Int int64
	// Bool is the boolean value (Kind Bool).
	Bool bool
	// Line is the 1-based line of the define() call.
	Line int
}

// PHPString is the value converted to a string the way PHP does when it uses the constant as
// one: true → "1", false and null → "", ints in decimal. For Expr it returns the source text.
func (v Value) PHPString() string {
	switch v.Kind {
	case String, Expr:
		return v.Str
	case Int:
		return strconv.FormatInt(v.Int, 10)
	case Bool:
		if v.Bool {
			return "1"
		}
	}
	return ""
}

// Truthy is PHP's boolean conversion: false, null, 0, "" and "0" are false; the rest is true
// (an Expr counts as true).
func (v Value) Truthy() bool {
	switch v.Kind {
	case Null:
		return false
	case Bool:
		return v.Bool
	case Int:
		return v.Int != 0
	case String:
		return v.Str != "" && v.Str != "0"
	}
	return true
}

// PHPInt converts the value to an integer when PHP would do so without loss: ints, booleans
// (1/0), null (0) and decimal numeric strings. ok is false for other strings and for Expr.
func (v Value) PHPInt() (n int64, ok bool) {
	switch v.Kind {
	case Int:
		return v.Int, true
	case Bool:
		if v.Bool {
			return 1, true
		}
		return 0, true
	case Null:
		return 0, true
	case String:
		n, err := strconv.ParseInt(strings.TrimSpace(v.Str), 10, 64)
		return n, err == nil
	}
	return 0, false
}

// maxPHPFile bounds what ReadDefines reads; config.php files are a few KB.
const maxPHPFile = 16 << 20

// ReadDefines reads the constants a PHP settings file such as eZ's config.php or
// config.cluster.php defines with define('NAME', value) / define("NAME", value) (also
// \define and a third argument) and top-level const NAME = value;. Values may be single- or
// double-quoted strings (with PHP's escapes), "." concatenations of literals, integers (decimal,
// hex, octal, binary, "_" separators, sign), true/false/null in any case; anything else is
// returned as Kind Expr. Comments (//, #, /* */), text outside <?php ... ?>, several statements
// per line and all other PHP (if, ini_set, ...) are skipped; define() calls inside if blocks are
// read as if the condition held. A constant defined twice keeps its FIRST value, as in PHP.
// Unterminated strings, comments or define( calls are a *SyntaxError.
func ReadDefines(r io.Reader) (map[string]Value, error) {
	return readDefines(r, "")
}

func readDefines(r io.Reader, name string) (map[string]Value, error) {
	src, err := io.ReadAll(io.LimitReader(r, maxPHPFile+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	if len(src) > maxPHPFile {
		return nil, &SyntaxError{File: name, Line: 1, Msg: fmt.Sprintf("file larger than %d bytes", maxPHPFile)}
	}
	toks, err := lexPHP(string(src), name)
	if err != nil {
		return nil, err
	}
	return parseDefines(string(src), toks, name)
}

type tokKind int

const (
	tIdent tokKind = iota
	tString
	tNumber
	tPunct
	tVariable
)

type token struct {
	kind       tokKind
	text       string // identifier, decoded string, number text, punctuation
	start, end int    // byte span in the source
	line       int
	literal    bool // strings: no interpolation; numbers: a valid int
	num        int64
}

// is reports whether t is the punctuation p (a string token holding the same text is not).
func (t token) is(p string) bool { return t.kind == tPunct && t.text == p }

// lexPHP splits PHP code into the few token kinds parseDefines needs.
func lexPHP(src, name string) ([]token, error) {
	var toks []token
	line := 1
	i := 0
	inCode := false
	errAt := func(l int, msg string) error { return &SyntaxError{File: name, Line: l, Msg: msg} }
	for i < len(src) {
		if !inCode {
			j := strings.Index(src[i:], "<?")
			if j < 0 {
				break
			}
			line += strings.Count(src[i:i+j], "\n")
			i += j + 2
			if len(src)-i >= 3 && strings.EqualFold(src[i:i+3], "php") {
				i += 3
			} else if strings.HasPrefix(src[i:], "=") {
				i++
			}
			inCode = true
			continue
		}
		c := src[i]
		switch {
		case c == '\n':
			line++
			i++
		case c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v':
			i++
		case c == '?' && strings.HasPrefix(src[i:], "?>"):
			i += 2
			inCode = false
			toks = append(toks, token{kind: tPunct, text: ";", start: i - 2, end: i, line: line})
		case c == '#' || (c == '/' && strings.HasPrefix(src[i:], "//")):
			for i < len(src) && src[i] != '\n' && !strings.HasPrefix(src[i:], "?>") {
				i++
			}
		case c == '/' && strings.HasPrefix(src[i:], "/*"):
			j := strings.Index(src[i+2:], "*/")
			if j < 0 {
				return nil, errAt(line, "unterminated /* comment")
			}
			line += strings.Count(src[i:i+2+j], "\n")
			i += 2 + j + 2
		case c == '\'':
			start, startLine := i, line
			var b strings.Builder
			i++
			closed := false
			for i < len(src) {
				ch := src[i]
				if ch == '\\' && i+1 < len(src) && (src[i+1] == '\'' || src[i+1] == '\\') {
					b.WriteByte(src[i+1])
					i += 2
					continue
				}
				if ch == '\'' {
					closed = true
					i++
					break
				}
				if ch == '\n' {
					line++
				}
				b.WriteByte(ch)
				i++
			}
			if !closed {
				return nil, errAt(startLine, "unterminated single-quoted string")
			}
			toks = append(toks, token{kind: tString, text: b.String(), start: start, end: i, line: startLine, literal: true})
		case c == '"':
			start, startLine := i, line
			text, n, lines, literal, ok := lexDoubleQuoted(src[i:])
			if !ok {
				return nil, errAt(startLine, "unterminated double-quoted string")
			}
			i += n
			line += lines
			toks = append(toks, token{kind: tString, text: text, start: start, end: i, line: startLine, literal: literal})
		case c == '`':
			j := strings.IndexByte(src[i+1:], '`')
			if j < 0 {
				return nil, errAt(line, "unterminated backtick string")
			}
			line += strings.Count(src[i:i+1+j], "\n")
			toks = append(toks, token{kind: tPunct, text: "`", start: i, end: i + j + 2, line: line})
			i += j + 2
		case c == '$':
			start := i
			i++
			for i < len(src) && isIdentByte(src[i]) {
				i++
			}
			toks = append(toks, token{kind: tVariable, text: src[start:i], start: start, end: i, line: line})
		case c >= '0' && c <= '9':
			start := i
			for i < len(src) && (isIdentByte(src[i])) {
				i++
			}
			float := false
			if i+1 < len(src) && src[i] == '.' && src[i+1] >= '0' && src[i+1] <= '9' {
				float = true
				i++
				for i < len(src) && (isIdentByte(src[i]) || (src[i] == '+' || src[i] == '-') && (src[i-1] == 'e' || src[i-1] == 'E')) {
					i++
				}
			}
			text := src[start:i]
			n, ok := parsePHPInt(text)
			toks = append(toks, token{kind: tNumber, text: text, start: start, end: i, line: line, literal: ok && !float, num: n})
		case isIdentByte(c) || c == '\\' || c >= 0x80:
			start := i
			for i < len(src) && (isIdentByte(src[i]) || src[i] == '\\' || src[i] >= 0x80) {
				i++
			}
			toks = append(toks, token{kind: tIdent, text: src[start:i], start: start, end: i, line: line})
		default:
			n := 1
			for _, p := range []string{"->", "::", "=>", "==", "!=", "<<<"} {
				if strings.HasPrefix(src[i:], p) {
					n = len(p)
					break
				}
			}
			if n == 3 { // heredoc/nowdoc: skip to its closing identifier
				end, lines, ok := skipHeredoc(src[i:])
				if !ok {
					return nil, errAt(line, "unterminated heredoc")
				}
				toks = append(toks, token{kind: tPunct, text: "<<<", start: i, end: i + end, line: line})
				line += lines
				i += end
				continue
			}
			toks = append(toks, token{kind: tPunct, text: src[i : i+n], start: i, end: i + n, line: line})
			i += n
		}
	}
	return toks, nil
}

func isIdentByte(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// lexDoubleQuoted decodes a PHP double-quoted string starting at s[0] == '"'. It returns the
// decoded text, the bytes consumed, the newlines inside, whether it has no interpolation, and ok
// = false if it is unterminated.
func lexDoubleQuoted(s string) (text string, n, lines int, literal, ok bool) {
	var b strings.Builder
	literal = true
	i := 1
	for i < len(s) {
		c := s[i]
		switch {
		case c == '"':
			return b.String(), i + 1, lines, literal, true
		case c == '\n':
			lines++
			b.WriteByte(c)
			i++
		case c == '$' && i+1 < len(s) && (isIdentByte(s[i+1]) && !(s[i+1] >= '0' && s[i+1] <= '9') || s[i+1] == '{'):
			literal = false
			b.WriteByte(c)
			i++
		case c == '{' && i+1 < len(s) && s[i+1] == '$':
			literal = false
			b.WriteByte(c)
			i++
		case c == '\\' && i+1 < len(s):
			e := s[i+1]
			i += 2
			switch e {
			case 'n':
				b.WriteByte('\n')
			case 't':
				b.WriteByte('\t')
			case 'r':
				b.WriteByte('\r')
			case 'v':
				b.WriteByte('\v')
			case 'e':
				b.WriteByte(0x1b)
			case 'f':
				b.WriteByte('\f')
			case '\\', '$', '"':
				b.WriteByte(e)
			case 'x':
				j := i
				for j < len(s) && j < i+2 && isHexDigit(s[j]) {
					j++
				}
				if j == i {
					b.WriteString(`\x`)
					break
				}
				v, _ := strconv.ParseUint(s[i:j], 16, 8)
				b.WriteByte(byte(v))
				i = j
			case 'u':
				if i < len(s) && s[i] == '{' {
					if k := strings.IndexByte(s[i:], '}'); k > 1 {
						if v, err := strconv.ParseUint(s[i+1:i+k], 16, 32); err == nil && utf8.ValidRune(rune(v)) {
							b.WriteRune(rune(v))
							i += k + 1
							break
						}
					}
				}
				b.WriteString(`\u`)
			default:
				if e >= '0' && e <= '7' {
					j := i - 1
					for j < len(s) && j < i+2 && s[j] >= '0' && s[j] <= '7' {
						j++
					}
					v, _ := strconv.ParseUint(s[i-1:j], 8, 16)
					b.WriteByte(byte(v))
					i = j
					break
				}
				if e == '\n' {
					lines++
				}
				b.WriteByte('\\')
				b.WriteByte(e)
			}
		default:
			b.WriteByte(c)
			i++
		}
	}
	return "", 0, 0, false, false
}

func isHexDigit(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// skipHeredoc returns the length of a heredoc/nowdoc starting at s[0:3] == "<<<".
func skipHeredoc(s string) (n, lines int, ok bool) {
	nl := strings.IndexByte(s, '\n')
	if nl < 0 {
		return 0, 0, false
	}
	label := strings.Trim(strings.TrimSpace(s[3:nl]), `'"`)
	if label == "" {
		return 0, 0, false
	}
	i := nl + 1
	lines = 1
	for i <= len(s) {
		end := strings.IndexByte(s[i:], '\n')
		var ln string
		if end < 0 {
			ln = s[i:]
		} else {
			ln = s[i : i+end]
		}
		t := strings.TrimLeft(ln, " \t")
		if strings.HasPrefix(t, label) && (len(t) == len(label) || !isIdentByte(t[len(label)])) {
			return i + (len(ln) - len(t)) + len(label), lines, true
		}
		if end < 0 {
			break
		}
		i += end + 1
		lines++
	}
	return 0, 0, false
}

// parsePHPInt parses a PHP integer literal (no sign).
func parsePHPInt(s string) (int64, bool) {
	s = strings.ReplaceAll(s, "_", "")
	base := 10
	switch {
	case len(s) > 2 && (s[:2] == "0x" || s[:2] == "0X"):
		base, s = 16, s[2:]
	case len(s) > 2 && (s[:2] == "0b" || s[:2] == "0B"):
		base, s = 2, s[2:]
	case len(s) > 2 && (s[:2] == "0o" || s[:2] == "0O"):
		base, s = 8, s[2:]
	case len(s) > 1 && s[0] == '0':
		base, s = 8, s[1:]
	}
	n, err := strconv.ParseInt(s, base, 64)
	return n, err == nil
}

// parseDefines walks the token stream for define(...) calls and top-level const statements.
func parseDefines(src string, toks []token, name string) (map[string]Value, error) {
	out := map[string]Value{}
	add := func(n string, v Value) {
		if _, dup := out[n]; !dup {
			out[n] = v
		}
	}
	depth := 0
	for i := 0; i < len(toks); i++ {
		t := toks[i]
		if t.kind == tPunct {
			switch t.text {
			case "{":
				depth++
			case "}":
				if depth > 0 {
					depth--
				}
			}
			continue
		}
		if t.kind != tIdent {
			continue
		}
		word := strings.ToLower(strings.TrimPrefix(t.text, `\`))
		prev := ""
		if i > 0 {
			prev = toks[i-1].text
		}
		if prev == "->" || prev == "::" || prev == "?->" || strings.EqualFold(prev, "function") {
			continue
		}
		switch {
		case word == "define" && i+1 < len(toks) && toks[i+1].is("("):
			args, end, ok := splitArgs(toks, i+2)
			if !ok {
				return nil, &SyntaxError{File: name, Line: t.line, Msg: "unterminated define( call"}
			}
			i = end
			if len(args) < 2 {
				continue
			}
			cname, ok := constName(src, args[0])
			if !ok {
				continue
			}
			v := evalValue(src, args[1])
			v.Line = t.line
			add(cname, v)
		case word == "const" && depth == 0:
			// const A = 1, B = 'x';
			j := i + 1
			for j+1 < len(toks) && toks[j].kind == tIdent && toks[j+1].is("=") {
				start := j + 2
				k := start
				for k < len(toks) && !toks[k].is(";") && !toks[k].is(",") {
					k++
				}
				if k == start {
					break
				}
				v := evalValue(src, toks[start:k])
				v.Line = toks[j].line
				add(toks[j].text, v)
				if k >= len(toks) || toks[k].is(";") {
					j = k
					break
				}
				j = k + 1
			}
			i = j
		}
	}
	return out, nil
}

// splitArgs splits the tokens after "(" at index from into top-level comma-separated
// arguments, returning them and the index of the closing ")".
func splitArgs(toks []token, from int) (args [][]token, end int, ok bool) {
	depth := 0
	start := from
	for i := from; i < len(toks); i++ {
		if toks[i].kind != tPunct {
			continue // a string "(" or "," is a value, not syntax
		}
		switch toks[i].text {
		case "(", "[", "{":
			depth++
		case ")", "]", "}":
			if depth == 0 {
				if toks[i].text != ")" {
					return nil, 0, false
				}
				if i > start {
					args = append(args, toks[start:i])
				}
				return args, i, true
			}
			depth--
		case ",":
			if depth == 0 {
				args = append(args, toks[start:i])
				start = i + 1
			}
		case ";":
			if depth == 0 {
				return nil, 0, false
			}
		}
	}
	return nil, 0, false
}

func constName(src string, arg []token) (string, bool) {
	v := evalValue(src, arg)
	if v.Kind != String || v.Str == "" {
		return "", false
	}
	return v.Str, true
}

// evalValue evaluates literal expressions: [sign] int, string ("." string)*, true/false/null.
func evalValue(src string, ts []token) Value {
	expr := func() Value {
		if len(ts) == 0 {
			return Value{Kind: Expr}
		}
		return Value{Kind: Expr, Str: strings.TrimSpace(src[ts[0].start:ts[len(ts)-1].end])}
	}
	if len(ts) == 0 {
		return expr()
	}
	// Parenthesised whole value: ( ... )
	if len(ts) >= 2 && ts[0].is("(") && ts[len(ts)-1].is(")") {
		if _, end, ok := splitArgs(ts, 1); ok && end == len(ts)-1 {
			v := evalValue(src, ts[1:len(ts)-1])
			if v.Kind != Expr {
				return v
			}
			return expr()
		}
	}
	if len(ts) == 1 && ts[0].kind == tIdent {
		switch strings.ToLower(strings.TrimPrefix(ts[0].text, `\`)) {
		case "true":
			return Value{Kind: Bool, Bool: true}
		case "false":
			return Value{Kind: Bool}
		case "null":
			return Value{Kind: Null}
		}
		return expr()
	}
	if ts[0].kind == tNumber || (len(ts) == 2 && (ts[0].is("-") || ts[0].is("+")) && ts[1].kind == tNumber) {
		num := ts[len(ts)-1]
		if len(ts) > 2 || !num.literal {
			return expr()
		}
		n := num.num
		if ts[0].text == "-" {
			n = -n
		}
		return Value{Kind: Int, Int: n}
	}
	// string ("." string)*
	var b strings.Builder
	for k, t := range ts {
		if k%2 == 1 {
			if !t.is(".") {
				return expr()
			}
			continue
		}
		if t.kind != tString || !t.literal {
			return expr()
		}
		b.WriteString(t.text)
	}
	if len(ts)%2 == 0 {
		return expr()
	}
	return Value{Kind: String, Str: b.String()}
}
