package sqlstore

import (
	"database/sql"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/ezdfsd/ezdfsd/internal/promreg"
)

// Query results, the values of the result label of ezdfsd_db_queries_total.
const (
	resultFound    = "found"
	resultNotFound = "not_found"
	resultError    = "error"
)

// metrics is a Store's instrumentation; its zero value (nil fields) records nothing.
type metrics struct {
	reg      prometheus.Registerer
	queries  *prometheus.CounterVec
	duration prometheus.Histogram
	pool     prometheus.Collector
}

// newMetrics registers the query counter and histogram on reg (sharing them with an earlier
// Store on the same reg) and the pool collector for db under name. A nil reg records nothing.
func newMetrics(reg prometheus.Registerer, db *sql.DB, name string) (*metrics, error) {
	m := &metrics{reg: reg}
	if reg == nil {
		return m, nil
	}
	queries := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ezdfsd_db_queries_total",
		Help: "Metadata lookups answered by the SQL store, by result (found, not_found, error).",
	}, []string{"result"})
	queries, err := promreg.Shared(reg, queries)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: register metrics: %w", err)
	}
	duration := prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "ezdfsd_db_query_duration_seconds",
		Help:    "Time of metadata lookups in the SQL store, connection wait included.",
		Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
	})
	duration, err = promreg.Shared(reg, duration)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: register metrics: %w", err)
	}
	for _, r := range []string{resultFound, resultNotFound, resultError} {
		queries.WithLabelValues(r)
	}
	pool := collectors.NewDBStatsCollector(db, name)
	if err := reg.Register(pool); err != nil {
		return nil, fmt.Errorf("sqlstore: register pool metrics for db_name %q (use a distinct Config.MetricsName): %w", name, err)
	}
	m.queries, m.duration, m.pool = queries, duration, pool
	return m, nil
}

// observe records one lookup.
func (m *metrics) observe(result string, start time.Time) {
	if m.queries == nil {
		return
	}
	m.queries.WithLabelValues(result).Inc()
	m.duration.Observe(time.Since(start).Seconds())
}

// unregister removes the pool collector, which refers to a closed *sql.DB.
func (m *metrics) unregister() {
	if m.pool != nil {
		m.reg.Unregister(m.pool)
	}
}
