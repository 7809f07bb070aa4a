package web

import (
	"time"

	"github.com/a-h/templ"
)

// ClusterHealth is a cluster as the overview and the clusters list show it.
type ClusterHealth struct {
	Name          string
	Group         string
	Server        string
	Enabled       bool
	Interval      time.Duration
	Annotate      string
	LastScan      *ScanRow // nil when never scanned
	LastSucceeded *time.Time
	OpenMutations int
	// Stale is set when no scan succeeded for more than twice the interval (or none
	// ever did, for a cluster older than that), or its watch is stale.
	Stale bool
	// ScanMode is poll or watch; Watch says how a cluster in scan mode watch is
	// watched (nil for one polled).
	ScanMode string
	Watch    *WatchView
}

// WatchView is how a cluster is watched: State is live, resyncing, stale or polling.
type WatchView struct {
	State        string
	StaleSince   *time.Time
	Note         string
	LastChange   *time.Time
	LastDetected *time.Time
}

// Watching says how the cluster's changes are found: "polled", or "watched: " and how
// its watch stands.
func (c ClusterHealth) Watching() string {
	if c.Watch == nil {
		return "polled"
	}
	return "watched: " + c.Watch.State
}

// DetectedIn is the time from the watch's last change to its detection; "" when none
// was recorded.
func (c ClusterHealth) DetectedIn() string {
	if c.Watch == nil || c.Watch.LastChange == nil || c.Watch.LastDetected == nil {
		return ""
	}
	return Took(c.Watch.LastDetected.Sub(*c.Watch.LastChange))
}

// ScanRow is one scan of a cluster.
type ScanRow struct {
	ID         int64
	Status     string // queued, running, succeeded, failed, aborted
	QueuedAt   time.Time
	StartedAt  *time.Time
	FinishedAt *time.Time
	Pods       int
	Containers int
	Opened     int
	Closed     int
	// ErrorClass is the failure's class (unauthorized, unreachable, tls, timeout …);
	// "" when the store does not tell it.
	ErrorClass string
	Error      string
	// AnnotateError is what went wrong writing labels and annotations back; "" for
	// nothing (or not told).
	AnnotateError string
}

// Took is how long the scan ran; "—" while it has not finished.
func (s ScanRow) Took() string {
	if s.StartedAt == nil || s.FinishedAt == nil {
		return "—"
	}
	return Took(s.FinishedAt.Sub(*s.StartedAt))
}

// When is the scan's latest moment: finished, else started, else queued.
func (s ScanRow) When() time.Time {
	switch {
	case s.FinishedAt != nil:
		return *s.FinishedAt
	case s.StartedAt != nil:
		return *s.StartedAt
	}
	return s.QueuedAt
}

// State is the cluster's health word: disabled, never, stale, failed, running, queued,
// ok.
func (c ClusterHealth) State() string {
	switch {
	case !c.Enabled:
		return "disabled"
	case c.LastScan == nil:
		return "never"
	case c.Stale:
		return "stale"
	case c.LastScan.Status == "failed" || c.LastScan.Status == "aborted":
		return "failed"
	case c.LastScan.Status == "running" || c.LastScan.Status == "queued":
		if c.LastSucceeded == nil {
			return c.LastScan.Status
		}
	}
	return "ok"
}

// StaleFor says how long the cluster went without a successful scan.
func (c ClusterHealth) StaleFor(now time.Time) string {
	if c.Watch != nil && c.Watch.State == "stale" && c.Watch.StaleSince != nil {
		return "its watch has been broken for " + trimAgo(Ago(*c.Watch.StaleSince, now)) + "; nothing is closed until it is back"
	}
	if c.LastSucceeded == nil {
		return "no scan ever succeeded"
	}
	return "no successful scan for " + trimAgo(Ago(*c.LastSucceeded, now))
}

func trimAgo(s string) string {
	if len(s) > 4 && s[len(s)-4:] == " ago" {
		return s[:len(s)-4]
	}
	return s
}

// ErrorHint is what usually fixes a scan error of class.
func ErrorHint(class string) string {
	switch class {
	case "unauthorized":
		return "The credentials were refused: the token may have expired or been revoked; update the kubeconfig."
	case "forbidden":
		return "The credentials lack rights: apply the read-only RBAC of deploy/scanned-cluster/ to the account."
	case "unreachable":
		return "The API server could not be reached: check its address and the network between."
	case "tls":
		return "The TLS handshake failed: the certificate authority in the kubeconfig may be wrong or the certificate expired."
	case "timeout":
		return "The API server answered too slowly: it may be overloaded, or the cluster is very large."
	case "policy":
		return "The kubeconfig no longer passes the service's policy: update it or the policy."
	case "credentials":
		return "The stored credentials could not be used (an exec profile, or the encryption key): update the kubeconfig."
	case "throttled":
		return "The API server asked to slow down: lengthen the scan interval."
	case "redirect refused":
		return "The API server answered with a redirect, which tagdrift never follows: check the server URL."
	case "not found":
		return "The API server does not serve the pods API at this address: is the server URL a Kubernetes API server?"
	}
	return ""
}

// ClustersView is the clusters list. Forms, for admins, go in the slot.
type ClustersView struct {
	Clusters []ClusterHealth
	// Actions is rendered above the list (the add-cluster form, for admins); nil for
	// none.
	Actions templ.Component
}

// ClusterView is a cluster's page: its settings, health and scans.
type ClusterView struct {
	Cluster ClusterHealth
	Context string
	Created time.Time
	Scans   []ScanRow
	// Older is the page of the scans before these ("" on the last page); Newer, set
	// on any page but the first, leads back to the newest.
	Older, Newer string
	// Actions is rendered under the settings (edit, scan now, delete, for admins); nil
	// for none.
	Actions templ.Component
}

// Grouped reports whether the clusters are in more than the default group, so that
// lists name each one's group; a single team's list stays as it was.
func Grouped(cs []ClusterHealth) bool {
	for _, c := range cs {
		if c.Group != "" && c.Group != "default" {
			return true
		}
	}
	return false
}
