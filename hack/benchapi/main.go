// Command benchapi measures the REST API's read endpoints on a database of realistic
// size: 10 clusters, 10,000 workloads and 1,000,000 observation rows (100,000 running,
// 900,000 of history), with about 1% of workloads mutant; with -rows 10m, the same
// fleet with ten times the history (10,000,000 rows: two years of weekly rollouts), and
// with -rows 1m,10m both, one after the other, compared at the end. It creates each
// database on the PostgreSQL server named by TAGDRIFT_TEST_DATABASE_URL, reports its
// size, serves the API on loopback and loads it from the same process over real TCP
// with keep-alive connections:
//
//	GET /api/v1/workloads?mutant=true
//	GET /api/v1/images/timeline?ref=nginx:1.25     (a tag run by thousands of pods)
//	GET /api/v1/digests/<its most running digest>
//	GET /api/v1/mutations?state=open
//	GET /api/v1/clusters
//
// Each endpoint is warmed up, then measured for -requests requests from -concurrency
// clients, -rounds times, without the response cache (every answer made afresh, as the
// first read after a change) and then with it; per-round figures and their medians are
// reported against the targets (p95 under 20 ms, at least 1,000 requests per second,
// and at 10M rows an uncached p95 within 1.5 times the 1M one). Each database is
// dropped once measured, or on Ctrl-C, unless -keep is given.
//
//	go run ./hack/benchapi [-rows 1m|10m|1m,10m] [-requests 5000] [-concurrency 8] [-rounds 3] [-keep]
//	go run ./hack/benchapi -reuse -database-url <the URL a -keep run printed>
package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/tagdrift/tagdrift/internal/pgtest"
	"github.com/tagdrift/tagdrift/scanner/imageref"
	"github.com/tagdrift/tagdrift/server"
	"github.com/tagdrift/tagdrift/server/apibody"
	"github.com/tagdrift/tagdrift/store"
	"github.com/tagdrift/tagdrift/store/keyring"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchapi:", err)
		os.Exit(1)
	}
}

// Targets from the issue, for each endpoint.
const (
	targetP95        = 20 * time.Millisecond
	targetThroughput = 1000 // requests per second
)

// benchRateLimit replaces the API's per-token rate limit (50/s by default), which would
// otherwise be what the benchmark measures.
const benchRateLimit = 1_000_000

// config is the command line.
type config struct {
	databaseURL string
	reuse       bool
	keep        bool
	clusters    int
	workloads   int
	sizes       []int // observation rows of each fleet measured, in order
	requests    int
	concurrency int
	rounds      int
	warmup      int
	maxTime     time.Duration
	only        string
	logFile     string
	cpuProfile  string
	cache       string
}

