package web

import "time"

// AnnotateModes are the annotate settings a cluster can have: whether tagdrift writes
// the is-mutant label and mutant/status annotation back onto ReplicaSets.
var AnnotateModes = [][2]string{{"off", "off: only read the cluster"}, {"on", "on: label and annotate mutant ReplicaSets"}}

// ClusterForm is the form that adds a cluster, as typed, with its refusals next to
// their fields.
type ClusterForm struct {
	Name, Kubeconfig, Context, Group, Interval, Annotate string
	Enabled                                              bool
	// ScanMode is poll (the default) or watch.
	ScanMode, ScanModeError string
	// Contexts are the kubeconfig's contexts, offered once it was read.
	Contexts                                                                           []string
	NameError, KubeconfigError, ContextError, GroupError, IntervalError, AnnotateError string
	// Open shows the form unfolded (no cluster yet, or a refusal to show).
	Open bool
}

// ClusterEdit is the form that changes a cluster's settings.
type ClusterEdit struct {
	Group, Interval, Annotate                string
	Enabled                                  bool
	GroupError, IntervalError, AnnotateError string
	// ScanMode is poll or watch.
	ScanMode, ScanModeError string
}

// ScanModes are the scan modes a cluster may have, with their words.
var ScanModes = [][2]string{{"poll", "poll: list it every interval"}, {"watch", "watch: find changes within seconds"}}

// ClusterActions are an admin's controls on a cluster's page: the scan being followed,
// scan now, delete, and the settings.
type ClusterActions struct {
	Name string
	Edit ClusterEdit
	// Watched is the scan asked for from this page (?scan=), followed until it ends.
	Watched *ScanRow
	// ScanError is the refusal of a scan now (a disabled cluster).
	ScanError string
}

// Finished reports whether a scan ended (succeeded, failed or aborted).
func (s ScanRow) Finished() bool {
	return s.Status != "queued" && s.Status != "running"
}

// ClusterActionURL is the URL of an action on a cluster.
func ClusterActionURL(name, action string) string { return ClusterURL(name) + "/" + action }

// IntervalText is a scan interval as the form shows it (5m, 1h30m).
func IntervalText(d time.Duration) string {
	s := d.String()
	if len(s) > 4 && s[len(s)-4:] == "m0s" {
		s = s[:len(s)-2]
	}
	if len(s) > 4 && s[len(s)-4:] == "h0m" {
		s = s[:len(s)-2]
	}
	return s
}
