package ops

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Readiness states reported by Readiness.Status and /readyz.
const (
	// StateStarting: no probe round has completed yet.
	StateStarting = "starting"
	// StateReady: the last round found every critical check healthy.
	StateReady = "ready"
	// StateNotReady: at least one critical check failed in the last round.
	StateNotReady = "not_ready"
	// StateStopping: SetStopping was called; final, whatever the checks say.
	StateStopping = "stopping"
)

// Default probe timing used when NewReadiness gets a zero or negative value.
const (
	DefaultProbeInterval = 5 * time.Second
	DefaultProbeTimeout  = 2 * time.Second
)

// Check is one dependency probe. Name labels it in /readyz and in
// ezdfsd_dependency_up{dependency}; it must be unique and non-empty. A failing
// Critical check makes the daemon not ready; a failing non-critical one is only
// reported. Probe must return nil when the dependency is usable and should
// honour ctx, which carries the probe timeout.
type Check struct {
	Name     string
	Critical bool
	Probe    func(ctx context.Context) error
}

// CheckResult is the outcome of a check's most recent probe.
type CheckResult struct {
	OK        bool    `json:"ok"`
	Critical  bool    `json:"critical"`
	LatencyMS float64 `json:"latency_ms"`
	// Error is the probe's error text with credentials removed by Redact.
	Error string `json:"error,omitempty"`
	// Checked is when the result was recorded (zero: never probed).
	Checked time.Time `json:"checked,omitzero"`
}

// Status is a consistent snapshot of the readiness state and check results.
type Status struct {
	State  string                 `json:"status"`
	Checks map[string]CheckResult `json:"checks"`
}

// Readiness is a state machine starting → ready ⇄ not_ready → stopping driven
// by periodic dependency probes. The state is mirrored in the gauge
// ezdfsd_ready (1 only in StateReady) and each check in
// ezdfsd_dependency_up{dependency} (1 healthy, 0 failing or not yet probed).
// All methods are safe for concurrent use.
type Readiness struct {
	checks   []Check
	interval time.Duration
	timeout  time.Duration
	logger   *slog.Logger

	readyGauge prometheus.Gauge
	upGauge    *prometheus.GaugeVec

	mu       sync.Mutex
	state    string
	results  map[string]CheckResult
	inflight map[string]bool
	readyCh  chan struct{} // closed the first time the state becomes ready
	stopCh   chan struct{} // closed by SetStopping
	stopOnce sync.Once
}

// NewReadiness returns a Readiness in StateStarting for the given checks.
// interval and timeout default to DefaultProbeInterval and
// DefaultProbeTimeout when not positive. Metrics are registered on reg (nil: no
// metrics; a registration failure is logged and metrics are skipped). logger
// nil discards. It panics when a check has an empty or duplicate name or a nil
// Probe: those are programming errors.
func NewReadiness(checks []Check, interval, timeout time.Duration, reg prometheus.Registerer, logger *slog.Logger) *Readiness {
	if interval <= 0 {
		interval = DefaultProbeInterval
	}
	if timeout <= 0 {
		timeout = DefaultProbeTimeout
	}
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	r := &Readiness{
		checks:   append([]Check(nil), checks...),
		interval: interval,
		timeout:  timeout,
		logger:   logger,
		state:    StateStarting,
		results:  make(map[string]CheckResult, len(checks)),
		inflight: make(map[string]bool, len(checks)),
		readyCh:  make(chan struct{}),
		stopCh:   make(chan struct{}),
	}
	for _, c := range r.checks {
		if c.Name == "" || c.Probe == nil {
			panic(fmt.Sprintf("ops.NewReadiness: check %q needs a name and a Probe", c.Name))
		}
		if _, dup := r.results[c.Name]; dup {
			panic(fmt.Sprintf("ops.NewReadiness: duplicate check name %q", c.Name))
		}
		r.results[c.Name] = CheckResult{Critical: c.Critical}
	}
	r.registerMetrics(reg)
	return r
}

// registerMetrics creates and registers the gauges; on failure it logs and
// leaves them nil (no metrics).
func (r *Readiness) registerMetrics(reg prometheus.Registerer) {
	if reg == nil {
		return
	}
	ready := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "ezdfsd_ready",
		Help: "1 when the daemon is ready to serve (all critical dependencies up, not stopping), else 0.",
	})
	up := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "ezdfsd_dependency_up",
		Help: "1 when the dependency's last readiness probe succeeded, else 0.",
	}, []string{"dependency"})
	if err := reg.Register(ready); err != nil {
		r.logger.Warn("readiness metrics not registered", "metric", "ezdfsd_ready", "err", err)
		return
	}
	if err := reg.Register(up); err != nil {
		reg.Unregister(ready)
		r.logger.Warn("readiness metrics not registered", "metric", "ezdfsd_dependency_up", "err", err)
		return
	}
	for _, c := range r.checks {
		up.WithLabelValues(c.Name).Set(0)
	}
	r.readyGauge, r.upGauge = ready, up
}

// Run probes every check at once, then every interval, until ctx is done or
// SetStopping is called. Each probe is bounded by the timeout; a probe that
// ignores its context is reported as failed and not started again until it
// returns.
func (r *Readiness) Run(ctx context.Context) {
	t := time.NewTicker(r.interval)
	defer t.Stop()
	for {
		r.Probe(ctx)
		select {
		case <-ctx.Done():
			return
		case <-r.stopCh:
			return
		case <-t.C:
		}
	}
}

