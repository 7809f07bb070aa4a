package ui

import (
	"net/http"

	"github.com/tagdrift/tagdrift/server/request"
)

// contentSecurityPolicy is the policy of every page: nothing but this origin's assets,
// scripts and style elements only with the request's nonce (no inline handlers, no
// style attributes), forms only to this origin, never framed.
func contentSecurityPolicy(nonce string) string {
	return "default-src 'none'; " +
		"script-src 'nonce-" + nonce + "'; " +
		"style-src 'self' 'nonce-" + nonce + "'; " +
		"img-src 'self' data:; " +
		"connect-src 'self'; " +
		"form-action 'self'; " +
		"base-uri 'none'; " +
		"frame-ancestors 'none'"
}

// securityHeaders sets the headers every page carries. It needs withNonce before it.
// HSTS when the configured public URL is https, or the request came over TLS: sent over
// plain http it would be ignored, and on a loopback development server it would pin
// localhost to https.
func (u *UI) securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", contentSecurityPolicy(nonceOf(r.Context())))
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("X-Frame-Options", "DENY") // frame-ancestors for browsers before CSP 2
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		if u.access.Sessions.Cookies.HSTS(r) {
			h.Set("Strict-Transport-Security", "max-age=31536000")
		}
		next.ServeHTTP(w, r)
	})
}

// crossOrigin refuses cross-site form posts (and any other unsafe method) with Go's
// CrossOriginProtection, which reads Sec-Fetch-Site and Origin; the refusal is a page.
func (u *UI) crossOrigin(next http.Handler) http.Handler {
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(u.handle(func(http.ResponseWriter, *http.Request) error {
		return request.Errorf(http.StatusForbidden, "cross-site request refused: submit the form from tagdrift's own pages")
	}))
	return cop.Handler(next)
}
