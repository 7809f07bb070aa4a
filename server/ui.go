package server

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/a-h/templ"
	"github.com/go-chi/chi/v5"

	"github.com/tagdrift/tagdrift/store"
	"github.com/tagdrift/tagdrift/web"
)

// ui serves the web pages. Every page is a view struct built by one handler (one file
// per page: ui_<page>.go) from the same store methods the API uses, rendered by a web/
// component into a buffer; an error renders an error page instead, never half a page.
type ui struct {
	st     *store.Store
	api    *api // authentication, for requireSession
	assets *web.Assets
	log    *slog.Logger
	now    func() time.Time
	sess   *sessions // sign-in state: ui_session.go
}

func newUI(cfg Config, a *api) *ui {
	return &ui{st: cfg.Store, api: a, assets: web.NewAssets(), log: cfg.Logger, now: cfg.Now, sess: newSessions(cfg)}
}

// mount adds the pages to r. The assets need no session (they hold no data); every page
// does.
func (u *ui) mount(r chi.Router) {
	// Any other path: a page saying so (it tells nothing, so it needs no session).
	r.NotFound(withNonce(securityHeaders(u.handle(func(http.ResponseWriter, *http.Request) error {
		return newHTTPError(http.StatusNotFound, "no such page")
	}))).ServeHTTP)
	r.Group(func(r chi.Router) {
		// Every answer carries the security headers; no form posts across sites.
		r.Use(withNonce, securityHeaders, u.crossOrigin)
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
func (u *ui) pages(r chi.Router) {
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
func (u *ui) handle(h uiHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			u.fail(w, r, err)
		}
	}
}

// meta is what the layout needs, for the page titled title under the nav item nav.
func (u *ui) meta(r *http.Request, title, nav string) web.Meta {
	p := principalOf(r.Context())
	m := web.Meta{
		Title:  title,
		Nav:    nav,
		Viewer: web.Viewer{Name: p.actor, Role: p.role},
		Nonce:  nonceOf(r.Context()),
		CSS:    u.assets.URL("style.css"),
		JS:     u.assets.URL("app.js"),
		Now:    u.now(),
	}
	if s := sessionOf(r.Context()); s != nil {
		m.Viewer.Name = s.User.Name
		m.SignOut = "/signout"
	}
	return m
}

// render renders the page m with content into a buffer, then writes it with status.
func (u *ui) render(w http.ResponseWriter, r *http.Request, status int, m web.Meta, content templ.Component) error {
	var buf bytes.Buffer
	if err := web.Page(m, content).Render(r.Context(), &buf); err != nil {
		return about(err, "render %s", m.Title)
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

// fail renders the error page for err: client errors keep their detail, not found is a
// 404 naming what, anything else is a 500 whose cause is logged, never shown.
func (u *ui) fail(w http.ResponseWriter, r *http.Request, err error) {
	var (
		he      *httpError
		subject *subjectError
	)
	name := "page"
	if errors.As(err, &subject) {
		name = subject.subject
	}
	status, title, detail, hint := http.StatusInternalServerError, "Something went wrong",
		"The server could not make this page; it logged the cause.", "Try again in a moment; if it persists, the service's log says why."
	switch {
	case errors.As(err, &he):
		for k, v := range he.header {
			w.Header()[k] = v
		}
		status, title, detail, hint = he.status, http.StatusText(he.status), he.detail, ""
		if he.status == http.StatusUnauthorized {
			hint = "Sign in first."
		}
	case errors.Is(err, store.ErrNotFound):
		status, title, detail, hint = http.StatusNotFound, "Not found", name+" not found", "It may have been deleted, or the link is mistyped."
	case r.Context().Err() != nil && errors.Is(err, context.Canceled):
		u.log.Debug("request cancelled", "method", r.Method, "path", r.URL.Path)
		status, detail = http.StatusServiceUnavailable, "The request was cancelled."
	default:
		u.log.Error("page failed", "method", r.Method, "path", r.URL.Path, "error", err.Error())
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

// pathParam is a route parameter unescaped: chi routes on the raw path when it has
// escapes (a name holding '/'), and then hands the segment as written.
func pathParam(r *http.Request, name string) string {
	v := chi.URLParam(r, name)
	if r.URL.RawPath == "" {
		return v
	}
	if s, err := url.PathUnescape(v); err == nil {
		return s
	}
	return v
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
