package ui

import (
	"cmp"
	"net/http"
	"slices"
	"strings"

	"github.com/tagdrift/tagdrift/server/request"
	"github.com/tagdrift/tagdrift/store"
	"github.com/tagdrift/tagdrift/web"
)

// suggestFrom bounds the references a search that matched nothing ranks.
const suggestFrom = 10000

// search takes a reference, a digest or a prefix of one, or a workload or pod name, and
// goes to the one page it names, or lists the matches.
func (u *UI) search(w http.ResponseWriter, r *http.Request) error {
	q, err := request.Parse(r.URL.RawQuery, "q")
	if err != nil {
		return err
	}
	term := strings.TrimSpace(q.Get("q"))
	m := u.meta(r, "Search", "")
	m.Search = term
	v := web.SearchView{Query: term, Legend: web.NewLegend()}
	if term == "" {
		v.Message = "Type a reference, a digest (or its first 12 hex characters), or a workload or pod name."
		return u.render(w, r, http.StatusOK, m, web.Search(v))
	}
	st := request.ParseSearchTerm(term)
	digestPrefix, ref := st.DigestPrefix, st.Ref
	lower := strings.ToLower(term)
	res, err := u.st.Search(r.Context(), digestPrefix, ref, st.Repo, st.RefPart, term, scopeOf(r.Context()))
	if err != nil {
		return request.About(err, "search %q", request.Clip(term, 80))
	}
	v.Digests, v.Refs, v.Clusters, v.Namespaces = res.Digests, res.Refs, res.Clusters, res.Namespaces
	for _, k := range res.Workloads {
		v.Workloads = append(v.Workloads, workloadKeyOf(k))
	}
	for _, d := range v.Digests {
		v.Legend.Set("", d, "")
	}
	if v.Empty() {
		known, err := u.st.KnownRefs(r.Context(), suggestFrom, scopeOf(r.Context()))
		if err != nil {
			return request.About(err, "search %q", request.Clip(term, 80))
		}
		v.Suggestions = nearestRefs(lower, known, 3)
	}
	// One match: go there.
	switch {
	case len(v.Clusters) == 1 && len(v.Namespaces)+len(v.Digests)+len(v.Refs)+len(v.Workloads) == 0:
		http.Redirect(w, r, web.ClusterURL(v.Clusters[0]), http.StatusSeeOther)
		return nil
	case len(v.Namespaces) == 1 && len(v.Clusters)+len(v.Digests)+len(v.Refs)+len(v.Workloads) == 0:
		http.Redirect(w, r, web.WithQuery("/workloads", "namespace", v.Namespaces[0]), http.StatusSeeOther)
		return nil
	case len(v.Digests) == 1 && len(v.Workloads) == 0 && (len(v.Refs) == 0 || digestPrefix != ""):
		http.Redirect(w, r, web.DigestURL(v.Digests[0]), http.StatusSeeOther)
		return nil
	case len(v.Clusters)+len(v.Namespaces) > 0:
		// Several kinds of match: list them.
	case len(v.Digests) == 0 && len(v.Workloads) == 0 && contains(v.Refs, ref):
		http.Redirect(w, r, web.TimelineURL(ref), http.StatusSeeOther)
		return nil
	case len(v.Digests) == 0 && len(v.Workloads) == 0 && len(v.Refs) == 1:
		http.Redirect(w, r, web.TimelineURL(v.Refs[0]), http.StatusSeeOther)
		return nil
	case len(v.Digests) == 0 && len(v.Refs) == 0 && len(v.Workloads) == 1:
		http.Redirect(w, r, v.WorkloadURL(v.Workloads[0]), http.StatusSeeOther)
		return nil
	}
	if len(v.Digests) >= store.SearchLimit {
		v.Message = "Many digests begin so; type more of it."
	}
	return u.render(w, r, http.StatusOK, m, web.Search(v))
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// nearestRefs ranks known references by how close their last path segment (name and
// tag) is to the term's, and returns at most n close enough to be a slip of the keyboard.
func nearestRefs(term string, known []string, n int) []string {
	last := func(s string) string { return s[strings.LastIndexByte(s, '/')+1:] }
	t := last(term)
	if t == "" {
		return nil
	}
	type scored struct {
		ref  string
		dist int
	}
	var out []scored
	limit := max(2, len(t)/3)
	for _, ref := range known {
		name := last(ref)
		if !strings.Contains(t, ":") {
			name, _, _ = strings.Cut(name, ":") // the term names no tag: compare names
		}
		if d := editDistance(t, name); d <= limit {
			out = append(out, scored{ref, d})
		}
	}
	slices.SortStableFunc(out, func(a, b scored) int { return cmp.Compare(a.dist, b.dist) })
	var refs []string
	for _, s := range out[:min(n, len(out))] {
		refs = append(refs, s.ref)
	}
	return refs
}

// editDistance is the Levenshtein distance between a and b, in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
