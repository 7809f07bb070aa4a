// Package ui serves the web UI: one file per page (overview, clusters and their forms,
// workloads, a workload, mutations, the image timeline, a digest, search, sign-in, the
// admin pages), each building a view struct from the store and rendering a web/
// component into a buffer, and the middleware every page shares (security headers with
// a CSP nonce, cross-origin protection, sessions). Sign-in, sessions and bearer tokens
// are server/access's; query, cursor and list rules and the mapping of errors to
// statuses are server/request's, shared with the API (server/api), which the UI never
// imports.
package ui

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/a-h/templ"
	"github.com/go-chi/chi/v5"

	"github.com/tagdrift/tagdrift/server/access"
	"github.com/tagdrift/tagdrift/server/access/sso"
	"github.com/tagdrift/tagdrift/server/request"
	"github.com/tagdrift/tagdrift/store"
	"github.com/tagdrift/tagdrift/web"
)

// Scanner is the scheduler as the UI's forms drive it.
type Scanner interface {
	// ScanNow asks for a scan of a cluster now and returns its scan record's id.
	ScanNow(ctx context.Context, clusterID int64, a store.Audit) (int64, error)
	// Recheck asks for the references a deleted cluster queued to be rechecked now.
	Recheck(ctx context.Context) error
}

// Config is what the UI needs.
type Config struct {
	Store *store.Store
	// Scans asks for scans (the scheduler); nil: "Scan now" fails.
	Scans Scanner
	// Vetter vets the kubeconfigs of the add-cluster form.
	Vetter request.Vetter
	// Notifier checks notification channels and sends their test messages.
	Notifier request.Notifier
	// Access authenticates the pages (sessions, or bearer tokens) and signs users in.
	Access *access.Gate
	Now    func() time.Time
	Logger *slog.Logger
	// ViewerAckMaxAge is how far ahead a viewer may ask to acknowledge a mutation;
	// default request.DefaultAckMaxDuration (90 days, the API's). Admins have no limit.
	ViewerAckMaxAge time.Duration
	// OverviewRefresh is how often the overview fetches its data again while its tab is
	// visible; default 30 s.
	OverviewRefresh time.Duration
	// SSO signs users in through an OpenID Connect provider; nil for none.
	SSO *sso.Provider
	// NoLocalSignIn turns the name and password form off (with SSO set).
	NoLocalSignIn bool
}

// UI serves the web pages. Every page is a view struct built by one handler (one file
// per page) from the same store methods the API uses, rendered by a web/ component into
// a buffer; an error renders an error page instead, never half a page.
type UI struct {
	st     *store.Store
	scans  Scanner
	vet    request.Vetter
	notify request.Notifier
	access *access.Gate
	assets *web.Assets
	log    *slog.Logger
	now    func() time.Time
	// viewerAckMax is Config.ViewerAckMaxAge.
	viewerAckMax time.Duration
	// overviewRefresh is Config.OverviewRefresh.
	overviewRefresh time.Duration
	sso             *sso.Provider
	noLocal         bool
}

// New returns the UI of cfg.
func New(cfg Config) *UI {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Access == nil {
		cfg.Access = access.New(access.Config{Store: cfg.Store, Now: cfg.Now, Logger: cfg.Logger})
	}
	return &UI{st: cfg.Store, scans: cfg.Scans, vet: cfg.Vetter, notify: cfg.Notifier, access: cfg.Access, assets: web.NewAssets(), log: cfg.Logger, now: cfg.Now,
		viewerAckMax: cmp.Or(cfg.ViewerAckMaxAge, request.DefaultAckMaxDuration), overviewRefresh: cmp.Or(cfg.OverviewRefresh, 30*time.Second),
		sso: cfg.SSO, noLocal: cfg.NoLocalSignIn && cfg.SSO != nil}
}

// Mount adds the pages to r. The assets need no session (they hold no data); every page
// does.
func (u *UI) Mount(r chi.Router) {
	// Any other path: a page saying so (it tells nothing, so it needs no session; with
	// one, it keeps the navigation).
	r.NotFound(withNonce(u.securityHeaders(u.maybeSession(u.handle(func(http.ResponseWriter, *http.Request) error {
		return request.Errorf(http.StatusNotFound, "no such page")
	})))).ServeHTTP)
	r.Group(func(r chi.Router) {
		// Every answer carries the security headers; no form posts across sites.
		r.Use(withNonce, u.securityHeaders, u.crossOrigin)
		r.Handle(web.AssetsPrefix+"*", u.assets)
		u.signInRoutes(r)
		r.Group(func(r chi.Router) {
			r.Use(u.requireSession)
			u.pages(r)
			u.formRoutes(r)
		})
	})
}

