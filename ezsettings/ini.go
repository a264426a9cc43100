package ezsettings

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
)

// SyntaxError is a mistake at one line of an eZ settings file. Its message never contains the
// value part of a Key=Value line (values may be passwords).
type SyntaxError struct {
	// File is the name the caller gave (a path relative to the eZ root, or "" if unknown).
	File string
	// Line is 1-based.
	Line int
	// Msg says what is wrong.
	Msg string
}

func (e *SyntaxError) Error() string {
	if e.File == "" {
		return fmt.Sprintf("line %d: %s", e.Line, e.Msg)
	}
	return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
}

// KeyValue is one element of an eZ INI array, in file order. Appended elements (Key[]=v) get
// PHP's automatic integer keys ("0", "1", ...); keyed ones (Key[k]=v) keep k.
type KeyValue struct {
	Key   string
	Value string
}

// INI holds the settings of one eZ INI file, or of several merged in eZ's order. Sections,
// variables inside a section, and array elements keep the order in which eZ's PHP arrays would
// hold them (first assignment decides the position). The zero value is an empty INI.
type INI struct {
	sections []*section
	ignored  []*SyntaxError
}

// Ignored returns the lines eZ would silently ignore (see ParseINI), in file order, including
// those of files merged into this one.
func (ini *INI) Ignored() []*SyntaxError { return ini.ignored }

type section struct {
	name string
	vars []*variable
}

type variable struct {
	name    string
	isArray bool
	scalar  string
	entries []entry
	// ops are the array assignments in the order they were read (Name[]=v as auto, Name[k]=v
	// keyed), since the last reset. Merge replays them: resolving an override file's automatic
	// keys on their own loses entries that a later Name[k]=v of the same file overwrote there,
	// but not in the one array PHP builds from all the files.
	ops []entry
	// reset records that a bare "Name[]" line cleared the array in this file (or in a file
	// merged into this one), so a Merge replaces the base array instead of appending to it.
	reset  bool
	origin origin
}

type entry struct {
	key    string
	value  string
	auto   bool // added by Name[]=v; renumbered on merge
	origin origin
}

type origin struct {
	file string
	line int
}

func (o origin) String() string {
	if o.file == "" {
		return fmt.Sprintf("line %d", o.line)
	}
	return fmt.Sprintf("%s:%d", o.file, o.line)
}

// The patterns eZINI::parseFile uses (lib/ezutils/classes/ezini.php), applied to a line after
// "\r" has been removed. Variable names are [\w_*@-]+ (PCRE \w without /u = ASCII word chars).
var (
	reSection = regexp.MustCompile(`^\[(.+)\]\s*$`)
	reReset   = regexp.MustCompile(`^([A-Za-z0-9_*@-]+)\[\]$`)
	reAssign  = regexp.MustCompile(`^([A-Za-z0-9_*@-]+)(\[([^\]]*)\])?=(.*)$`)
	// reLooksLikeKey catches lines that were meant as settings but that eZ silently drops.
	reLooksLikeKey = regexp.MustCompile(`^\s*[A-Za-z0-9_*@-]+\s*(\[[^\]]*\])?\s*=`)
)

// maxLine bounds one line; eZ files have short lines, and the bound keeps a corrupt file from
// exhausting memory.
const maxLine = 1 << 20

// ParseINI reads one eZ INI file with exactly eZINI's rules, so that ezdfsd sees the values eZ
// sees:
//
//   - "\r" is dropped everywhere (CRLF files work), and a leading UTF-8 BOM is skipped;
//   - a line starting with "#" is a comment; "#" elsewhere is part of the value, but everything
//     from the LAST "##" on a line is cut (eZ's inline comment, /^(.+)##.*/);
//   - "[Section]" starts a section (name trimmed);
//   - "Key=Value" sets a scalar: the value is everything after the first "=", not trimmed, so
//     passwords may contain "=", ";", "#", quotes and trailing spaces;
//   - "Key[]=v" appends to an array, "Key[k]=v" sets element k (a re-set element keeps its
//     position; k "0" counts as an append, as PHP's truthiness test makes it), and a bare
//     "Key[]" empties the array;
//   - keys must start the line and have no space before "=" or "[".
//
// eZ silently ignores any other line, and so does ParseINI, so a site eZ runs with is a site
// ezdfsd starts with. Apart from the PHP wrapper eZ writes around override files
// ("<?php /* #?ini charset=...?" and "*/ ?>"), blank lines and indented comments, each ignored
// line (for example "DBHost = db1", an unclosed "[Section", or stray text) is recorded as a
// *SyntaxError in Ignored(), because a setting that silently does nothing is nearly always a
// mistake worth a warning. name labels errors and origins; it is not opened. Errors are
// returned only for unreadable input and over-long lines.
func ParseINI(r io.Reader, name string) (*INI, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), maxLine)
	ini := &INI{}
	current := ""
	lineNo := 0
	for sc.Scan() {
		lineNo++
		raw := sc.Bytes()
		if lineNo == 1 {
			raw = bytes.TrimPrefix(raw, []byte("\xef\xbb\xbf"))
		}
		line := strings.ReplaceAll(string(raw), "\r", "")
		if line == "" || line[0] == '#' {
			continue
		}
		if m := strings.LastIndex(line, "##"); m > 0 {
			line = line[:m]
		}
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || strings.HasPrefix(trimmed, "#") || isPHPWrapper(trimmed) {
			continue
		}
		if m := reSection.FindStringSubmatch(line); m != nil {
			current = strings.TrimSpace(m[1])
			ini.section(current, true)
			continue
		}
		o := origin{file: name, line: lineNo}
		if m := reReset.FindStringSubmatch(line); m != nil {
			ini.resetArray(current, m[1], o)
			continue
		}
		if m := reAssign.FindStringSubmatch(line); m != nil {
			key, hasBrackets, idx, value := m[1], m[2] != "", m[3], m[4]
			switch {
			case !hasBrackets:
				ini.setScalar(current, key, value, o)
			case idx == "" || idx == "0":
				ini.appendValue(current, key, value, o)
			default:
				ini.setKeyed(current, key, idx, value, o)
			}
			continue
		}
		ini.ignored = append(ini.ignored, &SyntaxError{File: name, Line: lineNo, Msg: explainIgnored(line)})
	}
	if err := sc.Err(); err != nil {
		if err == bufio.ErrTooLong {
			return nil, &SyntaxError{File: name, Line: lineNo + 1, Msg: fmt.Sprintf("line longer than %d bytes", maxLine)}
		}
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	return ini, nil
}

