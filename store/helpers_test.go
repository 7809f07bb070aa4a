package store

import (
	"slices"
	"testing"
)

func second[T any](_ T, err error) error { return err }

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

// workloadNames renders workloads as cluster/namespace/name, starred when mutant.
func workloadNames(ws []Workload) []string {
	var out []string
	for _, w := range ws {
		n := w.Cluster + "/" + w.Namespace + "/" + w.Name
		if w.Mutant {
			n += "*"
		}
		out = append(out, n)
	}
	return out
}

func assertTimeline(t *testing.T, when string, got, want []TimelineDigest) {
	t.Helper()
	ok := len(got) == len(want)
	for i := 0; ok && i < len(got); i++ {
		g, w := got[i], want[i]
		ok = g.Digest == w.Digest && g.FirstSeen.Equal(w.FirstSeen) && g.LastSeen.Equal(w.LastSeen) &&
			g.Running == w.Running && slices.Equal(g.Clusters, w.Clusters) && g.Pods == w.Pods
	}
	if !ok {
		t.Errorf("timeline %s:\n got %+v\nwant %+v", when, got, want)
	}
}

func assertHistory(t *testing.T, what string, got DigestUse, want []DigestPlace) {
	t.Helper()
	ok := len(got.History) == len(want)
	for i := 0; ok && i < len(want); i++ {
		g, w := got.History[i], want[i]
		ok = g.Place == w.Place && g.FirstSeen.Equal(w.FirstSeen) && g.LastSeen.Equal(w.LastSeen)
	}
	if !ok {
		t.Errorf("history of %s:\n got %+v\nwant %+v", what, got.History, want)
	}
}

// testAudit is who makes the changes of tests that do not look at the audit trail.
var testAudit = Audit{Actor: "test"}
