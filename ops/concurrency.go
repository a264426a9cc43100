package ops

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"

	"github.com/ezdfsd/ezdfsd/internal/promreg"
)

// DefaultQueueWait is how long LimitConcurrency lets an excess request wait for a slot.
const DefaultQueueWait = 250 * time.Millisecond

// LimitConcurrency lets at most max requests run h at once (0 = unlimited). An excess request
// waits up to DefaultQueueWait for a slot, then is answered by reject (the daemon passes
// httpserve's 503 with Retry-After), so a surge queues briefly instead of exhausting database
// connections, file descriptors or memory. The request context is passed through untouched,
// so sendfile stays in use. A slot is held while h runs, not while fasthttp writes the body
// h set afterwards. Rejections are counted in ezdfsd_http_overload_rejected_total when reg is
// not nil.
func LimitConcurrency(h fasthttp.RequestHandler, max int, reject fasthttp.RequestHandler, reg prometheus.Registerer) fasthttp.RequestHandler {
	if max <= 0 {
		return h
	}
	rejected := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "ezdfsd_http_overload_rejected_total",
		Help: "Requests answered 503 because max-concurrent-fetches requests were already running.",
	})
	// A second limiter on the same registry counts into the first one's series; on a clash
	// with a foreign collector this one counts unregistered.
	rejected, _ = promreg.Shared(reg, rejected)
	sem := make(chan struct{}, max)
	return func(rc *fasthttp.RequestCtx) {
		select {
		case sem <- struct{}{}:
		default:
			t := time.NewTimer(DefaultQueueWait)
			select {
			case sem <- struct{}{}:
				t.Stop()
			case <-t.C:
				rejected.Inc()
				reject(rc)
				return
			}
		}
		defer func() { <-sem }()
		h(rc)
	}
}
