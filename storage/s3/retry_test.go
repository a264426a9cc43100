package s3

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ezdfsd/ezdfsd/storage"
	"github.com/ezdfsd/ezdfsd/storage/storagetest"
)

// TestRetriesMatchSDK reads a range through a faulty endpoint with New's client and with one
// without New's savings (tuning{}), and requires the same attempts (counted, with the SDK's
// amz-sdk-request attempt header of each) and the same outcome: the savings must leave the
// retry policy as it is. (Throttling answers wait seconds between attempts; TestErrorMapping
// counts their retries.)
func TestRetriesMatchSDK(t *testing.T) {
	data := storagetest.Data(5, 10)
	reset := func(w http.ResponseWriter) { // close the connection without an answer
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
	}
	ok := func(w http.ResponseWriter) {
		w.Header().Set("Content-Range", "bytes 0-9/10")
		w.WriteHeader(http.StatusPartialContent)
		w.Write(data)
	}
	tests := []struct {
		name     string
		answer   func(attempt int, w http.ResponseWriter) // attempt counts from 1
		attempts int
		want     error // nil: success
	}{
		{"500", func(_ int, w http.ResponseWriter) { s3Error(w, 500, "InternalError") }, 3, storage.ErrUnavailable},
		{"503 bare", func(_ int, w http.ResponseWriter) { w.WriteHeader(503) }, 3, storage.ErrUnavailable},
		{"connection reset", func(_ int, w http.ResponseWriter) { reset(w) }, 3, storage.ErrUnavailable},
		{"500 then success", func(a int, w http.ResponseWriter) {
			if a == 1 {
				s3Error(w, 500, "InternalError")
				return
			}
			ok(w)
		}, 2, nil},
		{"reset then success", func(a int, w http.ResponseWriter) {
			if a == 1 {
				reset(w)
				return
			}
			ok(w)
		}, 2, nil},
		{"404 NoSuchKey", func(_ int, w http.ResponseWriter) { s3Error(w, 404, "NoSuchKey") }, 1, storage.ErrNotExist},
		{"403 AccessDenied", func(_ int, w http.ResponseWriter) { s3Error(w, 403, "AccessDenied") }, 1, storage.ErrUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var seen [2][]string
			for i, tun := range []tuning{{}, defaultTuning} {
				var mu sync.Mutex
				ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					mu.Lock()
					seen[i] = append(seen[i], r.Header.Get("Amz-Sdk-Request"))
					a := len(seen[i])
					mu.Unlock()
					tt.answer(a, w)
				}))
				s, err := newS3(context.Background(), Config{Bucket: "ezdfsd-retries", Endpoint: ts.URL, PathStyle: true,
					AccessKeyID: "k", SecretAccessKey: "s"}, prometheus.NewRegistry(), nil, tun)
				if err != nil {
					t.Fatal(err)
				}
				got, err := storagetest.ReadRange(context.Background(), s, "var/x.jpg", 0, 10)
				ts.Close()
				switch {
				case tt.want == nil && (err != nil || string(got) != string(data)):
					t.Errorf("tuning %+v: read %q, %v; want the data", tun, got, err)
				case tt.want != nil && !errors.Is(err, tt.want):
					t.Errorf("tuning %+v: error %v, want %v", tun, err, tt.want)
				}
				if len(seen[i]) != tt.attempts {
					t.Errorf("tuning %+v: %d attempts %q, want %d", tun, len(seen[i]), seen[i], tt.attempts)
				}
			}
			if !slices.Equal(seen[0], seen[1]) {
				t.Errorf("attempts differ: without savings %q, with %q", seen[0], seen[1])
			}
		})
	}
}
