package ui

import "github.com/go-chi/chi/v5"

// formRoutes are the pages and actions of the clusters, acknowledgements and admin
// forms; the actions are admins' only, refused to viewers whatever the page showed
// them, but for the acknowledge form, which a viewer posts as a request.
func (u *UI) formRoutes(r chi.Router) {
	u.clusterRoutes(r)
	u.ackRoutes(r)
	u.adminRoutes(r)
}
