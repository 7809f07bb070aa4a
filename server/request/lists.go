package request

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/tagdrift/tagdrift/scanner/detect"
	"github.com/tagdrift/tagdrift/scanner/imageref"
	"github.com/tagdrift/tagdrift/scanner/inventory"
	"github.com/tagdrift/tagdrift/store"
	"github.com/tagdrift/tagdrift/web"
)

// MaxFilterLength bounds the name filters (cluster, namespace, kind): longer values
// cannot match anything Kubernetes names.
const MaxFilterLength = 253

// nameFilters reads the cluster, namespace and kind filters.
func nameFilters(q Query) (cluster, namespace, kind string, err error) {
	for _, name := range []string{"cluster", "namespace", "kind"} {
		if len(q.Get(name)) > MaxFilterLength {
			return "", "", "", BadRequest("Query parameter %s longer than %d bytes", name, MaxFilterLength)
		}
	}
	// Kinds are matched as Kubernetes spells them; pages print them in lower case, so a
	// built-in kind is accepted in any case rather than matching nothing.
	return q.Get("cluster"), q.Get("namespace"), inventory.CanonicalKind(q.Get("kind")), nil
}

// workloadSorts are the sort parameter's values, the default first.
func workloadSorts() []string {
	out := make([]string, len(store.WorkloadSorts))
	for i, s := range store.WorkloadSorts {
		out[i] = string(s)
	}
	return out
}

// WorkloadFilter reads the workloads list's query: its filter (a reference in any
// spelling), sort and order, asking for one more than the page, and the cursor's
// filter key, which holds the sort and the order: a cursor of one sort is refused by
// another.
func WorkloadFilter(q Query) (store.WorkloadFilter, string, error) {
	cluster, namespace, kind, err := nameFilters(q)
	if err != nil {
		return store.WorkloadFilter{}, "", err
	}
	mutant, err := q.Boolean("mutant")
	if err != nil {
		return store.WorkloadFilter{}, "", err
	}
	behind, err := q.Boolean("behind")
	if err != nil {
		return store.WorkloadFilter{}, "", err
	}
	if mutant && behind {
		return store.WorkloadFilter{}, "", BadRequest("mutant and behind: list one or the other (a workload both mutant and behind is in each list)")
	}
	limit, err := q.Limit()
	if err != nil {
		return store.WorkloadFilter{}, "", err
	}
	sorts := workloadSorts()
	sort, err := q.OneOf("sort", sorts[0], sorts...)
	if err != nil {
		return store.WorkloadFilter{}, "", err
	}
	order, err := q.OneOf("order", "asc", "asc", "desc")
	if err != nil {
		return store.WorkloadFilter{}, "", err
	}
	ref := ""
	if q.Get("ref") != "" {
		if ref, err = TimelineRef(q.Get("ref")); err != nil {
			return store.WorkloadFilter{}, "", err
		}
	}
	mutantKey, behindKey := "", ""
	if mutant {
		mutantKey = "true"
	}
	if behind {
		behindKey = "true"
	}
	filter := FilterKey("cluster", cluster, "namespace", namespace, "kind", kind, "ref", ref, "mutant", mutantKey,
		"behind", behindKey, "sort", sort, "order", order)
	c, err := q.Cursor("workloads", filter)
	if err != nil {
		return store.WorkloadFilter{}, "", err
	}
	f := store.WorkloadFilter{Cluster: cluster, Namespace: namespace, Kind: kind, Ref: ref, MutantOnly: mutant, BehindOnly: behind,
		Sort: store.WorkloadSort(sort), Desc: order == "desc", Limit: limit + 1}
	if c.Workload != nil {
		f.After = &store.WorkloadCursor{
			WorkloadKey: store.WorkloadKey{Cluster: c.Workload[0], Namespace: c.Workload[1], Kind: c.Workload[2], Name: c.Workload[3]},
			ClusterID:   c.ClusterID, Mutant: c.Mutant, Behind: c.Behind, Ref: c.Ref,
		}
		if c.Changed != nil {
			f.After.Changed = *c.Changed
		}
	}
	return f, filter, nil
}

// WorkloadCursor is the cursor of the page after w.
func WorkloadCursor(filter string, k store.WorkloadCursor) Cursor {
	c := Cursor{List: "workloads", Filter: filter, Workload: []string{k.Cluster, k.Namespace, k.Kind, k.Name},
		ClusterID: k.ClusterID, Mutant: k.Mutant, Behind: k.Behind, Ref: k.Ref}
	if !k.Changed.IsZero() {
		c.Changed = &k.Changed
	}
	return c
}

