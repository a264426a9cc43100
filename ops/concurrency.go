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
// connections, file descriptors or memory. A slot is held until the response is written: when
// h leaves a body stream with an OnClose method for fasthttp to write (httpserve's downloads),
// the slot is given back when fasthttp closes it; the stream itself is left alone, so sendfile
// stays in use. Rejections are counted in ezdfsd_http_overload_rejected_total when reg is not
// nil.
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
		release := func() { <-sem }
		defer func() {
			if release != nil {
				release()
			}
		}()
		h(rc)
		if body, ok := rc.Response.BodyStream().(closeNotifier); ok {
			body.OnClose(release) // the stream's close gives the slot back
			release = nil
		}
	}
}

// closeNotifier is a response body stream that runs f once when fasthttp closes it.
type closeNotifier interface {
	OnClose(f func())
}
