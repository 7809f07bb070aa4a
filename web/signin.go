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
}

// SignedIn reports whether the page is for someone signed in (a session or a token):
// only they get the navigation and the search box.
func (m Meta) SignedIn() bool { return m.Viewer.Role != "" }
