package ops

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// switchProbe is a probe whose answer the test flips.
type switchProbe struct {
	mu  sync.Mutex
	err error
}

func (p *switchProbe) set(err error) { p.mu.Lock(); p.err = err; p.mu.Unlock() }
func (p *switchProbe) probe(context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// readyzBody is /readyz decoded.
type readyzBody struct {
	Status string `json:"status"`
	Checks map[string]struct {
		OK        bool    `json:"ok"`
		Critical  bool    `json:"critical"`
		LatencyMS float64 `json:"latency_ms"`
		Error     string  `json:"error"`
	} `json:"checks"`
}

func getReadyz(t *testing.T, h http.Handler) (int, readyzBody, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
	var b readyzBody
	if err := json.Unmarshal(rec.Body.Bytes(), &b); err != nil {
		t.Fatalf("/readyz body %q: %v", rec.Body.String(), err)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("/readyz Content-Type = %q", ct)
	}
	return rec.Code, b, rec.Body.String()
}

func TestReadinessTransitions(t *testing.T) {
	mysql, s3, memc := &switchProbe{}, &switchProbe{}, &switchProbe{}
	reg := prometheus.NewRegistry()
	r := NewReadiness([]Check{
		{Name: "mysql", Critical: true, Probe: mysql.probe},
		{Name: "s3", Critical: true, Probe: s3.probe},
		{Name: "memcached", Critical: false, Probe: memc.probe},
	}, time.Hour, time.Second, reg, nil)
	h := NewMux(reg, r, nil)

	code, body, _ := getReadyz(t, h)
	if code != http.StatusServiceUnavailable || body.Status != StateStarting {
		t.Fatalf("before first probe: %d %q, want 503 starting", code, body.Status)
	}

	type step struct {
		name                  string
		mysql, s3, memc       error
		stop                  bool
		wantCode              int
		wantState             string
		wantFailed            []string // checks with ok=false in the body
		wantErrSubstr         string   // in the failed checks' error text
		wantReadyGauge        float64
		wantMySQLUp, wantS3Up float64
	}
	steps := []step{
		{name: "all up", wantCode: 200, wantState: StateReady, wantReadyGauge: 1, wantMySQLUp: 1, wantS3Up: 1},
		{name: "mysql down", mysql: errors.New("dial tcp 127.0.0.1:13306: connection refused"),
			wantCode: 503, wantState: StateNotReady, wantFailed: []string{"mysql"}, wantErrSubstr: "connection refused",
			wantReadyGauge: 0, wantMySQLUp: 0, wantS3Up: 1},
		{name: "mysql recovers", wantCode: 200, wantState: StateReady, wantReadyGauge: 1, wantMySQLUp: 1, wantS3Up: 1},
		{name: "non-critical memcached down stays ready", memc: errors.New("memcache: no servers"),
			wantCode: 200, wantState: StateReady, wantFailed: []string{"memcached"}, wantErrSubstr: "no servers",
			wantReadyGauge: 1, wantMySQLUp: 1, wantS3Up: 1},
		{name: "s3 down", s3: errors.New("s3: 503 SlowDown"),
			wantCode: 503, wantState: StateNotReady, wantFailed: []string{"s3"}, wantErrSubstr: "SlowDown",
			wantReadyGauge: 0, wantMySQLUp: 1, wantS3Up: 0},
		{name: "both down", mysql: errors.New("x"), s3: errors.New("y"),
			wantCode: 503, wantState: StateNotReady, wantFailed: []string{"mysql", "s3"},
			wantReadyGauge: 0, wantMySQLUp: 0, wantS3Up: 0},
		{name: "stopping wins over healthy checks", stop: true,
			wantCode: 503, wantState: StateStopping, wantReadyGauge: 0, wantMySQLUp: 1, wantS3Up: 1},
		{name: "still stopping after a later round", wantCode: 503, wantState: StateStopping,
			wantReadyGauge: 0, wantMySQLUp: 1, wantS3Up: 1},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			mysql.set(s.mysql)
			s3.set(s.s3)
			memc.set(s.memc)
			if s.stop {
				r.SetStopping()
			}
			r.Probe(context.Background())
			code, body, raw := getReadyz(t, h)
			if code != s.wantCode || body.Status != s.wantState {
				t.Fatalf("/readyz = %d %q, want %d %q; body %s", code, body.Status, s.wantCode, s.wantState, raw)
			}
			if got := r.Ready(); got != (s.wantState == StateReady) {
				t.Errorf("Ready() = %v in state %s", got, s.wantState)
			}
			var failed []string
			for _, name := range []string{"memcached", "mysql", "s3"} {
				c, ok := body.Checks[name]
				if !ok {
					t.Fatalf("check %q missing from %s", name, raw)
				}
				if !c.OK {
					failed = append(failed, name)
					if !strings.Contains(c.Error, s.wantErrSubstr) || c.Error == "" {
						t.Errorf("check %s error %q, want it to mention %q", name, c.Error, s.wantErrSubstr)
					}
				}
			}
			if strings.Join(failed, ",") != strings.Join(s.wantFailed, ",") {
				t.Errorf("failed checks %v, want %v", failed, s.wantFailed)
			}
			if !body.Checks["mysql"].Critical || body.Checks["memcached"].Critical {
				t.Errorf("critical flags wrong: %s", raw)
			}
			if g := testutil.ToFloat64(r.readyGauge); g != s.wantReadyGauge {
				t.Errorf("ezdfsd_ready = %v, want %v", g, s.wantReadyGauge)
			}
			if g := testutil.ToFloat64(r.upGauge.WithLabelValues("mysql")); g != s.wantMySQLUp {
				t.Errorf("ezdfsd_dependency_up{mysql} = %v, want %v", g, s.wantMySQLUp)
			}
			if g := testutil.ToFloat64(r.upGauge.WithLabelValues("s3")); g != s.wantS3Up {
				t.Errorf("ezdfsd_dependency_up{s3} = %v, want %v", g, s.wantS3Up)
			}
		})
	}
}

