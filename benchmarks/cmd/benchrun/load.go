package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/ezdfsd/ezdfsd/benchmarks/internal/procstat"
)

// newS3Client builds an SDK client for an S3-compatible endpoint (path style, static keys),
// with a connection pool sized for conns concurrent requests.
func newS3Client(endpoint, ak, sk string, conns int) *awss3.Client {
	hc := awshttp.NewBuildableClient().WithTransportOptions(func(tr *http.Transport) {
		tr.MaxIdleConnsPerHost = conns
		tr.MaxIdleConns = max(tr.MaxIdleConns, conns)
	}).WithTimeout(0)
	return awss3.New(awss3.Options{
		Region:                     "us-east-1",
		BaseEndpoint:               aws.String(endpoint),
		UsePathStyle:               true,
		Credentials:                credentials.NewStaticCredentialsProvider(ak, sk, ""),
		HTTPClient:                 hc,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
		DisableLogOutputChecksumValidationSkipped: true,
	})
}

// fetcher fetches one name and returns the body bytes read and the status.
type fetcher func(ctx context.Context, name string) (int64, int, error)

func httpFetcher(base string, conns int) fetcher {
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	client := &http.Client{Transport: tr}
	base = strings.TrimRight(base, "/")
	return func(ctx context.Context, name string) (int64, int, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/"+name, nil)
		if err != nil {
			return 0, 0, err
		}
		resp, err := client.Do(req)
		if err != nil {
			return 0, 0, err
		}
		n, err := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return n, resp.StatusCode, err
	}
}

func s3Fetcher(endpoint, ak, sk, bucket string, conns int) fetcher {
	c := newS3Client(endpoint, ak, sk, conns)
	return func(ctx context.Context, name string) (int64, int, error) {
		out, err := c.GetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(name)})
		if err != nil {
			var re *awshttp.ResponseError
			if errors.As(err, &re) {
				return 0, re.HTTPStatusCode(), err
			}
			return 0, 0, err
		}
		n, err := io.Copy(io.Discard, out.Body)
		out.Body.Close()
		return n, http.StatusOK, err
	}
}

// loadRun drives f over keys (cycled) for d: closed loop with workers goroutines when rate is 0,
// else open loop at rate requests/s (each request on a free worker; a request that finds no
// free worker waits, and its wait counts in its latency, as in vegeta).
func loadRun(ctx context.Context, f fetcher, keys []string, workers int, rate float64, d time.Duration) (Result, []time.Duration) {
	var (
		next    atomic.Int64
		mu      sync.Mutex
		lat     []time.Duration
		status  = map[string]int64{}
		bytes   atomic.Int64
		okCount atomic.Int64
		wg      sync.WaitGroup
	)
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	one := func(scheduled time.Time) {
		i := next.Add(1) - 1
		name := keys[int(i)%len(keys)]
		n, code, err := f(context.WithoutCancel(ctx), name)
		el := time.Since(scheduled)
		key := strconv.Itoa(code)
		if err != nil && code == 0 {
			key = "error"
		}
		mu.Lock()
		lat = append(lat, el)
		status[key]++
		mu.Unlock()
		bytes.Add(n)
		if err == nil && code == http.StatusOK {
			okCount.Add(1)
		}
	}
	start := time.Now()
	if rate <= 0 {
		for range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for ctx.Err() == nil {
					one(time.Now())
				}
			}()
		}
	} else {
		ticks := make(chan time.Time, workers)
		for range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for t := range ticks {
					one(t)
				}
			}()
		}
		interval := time.Duration(float64(time.Second) / rate)
	pace:
		for k := 0; ; k++ {
			at := start.Add(time.Duration(k) * interval)
			if w := time.Until(at); w > 0 {
				select {
				case <-time.After(w):
				case <-ctx.Done():
					break pace
				}
			}
			if ctx.Err() != nil {
				break
			}
			ticks <- at
		}
		close(ticks)
	}
	wg.Wait()
	el := time.Since(start)
	st := summarize(lat)
	r := Result{
		Requests:   int64(len(lat)),
		Throughput: float64(okCount.Load()) / el.Seconds(),
		MeanMs:     st.mean, P50Ms: st.p50, P99Ms: st.p99, MaxMs: st.max,
		Status:  status,
		BytesIn: bytes.Load(),
		MBps:    float64(bytes.Load()) / (1 << 20) / el.Seconds(),
	}
	if len(lat) > 0 {
		r.Success = float64(okCount.Load()) / float64(len(lat))
	}
	return r, lat
}