func parseFlags(args []string, getenv func(string) string) (config, error) {
	var c config
	fs := flag.NewFlagSet("benchapi", flag.ContinueOnError)
	fs.StringVar(&c.databaseURL, "database-url", getenv(pgtest.EnvURL),
		"PostgreSQL server on which to create the benchmark database (default $"+pgtest.EnvURL+"); with -reuse, the database itself")
	fs.BoolVar(&c.reuse, "reuse", false, "benchmark the already populated database at -database-url (left by -keep) instead of creating one")
	fs.BoolVar(&c.keep, "keep", false, "keep the database at the end (for EXPLAIN ANALYZE with psql) and print its URL")
	fs.IntVar(&c.clusters, "clusters", 10, "clusters in the fleet")
	fs.IntVar(&c.workloads, "workloads", 10_000, "workloads in the fleet, spread over the clusters; each has 10 running containers, the rest is history")
	rows := fs.String("rows", "1m", "observation rows of the fleet, or of each fleet in turn, comma-separated (1m, 10m, 1m,10m or numbers): "+
		"a multiple of 10 per workload, one weekly rollout of 5 pods of 2 containers each; the last rollout runs now")
	fs.IntVar(&c.requests, "requests", 5000, "measured requests per endpoint and round")
	fs.IntVar(&c.concurrency, "concurrency", 8, "concurrent clients, each on its own keep-alive connection")
	fs.IntVar(&c.rounds, "rounds", 3, "measured rounds; medians over them are reported")
	fs.IntVar(&c.warmup, "warmup", 200, "warm-up requests per endpoint, each checked fully")
	fs.DurationVar(&c.maxTime, "max-time", 20*time.Second, "stop sending an endpoint's requests in a round after this long, even before -requests")
	fs.StringVar(&c.only, "only", "", "measure only the endpoints whose name contains this (workloads, timeline, digests, mutations or clusters)")
	fs.StringVar(&c.logFile, "log", "", "write the server's log to this file (default: formatted, then discarded)")
	fs.StringVar(&c.cache, "cache", "both", "measure the API with its response cache off, on, or both (off first, in the same run)")
	fs.StringVar(&c.cpuProfile, "cpuprofile", "", "write a CPU profile of the measured rounds (server and load generator) to this file")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	for _, r := range strings.Split(*rows, ",") {
		n, err := parseRows(r)
		if err != nil {
			return c, err
		}
		c.sizes = append(c.sizes, n)
	}
	perRollout := c.workloads * podsPerWorkload * 2
	switch {
	case c.databaseURL == "":
		return c, fmt.Errorf("no database: set %s or -database-url", pgtest.EnvURL)
	case c.clusters < 1 || c.workloads < c.clusters:
		return c, errors.New("-clusters and -workloads must be positive, and workloads at least clusters")
	case c.reuse && len(c.sizes) > 1:
		return c, errors.New("-reuse measures one database: give -rows one size")
	case c.cache != "off" && c.cache != "on" && c.cache != "both":
		return c, fmt.Errorf("-cache is off, on or both, not %q", c.cache)
	case c.requests < 1 || c.concurrency < 1 || c.rounds < 1 || c.warmup < 1 || c.maxTime <= 0:
		return c, errors.New("-requests, -concurrency, -rounds, -warmup and -max-time must be positive")
	}
	for _, n := range c.sizes {
		if n < perRollout || n%perRollout != 0 {
			return c, fmt.Errorf("-rows %d: want a positive multiple of %d (10 per workload)", n, perRollout)
		}
	}
	return c, nil
}

// parseRows reads a number of rows: 1000000, 1m or 10m.
func parseRows(s string) (int, error) {
	mult := 1
	if t, ok := strings.CutSuffix(strings.ToLower(strings.TrimSpace(s)), "m"); ok {
		s, mult = t, 1_000_000
	}
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("-rows %q: want a positive number of rows, such as 1m or 10m", s)
	}
	return n * mult, nil
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) (err error) {
	cfg, err := parseFlags(args, getenv)
	if err != nil {
		return err
	}
	var sizes []sizeResult
	for _, rows := range cfg.sizes {
		r, err := measureSize(ctx, cfg, rows, stdout)
		if err != nil {
			return err
		}
		sizes = append(sizes, r)
	}
	compare(stdout, sizes)
	return nil
}

// sizeResult is what was measured on one fleet.
type sizeResult struct {
	rows      int
	footprint footprint
	endpoints []endpoint
	// medians by cache mode (false: uncached), then by endpoint; nil for a mode not run.
	medians map[bool][]figures
}

