package web

import "strings"

// SearchView lists what a search term matched.
type SearchView struct {
	Query     string
	Message   string // why nothing matched, or what the term was taken for
	Digests   []string
	Refs      []string
	Workloads []WorkloadRow
	// Clusters and Namespaces whose names begin with the term.
	Clusters, Namespaces []string
	// Suggestions are the known references nearest the term, when nothing matched.
	Suggestions []string
	Legend      *Legend
}

// Empty reports whether nothing matched.
func (v SearchView) Empty() bool {
	return len(v.Digests)+len(v.Refs)+len(v.Workloads)+len(v.Clusters)+len(v.Namespaces) == 0
}

// WorkloadURL is the page of a workload the search matched: when the term is not the
// beginning of its name, it matched a pod's, and the page marks the pods it names
// (?pod=, scrolled to #found).
func (v SearchView) WorkloadURL(w WorkloadRow) string {
	return FoundPodURL(w, v.Query)
}

// FoundPodURL is w's page, marking the pods whose names begin with term when w's own
// name does not.
func FoundPodURL(w WorkloadRow, term string) string {
	if term == "" || strings.HasPrefix(w.Name, term) {
		return w.URL()
	}
	return WithQuery(w.URL(), "pod", term) + "#found"
}
