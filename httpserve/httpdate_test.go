package httpserve

import (
	"math"
	"math/rand/v2"
	"net/http"
	"testing"
	"time"
)

// httpDateEdges are Unix seconds where a date formatter can go wrong: the epoch and around
// it, leap days, century years, the four-digit year boundaries and beyond.
var httpDateEdges = []int64{
	0, -1, 1, 59, 60, 86399, 86400, -86400, -86401,
	1700000000,     // the fixture's mtime
	951782400,      // 2000-02-29, a leap day of a year divisible by 400
	951868799,      // 2000-02-29 23:59:59
	-2203977600,    // 1900-03-01: 1900 is not a leap year
	4107456000,     // 2100-02-28
	4107542400,     // 2100-03-01
	2147483647,     // the 32-bit rollover
	-30610224000,   // 1000-01-01 00:00:00, the first four-digit year
	-30610224001,   // 0999-12-31 23:59:59, time.Format's zero-padded year
	-62135596800,   // 0001-01-01
	-62135596801,   // year 0
	-62167219201,   // year -1
	253402300799,   // 9999-12-31 23:59:59
	253402300800,   // 10000-01-01, a five-digit year
	1 << 40,        // far future
	-1 << 40,       // far past
	math.MaxInt64,  // what time.Unix makes of these is odd, but must format alike
	math.MinInt64,  //
	math.MaxInt32,  //
	-math.MaxInt32, //
}

// TestAppendHTTPDate: appendHTTPDate gives exactly what time.Format(http.TimeFormat) gives, for
// the edge cases and for random instants in and outside the four-digit years, in any location
// and with any nanoseconds.
func TestAppendHTTPDate(t *testing.T) {
	check := func(tm time.Time) {
		t.Helper()
		want := tm.UTC().Format(http.TimeFormat)
		if got := string(appendHTTPDate(nil, tm)); got != want {
			t.Fatalf("appendHTTPDate(%d.%09d) = %q, want %q", tm.Unix(), tm.Nanosecond(), got, want)
		}
		if got := string(appendHTTPDate([]byte("x"), tm)); got != "x"+want {
			t.Fatalf("appending to %q gave %q", "x", got)
		}
	}
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		paris = time.FixedZone("CET", 3600)
	}
	for _, s := range httpDateEdges {
		for _, ns := range []int64{0, 1, 999999999} {
			check(time.Unix(s, ns))
			check(time.Unix(s, ns).In(paris))
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 100000 {
		check(time.Unix(r.Int64N(253402300800+30610224000)-30610224000, r.Int64N(1e9))) // years 1000..9999
		check(time.Unix(r.Int64N(4102444800), 0))                                       // 1970..2099
		check(time.Unix(int64(r.Uint64()), r.Int64N(1e9)).In(paris))                    // anything
	}
}

// TestExpiresAt: the per-second Expires cache returns what formatting each instant gives,
// whether the clock moves forward, backward, within one second or across seconds.
func TestExpiresAt(t *testing.T) {
	h := &Handler{}
	r := rand.New(rand.NewPCG(3, 4))
	base := time.Unix(1700000000, 0)
	for i := range 20000 {
		var tm time.Time
		switch i % 4 {
		case 0:
			tm = base.Add(time.Duration(r.Int64N(int64(3 * time.Second)))) // a few seconds, often the same one
		case 1:
			tm = base.Add(-time.Duration(r.Int64N(int64(3 * time.Second))))
		case 2:
			tm = time.Unix(httpDateEdges[r.IntN(len(httpDateEdges))], r.Int64N(1e9))
		default:
			tm = time.Unix(int64(r.Uint64()), r.Int64N(1e9))
		}
		if got, want := string(h.expiresAt(tm)), tm.UTC().Format(http.TimeFormat); got != want {
			t.Fatalf("expiresAt(%d.%09d) = %q, want %q", tm.Unix(), tm.Nanosecond(), got, want)
		}
	}
}

// BenchmarkHTTPDate compares the Last-Modified and Expires formatting before (time.Format)
// and after (appendHTTPDate, expiresAt).
func BenchmarkHTTPDate(b *testing.B) {
	tm := time.Unix(1700000000, 0)
	b.Run("Format", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = tm.UTC().Format(http.TimeFormat)
		}
	})
	b.Run("appendHTTPDate", func(b *testing.B) {
		b.ReportAllocs()
		var buf [httpDateLen]byte
		for b.Loop() {
			_ = appendHTTPDate(buf[:0], tm)
		}
	})
	b.Run("expiresAt", func(b *testing.B) {
		b.ReportAllocs()
		h := &Handler{}
		for b.Loop() {
			_ = h.expiresAt(tm)
		}
	})
}