// measureSize creates, populates and measures the fleet of rows observations (with
// -reuse, measures the database given), and drops it.
func measureSize(ctx context.Context, cfg config, rows int, stdout io.Writer) (_ sizeResult, err error) {
	out := sizeResult{rows: rows, medians: map[bool][]figures{}}
	fmt.Fprintf(stdout, "\n=== %s observation rows\n", count(rows))
	dbURL := cfg.databaseURL
	if !cfg.reuse {
		var drop func() error
		if dbURL, drop, err = createDatabase(ctx, cfg, stdout); err != nil {
			return out, err
		}
		defer func() { err = errors.Join(err, drop()) }()
	}
	st, err := openStore(ctx, dbURL)
	if err != nil {
		return out, err
	}
	defer st.Close()
	var loaded int64
	if !cfg.reuse {
		generations := rows / (cfg.workloads * podsPerWorkload * 2)
		f := newFleet(cfg.clusters, cfg.workloads, generations, time.Now().UTC().Truncate(time.Second).Add(-time.Minute))
		if loaded, err = populate(ctx, st, f, stdout); err != nil {
			return out, err
		}
	}
	if out.footprint, err = measureFootprint(ctx, st, loaded); err != nil {
		return out, err
	}
	if cfg.reuse {
		out.rows = int(out.footprint.rows)
	}
	fmt.Fprintf(stdout, "database size %s; observations %s with their indexes, %.0f bytes per row (%s rows)\n",
		mib(out.footprint.database), mib(out.footprint.observations), out.footprint.bytesPerRow(), count(int(out.footprint.rows)))

	if err := measureRefill(ctx, st, stdout); err != nil {
		return out, err
	}
	if out.endpoints, err = chooseEndpoints(ctx, st, cfg.only, stdout); err != nil {
		return out, err
	}
	_, token, err := st.CreateToken(ctx, store.NewToken{Name: "benchapi", Role: store.RoleViewer}, store.Audit{Actor: "cli:benchapi"})
	if err != nil {
		return out, fmt.Errorf("create a viewer token: %w", err)
	}
	modes := map[string][]bool{"off": {false}, "on": {true}, "both": {false, true}}[cfg.cache]
	for _, cached := range modes {
		m, err := measure(ctx, st, token, out.endpoints, cfg, cached, stdout)
		if err != nil {
			return out, err
		}
		out.medians[cached] = m
	}
	return out, nil
}

// measureRefill times what `tagdrift serve` does at start after apibody.Version
// changed: every stored body written again (store.RefillBodies, 500 rows a
// transaction), with the API's own encoder.
func measureRefill(ctx context.Context, st *store.Store, stdout io.Writer) error {
	for _, q := range []string{`UPDATE running_workloads SET body_version = NULL`, `UPDATE mutations SET body_version = NULL`,
		`VACUUM ANALYZE running_workloads, mutations`} {
		if _, err := st.Pool().Exec(ctx, q); err != nil {
			return fmt.Errorf("forget the body versions: %w", err)
		}
	}
	t0 := time.Now()
	r, err := st.RefillBodies(ctx, 500, nil)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "refilled the bodies of %d workloads and %d mutations in %s\n", r.Workloads, r.Mutations,
		time.Since(t0).Round(time.Millisecond))
	return nil
}

// measure serves the API, with or without its response cache, loads it and returns
// the median figures of each endpoint.
func measure(ctx context.Context, st *store.Store, token string, endpoints []endpoint, cfg config, cached bool, stdout io.Writer) ([]figures, error) {
	base, stopServer, err := serve(st, cfg.logFile, cached)
	if err != nil {
		return nil, err
	}
	defer stopServer()
	mode := "WITHOUT the response cache (every answer made afresh: the cost of the first read after a change)"
	if cached {
		mode = "WITH the response cache (answers served while the data they were made from holds)"
	}
	fmt.Fprintf(stdout, "\n== %s\n", mode)
	fmt.Fprintf(stdout, "serving the API on %s with a viewer token; per-token rate limit raised to %d/s (burst %d) for the benchmark\n",
		strings.TrimPrefix(base, "http://"), benchRateLimit, benchRateLimit)
	fmt.Fprintf(stdout, "load: %d requests (at most %s) per endpoint and round from %d keep-alive clients, %d rounds, %d warm-up requests; "+
		"the load generator, the API and PostgreSQL share this machine's %d CPUs\n",
		cfg.requests, cfg.maxTime, cfg.concurrency, cfg.rounds, cfg.warmup, runtime.NumCPU())

	l := newLoader(base, token, cfg.concurrency)
	for _, ep := range endpoints {
		if _, err := l.warmUp(ctx, ep, cfg.warmup); err != nil {
			return nil, err
		}
	}
	if cfg.cpuProfile != "" {
		stopProfile, err := startCPUProfile(cfg.cpuProfile)
		if err != nil {
			return nil, err
		}
		defer stopProfile()
	}
	rounds, err := measureRounds(ctx, l, endpoints, cfg, stdout)
	if err != nil {
		return nil, err
	}
	return report(stdout, endpoints, rounds), nil
}

