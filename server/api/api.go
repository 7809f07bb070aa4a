// Package api serves the REST API v1 under /api/v1, one file per resource: clusters,
// scans, workloads, mutations, the image timeline, digests, tokens, the audit trail,
// notification channels and routes, declared-mutable tag rules and acknowledgements,
// and the OpenAPI document (openapi.json, which a test checks against the router).
// Every route needs a bearer token (server/access); viewers read everything but tokens
// and the audit trail and may ask for acknowledgements; admins also change clusters,
// tokens, notifications and rules, and decide acknowledgements. Query, cursor and list
// rules and the mapping of errors to problem responses are server/request's, shared
// with the web UI; the heavy reads go through a cache kept while the data is unchanged
// (cache.go). Handlers never list a cluster themselves: they ask the scheduler through
// Scanner.
package api

import (
	"cmp"
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/tagdrift/tagdrift/server/access"
	"github.com/tagdrift/tagdrift/server/request"
	"github.com/tagdrift/tagdrift/store"
)

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

// Config is what the API needs.
type Config struct {
	Store *store.Store
	// Scans asks for scans (the scheduler); nil: POST .../scans fails, and what a
	// deleted cluster queued waits for a scheduler on the same database.
	Scans Scanner
	// Vetter vets posted kubeconfigs.
	Vetter request.Vetter
	// Access authenticates and rate-limits the requests.
	Access *access.Gate
	// Notifier checks notification channels and sends their test messages.
	Notifier request.Notifier
	// CacheBytes bounds the memory kept for answers of the heavy reads; default 64 MiB,
	// negative for none.
	CacheBytes int
	// AckMaxDuration is how far ahead a viewer may acknowledge (an admin is not
	// limited); default request.DefaultAckMaxDuration, 90 days.
	AckMaxDuration time.Duration
	Now            func() time.Time
	Logger         *slog.Logger
}

// API serves the REST API v1.
type API struct {
	st     *store.Store
	scans  Scanner
	vet    request.Vetter
	access *access.Gate
	// notifier checks channels and sends test messages.
	notifier request.Notifier
	// ackMax is how far ahead a viewer may acknowledge.
	ackMax time.Duration
	now    func() time.Time
	log    *slog.Logger
	cache  *responseCache // nil: every read is made afresh
}

// New returns the API of cfg.
func New(cfg Config) *API {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Access == nil {
		cfg.Access = access.New(access.Config{Store: cfg.Store, Now: cfg.Now, Logger: cfg.Logger})
	}
	return &API{
		st:       cfg.Store,
		scans:    cfg.Scans,
		vet:      cfg.Vetter,
		access:   cfg.Access,
		notifier: cfg.Notifier,
		ackMax:   cmp.Or(cfg.AckMaxDuration, request.DefaultAckMaxDuration),
		now:      cfg.Now,
		log:      cfg.Logger,
		cache:    newResponseCache(cmp.Or(cfg.CacheBytes, 64<<20)),
	}
}

