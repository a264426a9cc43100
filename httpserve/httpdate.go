package httpserve

import (
	"net/http"
	"time"
)

// Three-letter names as http.TimeFormat spells them, indexed by time.Weekday and by
// time.Month-1.
const (
	dayNames   = "SunMonTueWedThuFriSat"
	monthNames = "JanFebMarAprMayJunJulAugSepOctNovDec"
)

// appendHTTPDate appends t in UTC as an IMF-fixdate (RFC 9110 §5.6.7), byte for byte what
// t.UTC().Format(http.TimeFormat) gives, without interpreting the layout or allocating. Years
// outside 1000..9999, which do not fill the four-digit field exactly, are left to
// time.AppendFormat.
func appendHTTPDate(b []byte, t time.Time) []byte {
	t = t.UTC()
	year, month, day := t.Date()
	if year < 1000 || year > 9999 {
		return t.AppendFormat(b, http.TimeFormat)
	}
	hour, minute, sec := t.Clock()
	wd := t.Weekday()
	b = append(b, dayNames[3*wd:3*wd+3]...)
	b = append(b, ", "...)
	b = append2Digits(b, day)
	b = append(b, ' ')
	b = append(b, monthNames[3*(month-1):3*month]...)
	b = append(b, ' ')
	b = append2Digits(b, year/100)
	b = append2Digits(b, year%100)
	b = append(b, ' ')
	b = append2Digits(b, hour)
	b = append(b, ':')
	b = append2Digits(b, minute)
	b = append(b, ':')
	b = append2Digits(b, sec)
	return append(b, " GMT"...)
}

// append2Digits appends n, 0 <= n < 100, as two decimal digits.
func append2Digits(b []byte, n int) []byte {
	return append(b, byte('0'+n/10), byte('0'+n%10))
}

// httpDateLen is the length of an IMF-fixdate with a four-digit year.
const httpDateLen = len(http.TimeFormat)

// expiresValue is the Expires header of the answers whose expiry instant falls in one second.
type expiresValue struct {
	sec   int64  // the expiry instant, in Unix seconds
	value []byte // appendHTTPDate of it; shared, never modified
}

// expiresAt returns the IMF-fixdate of t, which it formats once per second: every answer sent
// in the same second has the same Expires. The value depends on t's Unix second only (Unix
// rounds down like the formatted seconds field), so the last one is reused when the second
// matches, whatever clock the handler runs on. The result must not be modified.
func (h *Handler) expiresAt(t time.Time) []byte {
	sec := t.Unix()
	if e := h.expires.Load(); e != nil && e.sec == sec {
		return e.value
	}
	e := &expiresValue{sec: sec, value: appendHTTPDate(make([]byte, 0, httpDateLen), t)}
	h.expires.Store(e)
	return e.value
}