// isPHPWrapper reports whether a (trimmed) line is only the PHP comment wrapper of an eZ
// override file: "<?php /* #?ini charset="utf-8"?", "*/ ?>", "<?php", "/*", "*/", "?>".
func isPHPWrapper(s string) bool {
	if strings.HasPrefix(s, "<?php") {
		rest := strings.TrimSpace(strings.TrimPrefix(s, "<?php"))
		rest = strings.TrimSpace(strings.TrimPrefix(rest, "/*"))
		return rest == "" || strings.HasPrefix(rest, "#?ini")
	}
	if strings.HasPrefix(s, "#?ini") {
		return true
	}
	switch s {
	case "*/ ?>", "*/?>", "*/", "?>", "/*", "/* */":
		return true
	}
	return false
}

// explainIgnored says why eZ would ignore line, without quoting a value.
func explainIgnored(line string) string {
	switch {
	case strings.HasPrefix(line, "["):
		return "malformed section header (want [Name]); eZ ignores this line"
	case reLooksLikeKey.MatchString(line):
		key := strings.TrimSpace(line[:strings.IndexAny(line, "=[")])
		if line[0] == ' ' || line[0] == '\t' {
			return fmt.Sprintf("setting %q is indented; eZ ignores this line (keys must start the line)", key)
		}
		return fmt.Sprintf("space before \"=\" or \"[\" after %q; eZ ignores this line (write Key=Value)", key)
	case strings.Contains(line, "="):
		return "invalid setting name (allowed: letters, digits, _ * @ -); eZ ignores this line"
	default:
		return "not a section, setting or comment; eZ ignores this line"
	}
}

func (ini *INI) section(name string, create bool) *section {
	for _, s := range ini.sections {
		if s.name == name {
			return s
		}
	}
	if !create {
		return nil
	}
	s := &section{name: name}
	ini.sections = append(ini.sections, s)
	return s
}

func (s *section) variable(name string, create bool) *variable {
	for _, v := range s.vars {
		if v.name == name {
			return v
		}
	}
	if !create {
		return nil
	}
	v := &variable{name: name}
	s.vars = append(s.vars, v)
	return v
}

func (ini *INI) lookup(sectionName, key string) *variable {
	s := ini.section(sectionName, false)
	if s == nil {
		return nil
	}
	return s.variable(key, false)
}

func (ini *INI) setScalar(sectionName, key, value string, o origin) {
	v := ini.section(sectionName, true).variable(key, true)
	*v = variable{name: key, scalar: value, origin: o}
}

func (ini *INI) resetArray(sectionName, key string, o origin) {
	v := ini.section(sectionName, true).variable(key, true)
	*v = variable{name: key, isArray: true, reset: true, origin: o}
}

// asArray turns v into an array, dropping a scalar value (PHP would fail on "[]" of a
// non-empty string; eZ files never mix the two).
func (v *variable) asArray() {
	if !v.isArray {
		v.isArray = true
		v.scalar = ""
		v.entries = nil
		v.ops = nil
	}
}

func (ini *INI) appendValue(sectionName, key, value string, o origin) {
	v := ini.section(sectionName, true).variable(key, true)
	v.asArray()
	v.appendAuto(value, o)
	v.origin = o
}

func (ini *INI) setKeyed(sectionName, key, idx, value string, o origin) {
	v := ini.section(sectionName, true).variable(key, true)
	v.asArray()
	v.setKey(idx, value, o)
	v.origin = o
}

