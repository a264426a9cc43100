// Package promreg registers Prometheus collectors that several instances of a component may
// share: the metadata cache tiers, the SQL stores and the concurrency limiter each count into
// one series per registry, however many of them a process builds.
package promreg

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// Shared registers c on reg and returns it. When an equal collector (same descriptors) is
// already registered, that one is returned instead, so every instance counts into it. A nil
// reg registers nothing and returns c. On any other error, c is returned with the error.
func Shared[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	if reg == nil {
		return c, nil
	}
	err := reg.Register(c)
	if err == nil {
		return c, nil
	}
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(C); ok {
			return existing, nil
		}
	}
	return c, err
}
