package storage

import (
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

func TestExactReader(t *testing.T) {
	boom := errors.New("boom")
	for _, c := range []struct {
		name    string
		r       io.Reader
		size    int64
		want    string
		wantErr error // nil: no error; errAny: some error
	}{
		{"exact", strings.NewReader("abc"), 3, "abc", nil},
		{"exact, one byte at a time", iotest.OneByteReader(strings.NewReader("abcdef")), 6, "abcdef", nil},
		{"empty", strings.NewReader(""), 0, "", nil},
		{"short", strings.NewReader("abc"), 10, "abc", io.ErrUnexpectedEOF},
		{"long", strings.NewReader("abcdef"), 3, "abc", errAny},
		{"read error", iotest.ErrReader(boom), 3, "", boom},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := io.ReadAll(ExactReader(c.r, c.size))
			switch {
			case string(got) != c.want:
				t.Errorf("read %q, want %q", got, c.want)
			case c.wantErr == nil && err != nil:
				t.Errorf("error %v, want none", err)
			case c.wantErr != nil && err == nil:
				t.Errorf("no error, want %v", c.wantErr)
			case c.wantErr != nil && c.wantErr != errAny && !errors.Is(err, c.wantErr):
				t.Errorf("error %v, want one wrapping %v", err, c.wantErr)
			}
		})
	}
}

var errAny = errors.New("any error")