// Mount adds the API's routes to r.
func (a *API) Mount(r chi.Router) {
	r.Route("/api", func(r chi.Router) {
		r.Use(apiHeaders, a.authenticate)
		r.NotFound(a.handle(func(http.ResponseWriter, *http.Request) error {
			return request.Errorf(http.StatusNotFound, "no such API route")
		}))
		r.MethodNotAllowed(a.handle(func(_ http.ResponseWriter, r *http.Request) error {
			return request.Errorf(http.StatusMethodNotAllowed, "method %s not allowed here", r.Method)
		}))
		r.Route("/v1", func(r chi.Router) {
			r.Get("/openapi.json", a.handle(a.openAPI))

			r.Get("/clusters", a.handle(a.listClusters))
			r.Get("/clusters/{name}", a.handle(a.getCluster))
			r.Get("/groups", a.handle(a.listGroups))
			r.Get("/scans", a.handle(a.listScans))
			r.Get("/scans/{id}", a.handle(a.getScan))
			r.Get("/workloads", a.handle(a.listWorkloads))
			r.Get("/mutations", a.handle(a.listMutations))
			r.Get("/mutations/{id}", a.handle(a.getMutation))
			r.Get("/images/timeline", a.handle(a.timeline))
			r.Get("/digests/{digest}", a.handle(a.digest))
			r.Get("/rules", a.handle(a.listRules))
			r.Get("/rules/{id}", a.handle(a.getRule))
			r.Get("/acknowledgements", a.handle(a.listAcks))
			r.Get("/acknowledgements/{id}", a.handle(a.getAck))
			r.Post("/acknowledgements", a.handle(a.createAck))
			// The requester may withdraw a request; the handler checks who asks.
			r.Post("/acknowledgements/{id}/revoke", a.handle(a.revokeAck))

			// Admins of some cluster groups too: their clusters (the handlers read them
			// in the principal's scope, so another group's are not found) and the
			// notification routes of their groups; the audit trail of their clusters.
			r.Group(func(r chi.Router) {
				r.Use(a.requireAdmin)
				r.Post("/clusters", a.handle(a.createCluster))
				r.Patch("/clusters/{name}", a.handle(a.updateCluster))
				r.Delete("/clusters/{name}", a.handle(a.deleteCluster))
				r.Post("/clusters/{name}/scans", a.handle(a.requestScan))
				r.Get("/audit", a.handle(a.listAudit))
				r.Get("/notifications/routes", a.handle(a.listRoutes))
				r.Post("/notifications/routes", a.handle(a.createRoute))
				r.Get("/notifications/routes/{id}", a.handle(a.getRoute))
				r.Patch("/notifications/routes/{id}", a.handle(a.updateRoute))
				r.Delete("/notifications/routes/{id}", a.handle(a.deleteRoute))
			})
			// Admins of every cluster only: groups, users, tokens, channels, rules and
			// the decisions on acknowledgements are global settings.
			r.Group(func(r chi.Router) {
				r.Use(a.requireGlobalAdmin)
				r.Post("/groups", a.handle(a.createGroup))
				r.Patch("/groups/{name}", a.handle(a.renameGroup))
				r.Delete("/groups/{name}", a.handle(a.deleteGroup))
				r.Put("/users/{name}/scope", a.handle(a.setUserScope))
				r.Put("/users/{name}/grants", a.handle(a.setUserGrants))
				r.Get("/tokens", a.handle(a.listTokens))
				r.Post("/tokens", a.handle(a.createToken))
				r.Delete("/tokens/{id}", a.handle(a.revokeToken))
				r.Put("/tokens/{id}/scope", a.handle(a.setTokenScope))
				r.Put("/tokens/{id}/grants", a.handle(a.setTokenGrants))
				r.Get("/notifications/channels", a.handle(a.listChannels))
				r.Post("/notifications/channels", a.handle(a.createChannel))
				r.Get("/notifications/channels/{id}", a.handle(a.getChannel))
				r.Patch("/notifications/channels/{id}", a.handle(a.updateChannel))
				r.Delete("/notifications/channels/{id}", a.handle(a.deleteChannel))
				r.Post("/notifications/channels/{id}/test", a.handle(a.testChannel))
				r.Get("/notifications/channels/{id}/deliveries", a.handle(a.listDeliveries))
				r.Post("/rules", a.handle(a.createRule))
				r.Post("/rules/{id}/revoke", a.handle(a.revokeRule))
				r.Get("/acknowledgements/unmatched", a.handle(a.unmatched))
				r.Post("/acknowledgements/{id}/approve", a.handle(a.approveAck))
				r.Post("/acknowledgements/{id}/deny", a.handle(a.denyAck))
			})
		})
	})
}

// apiHeaders marks every API response uncacheable (a created token is in one) and not
// to be sniffed.
func apiHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		next.ServeHTTP(w, r)
	})
}

// handlerFunc is an API handler: it writes a response and returns nil, or returns an
// error and writes nothing.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// handle adapts a handlerFunc, turning its error into a problem response
// (request.Fail).
func (a *API) handle(h handlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			request.Fail(w, r, err, a.log)
		}
	}
}

// authenticate requires a valid bearer token on every request it wraps, then applies the
// token's rate limit.
func (a *API) authenticate(next http.Handler) http.Handler {
	return a.handle(func(w http.ResponseWriter, r *http.Request) error {
		p, err := a.access.Principal(r)
		if err != nil {
			return err
		}
		if err := a.access.Allow(p); err != nil {
			return err
		}
		next.ServeHTTP(w, r.WithContext(access.WithPrincipal(r.Context(), p)))
		return nil
	})
}

// requireGlobalAdmin lets only admins of every cluster through; others get a 403 (what
// it guards names no cluster, so a 403 tells nothing).
func (a *API) requireGlobalAdmin(next http.Handler) http.Handler {
	return a.handle(func(w http.ResponseWriter, r *http.Request) error {
		p := access.PrincipalOf(r.Context())
		if !p.IsAdmin() {
			return request.Errorf(http.StatusForbidden, "this needs an admin token")
		}
		if !p.IsGlobalAdmin() {
			return request.Errorf(http.StatusForbidden, "this needs an admin of every cluster: a scoped admin manages their groups' clusters and routes")
		}
		next.ServeHTTP(w, r)
		return nil
	})
}

// requireAdmin lets only admins through, of every cluster or of some groups; viewers
// get a 403.
func (a *API) requireAdmin(next http.Handler) http.Handler {
	return a.handle(func(w http.ResponseWriter, r *http.Request) error {
		if !access.PrincipalOf(r.Context()).IsAdmin() {
			return request.Errorf(http.StatusForbidden, "this needs an admin token")
		}
		next.ServeHTTP(w, r)
		return nil
	})
}

// scopeOf is what the request's principal reads (access.Principal.ReadScope), which
// every read passes to the store.
func scopeOf(ctx context.Context) store.Scope { return access.PrincipalOf(ctx).ReadScope() }

// adminScopeOf is what the request's principal administers
// (access.Principal.AdminScope): the clusters it may change and the routes and audit
// entries it manages.
func adminScopeOf(ctx context.Context) store.Scope { return access.PrincipalOf(ctx).AdminScope() }
