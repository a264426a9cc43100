package httpserve

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ezdfsd/ezdfsd/dfs"
)

// Backend label values: bounded, never a path.
const (
	labelMountPoint = "mountpoint"
	labelS3         = "s3"
	labelOther      = "other" // a custom backend class name
	labelNone       = "none"  // the request never got as far as choosing a backend
)

// Storage event label values of ezdfsd_storage_events_total.
const (
	eventNFSRetry      = "nfs_retry"      // a missing or short file was opened again (NFS lag)
	eventMissingFile   = "missing_file"   // row present, bytes absent after the retries: 404
	eventShortFile     = "short_file"     // file shorter than the row after the retries: 503, or cut mid-body
	eventLongFile      = "long_file"      // file longer than the row: the row's size is served
	eventStorageError  = "storage_error"  // backend unavailable or failing: 503, or aborted mid-body
	eventMetadataError = "metadata_error" // metadata store unavailable: 503
	eventClientGone    = "client_gone"    // the client closed the connection during the body
)

var storageEvents = []string{
	eventNFSRetry, eventMissingFile, eventShortFile, eventLongFile, eventStorageError, eventMetadataError,
	eventClientGone,
}

// codes is every status the handler emits; anything else is reported as "other".
var codes = [...]int{200, 206, 304, 404, 405, 412, 416, 500, 503}

// backendLabels is every backend label value, in backendIndex order.
var backendLabels = [...]string{labelNone, labelMountPoint, labelS3, labelOther}

func backendLabel(class string) string {
	switch class {
	case dfs.MountPointBackend:
		return labelMountPoint
	case dfs.S3Backend:
		return labelS3
	default:
		return labelOther
	}
}

func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead:
		return m
	default:
		return "other"
	}
}

func codeLabel(code int) string {
	for _, c := range codes {
		if c == code {
			return strconv.Itoa(code)
		}
	}
	return "other"
}

func codeClass(code int) string {
	if code < 100 || code > 599 {
		return "other"
	}
	return strconv.Itoa(code/100) + "xx"
}

// codeIndex is code's index in codes, len(codes) for the "other" codes: one per codeLabel.
func codeIndex(code int) int {
	for i, c := range codes {
		if c == code {
			return i
		}
	}
	return len(codes)
}

// classIndex is 1..5 for the codes 1xx..5xx, 0 for the rest: one per codeClass.
func classIndex(code int) int {
	if code < 100 || code > 599 {
		return 0
	}
	return code / 100
}

// methodIndex is 0 for GET, 1 for HEAD and 2 for the rest: one per methodLabel.
func methodIndex(m string) int {
	switch m {
	case http.MethodGet:
		return 0
	case http.MethodHead:
		return 1
	default:
		return 2
	}
}

// backendIndex is label's index in backendLabels, or -1.
func backendIndex(label string) int {
	for i, l := range backendLabels {
		if l == label {
			return i
		}
	}
	return -1
}

// metrics holds the handler's collectors. A nil *metrics records nothing.
type metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	bytes    *prometheus.CounterVec
	inFlight prometheus.Gauge
	events   *prometheus.CounterVec

	children children
}

// children holds the children of requests, duration and bytes that done records into, by
// codeIndex, backendIndex, methodIndex and classIndex, so that a request costs no label
// hashing. Each is resolved with WithLabelValues when first used: a series still appears
// only once something was recorded in it.
type children struct {
	requests [len(codes) + 1][len(backendLabels)][3]atomic.Pointer[prometheus.Counter]
	duration [6][len(backendLabels)]atomic.Pointer[prometheus.Observer]
	bytes    [len(backendLabels)]atomic.Pointer[prometheus.Counter]
}

// child returns the metric in slot, storing what resolve returns on first use. Two first uses
// at once may both resolve: a vector returns the same child for the same label values.
func child[T any](slot *atomic.Pointer[T], resolve func() T) T {
	if p := slot.Load(); p != nil {
		return *p
	}
	v := resolve()
	slot.Store(&v)
	return v
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	if reg == nil {
		return nil, nil
	}
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ezdfsd_http_requests_total",
			Help: "HTTP requests answered, by status code, storage backend and method (GET, HEAD, other).",
		}, []string{"code", "backend", "method"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "ezdfsd_http_request_duration_seconds",
			Help:    "Time from request start to the end of the response body, by status class and backend.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"code", "backend"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ezdfsd_http_response_bytes_total",
			Help: "Response body bytes written (file bytes, multipart framing and error pages), by backend.",
		}, []string{"backend"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "ezdfsd_http_requests_in_flight",
			Help: "Requests being served right now.",
		}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ezdfsd_storage_events_total",
			Help: "Notable storage and metadata outcomes: " + strings.Join(storageEvents, ", ") + ".",
		}, []string{"event"}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.duration, m.bytes, m.inFlight, m.events} {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if errors.As(err, &are) {
				return nil, fmt.Errorf("httpserve metrics: already registered (one Handler per registry): %w", err)
			}
			return nil, fmt.Errorf("httpserve metrics: %w", err)
		}
	}
	for _, e := range storageEvents {
		m.events.WithLabelValues(e)
	}
	return m, nil
}

func (m *metrics) event(name string) {
	if m != nil {
		m.events.WithLabelValues(name).Inc()
	}
}

func (m *metrics) start() {
	if m != nil {
		m.inFlight.Inc()
	}
}

func (m *metrics) done(code int, backend, method string, bytes int64, seconds float64) {
	if m == nil {
		return
	}
	if b := backendIndex(backend); b >= 0 {
		m.record(code, b, method, bytes, seconds)
	} else { // not a label this package sets: no cached children
		m.requests.WithLabelValues(codeLabel(code), backend, methodLabel(method)).Inc()
		m.duration.WithLabelValues(codeClass(code), backend).Observe(seconds)
		if bytes > 0 {
			m.bytes.WithLabelValues(backend).Add(float64(bytes))
		}
	}
	// Last, so that in_flight 0 means every finished request is counted.
	m.inFlight.Dec()
}

// record counts a finished request in the cached children for backendLabels[b].
func (m *metrics) record(code, b int, method string, bytes int64, seconds float64) {
	backend := backendLabels[b]
	c := &m.children
	child(&c.requests[codeIndex(code)][b][methodIndex(method)], func() prometheus.Counter {
		return m.requests.WithLabelValues(codeLabel(code), backend, methodLabel(method))
	}).Inc()
	child(&c.duration[classIndex(code)][b], func() prometheus.Observer {
		return m.duration.WithLabelValues(codeClass(code), backend)
	}).Observe(seconds)
	if bytes > 0 {
		child(&c.bytes[b], func() prometheus.Counter { return m.bytes.WithLabelValues(backend) }).Add(float64(bytes))
	}
}
