package ops

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// MuxOption adjusts NewMux.
type MuxOption func(*muxConfig)

type muxConfig struct {
	pprof bool
}

// WithPprof mounts net/http/pprof under /debug/pprof/ when enabled is true.
// Profiles expose internals and cost CPU: only enable it on a listener that is
// not reachable from the outside.
func WithPprof(enabled bool) MuxOption {
	return func(c *muxConfig) { c.pprof = enabled }
}

// NewMux returns the operations handler for the metrics listener:
//
//   - GET /metrics: the registry in Prometheus text or OpenMetrics format
//     (content negotiation), plus promhttp_metric_handler_* series about the
//     scrapes themselves. Absent when reg is nil.
//   - GET /healthz: 200 "ok" as long as the process can answer (liveness).
//   - GET /readyz: 200 when readiness is ready, else 503, with a JSON body
//     {"status":"ready|not_ready|starting|stopping","checks":{name:{"ok":..,
//     "critical":..,"latency_ms":..,"error":".."}}}. A nil readiness always
//     answers 200 {"status":"ready","checks":{}}.
//   - /debug/pprof/*: only with WithPprof(true).
//
// HEAD is accepted wherever GET is; other methods get 405. Responses carry
// Cache-Control: no-store. logger (nil: discard) receives metric encoding
// errors.
func NewMux(reg *prometheus.Registry, readiness *Readiness, logger *slog.Logger, opts ...MuxOption) http.Handler {
	var cfg muxConfig
	for _, o := range opts {
		o(&cfg)
	}
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	mux := http.NewServeMux()
	if reg != nil {
		metrics := promhttp.HandlerFor(reg, promhttp.HandlerOpts{
			EnableOpenMetrics: true,
			ErrorLog:          slogPrinter{logger},
			Registry:          reg,
		})
		mux.Handle("GET /metrics", promhttp.InstrumentMetricHandler(reg, metrics))
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		st := Status{State: StateReady, Checks: map[string]CheckResult{}}
		if readiness != nil {
			st = readiness.Status()
		}
		code := http.StatusOK
		if st.State != StateReady {
			code = http.StatusServiceUnavailable
		}
		body, err := json.Marshal(st)
		if err != nil { // cannot happen with these types; answer anyway
			logger.Error("encoding readiness status", "err", err)
			body = []byte(`{"status":"` + st.State + `"}`)
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(code)
		_, _ = w.Write(append(body, '\n'))
	})
	if cfg.pprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	return mux
}

// slogPrinter adapts a slog.Logger to promhttp's Logger interface.
type slogPrinter struct{ l *slog.Logger }

func (p slogPrinter) Println(v ...any) {
	p.l.Error("serving metrics", "err", strings.TrimSpace(fmt.Sprintln(v...)))
}
