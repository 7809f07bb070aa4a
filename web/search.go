package web

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
