package maint

import (
	"fmt"
	"sort"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// WriteTextfile writes a run's figures to path in the Prometheus text format, for
// node_exporter's textfile collector, atomically (a temporary file renamed over path, as the
// collector requires):
//
//	ezdfsd_<command>_<figure>                      each of figures (rows, bytes, ...)
//	ezdfsd_<command>_findings{kind="..."}          each of findings (fsck)
//	ezdfsd_<command>_duration_seconds              the run's wall time
//	ezdfsd_<command>_exit_code                     the command's exit status
//	ezdfsd_<command>_last_run_timestamp_seconds    when the run ended
//	ezdfsd_<command>_last_success_timestamp_seconds when it ended, only if exitCode is 0
//	                                               (fsck: 0 or 1, both complete runs)
func WriteTextfile(path, command string, exitCode int, duration time.Duration, figures, findings map[string]float64) error {
	reg := prometheus.NewRegistry()
	gauge := func(name, help string, v float64) {
		g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "ezdfsd_" + command + "_" + name, Help: help})
		g.Set(v)
		reg.MustRegister(g)
	}
	names := make([]string, 0, len(figures))
	for k := range figures {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		gauge(k, fmt.Sprintf("ezdfsd %s: %s of the last run.", command, k), figures[k])
	}
	if findings != nil {
		fv := prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "ezdfsd_" + command + "_findings",
			Help: "ezdfsd " + command + ": findings of the last run, by kind.",
		}, []string{"kind"})
		for k, v := range findings {
			fv.WithLabelValues(k).Set(v)
		}
		reg.MustRegister(fv)
	}
	now := float64(time.Now().UnixNano()) / 1e9
	gauge("duration_seconds", "ezdfsd "+command+": wall time of the last run.", duration.Seconds())
	gauge("exit_code", "ezdfsd "+command+": exit status of the last run.", float64(exitCode))
	gauge("last_run_timestamp_seconds", "ezdfsd "+command+": when the last run ended.", now)
	if exitCode == 0 || command == "fsck" && exitCode == 1 {
		gauge("last_success_timestamp_seconds", "ezdfsd "+command+": when the last complete run ended.", now)
	}
	if err := prometheus.WriteToTextfile(path, reg); err != nil {
		return fmt.Errorf("metrics textfile: %w", err)
	}
	return nil
}