func (v *variable) appendAuto(value string, o origin) {
	next := int64(0)
	for _, e := range v.entries {
		if n, ok := phpIntKey(e.key); ok && n >= next {
			next = n + 1
		}
	}
	v.entries = append(v.entries, entry{key: strconv.FormatInt(next, 10), value: value, auto: true, origin: o})
	v.ops = append(v.ops, entry{value: value, auto: true, origin: o})
}

func (v *variable) setKey(key, value string, o origin) {
	if n, ok := phpIntKey(key); ok {
		key = strconv.FormatInt(n, 10)
	}
	v.ops = append(v.ops, entry{key: key, value: value, origin: o})
	for i := range v.entries {
		if v.entries[i].key == key {
			v.entries[i].value = value
			v.entries[i].auto = false
			v.entries[i].origin = o
			return
		}
	}
	v.entries = append(v.entries, entry{key: key, value: value, origin: o})
}

// phpIntKey reports whether PHP would turn array key s into an integer key (a canonical
// decimal integer: no leading zeros, no "+", "-0" excluded).
func phpIntKey(s string) (int64, bool) {
	if s == "" || s == "-0" || (len(s) > 1 && s[0] == '0') || (len(s) > 2 && s[0] == '-' && s[1] == '0') {
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || strconv.FormatInt(n, 10) != s {
		return 0, false
	}
	return n, true
}

// Get returns the scalar value of key in section and whether it is set. Array variables are
// not scalars: Get reports false for them.
func (ini *INI) Get(sectionName, key string) (string, bool) {
	v := ini.lookup(sectionName, key)
	if v == nil || v.isArray {
		return "", false
	}
	return v.scalar, true
}

// List returns the values of the array key in section, in eZ order (nil if it is not an array
// or not set).
func (ini *INI) List(sectionName, key string) []string {
	v := ini.lookup(sectionName, key)
	if v == nil || !v.isArray {
		return nil
	}
	out := make([]string, 0, len(v.entries))
	for _, e := range v.entries {
		out = append(out, e.value)
	}
	return out
}

// Hash returns the elements of the array key in section with their keys, in eZ order (nil if
// it is not an array or not set).
func (ini *INI) Hash(sectionName, key string) []KeyValue {
	v := ini.lookup(sectionName, key)
	if v == nil || !v.isArray {
		return nil
	}
	out := make([]KeyValue, 0, len(v.entries))
	for _, e := range v.entries {
		out = append(out, KeyValue{Key: e.key, Value: e.value})
	}
	return out
}

// Has reports whether key is set in section, as a scalar or an array (an emptied array counts).
func (ini *INI) Has(sectionName, key string) bool {
	return ini.lookup(sectionName, key) != nil
}

// Origin returns "file:line" of the line that last changed key in section ("" if unset). For an
// array element use HashOrigin.
func (ini *INI) Origin(sectionName, key string) string {
	v := ini.lookup(sectionName, key)
	if v == nil {
		return ""
	}
	return v.origin.String()
}

// HashOrigin returns "file:line" of the line that set element elem of array key in section
// ("" if there is no such element).
func (ini *INI) HashOrigin(sectionName, key, elem string) string {
	v := ini.lookup(sectionName, key)
	if v == nil {
		return ""
	}
	for _, e := range v.entries {
		if e.key == elem {
			return e.origin.String()
		}
	}
	return ""
}

// Sections returns the section names in first-seen order. Settings before any section header
// live in the section named "".
func (ini *INI) Sections() []string {
	out := make([]string, 0, len(ini.sections))
	for _, s := range ini.sections {
		out = append(out, s.name)
	}
	return out
}

// Keys returns the variable names of section in first-seen order.
func (ini *INI) Keys(sectionName string) []string {
	s := ini.section(sectionName, false)
	if s == nil {
		return nil
	}
	out := make([]string, 0, len(s.vars))
	for _, v := range s.vars {
		out = append(out, v.name)
	}
	return out
}

// Merge applies over on top of ini with the result eZINI gets by parsing over's file after
// ini's files: scalars are replaced (keeping their position), arrays are extended (appended
// elements renumbered after ini's, keyed elements replaced in place or added at the end),
// unless over emptied the array with a bare "Key[]" line, in which case over's array replaces
// ini's. Merge is associative, so a chain can be merged pairwise. over is not modified.
func (ini *INI) Merge(over *INI) {
	if over == nil {
		return
	}
	ini.ignored = append(ini.ignored, over.ignored...)
	for _, os := range over.sections {
		s := ini.section(os.name, true)
		for _, ov := range os.vars {
			v := s.variable(ov.name, true)
			switch {
			case !ov.isArray:
				*v = variable{name: ov.name, scalar: ov.scalar, origin: ov.origin}
			case ov.reset || !v.isArray:
				*v = variable{name: ov.name, isArray: true, reset: ov.reset, origin: ov.origin}
				v.entries = append([]entry(nil), ov.entries...)
				v.ops = append([]entry(nil), ov.ops...)
			default:
				for _, e := range ov.ops {
					if e.auto {
						v.appendAuto(e.value, e.origin)
					} else {
						v.setKey(e.key, e.value, e.origin)
					}
				}
				v.origin = ov.origin
			}
		}
	}
}
