// Package server is tagdrift's HTTP service: it builds the router, serves health and
// readiness itself (metrics have a listener of their own: server/metrics), and mounts
// the service's two faces, which never import each other:
//
//   - server/api: the REST API v1 under /api/v1, one file per resource;
//   - server/ui: the web UI, one file per page.
//
// What both need is made here once and handed to both: server/access (API tokens,
// principals, sessions and sign-in, the one rate limiter; server/access/password hashes
// the users' passwords) and the kubeconfig vetting of server/request, which also holds
// the query, cursor and list rules and the one mapping from errors to statuses. The
// background work (scans, rechecks) is River's, in the top-level scheduler package;
// handlers never list a cluster themselves, they ask it through Scanner.
package server

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"

	"github.com/tagdrift/tagdrift/notify"
	"github.com/tagdrift/tagdrift/scanner/kubeconfig"
	"github.com/tagdrift/tagdrift/server/access"
	"github.com/tagdrift/tagdrift/server/access/sso"
	"github.com/tagdrift/tagdrift/server/api"
	"github.com/tagdrift/tagdrift/server/request"
	"github.com/tagdrift/tagdrift/server/ui"
	"github.com/tagdrift/tagdrift/store"
)

// Config is what the handlers need.
type Config struct {
	// Ready reports whether the service can do its work (database reachable, schema
	// current); nil means ready. /readyz runs at most one check at a time and shares
	// its result for a second, whatever the number of callers; its error goes to the
	// log, never to the caller.
	Ready  func(ctx context.Context) error
	Logger *slog.Logger

	// Store serves the REST API under /api/v1; nil leaves the API out.
	Store *store.Store
	// Scans asks for a scan now (the scheduler); POST /api/v1/clusters/{name}/scans
	// needs it. Without it, what a deleted cluster queued waits for a scheduler on
	// the same database.
	Scans Scanner
	// Policy vets the kubeconfigs posted to the API, as for --cluster-kubeconfig.
	Policy kubeconfig.Policy
	// ChannelClient is the HTTP client notification channels' test messages go through
	// (notify.NewChannelClient's, with the address policy of clusters); nil is one that
	// reaches public addresses only.
	ChannelClient *http.Client
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
	// TrustedProxies are the reverse proxies whose X-Forwarded-For names the client
	// (--trusted-proxy): the failed-attempt limits key on that client, and the audit
	// trail records it. None by default: the client is the connection's peer.
	TrustedProxies []netip.Prefix
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
	// Cookies is how the session cookie is sent, decided at start from the
	// configuration (access.DecideCookies), never from a request; the zero value is
	// Secure.
	Cookies access.Cookies
	// DeviceKeys sign and check device cookies (access.Config.DeviceKeys): the key
	// ring's, derived for access.DevicePurpose; none makes a key per process.
	DeviceKeys [][]byte
	// AckMaxDuration is how far ahead a viewer may acknowledge a mutation (admins are
	// not limited); default 90 days.
	AckMaxDuration time.Duration
	// SSO signs users of the web UI in through an OpenID Connect provider
	// (docs/sso.md); nil for none.
	SSO *sso.Provider
	// NoLocalSignIn turns local sign-in (name and password) off; only with SSO.
	NoLocalSignIn bool
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Scanner is the scheduler as the API and the UI drive it.
type Scanner = api.Scanner

// withDefaults fills the zero values the router uses; the gate (access.New) and the
// API (api.New) fill their own.
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
}

// New returns the service's handler: with a store, the API and the web UI too.
func New(cfg Config) http.Handler {
	cfg.withDefaults()
	r := chi.NewRouter()
	r.Use(middleware.Recoverer)
	if cfg.Store != nil {
		// One gate and one vetter for both faces: the bound on credential look-ups and
		// the failed-token limit per address count the API's requests and the pages'
		// together, as they did when the UI borrowed the API's.
		gate := access.New(access.Config{
			Store: cfg.Store, AdminToken: cfg.AdminToken,
			RateLimit: cfg.RateLimit, RateBurst: cfg.RateBurst, FailedAuthBurst: cfg.FailedAuthBurst,
			TrustedProxies: access.NewTrustedProxies(cfg.TrustedProxies),
			AuthLookups:    cfg.AuthLookups, SessionIdle: cfg.SessionIdle, SessionAbsolute: cfg.SessionAbsolute,
			Cookies: cfg.Cookies, DeviceKeys: cfg.DeviceKeys, Now: cfg.Now, Logger: cfg.Logger,
		})
		vet := request.Vetter{Policy: cfg.Policy}
		notifier := newNotifier(cfg.ChannelClient)
		api.New(api.Config{Store: cfg.Store, Scans: cfg.Scans, Vetter: vet, Notifier: notifier, Access: gate,
			CacheBytes: cfg.CacheBytes, AckMaxDuration: cfg.AckMaxDuration, Now: cfg.Now, Logger: cfg.Logger}).Mount(r)
		// A nil Scans stays nil for the UI (not an interface holding nil).
		var scans ui.Scanner
		if cfg.Scans != nil {
			scans = cfg.Scans
		}
		ui.New(ui.Config{Store: cfg.Store, Scans: scans, Vetter: vet, Notifier: notifier, Access: gate,
			ViewerAckMaxAge: cfg.AckMaxDuration, SSO: cfg.SSO, NoLocalSignIn: cfg.NoLocalSignIn, Now: cfg.Now, Logger: cfg.Logger}).Mount(r)
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
	return r
}

// newNotifier checks notification channels and sends their test messages through
// client (nil: public addresses only), as the delivery pipeline sends.
func newNotifier(client *http.Client) request.Notifier {
	if client == nil {
		client = notify.NewChannelClient(nil, 0)
	}
	return request.Notifier{Build: func(kind string, config json.RawMessage, secret []byte) (notify.Sender, error) {
		return notify.Build(kind, config, secret, client)
	}}
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
