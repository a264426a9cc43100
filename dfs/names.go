// Package dfs knows eZ Publish's cluster file names: how a request target becomes a cluster name,
// which names the daemon serves, which metadata table a name lives in, and which storage backend
// the [DispatchableDFS] PathBackends rules choose for it. It does no I/O.
package dfs

import (
	"errors"
	"fmt"
	"strings"
)

// MaxNameLength bounds a cluster name in bytes. eZ's name column is TEXT, but its indexes cover
// 250 bytes and real names stay far below this; longer requests are refused before any lookup.
const MaxNameLength = 4096

// ErrInvalidName means a request target cannot name a cluster file: bad percent-encoding, a NUL
// byte, a backslash, a "." or ".." segment, an empty segment, or an over-long name. eZ never
// stores such names, so the answer is 404 without a lookup.
var ErrInvalidName = errors.New("dfs: invalid cluster file name")

// NameFromTarget turns a raw HTTP request target (as sent: percent-escapes and query included)
// into the cluster name the legacy gateway would look up, with the legacy %3F bug fixed:
//
//  1. the query is cut at the first raw "?" (so an encoded "%3F" stays part of the name);
//  2. every %XX is decoded exactly once ("+" stays "+", "%2F" becomes "/");
//  3. all leading slashes are stripped.
//
// Names that eZ cannot have stored, or that could escape the store, are rejected with
// ErrInvalidName: NUL or other control bytes, backslashes, "." / ".." segments, empty
// segments ("a//b" or a trailing slash, which eZ's cleanPath never produces), and names longer
// than MaxNameLength.
func NameFromTarget(rawTarget string) (string, error) {
	if i := strings.IndexByte(rawTarget, '?'); i >= 0 {
		rawTarget = rawTarget[:i]
	}
	if i := strings.IndexByte(rawTarget, '#'); i >= 0 {
		rawTarget = rawTarget[:i]
	}
	if len(rawTarget) > 3*MaxNameLength {
		return "", fmt.Errorf("%w: target longer than %d bytes", ErrInvalidName, 3*MaxNameLength)
	}
	decoded, err := percentDecode(rawTarget)
	if err != nil {
		return "", err
	}
	name := strings.TrimLeft(decoded, "/")
	if err := CheckName(name); err != nil {
		return "", err
	}
	return name, nil
}

// CheckName reports whether name is a well-formed cluster name (see NameFromTarget). It is also
// used on names read from disk by `ezdfsd import`.
func CheckName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: empty name", ErrInvalidName)
	case len(name) > MaxNameLength:
		return fmt.Errorf("%w: name longer than %d bytes", ErrInvalidName, MaxNameLength)
	case strings.HasPrefix(name, "/"):
		return fmt.Errorf("%w: leading slash", ErrInvalidName)
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; c < 0x20 || c == 0x7f {
			return fmt.Errorf("%w: control byte 0x%02x", ErrInvalidName, c)
		} else if c == '\\' {
			return fmt.Errorf("%w: backslash", ErrInvalidName)
		}
	}
	for seg := range strings.SplitSeq(name, "/") {
		switch seg {
		case "":
			return fmt.Errorf("%w: empty path segment", ErrInvalidName)
		case ".", "..":
			return fmt.Errorf("%w: %q segment", ErrInvalidName, seg)
		}
	}
	return nil
}

// percentDecode decodes every %XX once, like PHP's rawurldecode but strict: a "%" not followed
// by two hex digits is an error (PHP would keep it literally; no eZ URL contains one, since eZ
// escapes "%" as "%25").
func percentDecode(s string) (string, error) {
	if !strings.Contains(s, "%") {
		return s, nil
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b.WriteByte(s[i])
			continue
		}
		if i+2 >= len(s) || !isHex(s[i+1]) || !isHex(s[i+2]) {
			return "", fmt.Errorf("%w: bad percent-escape at byte %d", ErrInvalidName, i)
		}
		b.WriteByte(unhex(s[i+1])<<4 | unhex(s[i+2]))
		i += 2
	}
	return b.String(), nil
}

// RawURLDecode decodes every valid %XX once and keeps invalid escapes literally, exactly as PHP's
// rawurldecode (the legacy gateway's decoding). It is for showing a refused target, never for
// looking a name up: NameFromTarget is strict.
func RawURLDecode(s string) string {
	if !strings.Contains(s, "%") {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
			c = unhex(s[i+1])<<4 | unhex(s[i+2])
			i += 2
		}
		b.WriteByte(c)
	}
	return b.String()
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case '0' <= c && c <= '9':
		return c - '0'
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}