func TestReadinessNoChecksBecomesReady(t *testing.T) {
	r := NewReadiness(nil, 0, 0, nil, nil)
	if r.Ready() {
		t.Fatal("ready before any round")
	}
	if st := r.Probe(context.Background()); st.State != StateReady {
		t.Fatalf("state %q after a round without checks, want ready", st.State)
	}
}

func TestReadinessProbeTimeout(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	stuck := func(context.Context) error { <-release; return nil } // ignores ctx on purpose
	slow := func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }
	r := NewReadiness([]Check{
		{Name: "stuck", Critical: true, Probe: stuck},
		{Name: "slow", Critical: false, Probe: slow},
	}, time.Hour, 20*time.Millisecond, nil, nil)

	st := r.Probe(context.Background())
	if st.State != StateNotReady {
		t.Fatalf("state %q, want not_ready", st.State)
	}
	for _, name := range []string{"stuck", "slow"} {
		if res := st.Checks[name]; res.OK || !strings.Contains(res.Error, "timed out") {
			t.Errorf("%s: %+v, want a timeout failure", name, res)
		}
	}
	// The stuck probe is still running: the next round must not pile up another one.
	st = r.Probe(context.Background())
	if res := st.Checks["stuck"]; res.OK || !strings.Contains(res.Error, "still running") {
		t.Errorf("second round stuck: %+v, want 'previous probe still running'", res)
	}
}

func TestReadinessPanickingProbe(t *testing.T) {
	r := NewReadiness([]Check{{Name: "bad", Critical: true, Probe: func(context.Context) error { panic("boom") }}},
		time.Hour, time.Second, nil, nil)
	st := r.Probe(context.Background())
	if res := st.Checks["bad"]; res.OK || !strings.Contains(res.Error, "boom") {
		t.Fatalf("got %+v, want failure mentioning the panic", res)
	}
}

func TestReadinessRedactsErrors(t *testing.T) {
	r := NewReadiness([]Check{{Name: "mysql", Critical: true, Probe: func(context.Context) error {
		return errors.New("connect ezp:s3cr3t@tcp(db:3306)/ezp: refused")
	}}}, time.Hour, time.Second, nil, nil)
	r.Probe(context.Background())
	_, _, raw := getReadyz(t, NewMux(nil, r, nil))
	if strings.Contains(raw, "s3cr3t") || !strings.Contains(raw, "ezp:***@tcp(db:3306)") {
		t.Fatalf("/readyz leaks or mangles the DSN: %s", raw)
	}
}