// MutationFilter reads the mutations list's query, asking for one more than the page:
// a reference in any spelling, a workload as kind/name, since as a preset range back
// from now (24h, 7d, 30d, 90d) or an RFC 3339 time, until as an RFC 3339 time.
func MutationFilter(q Query, now time.Time) (store.MutationFilter, string, error) {
	cluster, namespace, _, err := nameFilters(q)
	if err != nil {
		return store.MutationFilter{}, "", err
	}
	kind, err := q.OneOf("kind", "", web.MutationKinds()...)
	if err != nil {
		return store.MutationFilter{}, "", err
	}
	// open is what needs attention; acknowledged and expected what does not, and why.
	state, err := q.OneOf("state", store.StateOpen, store.MutationStates...)
	if err != nil {
		return store.MutationFilter{}, "", err
	}
	limit, err := q.Limit()
	if err != nil {
		return store.MutationFilter{}, "", err
	}
	f := store.MutationFilter{Cluster: cluster, Namespace: namespace, Kind: kind, State: state, Limit: limit + 1}
	if raw := q.Get("group"); raw != "" {
		if len(raw) > MaxFilterLength {
			return store.MutationFilter{}, "", BadRequest("Query parameter group is longer than %d bytes", MaxFilterLength)
		}
		f.Group = raw
	}
	if raw := q.Get("ref"); raw != "" {
		if f.Ref, err = TimelineRef(raw); err != nil {
			return store.MutationFilter{}, "", err
		}
	}
	if raw := q.Get("workload"); raw != "" {
		k, n, ok := strings.Cut(raw, "/")
		if !ok || k == "" || n == "" || strings.Contains(n, "/") || len(raw) > 2*MaxFilterLength {
			return store.MutationFilter{}, "", BadRequest("Query parameter workload must be kind/name, such as Deployment/web, not %q", Clip(raw, 80))
		}
		f.WorkloadKind, f.WorkloadName = k, n
	}
	if raw := q.Get("since"); slices.Contains(web.SinceRanges(), raw) {
		f.Since = now.Add(-web.RangeDuration(raw))
	} else if raw != "" {
		if f.Since, err = time.Parse(time.RFC3339, raw); err != nil {
			return store.MutationFilter{}, "", BadRequest("Query parameter since must be %s or an RFC 3339 time, not %q",
				strings.Join(web.SinceRanges(), ", "), Clip(raw, 80))
		}
	}
	if raw := q.Get("until"); raw != "" {
		if f.Until, err = time.Parse(time.RFC3339, raw); err != nil {
			return store.MutationFilter{}, "", BadRequest("Query parameter until must be an RFC 3339 time, not %q", Clip(raw, 80))
		}
	}
	filter := FilterKey("cluster", cluster, "group", f.Group, "namespace", namespace, "kind", kind, "state", state, "ref", f.Ref,
		"workload", q.Get("workload"), "since", q.Get("since"), "until", q.Get("until"))
	c, err := q.Cursor("mutations", filter)
	if err != nil {
		return store.MutationFilter{}, "", err
	}
	f.BeforeID = c.ID
	return f, filter, nil
}

// TimelineRef normalizes ?ref= as observations store references (imageref.ParseRef):
// nginx is docker.io/library/nginx:latest. A pinned reference stays pinned (its
// timeline shows what ran under that exact reference: one digest, or a pin-mismatch);
// a reference that does not parse is a 400.
func TimelineRef(raw string) (string, error) {
	if raw == "" {
		return "", BadRequest("Query parameter ref is required: an image reference such as nginx:1.25")
	}
	ref := imageref.ParseRef(raw)
	if !ref.Valid() {
		return "", BadRequest("Query parameter ref is not an image reference: %q", raw)
	}
	return ref.Normalized, nil
}

// DigestJSON is where a digest runs and ran: what runs now, and a page of the history,
// newest first. HistoryNextCursor is "" on the last page; HistoryTruncated, kept for
// clients of the time when the history stopped at 1,000 intervals, says the same as a
// cursor that is not "".
type DigestJSON struct {
	Digest string `json:"digest"`
	// Refs are the references that ran it (at most store.RefsLimit), each with the
	// digest's letter under it.
	Refs              []DigestRefJSON   `json:"refs"`
	Running           []detect.Place    `json:"running"`
	RunningNextCursor string            `json:"runningNextCursor"`
	History           []DigestPlaceJSON `json:"history"`
	HistoryNextCursor string            `json:"historyNextCursor"`
	HistoryTruncated  bool              `json:"historyTruncated"`
}

