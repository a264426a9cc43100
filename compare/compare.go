// Package compare checks, before a site switches over, that ezdfsd answers the site's real URLs
// as index_cluster.php does. It sends the same probes (GET, HEAD, conditional GETs with the
// reference's validators, ranges) to the running legacy gateway (the reference) and to ezdfsd
// (the candidate), compares what matters, and sorts every difference into a documented one
// (Differences, the README's table) or an undocumented one.
package compare

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Defaults for Config's zero fields.
const (
	DefaultConcurrency = 4
	DefaultRate        = 20
	DefaultTimeout     = 30 * time.Second
)

// Config says where and how hard compare may send its probes.
type Config struct {
	// Reference is the legacy gateway's base URL (scheme://host[:port], optionally a path prefix).
	Reference *url.URL
	// Candidate is ezdfsd's base URL.
	Candidate *url.URL
	// Concurrency is how many URLs are compared at once (default DefaultConcurrency).
	Concurrency int
	// Rate caps the probes per second; each probe is one request to each server, so neither
	// server sees more than Rate requests per second from compare (default DefaultRate).
	Rate float64
	// Timeout bounds each request, body included (default DefaultTimeout).
	Timeout time.Duration
	// Client sends the requests (nil: one that neither follows redirects nor asks for gzip).
	Client *http.Client
}

// Validate reports the first problem with c.
func (c Config) Validate() error {
	for _, u := range []struct {
		name string
		u    *url.URL
	}{{"reference", c.Reference}, {"candidate", c.Candidate}} {
		if u.u == nil {
			return fmt.Errorf("compare: no %s URL", u.name)
		}
		if (u.u.Scheme != "http" && u.u.Scheme != "https") || u.u.Host == "" {
			return fmt.Errorf("compare: %s URL %q: want http://host[:port]", u.name, u.u)
		}
		if u.u.RawQuery != "" || u.u.Fragment != "" {
			return fmt.Errorf("compare: %s URL %q: no query or fragment, please", u.name, u.u)
		}
	}
	switch {
	case c.Concurrency < 0:
		return fmt.Errorf("compare: concurrency %d is negative", c.Concurrency)
	case c.Rate < 0:
		return fmt.Errorf("compare: rate %v is negative", c.Rate)
	case c.Timeout < 0:
		return fmt.Errorf("compare: timeout %v is negative", c.Timeout)
	}
	return nil
}