// createDatabase creates and migrates a fresh database on the server and returns its
// URL and a function that drops it, or with -keep tells how to reach it.
func createDatabase(ctx context.Context, cfg config, stdout io.Writer) (string, func() error, error) {
	// pgtest reads the server from the environment.
	os.Setenv(pgtest.EnvURL, cfg.databaseURL)
	db, err := pgtest.Create(ctx, "benchapi")
	if err != nil {
		return "", nil, err
	}
	drop := func() error {
		if cfg.keep {
			fmt.Fprintf(stdout, "kept the database: psql '%s'\nrerun without populating: go run ./hack/benchapi -reuse -database-url '%s'\n", db.URL, db.URL)
			return nil
		}
		// The run's context may be cancelled (Ctrl-C): drop anyway.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := db.Drop(ctx); err != nil {
			return fmt.Errorf("drop the benchmark database: %w", err)
		}
		return nil
	}
	m, err := store.NewMigrator(db.URL)
	if err == nil {
		err = m.Up()
		m.Close()
	}
	if err != nil {
		return "", nil, errors.Join(err, drop())
	}
	return db.URL, drop, nil
}

// chooseEndpoints returns the endpoints to measure (those whose name contains only, or
// all), on the popular reference and its most running digest.
func chooseEndpoints(ctx context.Context, st *store.Store, only string, stdout io.Writer) ([]endpoint, error) {
	ref := imageref.ParseRef(popularImage).Normalized
	digest, pods, err := popularDigest(ctx, st, ref)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(stdout, "timeline of %s (asked as %s); digest %s runs in %d pods\n", ref, popularImage, digest, pods)
	var out []endpoint
	for _, ep := range []endpoint{
		{name: "workloads?mutant=true", path: "/api/v1/workloads?mutant=true", marker: `"items":[{`, check: checkWorkloads},
		{name: "images/timeline", path: "/api/v1/images/timeline?ref=" + url.QueryEscape(popularImage), marker: `"digests":[{`, check: checkTimeline(ref)},
		{name: "digests/{digest}", path: "/api/v1/digests/" + digest, marker: `"running":[{`, check: checkDigest(digest)},
		{name: "mutations?state=open", path: "/api/v1/mutations?state=open", marker: `"items":[{`, check: checkMutations},
		{name: "clusters", path: "/api/v1/clusters", marker: `"items":[{`, check: checkClusters},
	} {
		if strings.Contains(ep.name, only) {
			out = append(out, ep)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("-only %q matches no endpoint", only)
	}
	return out, nil
}

// measureRounds measures every endpoint once a round, printing each round's figures,
// and returns them by endpoint. A failed request fails the run.
func measureRounds(ctx context.Context, l *loader, endpoints []endpoint, cfg config, stdout io.Writer) ([][]figures, error) {
	out := make([][]figures, len(endpoints))
	for round := range cfg.rounds {
		fmt.Fprintf(stdout, "\nround %d\n", round+1)
		tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintf(tw, "  %-22s\trequests\tp50 ms\tp95 ms\tp99 ms\tmax ms\treq/s\tbytes\t\n", "endpoint")
		for i, ep := range endpoints {
			r := l.measure(ctx, ep, cfg.requests, cfg.concurrency, cfg.maxTime)
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			if r.failures > 0 {
				return nil, fmt.Errorf("%s: %d of %d requests failed; the first: %s", ep.name, r.failures, len(r.latencies), r.failure)
			}
			fg := r.figures()
			out[i] = append(out[i], fg)
			fmt.Fprintf(tw, "  %-22s\t%d\t%s\t%s\t%s\t%s\t%.0f\t%.0f\t\n",
				ep.name, len(r.latencies), ms(fg.p50), ms(fg.p95), ms(fg.p99), ms(fg.max), fg.throughput, fg.meanBytes)
		}
		tw.Flush()
	}
	return out, nil
}

// report prints the median of each figure over the rounds, against the targets, and
// returns them.
func report(stdout io.Writer, endpoints []endpoint, rounds [][]figures) []figures {
	fmt.Fprintf(stdout, "\nmedian over %d rounds (targets: p95 < %s, >= %d req/s)\n", len(rounds[0]), targetP95, targetThroughput)
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "  %-22s\tp50 ms\tp95 ms\tp99 ms\tmax ms\treq/s\tbytes\tp95 target\treq/s target\t\n", "endpoint")
	missed := 0
	var out []figures
	for i, ep := range endpoints {
		fg := medianFigures(rounds[i])
		out = append(out, fg)
		p95, rps := verdict(fg.p95 < targetP95), verdict(fg.throughput >= targetThroughput)
		if p95 == "MISS" || rps == "MISS" {
			missed++
		}
		fmt.Fprintf(tw, "  %-22s\t%s\t%s\t%s\t%s\t%.0f\t%.0f\t%s\t%s\t\n",
			ep.name, ms(fg.p50), ms(fg.p95), ms(fg.p99), ms(fg.max), fg.throughput, fg.meanBytes, p95, rps)
	}
	tw.Flush()
	if missed > 0 {
		fmt.Fprintf(stdout, "%d of %d endpoints missed a target\n", missed, len(endpoints))
	}
	return out
}