func TestReadinessRunAndWaitReady(t *testing.T) {
	p := &switchProbe{err: errors.New("not yet")}
	r := NewReadiness([]Check{{Name: "mysql", Critical: true, Probe: p.probe}}, 5*time.Millisecond, time.Second, nil, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	runDone := make(chan struct{})
	go func() { r.Run(ctx); close(runDone) }()

	wctx, wcancel := context.WithTimeout(ctx, 20*time.Millisecond)
	if err := r.WaitReady(wctx); err == nil {
		t.Fatal("WaitReady returned nil while the check fails")
	}
	wcancel()
	p.set(nil)
	wctx, wcancel = context.WithTimeout(ctx, 10*time.Second)
	defer wcancel()
	if err := r.WaitReady(wctx); err != nil {
		t.Fatalf("WaitReady after recovery: %v", err)
	}
	r.SetStopping()
	select {
	case <-runDone:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after SetStopping")
	}
	if err := r.WaitReady(context.Background()); err != nil {
		t.Fatalf("WaitReady after having been ready: %v (want nil: it reports the first ready)", err)
	}
}

func TestReadinessStoppingBeforeReady(t *testing.T) {
	r := NewReadiness(nil, time.Hour, time.Second, nil, nil)
	r.SetStopping()
	r.SetStopping() // idempotent
	if err := r.WaitReady(context.Background()); err == nil {
		t.Fatal("WaitReady = nil after stopping without ever being ready")
	}
	if st := r.Probe(context.Background()); st.State != StateStopping {
		t.Fatalf("state %q, want stopping", st.State)
	}
}

func TestNewReadinessRejectsBadChecks(t *testing.T) {
	ok := func(context.Context) error { return nil }
	for _, tc := range []struct {
		name   string
		checks []Check
	}{
		{"empty name", []Check{{Name: "", Probe: ok}}},
		{"nil probe", []Check{{Name: "x"}}},
		{"duplicate", []Check{{Name: "x", Probe: ok}, {Name: "x", Probe: ok}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Fatal("no panic")
				}
			}()
			NewReadiness(tc.checks, 0, 0, nil, nil)
		})
	}
}

func TestReadinessDuplicateRegistrationDoesNotPanic(t *testing.T) {
	reg := prometheus.NewRegistry()
	NewReadiness(nil, 0, 0, reg, nil)
	r := NewReadiness(nil, 0, 0, reg, nil) // same metric names again
	if r.readyGauge != nil {
		t.Fatal("second Readiness claims metrics it could not register")
	}
	r.Probe(context.Background())
}

// TestReadinessLogsEachReasonOnce: a failure repeated on every round is logged once; a new
// reason while still failing is logged once more, with the new reason; the recovery once; and
// /readyz carries the current reason.
func TestReadinessLogsEachReasonOnce(t *testing.T) {
	db := &switchProbe{}
	var logs syncBuffer
	r := NewReadiness([]Check{{Name: "metadata_mysql", Critical: true, Probe: db.probe}}, time.Hour, time.Second, nil,
		slog.New(slog.NewTextHandler(&logs, nil)))
	h := NewMux(nil, r, nil)
	ctx := context.Background()
	missing := errors.New("table ezdfsfile_cache does not exist in database ezp")
	lacks := errors.New("table ezdfsfile_cache in database ezp lacks the column(s) expired that ezdfsd reads")
	for _, step := range []struct {
		err  error
		want int // log lines naming the check so far
	}{{nil, 0}, {missing, 1}, {missing, 1}, {missing, 1}, {lacks, 2}, {lacks, 2}, {nil, 3}, {nil, 3}} {
		db.set(step.err)
		r.Probe(ctx)
		if got := strings.Count(logs.String(), "dependency=metadata_mysql"); got != step.want {
			t.Fatalf("after probing %v: %d log lines about the check, want %d:\n%s", step.err, got, step.want, logs.String())
		}
		code, body, raw := getReadyz(t, h)
		if step.err != nil && (code != http.StatusServiceUnavailable || body.Checks["metadata_mysql"].Error != step.err.Error()) {
			t.Errorf("/readyz while failing with %q: %d %s", step.err, code, raw)
		}
	}
	for _, want := range []string{"dependency check failing", "err=\"" + missing.Error(), "still failing, for another reason", "err=\"" + lacks.Error(), "dependency check recovered"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, logs.String())
		}
	}
}

// syncBuffer is a bytes.Buffer safe for the probes' goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