func (c Config) withDefaults() Config {
	if c.Concurrency == 0 {
		c.Concurrency = DefaultConcurrency
	}
	if c.Rate == 0 {
		c.Rate = DefaultRate
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.Client == nil {
		c.Client = &http.Client{
			Transport: &http.Transport{
				Proxy:               http.ProxyFromEnvironment,
				DisableCompression:  true, // compare the bytes as served, not as decoded
				MaxIdleConnsPerHost: c.Concurrency,
			},
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	return c
}

// Result sorts a probe (or a URL: the worst of its probes).
type Result string

// The results, from best to worst.
const (
	Matched      Result = "matched"
	Documented   Result = "documented"
	Undocumented Result = "undocumented"
)

func worse(a, b Result) Result {
	rank := map[Result]int{Matched: 0, Documented: 1, Undocumented: 2}
	if rank[b] > rank[a] {
		return b
	}
	return a
}

// ProbeResult is the outcome of one probe of one URL.
type ProbeResult struct {
	Kind   string `json:"kind"`
	Result Result `json:"result"`
	// Difference is the ID of the documented difference that explains the probe (Result
	// documented) or part of it (Result undocumented: Fields are then the unexplained rest).
	Difference string `json:"difference,omitempty"`
	// Fields lists what differs (Result documented or undocumented).
	Fields []FieldDiff `json:"fields,omitempty"`
	// Reference and Candidate are both answers, kept when they differ.
	Reference *Observation `json:"reference,omitempty"`
	Candidate *Observation `json:"candidate,omitempty"`
}

// URLResult is the outcome of every probe of one URL.
type URLResult struct {
	Target string        `json:"url"`
	Result Result        `json:"result"`
	Probes []ProbeResult `json:"probes"`
}

// Summary counts the outcomes of a run.
type Summary struct {
	// URLs counts URLs by their worst probe result.
	URLs map[Result]int
	// Kinds counts probe results per probe kind.
	Kinds map[string]map[Result]int
	// Differences counts probes per documented difference ID.
	Differences map[string]int
}

// Clean reports whether no URL had an undocumented difference.
func (s Summary) Clean() bool { return s.URLs[Undocumented] == 0 }

func (s *Summary) add(r URLResult) {
	s.URLs[r.Result]++
	for _, p := range r.Probes {
		if s.Kinds[p.Kind] == nil {
			s.Kinds[p.Kind] = map[Result]int{}
		}
		s.Kinds[p.Kind][p.Result]++
		if p.Difference != "" {
			s.Differences[p.Difference]++
		}
	}
}

// Run compares every target (request targets such as "/var/site/storage/images/a.jpg") and
// hands each URL's result to emit as soon as it is known, from one goroutine at a time. It
// returns the counts, with ctx's error if it was cancelled before every URL was compared.
func Run(ctx context.Context, cfg Config, targets []string, emit func(URLResult)) (Summary, error) {
	sum := Summary{URLs: map[Result]int{}, Kinds: map[string]map[Result]int{}, Differences: map[string]int{}}
	if err := cfg.Validate(); err != nil {
		return sum, err
	}
	cfg = cfg.withDefaults()
	c := &comparer{cfg: cfg, limiter: rate.NewLimiter(rate.Limit(cfg.Rate), 1)}

	jobs := make(chan string)
	results := make(chan URLResult)
	var wg sync.WaitGroup
	for range cfg.Concurrency {
		wg.Go(func() {
			for t := range jobs {
				r, err := c.url(ctx, t)
				if err != nil {
					continue // cancelled: the feeder stops too
				}
				results <- r
			}
		})
	}
	go func() {
		defer close(jobs)
		for _, t := range targets {
			select {
			case jobs <- t:
			case <-ctx.Done():
				return
			}
		}
	}()
	go func() {
		wg.Wait()
		close(results)
	}()
	for r := range results {
		sum.add(r)
		emit(r)
	}
	if err := ctx.Err(); err != nil {
		return sum, fmt.Errorf("compare: stopped early: %w", err)
	}
	return sum, nil
}

type comparer struct {
	cfg     Config
	limiter *rate.Limiter
}

// url sends every probe for one target; it fails only when ctx is done.
func (c *comparer) url(ctx context.Context, target string) (URLResult, error) {
	r := URLResult{Target: target, Result: Matched}
	get := Probe{Kind: "get", Target: target, Method: http.MethodGet}
	pr, refGet, err := c.probe(ctx, get)
	if err != nil {
		return r, err
	}
	probes := append([]Probe{get}, probesFor(target, refGet)...)
	results := []ProbeResult{pr}
	for _, p := range probes[1:] {
		pr, _, err := c.probe(ctx, p)
		if err != nil {
			return r, err
		}
		results = append(results, pr)
	}
	for _, pr := range results {
		r.Result = worse(r.Result, pr.Result)
	}
	r.Probes = results
	return r, nil
}

// probe sends p to both servers, at most Rate per second, and sorts the outcome.
func (c *comparer) probe(ctx context.Context, p Probe) (ProbeResult, Observation, error) {
	if err := c.limiter.Wait(ctx); err != nil {
		return ProbeResult{}, Observation{}, err
	}
	var ref, cand Observation
	var wg sync.WaitGroup
	send := func(base *url.URL, into *Observation) {
		rctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
		defer cancel()
		*into = do(rctx, c.cfg.Client, base, p)
	}
	wg.Go(func() { send(c.cfg.Reference, &ref) })
	wg.Go(func() { send(c.cfg.Candidate, &cand) })
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return ProbeResult{}, Observation{}, err
	}
	return classify(p, ref, cand), ref, nil
}

// classify sorts one probe's two answers.
func classify(p Probe, ref, cand Observation) ProbeResult {
	fields := diff(ref, cand)
	if len(fields) == 0 {
		return ProbeResult{Kind: p.Kind, Result: Matched}
	}
	pr := ProbeResult{Kind: p.Kind, Result: Undocumented, Fields: fields, Reference: &ref, Candidate: &cand}
	if ref.Status == 0 || cand.Status == 0 {
		return pr // no answer from one side: nothing documents that
	}
	if d, rest, ok := explain(p, ref, cand, fields); ok {
		pr.Difference = d.ID
		if len(rest) == 0 {
			pr.Result = Documented
		} else {
			pr.Fields = rest // partly documented: what remains is not
		}
	}
	return pr
}
