package compare

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// Probe is one request compare sends, identically, to the reference and to the candidate.
type Probe struct {
	// Kind names the request in reports: "get", "head", "if-none-match", ….
	Kind string `json:"kind"`
	// Target is the request target as sent (path, optionally with a query).
	Target string `json:"-"`
	// Method is GET or HEAD.
	Method string `json:"-"`
	// Range is the Range header value ("" for none).
	Range string `json:"-"`
	// IfNoneMatch and IfModifiedSince are the conditional headers ("" for none).
	IfNoneMatch     string `json:"-"`
	IfModifiedSince string `json:"-"`
}

// Kinds lists the probe kinds in the order they are sent for each URL. The conditional ones
// carry the reference's own validators from the "get" probe and are skipped when it had none.
var Kinds = []string{"get", "head", "if-none-match", "if-modified-since", "range", "range-0-0", "head-range"}

// probesFor returns the probes sent after "get", built from the reference's answer to it.
func probesFor(target string, refGet Observation) []Probe {
	ps := []Probe{
		{Kind: "head", Method: http.MethodHead},
	}
	if refGet.Status == http.StatusOK && refGet.ETag != "" {
		ps = append(ps, Probe{Kind: "if-none-match", Method: http.MethodGet, IfNoneMatch: refGet.ETag})
	}
	if refGet.Status == http.StatusOK && refGet.LastModified != "" {
		ps = append(ps, Probe{Kind: "if-modified-since", Method: http.MethodGet, IfModifiedSince: refGet.LastModified})
	}
	ps = append(ps,
		Probe{Kind: "range", Method: http.MethodGet, Range: "bytes=0-99"},
		Probe{Kind: "range-0-0", Method: http.MethodGet, Range: "bytes=0-0"},
		Probe{Kind: "head-range", Method: http.MethodHead, Range: "bytes=0-99"},
	)
	for i := range ps {
		ps[i].Target = target
	}
	return ps
}

// Observation is what compare records of one answer. Only these fields are compared; see
// NotCompared for the headers left out on purpose.
type Observation struct {
	Status        int    `json:"status,omitempty"`
	ETag          string `json:"etag,omitempty"`
	LastModified  string `json:"last_modified,omitempty"`
	ContentType   string `json:"content_type,omitempty"`
	ContentLength string `json:"content_length,omitempty"`
	ContentRange  string `json:"content_range,omitempty"`
	// BodySHA256 is the hex SHA-256 of the body (empty for HEAD).
	BodySHA256 string `json:"body_sha256,omitempty"`
	// Err is set when no complete answer came back: no answer at all (connection refused,
	// timeout; Status is 0), or a body cut short (Status and BodySHA256 cover what came).
	Err string `json:"error,omitempty"`
}

// FieldDiff is one compared field whose values differ.
type FieldDiff struct {
	Field     string `json:"field"`
	Reference string `json:"reference"`
	Candidate string `json:"candidate"`
}

// diff lists the compared fields that differ between two answers to the same probe.
func diff(ref, cand Observation) []FieldDiff {
	var out []FieldDiff
	add := func(field, r, c string) {
		if r != c {
			out = append(out, FieldDiff{Field: field, Reference: r, Candidate: c})
		}
	}
	if ref.Status == 0 || cand.Status == 0 {
		// No answer on at least one side: nothing else to compare.
		add("error", ref.Err, cand.Err)
		return out
	}
	add("error", ref.Err, cand.Err) // e.g. a body cut short after a 500
	add("status", strconv.Itoa(ref.Status), strconv.Itoa(cand.Status))
	add("etag", ref.ETag, cand.ETag)
	add("last-modified", ref.LastModified, cand.LastModified)
	if ref.Status != http.StatusNotModified || cand.Status != http.StatusNotModified {
		// A 304 carries no content: nginx drops its Content-Type, php -S keeps it.
		add("content-type", ref.ContentType, cand.ContentType)
		if ref.ContentLength != "" && cand.ContentLength != "" {
			add("content-length", ref.ContentLength, cand.ContentLength)
		}
	}
	add("content-range", ref.ContentRange, cand.ContentRange)
	add("body-sha256", ref.BodySHA256, cand.BodySHA256)
	return out
}

// do sends p to base (scheme://host[:port][/prefix]) and records the answer, reading and hashing
// the whole body. Transport failures are recorded in Observation.Err, never returned.
func do(ctx context.Context, client *http.Client, base *url.URL, p Probe) Observation {
	req, err := newRequest(ctx, base, p)
	if err != nil {
		return Observation{Err: err.Error()}
	}
	resp, err := client.Do(req)
	if err != nil {
		// url.Error would repeat the URL, which the report already names (and which prints
		// oddly for a verbatim target).
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return Observation{Err: err.Error()}
	}
	defer resp.Body.Close()
	o := Observation{
		Status:        resp.StatusCode,
		ETag:          resp.Header.Get("ETag"),
		LastModified:  resp.Header.Get("Last-Modified"),
		ContentType:   resp.Header.Get("Content-Type"),
		ContentLength: resp.Header.Get("Content-Length"),
		ContentRange:  resp.Header.Get("Content-Range"),
	}
	if p.Method == http.MethodHead {
		return o
	}
	h := sha256.New()
	if _, err := io.Copy(h, resp.Body); err != nil {
		o.Err = fmt.Sprintf("reading body: %v", err)
	}
	o.BodySHA256 = hex.EncodeToString(h.Sum(nil))
	return o
}

// newRequest builds p's request with the target sent byte for byte as given (percent-escapes
// kept: "%3F" and "%2F" must reach the server undecoded).
func newRequest(ctx context.Context, base *url.URL, p Probe) (*http.Request, error) {
	path, query, _ := strings.Cut(p.Target, "?")
	if !strings.HasPrefix(path, "/") {
		return nil, fmt.Errorf("target %q does not start with /", p.Target)
	}
	u := &url.URL{Scheme: base.Scheme, Host: base.Host, RawQuery: query}
	// Opaque is sent verbatim; one starting with "//" would be read as "//host/…", so such a
	// target (extra leading slashes) goes out in absolute form instead, which servers accept.
	u.Opaque = strings.TrimSuffix(base.EscapedPath(), "/") + path
	if strings.HasPrefix(u.Opaque, "//") {
		u.Opaque = "//" + base.Host + u.Opaque
	}
	req, err := http.NewRequestWithContext(ctx, p.Method, base.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("request for %q: %w", p.Target, err)
	}
	req.URL = u // set after: parsing u.String() again would lose the verbatim Opaque
	req.Host = base.Host
	if p.Range != "" {
		req.Header.Set("Range", p.Range)
	}
	if p.IfNoneMatch != "" {
		req.Header.Set("If-None-Match", p.IfNoneMatch)
	}
	if p.IfModifiedSince != "" {
		req.Header.Set("If-Modified-Since", p.IfModifiedSince)
	}
	return req, nil
}
