package ui

import (
	"net/http"

	"github.com/tagdrift/tagdrift/server/request"
	"github.com/tagdrift/tagdrift/store"
	"github.com/tagdrift/tagdrift/web"
)

// uiMutationPage is how many mutations a page of the list shows.
const uiMutationPage = 50

func (u *UI) mutations(w http.ResponseWriter, r *http.Request) error {
	q, err := request.Parse(r.URL.RawQuery, "cluster", "namespace", "kind", "state", "ref", "since", "cursor")
	if err != nil {
		return err
	}
	q.Set("limit", "50")
	since, err := q.OneOf("since", "", web.SinceRanges()...)
	if err != nil {
		return err
	}
	now := u.now()
	// The API's filter and cursor rules (request.MutationFilter).
	f, filter, err := request.MutationFilter(q, now)
	if err != nil {
		return err
	}
	v := web.MutationsView{
		States: store.MutationStates,
		Filter: web.MutationFilter{State: f.State, Kind: f.Kind, Cluster: f.Cluster, Namespace: f.Namespace,
			Ref: q.Get("ref"), Since: since, Cursor: q.Get("cursor")},
		Legend: web.NewLegend(),
	}
	if v.Clusters, err = u.clusterNames(r); err != nil {
		return err
	}
	f.Scope = scopeOf(r.Context())
	ms, err := u.st.ListMutations(r.Context(), f)
	if err != nil {
		return request.About(err, "list mutations")
	}
	if len(ms) > uiMutationPage {
		ms = ms[:uiMutationPage]
		v.Next = request.Cursor{List: "mutations", Filter: filter, ID: ms[len(ms)-1].ID}.Encode()
	}
	for _, m := range ms {
		row := mutationRow(m)
		v.Rows = append(v.Rows, row)
	}
	if err := u.letters(r.Context(), v.Legend, v.Rows); err != nil {
		return err
	}
	if err := u.explain(r.Context(), ms, v.Rows); err != nil {
		return err
	}
	return u.render(w, r, http.StatusOK, u.meta(r, "Mutations", web.NavMutations), web.Mutations(v, now))
}
