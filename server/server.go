// Package server is the tagdrift service: this package serves HTTP (health, readiness,
// metrics, the REST API v1 in api.go, and the web UI built on it), and its subpackage
// server/scheduler runs the background work on River (the scans of every cluster and
// the rechecks they queue). Handlers here never list a cluster themselves; they ask the
// scheduler through Scanner. server/password hashes the users' passwords.
package server

import (
	"cmp"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/tagdrift/tagdrift/scanner/kubeconfig"
	"github.com/tagdrift/tagdrift/store"
)

// Config is what the handlers need.
type Config struct {
	// Ready reports whether the service can do its work (database reachable, schema
	// current); nil means ready. /readyz runs at most one check at a time and shares
	// its result for a second, whatever the number of callers; its error goes to the
	// log, never to the caller.
	Ready    func(ctx context.Context) error
	Registry *prometheus.Registry
	Logger   *slog.Logger

	// Store serves the REST API under /api/v1; nil leaves the API out.
	Store *store.Store
	// Scans asks for a scan now (the scheduler); POST /api/v1/clusters/{name}/scans
	// needs it. Without it, what a deleted cluster queued waits for a scheduler on
	// the same database.
	Scans Scanner
	// Policy vets the kubeconfigs posted to the API, as for --cluster-kubeconfig.
	Policy kubeconfig.Policy
	// AdminToken, when not empty, is accepted as an admin bearer token
	// (TAGDRIFT_ADMIN_TOKEN); it is compared in constant time and never logged.
	AdminToken string
	// RateLimit is the requests per second each token may make on average; default 50.
	RateLimit float64
	// RateBurst is how many requests a token may make at once; default 100.
	RateBurst int
	// FailedAuthBurst is how many requests with an unknown token one address may make
	// at once before it gets 429; then one a second. Default 20.
	FailedAuthBurst int
	// AuthLookups bounds the credential look-ups (API tokens, session cookies, sign-in
	// names) run at once, from all addresses together; a request that waits 2 s for one
	// gets 503. Default a quarter of the store's pool, at most 4, so that a flood from
	// many addresses never holds the connections the scans need.
	AuthLookups int
	// CacheBytes bounds the memory kept for answers of the heavy reads (workloads, the
	// timeline, digests), served while the data they were made from is unchanged;
	// default 64 MiB, negative for none.
	CacheBytes int
	// SessionIdle ends a web UI session unused for this long; default 12 h.
	SessionIdle time.Duration
	// SessionAbsolute ends a web UI session this long after sign-in, however used;
	// default 7 days.
	SessionAbsolute time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Scanner is the scheduler as the API drives it.
type Scanner interface {
	// ScanNow asks for a scan of a cluster now and returns its scan record's id.
	// a, the audit of who asks, is recorded with the queued scan.
	ScanNow(ctx context.Context, clusterID int64, a store.Audit) (int64, error)
	// Recheck asks for the references a deleted cluster queued (store.DeleteCluster)
	// to be rechecked now rather than at the next tick.
	Recheck(ctx context.Context) error
	// Unannotate removes what tagdrift wrote on a cluster's ReplicaSets.
	Unannotate(ctx context.Context, clusterID int64) error
}

// withDefaults fills the zero values.
func (c *Config) withDefaults() {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Ready == nil {
		c.Ready = func(context.Context) error { return nil }
	}
	if c.Registry == nil {
		c.Registry = prometheus.NewRegistry()
	}
	if c.RateLimit <= 0 {
		c.RateLimit = 50
	}
	c.RateBurst = cmp.Or(max(c.RateBurst, 0), 100)
	c.FailedAuthBurst = cmp.Or(max(c.FailedAuthBurst, 0), 20)
	if c.AuthLookups <= 0 && c.Store != nil {
		c.AuthLookups = defaultLookups(int(c.Store.Pool().Config().MaxConns))
	}
	c.CacheBytes = cmp.Or(c.CacheBytes, 64<<20)
}

// New returns the service's handler: with a store, the API and the web UI too.
func New(cfg Config) http.Handler {
	cfg.withDefaults()
	r := chi.NewRouter()
	r.Use(middleware.Recoverer)
	if cfg.Store != nil {
		a := newAPI(cfg)
		a.mount(r)
		newUI(cfg, a).mount(r)
	}
	r.Get("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	ready := &readiness{check: cfg.Ready, log: cfg.Logger, now: cfg.Now}
	r.Get("/readyz", func(w http.ResponseWriter, req *http.Request) {
		ctx, cancel := context.WithTimeout(req.Context(), readyTimeout)
		defer cancel()
		if err := ready.ready(ctx); err != nil {
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable",
				"error": "not ready: the service's log says why"})
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	})
	r.Handle("/metrics", promhttp.HandlerFor(cfg.Registry, promhttp.HandlerOpts{}))
	return r
}

// Readiness timing: a caller waits at most readyTimeout; one check runs at most
// checkTimeout; its result is shared for readyTTL.
const (
	readyTimeout = 3 * time.Second
	checkTimeout = 3 * time.Second
	readyTTL     = time.Second
)

// readiness runs the readiness check for every caller: at most one check at a time,
// whose result is kept for readyTTL, so that a flood of /readyz costs one query a
// second at most and a check that hangs (a migration holding its locks) holds one
// connection, not one per caller. Callers wait for the running check until their own
// deadline.
type readiness struct {
	check func(context.Context) error
	log   *slog.Logger
	now   func() time.Time

	mu      sync.Mutex
	at      time.Time // when the last check ended
	err     error
	running chan struct{} // closed when the running check ends; nil when none runs
}

func (r *readiness) ready(ctx context.Context) error {
	r.mu.Lock()
	if !r.at.IsZero() && r.now().Sub(r.at) < readyTTL && r.running == nil {
		err := r.err
		r.mu.Unlock()
		return err
	}
	done := r.running
	if done == nil {
		done = make(chan struct{})
		r.running = done
		go r.run(done)
	}
	r.mu.Unlock()
	select {
	case <-done:
		r.mu.Lock()
		defer r.mu.Unlock()
		return r.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// run runs one check under its own deadline (the caller that started it may leave).
func (r *readiness) run(done chan struct{}) {
	ctx, cancel := context.WithTimeout(context.Background(), checkTimeout)
	defer cancel()
	err := r.check(ctx)
	if err != nil {
		r.log.Warn("not ready", "error", err.Error())
	}
	r.mu.Lock()
	r.at, r.err, r.running = r.now(), err, nil
	r.mu.Unlock()
	close(done)
}

// writeJSON encodes v before writing headers, so that an encoding error is a 500.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "encode response", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}
