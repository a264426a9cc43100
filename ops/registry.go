package ops

import (
	"runtime"
	"runtime/debug"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// NewRegistry returns a fresh (non-global) registry holding the Go runtime
// collector, the process collector and the gauge ezdfsd_build_info{version,
// goversion} fixed at 1. version is the daemon's version string (set by the
// linker in main); when empty the module version from the binary's build info
// is used, or "unknown".
func NewRegistry(version string) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	info := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "ezdfsd_build_info",
		Help: "Always 1; labels carry the ezdfsd version and the Go version it was built with.",
	}, []string{"version", "goversion"})
	info.WithLabelValues(buildVersion(version), runtime.Version()).Set(1)
	reg.MustRegister(info)
	return reg
}

// buildVersion picks the version label: the given one, else the main module
// version recorded in the binary, else "unknown".
func buildVersion(version string) string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "unknown"
}
