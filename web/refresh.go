package web

import "time"

// Refresh is what a page that refreshes itself says of its data: when the server read
// it, and how often app.js fetches it again while the tab is visible.
type Refresh struct {
	At    time.Time
	Every time.Duration
}

// Seconds is Every in whole seconds, at least 1.
func (r Refresh) Seconds() int { return max(1, int(r.Every/time.Second)) }
