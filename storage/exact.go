package storage

import (
	"fmt"
	"io"
)

// ExactReader returns a reader yielding exactly size bytes of r, for the Put of a backend: it
// ends with an error wrapping io.ErrUnexpectedEOF when r has fewer bytes, and with an error
// when r has more (checked by reading one byte past size). r's own read errors are returned
// wrapped.
func ExactReader(r io.Reader, size int64) io.Reader {
	return &exactReader{r: r, left: size, size: size}
}

type exactReader struct {
	r    io.Reader
	left int64
	size int64
}

func (e *exactReader) Read(p []byte) (int, error) {
	if e.left <= 0 {
		var one [1]byte
		n, err := io.ReadFull(e.r, one[:])
		if n > 0 {
			return 0, fmt.Errorf("source longer than the announced %d bytes", e.size)
		}
		if err != nil && err != io.EOF {
			return 0, fmt.Errorf("read source: %w", err)
		}
		return 0, io.EOF
	}
	if int64(len(p)) > e.left {
		p = p[:e.left]
	}
	n, err := e.r.Read(p)
	e.left -= int64(n)
	switch {
	case err == io.EOF && e.left > 0:
		return n, fmt.Errorf("source gave %d of %d bytes: %w", e.size-e.left, e.size, io.ErrUnexpectedEOF)
	case err == io.EOF:
		return n, nil // the next Read checks that nothing follows
	case err != nil:
		return n, fmt.Errorf("read source: %w", err)
	}
	return n, nil
}