type DigestPlaceJSON struct {
	detect.Place
	// Ref is the reference the container ran it under, Letter its letter there.
	Ref       string    `json:"ref"`
	Letter    string    `json:"letter"`
	FirstSeen time.Time `json:"firstSeen"`
	LastSeen  time.Time `json:"lastSeen"`
}

// DigestRefJSON is a reference that ran a digest, and the digest's letter under it.
type DigestRefJSON struct {
	Ref    string `json:"ref"`
	Letter string `json:"letter"`
}

// ToDigestJSON shapes a page of a digest's uses, next its history's next cursor.
func ToDigestJSON(d string, use store.DigestUse, next string) DigestJSON {
	out := DigestJSON{Digest: d, Running: use.Running, History: make([]DigestPlaceJSON, len(use.History)),
		HistoryNextCursor: next, HistoryTruncated: next != ""}
	if k := use.RunningNext; k != nil {
		out.RunningNextCursor = Cursor{List: "digest-running", Filter: FilterKey("digest", d), ID: k.ID, ClusterID: k.ClusterID,
			Workload: []string{k.Cluster, k.Namespace, k.Workload.Kind, k.Workload.Name, k.Pod, k.Container}}.Encode()
	}
	if out.Running == nil {
		out.Running = []detect.Place{}
	}
	for i, p := range use.History {
		out.History[i] = DigestPlaceJSON{Place: p.Place, Ref: p.Ref, Letter: p.Letter, FirstSeen: UTC(p.FirstSeen), LastSeen: UTC(p.LastSeen)}
	}
	out.Refs = make([]DigestRefJSON, len(use.Refs))
	for i, ref := range use.Refs {
		out.Refs[i] = DigestRefJSON{Ref: ref, Letter: use.Letters[ref]}
	}
	return out
}

// DigestHistoryPage reads ?limit= (def when absent, at most 1,000) and ?cursor= of a
// digest's history, asking for one more interval than the page. The cursor is bound to
// the digest. What runs now is whole (RunningLimit 0): DigestRunningPage pages it.
func DigestHistoryPage(q Query, d string, def int) (store.HistoryPage, error) {
	limit := def
	if q.Get("limit") != "" {
		var err error
		if limit, err = q.Limit(); err != nil {
			return store.HistoryPage{}, err
		}
	}
	c, err := q.Cursor("digest-history", FilterKey("digest", d))
	if err != nil {
		return store.HistoryPage{}, err
	}
	p := store.HistoryPage{Limit: limit + 1}
	if c.At != nil {
		p.Before = &store.HistoryKey{FirstSeen: *c.At, ID: c.ID}
	}
	return p, nil
}

// DigestUses reads a page of a digest's uses and trims it to the page, with the cursor
// of the next page ("" on the last).
func DigestUses(ctx context.Context, st *store.Store, d string, p store.HistoryPage) (store.DigestUse, string, error) {
	use, err := st.DigestUses(ctx, d, p)
	if err != nil {
		return store.DigestUse{}, "", About(err, "digest %s", d)
	}
	next := ""
	if limit := p.Limit - 1; len(use.History) > limit {
		use.History = use.History[:limit]
		k := use.History[limit-1].Key
		at := k.FirstSeen.UTC()
		next = Cursor{List: "digest-history", Filter: FilterKey("digest", d), ID: k.ID, At: &at}.Encode()
	}
	return use, next, nil
}

// DigestRunningPage reads ?limit= (the history's: default 100) and ?runningCursor=
// into p, paging what runs now as the history is: a digest may run in thousands of
// pods.
func DigestRunningPage(q Query, d string, p *store.HistoryPage) error {
	p.RunningLimit = p.Limit - 1
	c, err := q.CursorIn("runningCursor", "digest-running", FilterKey("digest", d))
	if err != nil {
		return err
	}
	if c.ID > 0 {
		p.RunningAfter = &store.RunningKey{ID: c.ID, ClusterID: c.ClusterID, Place: detect.Place{Cluster: c.Workload[0], Namespace: c.Workload[1],
			Workload: inventory.Workload{Kind: c.Workload[2], Name: c.Workload[3]}, Pod: c.Workload[4], Container: c.Workload[5]}}
	}
	return nil
}
