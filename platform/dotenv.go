package platform

import (
	"fmt"
	"strings"
)

// Var is one assignment read from a dotenv file.
type Var struct {
	// Name and Value are the variable and its value after quotes, escapes and expansion.
	Name, Value string
	// Line is the 1-based line where the assignment starts.
	Line int
}

// ParseDotenv parses a dotenv file with the syntax of Symfony's Dotenv component
// (symfony/dotenv Dotenv::parse): "NAME=value" lines, an optional "export " prefix, "#"
// comments (whole lines, or after blanks following an unquoted value), single-quoted values
// taken literally, double-quoted values with \" \\ \n \r \$ escapes (any other backslash is
// kept, as Symfony keeps "\t") spanning lines, and
// $NAME, ${NAME}, ${NAME:-default} and ${NAME:=default} expansion in unquoted and double-quoted
// parts. A variable is expanded, as Symfony's Dotenv::resolveVariables does, from the real
// environment (real), else a value defined earlier in this file, else a value loaded from an
// earlier dotenv file (loaded); either function may be nil. "${NAME:=default}" also defines
// NAME for the rest of the file. Command substitution "$(…)" is refused: ezdfsd runs no commands.
// Like Symfony, blanks around "=" and unquoted values holding blanks are errors.
func ParseDotenv(data string, real, loaded func(string) (string, bool)) ([]Var, error) {
	p := &parser{data: strings.ReplaceAll(data, "\r\n", "\n"), line: 1, real: real, loaded: loaded, local: map[string]string{}}
	var out []Var
	for {
		p.skipBlankAndComments()
		if p.pos >= len(p.data) {
			return out, nil
		}
		start := p.line
		name, err := p.name()
		if err != nil {
			return nil, err
		}
		value, err := p.value()
		if err != nil {
			return nil, err
		}
		p.local[name] = value
		out = append(out, Var{Name: name, Value: value, Line: start})
	}
}

type parser struct {
	data   string
	pos    int
	line   int
	real   func(string) (string, bool) // the process environment
	loaded func(string) (string, bool) // earlier dotenv files
	local  map[string]string           // values defined earlier in this file
}

func (p *parser) errorf(format string, args ...any) error {
	return fmt.Errorf("line %d: %s", p.line, fmt.Sprintf(format, args...))
}

func (p *parser) skipBlankAndComments() {
	for p.pos < len(p.data) {
		switch c := p.data[p.pos]; {
		case c == '\n':
			p.line++
			p.pos++
		case c == ' ' || c == '\t':
			p.pos++
		case c == '#':
			for p.pos < len(p.data) && p.data[p.pos] != '\n' {
				p.pos++
			}
		default:
			return
		}
	}
}

func isNameByte(c byte, first bool) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c == '_' && !first || c >= '0' && c <= '9' && !first
}

func (p *parser) ident() string {
	start := p.pos
	for p.pos < len(p.data) && isNameByte(p.data[p.pos], p.pos == start) {
		p.pos++
	}
	return p.data[start:p.pos]
}

// name reads "[export ]NAME=".
func (p *parser) name() (string, error) {
	if strings.HasPrefix(p.data[p.pos:], "export ") || strings.HasPrefix(p.data[p.pos:], "export\t") {
		p.pos += len("export")
		for p.pos < len(p.data) && (p.data[p.pos] == ' ' || p.data[p.pos] == '\t') {
			p.pos++
		}
	}
	name := p.ident()
	if name == "" {
		return "", p.errorf("invalid character in variable name")
	}
	if p.pos >= len(p.data) || p.data[p.pos] != '=' {
		if p.pos < len(p.data) && (p.data[p.pos] == ' ' || p.data[p.pos] == '\t') {
			return "", p.errorf("whitespace after the variable name %s is not supported", name)
		}
		return "", p.errorf("missing = in the assignment of %s", name)
	}
	p.pos++
	if p.pos < len(p.data) && (p.data[p.pos] == ' ' || p.data[p.pos] == '\t') {
		return "", p.errorf("whitespace before the value of %s is not supported (quote the value)", name)
	}
	return name, nil
}

