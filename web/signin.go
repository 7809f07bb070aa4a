package web

// SignInView is the sign-in page.
type SignInView struct {
	Name string // as typed, kept after a refusal
	Next string // where to go after signing in: a path on this site
	// Error is the form's refusal (wrong credentials, too many attempts), shown above it.
	Error                    string
	NameError, PasswordError string
	// Insecure says the page came over plain http to a non-loopback address, where the
	// browser will not keep the session cookie.
	Insecure bool
	// SignedOut says the visitor just signed out: the page says so. It is a fixed flag
	// of the URL the sign-out redirects to, so a link can show no other message.
	SignedOut bool
	// Provider is the OpenID Connect provider's name on its button, and ProviderURL
	// where the button starts its sign-in; empty when none is configured.
	Provider, ProviderURL string
	// NoLocal hides the name and password form: local sign-in is turned off.
	NoLocal bool
}

// SignInFailedView is the page a sign-in through the provider ends on when it fails:
// what happened in words, what to do, and the way back to the sign-in page (never an
// automatic redirect, so a failure cannot loop).
type SignInFailedView struct {
	Title, Detail, Hint string
	// Reason is the failure's kind, for tests (data-reason).
	Reason string
}

// SigningOutView is the page that sends the browser to the identity provider's
// sign-out: Provider its name, URL its end-session URL.
type SigningOutView struct {
	Provider, URL string
}

// SignedIn reports whether the page is for someone signed in (a session or a token):
// only they get the navigation and the search box.
func (m Meta) SignedIn() bool { return m.Viewer.Role != "" }
