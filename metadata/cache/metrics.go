package cache

import (
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ezdfsd/ezdfsd/internal/promreg"
)

// Lookup results, the values of the result label.
const (
	resultHit         = "hit"
	resultNegativeHit = "negative_hit"
	resultMiss        = "miss"
	resultStale       = "stale"
	resultError       = "error"
)

// tierCounters holds one tier's pre-resolved lookup counters, so the hit path does not look
// labels up.
type tierCounters struct {
	hit, negativeHit, miss, stale, err prometheus.Counter
}

// hitOf counts a fresh entry served from the tier: a hit, or a negative hit for a cached 404.
func (c tierCounters) hitOf(e Entry) {
	if e.Found {
		c.hit.Inc()
	} else {
		c.negativeHit.Inc()
	}
}

func newLookups() *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ezdfsd_metadata_lookups_total",
		Help: "Metadata lookups per cache tier and result (hit, negative_hit, miss, stale, error).",
	}, []string{"tier", "result"})
}

func newCoalesced() prometheus.Counter {
	return prometheus.NewCounter(prometheus.CounterOpts{
		Name: "ezdfsd_metadata_coalesced_total",
		Help: "Metadata lookups that waited for a concurrent lookup of the same key instead of asking the store.",
	})
}

func tierOf(v *prometheus.CounterVec, tier string) tierCounters {
	return tierCounters{
		hit:         v.WithLabelValues(tier, resultHit),
		negativeHit: v.WithLabelValues(tier, resultNegativeHit),
		miss:        v.WithLabelValues(tier, resultMiss),
		stale:       v.WithLabelValues(tier, resultStale),
		err:         v.WithLabelValues(tier, resultError),
	}
}

// mustRegister registers c on reg, sharing an equal collector already there (a Memory and a
// Memcached on one registry count into the same lookup series), for constructors that do not
// fail: a clash with a foreign collector of the same name is logged and the instance counts into
// its own, unregistered collector.
func mustRegister[C prometheus.Collector](reg prometheus.Registerer, logger *slog.Logger, c C) C {
	got, err := promreg.Shared(reg, c)
	if err != nil {
		logger.Warn("metadata cache: metric not registered", "err", err)
	}
	return got
}

// orDiscard returns logger, or a logger that drops everything when it is nil.
func orDiscard(logger *slog.Logger) *slog.Logger {
	if logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return logger
}
