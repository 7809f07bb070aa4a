package ui

import "github.com/go-chi/chi/v5"

// formRoutes are the pages and actions of the clusters and admin forms; the actions are
// admins' only, refused to viewers whatever the page showed them.
func (u *UI) formRoutes(r chi.Router) {
	u.clusterRoutes(r)
	u.adminRoutes(r)
}