func cmdLoad(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	var r Result
	fs.StringVar(&r.Scenario, "scenario", "s3", "scenario")
	fs.StringVar(&r.Side, "side", "", "side label")
	fs.IntVar(&r.Run, "run", 0, "run number")
	kind := fs.String("kind", "http", "http (GET base/name) or s3 (SDK GetObject bucket/name)")
	base := fs.String("base", "", "base URL (kind=http)")
	endpoint := fs.String("s3-endpoint", "", "S3 endpoint (kind=s3)")
	ak := fs.String("s3-access-key", "", "S3 access key")
	sk := fs.String("s3-secret-key", "", "S3 secret key")
	bucket := fs.String("bucket", "", "bucket (kind=s3)")
	keysFile := fs.String("keys", "", "names to request, one a line, cycled in order")
	workers := fs.Int("workers", 16, "concurrent requests (closed loop) or maximum in flight (open loop)")
	rate := fs.Float64("rate", 0, "requests/s (0 = as fast as the workers go)")
	dur := fs.Duration("duration", 10*time.Second, "measured duration")
	warm := fs.Duration("warmup", 2*time.Second, "unmeasured warm-up first")
	out := fs.String("out", "-", "results file (JSON lines)")
	pidList := fs.String("server-pids", "", "comma-separated pids whose CPU time (user+system) during the measured run is reported per request")
	metricsURL := fs.String("metrics", "", "ezdfsd's /metrics URL: the database queries it made during the measured run are reported")
	if err := fs.Parse(args); err != nil {
		return err
	}
	pids, err := parsePids(*pidList)
	if err != nil {
		return err
	}
	keys, err := readLines(*keysFile)
	if err != nil {
		return err
	}
	var f fetcher
	switch *kind {
	case "http":
		f = httpFetcher(*base, *workers)
	case "s3":
		f = s3Fetcher(*endpoint, *ak, *sk, *bucket, *workers)
	default:
		return fmt.Errorf("unknown -kind %q", *kind)
	}
	if *rate > 0 {
		r.Mode = fmt.Sprintf("fixed-%g", *rate)
	} else {
		r.Mode = fmt.Sprintf("max-%d", *workers)
	}
	if *warm > 0 {
		loadRun(ctx, f, keys, *workers, *rate, *warm)
	}
	queries := func() (float64, error) {
		if *metricsURL == "" {
			return 0, nil
		}
		return scrapeSum(ctx, *metricsURL, "ezdfsd_db_queries_total")
	}
	q0, err := queries()
	if err != nil {
		return err
	}
	cpu0, err := procstat.CPUSeconds(pids...)
	if err != nil {
		return err
	}
	res, _ := loadRun(ctx, f, keys, *workers, *rate, *dur)
	cpu1, err := procstat.CPUSeconds(pids...)
	if err != nil {
		return err
	}
	q1, err := queries()
	if err != nil {
		return err
	}
	res.DBQueries = q1 - q0
	if len(pids) > 0 && res.Requests > 0 {
		res.CPUPerReqUs = (cpu1 - cpu0) * 1e6 / float64(res.Requests)
	}
	res.Scenario, res.Side, res.Mode, res.Run = r.Scenario, r.Side, r.Mode, r.Run
	return appendResult(*out, res)
}

func parsePids(list string) ([]int, error) {
	var pids []int
	for _, f := range strings.FieldsFunc(list, func(r rune) bool { return r == ',' || r == ' ' }) {
		p, err := strconv.Atoi(f)
		if err != nil || p <= 0 {
			return nil, fmt.Errorf("-server-pids: %q is not a pid", f)
		}
		pids = append(pids, p)
	}
	return pids, nil
}
