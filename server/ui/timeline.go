package ui

import (
	"net/http"
	"strconv"
	"time"

	"github.com/tagdrift/tagdrift/server/request"
	"github.com/tagdrift/tagdrift/store"
	"github.com/tagdrift/tagdrift/web"
)

// timelineMoves is how many tag moves of a reference the timeline marks.
const timelineMoves = 500

func (u *UI) timeline(w http.ResponseWriter, r *http.Request) error {
	q, err := request.Parse(r.URL.RawQuery, "ref", "range")
	if err != nil {
		return err
	}
	ref, err := request.TimelineRef(q.Get("ref"))
	if err != nil {
		return err
	}
	rng, err := q.OneOf("range", "all", web.Ranges()...)
	if err != nil {
		return err
	}
	ctx := r.Context()
	ds, err := u.timelineDigests(r, ref)
	if err != nil {
		return err
	}
	moves, err := u.st.ListMutations(ctx, store.MutationFilter{Kind: "tag-moved", Ref: ref, State: store.StateAll, Limit: timelineMoves, Scope: scopeOf(ctx)})
	if err != nil {
		return request.About(err, "tag moves of %s", ref)
	}
	now := u.now()
	v := web.TimelineView{Ref: ref, Query: q.Get("ref"), Range: rng, Legend: web.NewLegend()}
	first := now
	for _, d := range ds {
		v.Digests = append(v.Digests, d)
		v.Legend.Set(ref, d.Digest, d.Letter)
		if d.FirstSeen.Before(first) {
			first = d.FirstSeen
		}
	}
	// Oldest first, as the chart reads.
	for i := len(moves) - 1; i >= 0; i-- {
		m := moves[i]
		if len(m.Digests) != 2 {
			continue
		}
		v.Moves = append(v.Moves, web.TagMove{At: m.DetectedAt, From: m.Digests[0], To: m.Digests[1], Cluster: m.Cluster})
	}
	from := first
	if d := web.RangeDuration(rng); d > 0 {
		from = now.Add(-d)
	} else {
		// All: from the first sighting, with a little room before it.
		from = first.Add(-now.Sub(first) / 50)
	}
	v.Chart = web.NewChart(v.Digests, v.Moves, from, now.Add(time.Second))
	return u.render(w, r, http.StatusOK, u.meta(r, "Timeline of "+ref, ""), web.Timeline(v, now))
}

// timelineDigests reads the digests a normalized reference ran, oldest first, as the
// timeline pages show them.
func (u *UI) timelineDigests(r *http.Request, ref string) ([]web.TimelineDigest, error) {
	ds, _, err := u.st.Timeline(r.Context(), ref, scopeOf(r.Context()))
	if err != nil {
		return nil, request.About(err, "timeline of %s", ref)
	}
	out := make([]web.TimelineDigest, 0, len(ds))
	for _, d := range ds {
		td := web.TimelineDigest{Digest: d.Digest, Letter: d.Letter, FirstSeen: d.FirstSeen, LastSeen: d.LastSeen, Running: d.Running, Pods: d.Pods, PodsNow: d.PodsNow}
		for _, s := range d.Spans {
			td.Spans = append(td.Spans, web.TimelineSpan{Cluster: s.Cluster, FirstSeen: s.FirstSeen, LastSeen: s.LastSeen, Pods: s.Pods, PodsNow: s.PodsNow, Running: s.Running})
		}
		out = append(out, td)
	}
	return out, nil
}

// timelineSpans lists when each cluster ran each digest of a reference: the facts of
// the timeline's bars, web.SpansPerPage at a time.
func (u *UI) timelineSpans(w http.ResponseWriter, r *http.Request) error {
	q, err := request.Parse(r.URL.RawQuery, "ref", "page")
	if err != nil {
		return err
	}
	ref, err := request.TimelineRef(q.Get("ref"))
	if err != nil {
		return err
	}
	ds, err := u.timelineDigests(r, ref)
	if err != nil {
		return err
	}
	page := 1
	if s := q.Get("page"); s != "" {
		if page, err = strconv.Atoi(s); err != nil {
			page = 0
		}
	}
	v, ok := web.NewSpansView(ref, q.Get("ref"), ds, page)
	if !ok {
		return request.BadRequest("query parameter page must be an integer from 1 to %d, not %q", v.Pages, q.Get("page"))
	}
	return u.render(w, r, http.StatusOK, u.meta(r, "Clusters running "+ref, ""), web.TimelineSpans(v, u.now()))
}