// pages are the routes of the read pages.
func (u *UI) pages(r chi.Router) {
	r.Get("/", u.handle(u.overview))
	r.Get("/clusters", u.handle(u.clusters))
	r.Get("/clusters/{name}", u.handle(u.cluster))
	r.Get("/workloads", u.handle(u.workloads))
	r.Get("/workloads/{cluster}/{namespace}/{kind}/{name}", u.handle(u.workload))
	r.Get("/mutations", u.handle(u.mutations))
	r.Get("/images", u.handle(u.timeline))
	r.Get("/images/clusters", u.handle(u.timelineSpans))
	r.Get("/digests/{digest}", u.handle(u.digest))
	r.Get("/search", u.handle(u.search))
}

// uiHandler is a page handler: it renders a page and returns nil, or returns an error
// and writes nothing.
type uiHandler func(w http.ResponseWriter, r *http.Request) error

// handle adapts a uiHandler, turning its error into an error page.
func (u *UI) handle(h uiHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			u.fail(w, r, err)
		}
	}
}

// meta is what the layout needs, for the page titled title under the nav item nav.
func (u *UI) meta(r *http.Request, title, nav string) web.Meta {
	p := access.PrincipalOf(r.Context())
	m := web.Meta{
		Title:  title,
		Nav:    nav,
		Viewer: web.Viewer{Name: p.Actor, Role: p.Role()},
		Nonce:  nonceOf(r.Context()),
		CSS:    u.assets.URL("style.css"),
		JS:     u.assets.URL("app.js"),
		Now:    u.now(),
	}
	if s := access.SessionOf(r.Context()); s != nil {
		m.Viewer.Name = s.User.Name
		m.SignOut = "/signout"
	}
	return m
}

// render renders the page m with content into a buffer, then writes it with status.
func (u *UI) render(w http.ResponseWriter, r *http.Request, status int, m web.Meta, content templ.Component) error {
	var buf bytes.Buffer
	if err := web.Page(m, content).Render(r.Context(), &buf); err != nil {
		return request.About(err, "render %s", m.Title)
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	// A write error means the client went away.
	w.Write(buf.Bytes())
	return nil
}

// fail renders the error page for err, as request.Classify maps it: client errors keep
// their detail, not found is a 404 naming what, anything else is a 500 whose cause is
// logged, never shown.
func (u *UI) fail(w http.ResponseWriter, r *http.Request, err error) {
	var he *request.Error
	f := request.Classify(r, err, "page")
	status, title, detail, hint := http.StatusInternalServerError, "Something went wrong",
		"The server could not make this page; it logged the cause.", "Try again in a moment; if it persists, the service's log says why."
	switch {
	case f.Cause == request.Cancelled:
		u.log.Debug("request cancelled", "method", r.Method, "path", r.URL.Path)
		status, detail = f.Status, "The request was cancelled."
	case f.Cause == request.ServerError:
		u.log.Error("page failed", "method", r.Method, "path", r.URL.Path, "error", err.Error())
	case errors.As(err, &he):
		for k, v := range f.Header {
			w.Header()[k] = v
		}
		status, title, detail, hint = f.Status, http.StatusText(f.Status), f.Detail, ""
		if f.Status == http.StatusUnauthorized {
			hint = "Sign in first."
		}
	case f.Status == http.StatusNotFound:
		status, title, detail, hint = f.Status, "Not found", f.Detail, "It may have been deleted, or the link is mistyped."
	default:
		status, title, detail, hint = f.Status, http.StatusText(f.Status), f.Detail, ""
	}
	m := u.meta(r, title, "")
	var buf bytes.Buffer
	if err := web.Page(m, web.ErrorPage(status, title, detail, hint)).Render(r.Context(), &buf); err != nil {
		u.log.Error("render error page", "error", err.Error())
		http.Error(w, detail, status)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

type nonceKey struct{}

// withNonce gives each request a fresh Content-Security-Policy nonce, which pages set on
// their script tags; the security headers read it with nonceOf.
func withNonce(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if nonceOf(r.Context()) != "" {
			next.ServeHTTP(w, r)
			return
		}
		b := make([]byte, 18)
		rand.Read(b) // never fails (crypto/rand)
		n := base64.RawStdEncoding.EncodeToString(b)
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), nonceKey{}, n)))
	})
}

// nonceOf is the request's CSP nonce; "" outside withNonce.
func nonceOf(ctx context.Context) string {
	n, _ := ctx.Value(nonceKey{}).(string)
	return n
}

// scopeOf is what the request's principal reads (access.Principal.ReadScope), which
// every read passes to the store.
func scopeOf(ctx context.Context) store.Scope { return access.PrincipalOf(ctx).ReadScope() }

// adminScopeOf is what the request's principal administers
// (access.Principal.AdminScope): the clusters it may change.
func adminScopeOf(ctx context.Context) store.Scope { return access.PrincipalOf(ctx).AdminScope() }
