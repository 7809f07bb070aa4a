package server

import (
	"crypto/sha256"
	"log/slog"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/tagdrift/tagdrift/scanner/kubeconfig"
	"github.com/tagdrift/tagdrift/store"
)

// api serves the REST API v1. Every route under /api/ needs a bearer token (the OpenAPI
// document too); viewers read everything but tokens and the audit trail, admins also
// change clusters and tokens.
type api struct {
	st        *store.Store
	scans     Scanner
	policy    kubeconfig.Policy
	adminHash []byte // SHA-256 of the admin token; nil when there is none
	now       func() time.Time
	log       *slog.Logger
	limits    *limiters
	// badTokens limits failed token look-ups per address, before the database is asked,
	// so that a flood of bad tokens cannot take the pool the scans share.
	badTokens *attempts
	// lookups bounds the token and session look-ups of all addresses together.
	lookups *lookups
	touches touches
	cache   *responseCache // nil: every read is made afresh
}

func newAPI(cfg Config) *api {
	cfg.withDefaults()
	a := &api{
		st:        cfg.Store,
		scans:     cfg.Scans,
		policy:    cfg.Policy,
		now:       cfg.Now,
		log:       cfg.Logger,
		limits:    newLimiters(cfg.RateLimit, cfg.RateBurst),
		badTokens: newAttempts(cfg.FailedAuthBurst, badTokenFailureEvery, maxLimitedKeys),
		cache:     newResponseCache(cfg.CacheBytes),
		lookups:   newLookups(cfg.AuthLookups, lookupWait),
	}
	if cfg.AdminToken != "" {
		sum := sha256.Sum256([]byte(cfg.AdminToken))
		a.adminHash = sum[:]
	}
	return a
}

// mount adds the API's routes to r.
func (a *api) mount(r chi.Router) {
	r.Route("/api", func(r chi.Router) {
		r.Use(apiHeaders, a.authenticate)
		r.NotFound(a.handle(func(http.ResponseWriter, *http.Request) error {
			return newHTTPError(http.StatusNotFound, "no such API route")
		}))
		r.MethodNotAllowed(a.handle(func(_ http.ResponseWriter, r *http.Request) error {
			return newHTTPError(http.StatusMethodNotAllowed, "method %s not allowed here", r.Method)
		}))
		r.Route("/v1", func(r chi.Router) {
			r.Get("/openapi.json", a.handle(a.openAPI))

			r.Get("/clusters", a.handle(a.listClusters))
			r.Get("/clusters/{name}", a.handle(a.getCluster))
			r.Get("/scans", a.handle(a.listScans))
			r.Get("/scans/{id}", a.handle(a.getScan))
			r.Get("/workloads", a.handle(a.listWorkloads))
			r.Get("/mutations", a.handle(a.listMutations))
			r.Get("/mutations/{id}", a.handle(a.getMutation))
			r.Get("/images/timeline", a.handle(a.timeline))
			r.Get("/digests/{digest}", a.handle(a.digest))

			r.Group(func(r chi.Router) {
				r.Use(a.requireAdmin)
				r.Post("/clusters", a.handle(a.createCluster))
				r.Patch("/clusters/{name}", a.handle(a.updateCluster))
				r.Delete("/clusters/{name}", a.handle(a.deleteCluster))
				r.Post("/clusters/{name}/scans", a.handle(a.requestScan))
				r.Get("/audit", a.handle(a.listAudit))
				r.Get("/tokens", a.handle(a.listTokens))
				r.Post("/tokens", a.handle(a.createToken))
				r.Delete("/tokens/{id}", a.handle(a.revokeToken))
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
