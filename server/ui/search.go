package ui

import (
	"net/http"
	"regexp"
	"strings"

	"github.com/tagdrift/tagdrift/scanner/imageref"
	"github.com/tagdrift/tagdrift/server/request"
	"github.com/tagdrift/tagdrift/store"
	"github.com/tagdrift/tagdrift/web"
)

// hexPrefix is a digest, or a prefix of one of at least 6 hex characters, with or
// without sha256:.
var hexPrefix = regexp.MustCompile(`^(sha256:)?[0-9a-f]{6,64}$`)

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
	var digestPrefix, ref, repo string
	if lower := strings.ToLower(term); hexPrefix.MatchString(lower) {
		digestPrefix = "sha256:" + strings.TrimPrefix(lower, "sha256:")
	}
	if pr := imageref.ParseRef(term); pr.Valid() {
		ref = pr.Normalized
		repo = pr.Repository
	}
	res, err := u.st.Search(r.Context(), digestPrefix, ref, repo, term)
	if err != nil {
		return request.About(err, "search %q", request.Clip(term, 80))
	}
	v.Digests, v.Refs = res.Digests, res.Refs
	for _, k := range res.Workloads {
		v.Workloads = append(v.Workloads, workloadKeyOf(k))
	}
	for _, d := range v.Digests {
		v.Legend.Add(d)
	}
	// One match: go there.
	switch {
	case len(v.Digests) == 1 && len(v.Workloads) == 0 && (len(v.Refs) == 0 || digestPrefix != ""):
		http.Redirect(w, r, web.DigestURL(v.Digests[0]), http.StatusSeeOther)
		return nil
	case len(v.Digests) == 0 && len(v.Workloads) == 0 && contains(v.Refs, ref):
		http.Redirect(w, r, web.TimelineURL(ref), http.StatusSeeOther)
		return nil
	case len(v.Digests) == 0 && len(v.Workloads) == 0 && len(v.Refs) == 1:
		http.Redirect(w, r, web.TimelineURL(v.Refs[0]), http.StatusSeeOther)
		return nil
	case len(v.Digests) == 0 && len(v.Refs) == 0 && len(v.Workloads) == 1:
		http.Redirect(w, r, v.Workloads[0].URL(), http.StatusSeeOther)
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
