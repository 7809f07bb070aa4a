package server

import (
	"context"
	"net/http"
)

// requireSession lets a page through only for an authenticated viewer, and puts the
// viewer's principal in the request's context (principalOf), so pages know the role.
// For now it authenticates as the API does (a bearer token); the sign-in work replaces
// this file with cookie sessions.
func (u *ui) requireSession(next http.Handler) http.Handler {
	return u.handle(func(w http.ResponseWriter, r *http.Request) error {
		p, err := u.api.principal(r)
		if err != nil {
			return err
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), principalKey{}, p)))
		return nil
	})
}