// Probe runs one round of all checks concurrently, records the results and
// recomputes the state, and returns the resulting Status. Run calls it; it is
// exported so a caller can do a synchronous first round before announcing
// readiness.
func (r *Readiness) Probe(ctx context.Context) Status {
	var wg sync.WaitGroup
	for _, c := range r.checks {
		r.mu.Lock()
		busy := r.inflight[c.Name]
		r.inflight[c.Name] = true
		r.mu.Unlock()
		if busy {
			r.record(c, 0, errors.New("previous probe still running"))
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.probeOne(ctx, c)
		}()
	}
	wg.Wait()
	r.mu.Lock()
	r.updateStateLocked()
	st := r.statusLocked()
	r.mu.Unlock()
	return st
}

// probeOne runs one check bounded by the timeout. The probe itself runs in its
// own goroutine so that a probe ignoring ctx cannot stall the round; the
// caller has marked the check in flight, and that goroutine clears the mark.
func (r *Readiness) probeOne(ctx context.Context, c Check) {
	pctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	done := make(chan error, 1)
	start := time.Now()
	go func() {
		err := safeProbe(pctx, c.Probe)
		r.mu.Lock()
		r.inflight[c.Name] = false
		r.mu.Unlock()
		done <- err
	}()
	var err error
	select {
	case err = <-done:
		if err == nil && pctx.Err() != nil {
			// Answered only after the deadline: treat as a timeout.
			err = fmt.Errorf("probe answered after %s: %w", r.timeout, pctx.Err())
		}
	case <-pctx.Done():
		err = fmt.Errorf("probe timed out after %s: %w", r.timeout, pctx.Err())
	}
	r.record(c, time.Since(start), err)
}

// safeProbe calls p, turning a panic into an error.
func safeProbe(ctx context.Context, p func(context.Context) error) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("probe panicked: %v", v)
		}
	}()
	return p(ctx)
}

// record stores a check result, updates its gauge and logs each change once: a check that
// starts failing, a failing check whose reason changes (say, from "table X does not exist" to
// "table X lacks the column(s) ..."), and a recovery. A failure repeated with the same reason
// on every round is not logged again.
func (r *Readiness) record(c Check, latency time.Duration, err error) {
	res := CheckResult{
		OK:        err == nil,
		Critical:  c.Critical,
		LatencyMS: float64(latency.Microseconds()) / 1000,
		Checked:   time.Now(),
	}
	if err != nil {
		res.Error = Redact(err.Error())
	}
	r.mu.Lock()
	prev := r.results[c.Name]
	r.results[c.Name] = res
	r.mu.Unlock()
	if r.upGauge != nil {
		r.upGauge.WithLabelValues(c.Name).Set(boolFloat(res.OK))
	}
	switch {
	case !res.OK && (prev.OK || prev.Checked.IsZero()):
		r.logger.Warn("dependency check failing", "dependency", c.Name, "critical", c.Critical, "err", res.Error)
	case !res.OK && res.Error != prev.Error:
		r.logger.Warn("dependency check still failing, for another reason", "dependency", c.Name, "critical", c.Critical, "err", res.Error)
	case res.OK && !prev.OK && !prev.Checked.IsZero():
		r.logger.Info("dependency check recovered", "dependency", c.Name)
	}
}

// updateStateLocked derives the state from the results; r.mu must be held.
func (r *Readiness) updateStateLocked() {
	if r.state == StateStopping {
		return
	}
	next := StateReady
	var failed []string
	for _, c := range r.checks {
		if res := r.results[c.Name]; c.Critical && !res.OK {
			next = StateNotReady
			failed = append(failed, c.Name)
		}
	}
	if next == r.state {
		return
	}
	prev := r.state
	r.state = next
	if next == StateReady {
		select {
		case <-r.readyCh:
		default:
			close(r.readyCh)
		}
	}
	r.setReadyGauge(next == StateReady)
	r.logger.Info("readiness changed", "from", prev, "to", next, "failed", failed)
}

// SetStopping moves to StateStopping for good: /readyz answers 503
// {"status":"stopping"} so load balancers drain the instance, and Run returns.
func (r *Readiness) SetStopping() {
	r.mu.Lock()
	prev := r.state
	r.state = StateStopping
	r.setReadyGauge(false)
	r.mu.Unlock()
	r.stopOnce.Do(func() {
		close(r.stopCh)
		r.logger.Info("readiness changed", "from", prev, "to", StateStopping)
	})
}

// Ready reports whether the current state is StateReady.
func (r *Readiness) Ready() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.state == StateReady
}

// WaitReady blocks until the state first becomes ready (nil), or returns an
// error when ctx is done or SetStopping was called first. Use it to send the
// systemd READY=1 notification.
func (r *Readiness) WaitReady(ctx context.Context) error {
	select {
	case <-r.readyCh:
		return nil
	default:
	}
	select {
	case <-r.readyCh:
		return nil
	case <-r.stopCh:
		select {
		case <-r.readyCh: // became ready, then stopping
			return nil
		default:
			return errors.New("readiness: stopping before becoming ready")
		}
	case <-ctx.Done():
		return fmt.Errorf("readiness: waiting for ready: %w", ctx.Err())
	}
}

// Status returns a snapshot of the state and of every check's last result.
func (r *Readiness) Status() Status {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.statusLocked()
}

// statusLocked copies the state; r.mu must be held.
func (r *Readiness) statusLocked() Status {
	st := Status{State: r.state, Checks: make(map[string]CheckResult, len(r.results))}
	for k, v := range r.results {
		st.Checks[k] = v
	}
	return st
}

// Failed lists the names of failing checks in the snapshot, sorted.
func (s Status) Failed() []string {
	var out []string
	for name, res := range s.Checks {
		if !res.OK {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

func (r *Readiness) setReadyGauge(ready bool) {
	if r.readyGauge != nil {
		r.readyGauge.Set(boolFloat(ready))
	}
}

func boolFloat(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
