package server

import (
	"net/http"
	"time"

	"github.com/tagdrift/tagdrift/store"
	"github.com/tagdrift/tagdrift/web"
)

// timelineMoves is how many tag moves of a reference the timeline marks.
const timelineMoves = 500

func (u *ui) timeline(w http.ResponseWriter, r *http.Request) error {
	q, err := parseQuery(r.URL.RawQuery, "ref", "range")
	if err != nil {
		return err
	}
	ref, err := timelineRef(q.get("ref"))
	if err != nil {
		return err
	}
	rng, err := q.oneOf("range", "all", web.Ranges()...)
	if err != nil {
		return err
	}
	ctx := r.Context()
	ds, _, err := u.st.Timeline(ctx, ref)
	if err != nil {
		return about(err, "timeline of %s", ref)
	}
	moves, err := u.st.ListMutations(ctx, store.MutationFilter{Kind: "tag-moved", Ref: ref, State: store.StateAll, Limit: timelineMoves})
	if err != nil {
		return about(err, "tag moves of %s", ref)
	}
	now := u.now()
	v := web.TimelineView{Ref: ref, Query: q.get("ref"), Range: rng, Legend: web.NewLegend()}
	first := now
	for _, d := range ds {
		td := web.TimelineDigest{Digest: d.Digest, FirstSeen: d.FirstSeen, LastSeen: d.LastSeen, Running: d.Running, Pods: d.Pods}
		for _, s := range d.Spans {
			td.Spans = append(td.Spans, web.TimelineSpan{Cluster: s.Cluster, FirstSeen: s.FirstSeen, LastSeen: s.LastSeen, Pods: s.Pods, Running: s.Running})
		}
		v.Digests = append(v.Digests, td)
		v.Legend.Add(d.Digest)
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
		v.Legend.Add(m.Digests[0])
		v.Legend.Add(m.Digests[1])
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
