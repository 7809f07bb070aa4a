package web

// AdminIndexView is the admin index: every admin page, what is there, and counts.
type AdminIndexView struct {
	Sections []AdminSection
}

// AdminSection is one line of the admin index: a page, its counts ("3 users, 1
// disabled"), and what is done there.
type AdminSection struct {
	ID, Title, URL string
	// Counts is what the page holds, in a few words; "" when it could not be counted
	// cheaply.
	Counts string
	// What says what is done on the page.
	What string
}