// targetGrowth bounds how much slower a read may be, uncached, on ten times the rows.
const targetGrowth = 1.5

// compare prints, per endpoint, the medians of every fleet side by side, cached and
// uncached, and the growth of the uncached p95 from the first fleet to each larger one.
func compare(stdout io.Writer, sizes []sizeResult) {
	fmt.Fprintf(stdout, "\n=== summary: medians of p95 and req/s per endpoint (targets: p95 < %s, >= %d req/s; "+
		"uncached p95 on more rows within %.1fx of the smallest fleet's)\n", targetP95, targetThroughput, targetGrowth)
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "  %-22s\trows\tcached p95 ms\tcached req/s\tuncached p95 ms\tuncached req/s\tuncached p95 vs %s\t\n",
		"endpoint", count(sizes[0].rows))
	for i, ep := range sizes[0].endpoints {
		for _, sz := range sizes {
			cp95, crps, up95, urps, growth := "-", "-", "-", "-", "-"
			if m := sz.medians[true]; m != nil {
				cp95, crps = ms(m[i].p95), fmt.Sprintf("%.0f", m[i].throughput)
			}
			if m := sz.medians[false]; m != nil {
				up95, urps = ms(m[i].p95), fmt.Sprintf("%.0f", m[i].throughput)
				if base := sizes[0].medians[false]; sz.rows != sizes[0].rows {
					r := float64(m[i].p95) / float64(base[i].p95)
					growth = fmt.Sprintf("%.2fx %s", r, verdict(r <= targetGrowth))
				}
			}
			fmt.Fprintf(tw, "  %-22s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", ep.name, count(sz.rows), cp95, crps, up95, urps, growth)
		}
	}
	tw.Flush()
	for _, sz := range sizes {
		fmt.Fprintf(stdout, "  %s rows: database %s, observations %s with their indexes, %.0f bytes per observation row\n",
			count(sz.rows), mib(sz.footprint.database), mib(sz.footprint.observations), sz.footprint.bytesPerRow())
	}
}

// count writes a number of rows the way docs/performance.md does: 1M, 10M, or the number.
func count(n int) string {
	if n%1_000_000 == 0 {
		return fmt.Sprintf("%dM", n/1_000_000)
	}
	return strconv.Itoa(n)
}

// mib writes a size in bytes as MiB.
func mib(b int64) string { return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20)) }

func verdict(ok bool) string {
	if ok {
		return "PASS"
	}
	return "MISS"
}

// startCPUProfile profiles this process until the returned function is called.
func startCPUProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}

// openStore opens the store with a fresh random key: the benchmark never opens the
// credentials it seals.
func openStore(ctx context.Context, dbURL string) (*store.Store, error) {
	key := make([]byte, keyring.KeySize)
	rand.Read(key)
	keys, err := keyring.Parse(base64.StdEncoding.EncodeToString(key))
	if err != nil {
		return nil, err
	}
	return store.Open(ctx, dbURL, keys, apibody.Encoder{})
}

