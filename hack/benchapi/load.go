package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// endpoint is one API request the benchmark repeats.
type endpoint struct {
	name string // as reported
	path string // with its query
	// marker is what every good response body holds (its list is not empty): checked on
	// every measured response, cheaply, so that the client spends its share of the two
	// CPUs on requests rather than on decoding JSON.
	marker string
	// check decodes a response fully and judges it, on warm-up responses.
	check func(body []byte) error
}

// loader sends requests to the API over loopback with keep-alive connections.
type loader struct {
	client *http.Client
	base   string // http://127.0.0.1:port
	token  string
}

func newLoader(base, token string, concurrency int) *loader {
	return &loader{
		client: &http.Client{Transport: &http.Transport{
			MaxIdleConns:        concurrency,
			MaxIdleConnsPerHost: concurrency,
			MaxConnsPerHost:     concurrency,
			IdleConnTimeout:     time.Minute,
		}},
		base:  base,
		token: token,
	}
}

// get sends one request and reads the whole body into buf.
func (l *loader) get(ctx context.Context, path string, buf *bytes.Buffer) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, l.base+path, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+l.token)
	resp, err := l.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	buf.Reset()
	if _, err := buf.ReadFrom(resp.Body); err != nil {
		return resp.StatusCode, err
	}
	return resp.StatusCode, nil
}

// warmUp sends n requests one after the other, checking each fully: it fills caches and
// connection pools, and proves the endpoint answers what the measured run expects.
func (l *loader) warmUp(ctx context.Context, ep endpoint, n int) (bytesPerResponse int, err error) {
	var buf bytes.Buffer
	for range n {
		status, err := l.get(ctx, ep.path, &buf)
		if err != nil {
			return 0, fmt.Errorf("warm up %s: %w", ep.name, err)
		}
		if status != http.StatusOK {
			return 0, fmt.Errorf("warm up %s: status %d: %s", ep.name, status, excerpt(buf.Bytes()))
		}
		if err := ep.check(buf.Bytes()); err != nil {
			return 0, fmt.Errorf("warm up %s: %w: %s", ep.name, err, excerpt(buf.Bytes()))
		}
		if !bytes.Contains(buf.Bytes(), []byte(ep.marker)) {
			return 0, fmt.Errorf("warm up %s: the response lacks %q, which the measured run checks for: %s", ep.name, ep.marker, excerpt(buf.Bytes()))
		}
	}
	return buf.Len(), nil
}

// result is one measured run of one endpoint.
type result struct {
	latencies []time.Duration // sorted
	elapsed   time.Duration
	bytes     int64
	failures  int64
	failure   string // the first one
}

// measure sends n requests from concurrency clients at once and records each latency;
// it sends no more once maxTime has passed, so that a slow endpoint cannot stretch the
// run for long.
func (l *loader) measure(ctx context.Context, ep endpoint, n, concurrency int, maxTime time.Duration) result {
	r := result{latencies: make([]time.Duration, n)}
	var next, total, failures atomic.Int64
	var once sync.Once
	marker := []byte(ep.marker)
	var wg sync.WaitGroup
	start := time.Now()
	for range concurrency {
		wg.Go(func() {
			var buf bytes.Buffer
			for {
				if ctx.Err() != nil || time.Since(start) >= maxTime {
					return
				}
				i := next.Add(1) - 1
				if i >= int64(n) {
					return
				}
				t0 := time.Now()
				status, err := l.get(ctx, ep.path, &buf)
				r.latencies[i] = time.Since(t0)
				total.Add(int64(buf.Len()))
				if err == nil && (status != http.StatusOK || !bytes.Contains(buf.Bytes(), marker)) {
					err = fmt.Errorf("status %d: %s", status, excerpt(buf.Bytes()))
				}
				if err != nil {
					failures.Add(1)
					once.Do(func() { r.failure = err.Error() })
				}
			}
		})
	}
	wg.Wait()
	r.elapsed = time.Since(start)
	r.bytes, r.failures = total.Load(), failures.Load()
	r.latencies = r.latencies[:min(next.Load(), int64(n))]
	slices.Sort(r.latencies)
	return r
}

// percentile is the nearest-rank percentile of sorted latencies, p in (0, 1].
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted))*p+0.999999) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// figures are what the report shows of one run, or the median of several.
type figures struct {
	p50, p95, p99, max time.Duration
	throughput         float64 // requests per second
	meanBytes          float64
}

func (r result) figures() figures {
	n := len(r.latencies)
	return figures{
		p50: percentile(r.latencies, .50), p95: percentile(r.latencies, .95),
		p99: percentile(r.latencies, .99), max: r.latencies[n-1],
		throughput: float64(n) / r.elapsed.Seconds(),
		meanBytes:  float64(r.bytes) / float64(n),
	}
}

// medianFigures takes the median of each figure separately over rounds.
func medianFigures(rounds []figures) figures {
	dur := func(get func(figures) time.Duration) time.Duration {
		var v []time.Duration
		for _, f := range rounds {
			v = append(v, get(f))
		}
		slices.Sort(v)
		return v[len(v)/2]
	}
	num := func(get func(figures) float64) float64 {
		var v []float64
		for _, f := range rounds {
			v = append(v, get(f))
		}
		slices.Sort(v)
		return v[len(v)/2]
	}
	return figures{
		p50:        dur(func(f figures) time.Duration { return f.p50 }),
		p95:        dur(func(f figures) time.Duration { return f.p95 }),
		p99:        dur(func(f figures) time.Duration { return f.p99 }),
		max:        dur(func(f figures) time.Duration { return f.max }),
		throughput: num(func(f figures) float64 { return f.throughput }),
		meanBytes:  num(func(f figures) float64 { return f.meanBytes }),
	}
}

// ms formats a latency in milliseconds.
func ms(d time.Duration) string { return fmt.Sprintf("%.2f", float64(d)/float64(time.Millisecond)) }

// excerpt is the start of a body, for error messages.
func excerpt(b []byte) string {
	if len(b) > 300 {
		return string(b[:300]) + "…"
	}
	return string(b)
}