// value reads the value up to the end of the line (or a comment), joining quoted and unquoted
// parts as a shell does.
func (p *parser) value() (string, error) {
	var b strings.Builder
	for p.pos < len(p.data) {
		switch c := p.data[p.pos]; c {
		case '\n':
			return b.String(), nil
		case '\'':
			end := strings.IndexByte(p.data[p.pos+1:], '\'')
			if end < 0 {
				return "", p.errorf("missing closing single quote")
			}
			s := p.data[p.pos+1 : p.pos+1+end]
			p.line += strings.Count(s, "\n")
			b.WriteString(s)
			p.pos += end + 2
		case '"':
			p.pos++
			if err := p.doubleQuoted(&b); err != nil {
				return "", err
			}
		case ' ', '\t':
			rest := p.pos
			for rest < len(p.data) && (p.data[rest] == ' ' || p.data[rest] == '\t') {
				rest++
			}
			if rest < len(p.data) && p.data[rest] != '\n' && p.data[rest] != '#' {
				return "", p.errorf("a value containing spaces must be surrounded by quotes")
			}
			p.pos = rest
			if rest < len(p.data) && p.data[rest] == '#' {
				for p.pos < len(p.data) && p.data[p.pos] != '\n' {
					p.pos++
				}
			}
		case '\\':
			// Symfony unescapes \" \' \\ and \$ in unquoted values and keeps any other
			// backslash (C:\path stays C:\path).
			if p.pos+1 < len(p.data) && strings.IndexByte(`"'\$`, p.data[p.pos+1]) >= 0 {
				b.WriteByte(p.data[p.pos+1])
				p.pos += 2
				continue
			}
			b.WriteByte(c)
			p.pos++
		case '$':
			if err := p.expand(&b); err != nil {
				return "", err
			}
		default:
			b.WriteByte(c)
			p.pos++
		}
	}
	return b.String(), nil
}

func (p *parser) doubleQuoted(b *strings.Builder) error {
	for p.pos < len(p.data) {
		c := p.data[p.pos]
		switch c {
		case '"':
			p.pos++
			return nil
		case '\\':
			if p.pos+1 >= len(p.data) {
				return p.errorf("missing closing double quote")
			}
			switch n := p.data[p.pos+1]; n {
			case 'n':
				b.WriteByte('\n')
			case 'r':
				b.WriteByte('\r')
			case '"', '\\', '$':
				b.WriteByte(n)
			default:
				b.WriteByte('\\')
				b.WriteByte(n)
			}
			p.pos += 2
		case '$':
			if err := p.expand(b); err != nil {
				return err
			}
		default:
			if c == '\n' {
				p.line++
			}
			b.WriteByte(c)
			p.pos++
		}
	}
	return p.errorf("missing closing double quote")
}

// resolve looks name up: the real environment, then this file, then earlier files.
func (p *parser) resolve(name string) (string, bool) {
	if p.real != nil {
		if v, ok := p.real(name); ok {
			return v, true
		}
	}
	if v, ok := p.local[name]; ok {
		return v, true
	}
	if p.loaded != nil {
		return p.loaded(name)
	}
	return "", false
}

// expand reads $NAME, ${NAME}, ${NAME:-default} or ${NAME:=default} at p.pos.
func (p *parser) expand(b *strings.Builder) error {
	p.pos++ // '$'
	if p.pos >= len(p.data) {
		b.WriteByte('$')
		return nil
	}
	switch p.data[p.pos] {
	case '(':
		return p.errorf("command substitution $(...) is not supported")
	case '{':
		p.pos++
		name := p.ident()
		if name == "" {
			return p.errorf("invalid variable name after ${")
		}
		if strings.HasPrefix(p.data[p.pos:], "}") {
			p.pos++
			v, _ := p.resolve(name)
			b.WriteString(v)
			return nil
		}
		op := ""
		if strings.HasPrefix(p.data[p.pos:], ":-") || strings.HasPrefix(p.data[p.pos:], ":=") {
			op = p.data[p.pos : p.pos+2]
		} else {
			return p.errorf("unsupported expansion in ${%s…}: want ${%s}, ${%s:-default} or ${%s:=default}", name, name, name, name)
		}
		p.pos += 2
		end := strings.IndexByte(p.data[p.pos:], '}')
		if end < 0 || strings.Contains(p.data[p.pos:p.pos+end], "\n") {
			return p.errorf("missing } in ${%s%s…", name, op)
		}
		def := p.data[p.pos : p.pos+end]
		if i := strings.IndexAny(def, `'"{$`); i >= 0 { // Symfony refuses them too
			return p.errorf("unsupported character %q in the default value of $%s", def[i], name)
		}
		p.pos += end + 1
		v, ok := p.resolve(name)
		if !ok || v == "" {
			v = def
			if op == ":=" {
				p.local[name] = def
			}
		}
		b.WriteString(v)
		return nil
	default:
		name := p.ident()
		if name == "" {
			b.WriteByte('$')
			return nil
		}
		v, _ := p.resolve(name)
		b.WriteString(v)
		return nil
	}
}