// serve starts the API on a loopback port and returns its base URL and a function that
// stops it.
func serve(st *store.Store, logFile string, cached bool) (base string, stop func(), err error) {
	// The server logs as in service (formatted JSON at info level), to nowhere unless
	// asked: formatting is part of the cost of a request.
	var logOut io.Writer = io.Discard
	var file *os.File
	if logFile != "" {
		if file, err = os.Create(logFile); err != nil {
			return "", nil, err
		}
		logOut = file
	}
	handler := server.New(server.Config{
		Store:      st,
		Logger:     slog.New(slog.NewJSONHandler(logOut, &slog.HandlerOptions{Level: slog.LevelInfo})),
		RateLimit:  benchRateLimit,
		RateBurst:  benchRateLimit,
		CacheBytes: map[bool]int{false: -1, true: 0}[cached],
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	return "http://" + ln.Addr().String(), func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		if file != nil {
			file.Close()
		}
	}, nil
}

// checkWorkloads wants a page of mutant workloads, each with its containers.
func checkWorkloads(body []byte) error {
	var page struct {
		Items []struct {
			Cluster, Namespace, Kind, Name string
			Mutant                         bool
			Containers                     []json.RawMessage
		}
	}
	if err := json.Unmarshal(body, &page); err != nil {
		return err
	}
	if len(page.Items) == 0 {
		return errors.New("no mutant workloads")
	}
	for _, w := range page.Items {
		if !w.Mutant || len(w.Containers) == 0 {
			return fmt.Errorf("workload %s/%s/%s/%s: mutant %t, %d containers", w.Cluster, w.Namespace, w.Kind, w.Name, w.Mutant, len(w.Containers))
		}
	}
	return nil
}

// checkTimeline wants the tag's history: tens of digests, one at least still running.
func checkTimeline(ref string) func([]byte) error {
	return func(body []byte) error {
		var tl struct {
			Ref     string
			Digests []struct {
				Digest   string
				Running  bool
				Clusters []string
				Pods     int
			}
		}
		if err := json.Unmarshal(body, &tl); err != nil {
			return err
		}
		if tl.Ref != ref {
			return fmt.Errorf("ref %q, want %q", tl.Ref, ref)
		}
		running := 0
		for _, d := range tl.Digests {
			if d.Running {
				running++
			}
			if len(d.Clusters) == 0 || d.Pods == 0 {
				return fmt.Errorf("digest %s: %d clusters, %d pods", d.Digest, len(d.Clusters), d.Pods)
			}
		}
		if len(tl.Digests) < 10 || running == 0 {
			return fmt.Errorf("%d digests, %d running; want tens, some running", len(tl.Digests), running)
		}
		return nil
	}
}

// checkDigest wants the places a digest runs in.
func checkDigest(digest string) func([]byte) error {
	return func(body []byte) error {
		var use struct {
			Digest  string
			Running []json.RawMessage
			History []json.RawMessage
		}
		if err := json.Unmarshal(body, &use); err != nil {
			return err
		}
		if use.Digest != digest || len(use.Running) == 0 {
			return fmt.Errorf("digest %q with %d running places; want %q, running", use.Digest, len(use.Running), digest)
		}
		return nil
	}
}

// checkMutations wants a page of open mutations, each with its places.
func checkMutations(body []byte) error {
	var page struct {
		Items []struct {
			ID         int64
			Kind       string
			Places     []json.RawMessage
			ResolvedAt *time.Time
		}
	}
	if err := json.Unmarshal(body, &page); err != nil {
		return err
	}
	if len(page.Items) == 0 {
		return errors.New("no open mutations")
	}
	for _, m := range page.Items {
		if m.ResolvedAt != nil || len(m.Places) == 0 {
			return fmt.Errorf("mutation %d (%s): resolved at %v, %d places; want open, with places", m.ID, m.Kind, m.ResolvedAt, len(m.Places))
		}
	}
	return nil
}

// checkClusters wants the clusters, each scanned, some with open mutations.
func checkClusters(body []byte) error {
	var page struct {
		Items []struct {
			Name          string
			LastScan      *json.RawMessage
			OpenMutations int
		}
	}
	if err := json.Unmarshal(body, &page); err != nil {
		return err
	}
	mutant := 0
	for _, c := range page.Items {
		if c.LastScan == nil {
			return fmt.Errorf("cluster %s: never scanned", c.Name)
		}
		if c.OpenMutations > 0 {
			mutant++
		}
	}
	if len(page.Items) == 0 || mutant == 0 {
		return fmt.Errorf("%d clusters, %d with open mutations; want some of each", len(page.Items), mutant)
	}
	return nil
}
