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
}
