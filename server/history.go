package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/tagdrift/tagdrift/scanner/detect"
	"github.com/tagdrift/tagdrift/scanner/imageref"
	"github.com/tagdrift/tagdrift/scanner/inventory"
	"github.com/tagdrift/tagdrift/store"
	"github.com/tagdrift/tagdrift/web"
)

// scanJSON is a scan record. Times not reached yet are null.
type scanJSON struct {
	ID         int64      `json:"id"`
	Cluster    string     `json:"cluster"`
	Status     string     `json:"status"`
	QueuedAt   time.Time  `json:"queuedAt"`
	StartedAt  *time.Time `json:"startedAt"`
	FinishedAt *time.Time `json:"finishedAt"`
	Pods       int        `json:"pods"`
	Containers int        `json:"containers"`
	Opened     int        `json:"opened"`
	Closed     int        `json:"closed"`
	// ErrorClass and Error say why a scan failed, in tagdrift's words: never what the
	// cluster sent.
	ErrorClass string `json:"errorClass"`
	Error      string `json:"error"`
	// AnnotateWrites is how many writes the annotation step sent (null when it did not
	// run); AnnotateError why it failed ("" when it did not).
	AnnotateWrites *int   `json:"annotateWrites"`
	AnnotateError  string `json:"annotateError"`
}

func toScanJSON(s store.ScanRecord) scanJSON {
	return scanJSON{
		ID: s.ID, Cluster: s.Cluster, Status: s.Status,
		QueuedAt: utc(s.QueuedAt), StartedAt: utcPtr(s.StartedAt), FinishedAt: utcPtr(s.FinishedAt),
		Pods: s.Pods, Containers: s.Containers, Opened: s.Opened, Closed: s.Closed,
		ErrorClass: s.ErrorClass, Error: s.Error,
		AnnotateWrites: s.AnnotateWrites, AnnotateError: s.AnnotateError,
	}
}

func (a *api) listScans(w http.ResponseWriter, r *http.Request) error {
	q, err := parseQuery(r.URL.RawQuery, "cluster", "limit", "cursor")
	if err != nil {
		return err
	}
	limit, err := q.limit()
	if err != nil {
		return err
	}
	f := store.ScanFilter{Cluster: q.get("cluster"), Limit: limit + 1}
	filter := filterKey("cluster", f.Cluster)
	c, err := q.cursor("scans", filter)
	if err != nil {
		return err
	}
	f.BeforeID = c.ID
	scans, err := a.st.ListScans(r.Context(), f)
	if err != nil {
		return about(err, "list scans")
	}
	items := make([]scanJSON, len(scans))
	for i, s := range scans {
		items[i] = toScanJSON(s)
	}
	return respond(w, http.StatusOK, page(items, limit, func(last scanJSON) cursor {
		return cursor{List: "scans", Filter: filter, ID: last.ID}
	}))
}

func (a *api) getScan(w http.ResponseWriter, r *http.Request) error {
	if _, err := parseQuery(r.URL.RawQuery); err != nil {
		return err
	}
	id, err := pathID(chi.URLParam(r, "id"), "scan")
	if err != nil {
		return err
	}
	s, err := a.st.ScanRecordByID(r.Context(), id)
	if err != nil {
		return about(err, "scan %d", id)
	}
	return respond(w, http.StatusOK, toScanJSON(s))
}

// maxFilterLength bounds the name filters (cluster, namespace, kind): longer values
// cannot match anything Kubernetes names.
const maxFilterLength = 253

// nameFilters reads the cluster, namespace and kind filters.
func nameFilters(q query) (cluster, namespace, kind string, err error) {
	for _, name := range []string{"cluster", "namespace", "kind"} {
		if len(q.get(name)) > maxFilterLength {
			return "", "", "", badRequest("query parameter %s longer than %d bytes", name, maxFilterLength)
		}
	}
	// Kinds are matched as Kubernetes spells them; pages print them in lower case, so a
	// built-in kind is accepted in any case rather than matching nothing.
	return q.get("cluster"), q.get("namespace"), inventory.CanonicalKind(q.get("kind")), nil
}

func (a *api) listWorkloads(w http.ResponseWriter, r *http.Request) error {
	q, err := parseQuery(r.URL.RawQuery, "cluster", "namespace", "kind", "ref", "mutant", "sort", "order", "limit", "cursor")
	if err != nil {
		return err
	}
	f, filter, err := workloadFilter(q)
	if err != nil {
		return err
	}
	limit := f.Limit - 1
	// The workloads show no sighting: only a change of the data makes them change.
	return a.cachedRead(w, r, func(ctx context.Context) (any, store.Sightings, error) {
		items, err := a.st.ListWorkloadBodies(ctx, f)
		if err != nil {
			return nil, nil, about(err, "list workloads")
		}
		out := page(workloadItems(items), limit, func(json.RawMessage) cursor { return workloadCursor(filter, items[limit-1].Cursor()) })
		return rawList(out), nil, nil
	})
}

// workloadSorts are the sort parameter's values, the default first.
func workloadSorts() []string {
	out := make([]string, len(store.WorkloadSorts))
	for i, s := range store.WorkloadSorts {
		out[i] = string(s)
	}
	return out
}

// workloadFilter reads the workloads list's query: its filter (a reference in any
// spelling), sort and order, asking for one more than the page, and the cursor's
// filter key, which holds the sort and the order: a cursor of one sort is refused by
// another.
func workloadFilter(q query) (store.WorkloadFilter, string, error) {
	cluster, namespace, kind, err := nameFilters(q)
	if err != nil {
		return store.WorkloadFilter{}, "", err
	}
	mutant, err := q.boolean("mutant")
	if err != nil {
		return store.WorkloadFilter{}, "", err
	}
	limit, err := q.limit()
	if err != nil {
		return store.WorkloadFilter{}, "", err
	}
	sorts := workloadSorts()
	sort, err := q.oneOf("sort", sorts[0], sorts...)
	if err != nil {
		return store.WorkloadFilter{}, "", err
	}
	order, err := q.oneOf("order", "asc", "asc", "desc")
	if err != nil {
		return store.WorkloadFilter{}, "", err
	}
	ref := ""
	if q.get("ref") != "" {
		if ref, err = timelineRef(q.get("ref")); err != nil {
			return store.WorkloadFilter{}, "", err
		}
	}
	mutantKey := ""
	if mutant {
		mutantKey = "true"
	}
	filter := filterKey("cluster", cluster, "namespace", namespace, "kind", kind, "ref", ref, "mutant", mutantKey,
		"sort", sort, "order", order)
	c, err := q.cursor("workloads", filter)
	if err != nil {
		return store.WorkloadFilter{}, "", err
	}
	f := store.WorkloadFilter{Cluster: cluster, Namespace: namespace, Kind: kind, Ref: ref, MutantOnly: mutant,
		Sort: store.WorkloadSort(sort), Desc: order == "desc", Limit: limit + 1}
	if c.Workload != nil {
		f.After = &store.WorkloadCursor{
			WorkloadKey: store.WorkloadKey{Cluster: c.Workload[0], Namespace: c.Workload[1], Kind: c.Workload[2], Name: c.Workload[3]},
			ClusterID:   c.ClusterID, Mutant: c.Mutant, Ref: c.Ref,
		}
		if c.Changed != nil {
			f.After.Changed = *c.Changed
		}
	}
	return f, filter, nil
}

// workloadCursor is the cursor of the page after w.
func workloadCursor(filter string, k store.WorkloadCursor) cursor {
	c := cursor{List: "workloads", Filter: filter, Workload: []string{k.Cluster, k.Namespace, k.Kind, k.Name},
		ClusterID: k.ClusterID, Mutant: k.Mutant, Ref: k.Ref}
	if !k.Changed.IsZero() {
		c.Changed = &k.Changed
	}
	return c
}

// workloadItems are the workloads as report.Workload encodes them (`tagdrift scan -o
// json`), each put together from its key and the containers the store keeps encoded
// (apibody.ReportOf), so that a list shapes and encodes no container.
func workloadItems(ws []store.WorkloadBody) []json.RawMessage {
	var s jsonStrings
	out := make([]json.RawMessage, len(ws))
	for i, w := range ws {
		b := make([]byte, 0, len(w.Containers)+len(w.Cluster)+len(w.Namespace)+len(w.Kind)+len(w.Name)+80)
		b = append(b, `{"cluster":`...)
		b = s.append(b, w.Cluster)
		b = append(b, `,"namespace":`...)
		b = s.append(b, w.Namespace)
		b = append(b, `,"kind":`...)
		b = s.append(b, w.Kind)
		b = append(b, `,"name":`...)
		b = s.append(b, w.Name)
		b = append(b, `,"mutant":`...)
		b = strconv.AppendBool(b, w.Mutant)
		b = append(b, `,"containers":`...)
		b = append(b, w.Containers...)
		out[i] = append(b, '}')
	}
	return out
}


// mutationJSON is a mutation as `tagdrift scan -o json` shows it, with its id and when
// it was detected and resolved (null while open).
type mutationJSON struct {
	ID int64 `json:"id"`
	detect.Mutation
	// RawPlaces, when set, is the places as the store keeps them encoded (a list read
	// with RawPlaces): it stands in the place of Mutation.Places, which is the last
	// field there, so the keys keep their order.
	RawPlaces  json.RawMessage `json:"places,omitempty"`
	DetectedAt time.Time       `json:"detectedAt"`
	ResolvedAt *time.Time      `json:"resolvedAt"`
}

func toMutationJSON(m store.Mutation) mutationJSON {
	if m.Digests == nil {
		m.Digests = []string{}
	}
	j := mutationJSON{ID: m.ID, Mutation: m.Mutation, RawPlaces: m.PlacesJSON, DetectedAt: utc(m.DetectedAt), ResolvedAt: utcPtr(m.ResolvedAt)}
	if j.RawPlaces == nil {
		places := m.Places
		if places == nil {
			places = []detect.Place{}
		}
		// As the answer around it is encoded (no HTML escaping). Cannot fail: a place
		// is strings.
		j.RawPlaces, _ = encodeJSON(places)
	}
	return j
}

func (a *api) listMutations(w http.ResponseWriter, r *http.Request) error {
	q, err := parseQuery(r.URL.RawQuery, "cluster", "namespace", "kind", "state", "ref", "workload", "since", "until",
		"limit", "cursor")
	if err != nil {
		return err
	}
	f, filter, err := mutationFilter(q, a.now())
	if err != nil {
		return err
	}
	limit := f.Limit - 1
	f.RawPlaces = true
	ms, err := a.st.ListMutations(r.Context(), f)
	if err != nil {
		return about(err, "list mutations")
	}
	items := make([]json.RawMessage, len(ms))
	for i, m := range ms {
		if items[i], err = mutationItem(toMutationJSON(m)); err != nil {
			return err
		}
	}
	return respond(w, http.StatusOK, rawList(page(items, limit, func(json.RawMessage) cursor {
		return cursor{List: "mutations", Filter: filter, ID: ms[limit-1].ID}
	})))
}

// mutationHead is a mutation's keys before its places: Places, unset, hides
// Mutation.Places.
type mutationHead struct {
	ID int64 `json:"id"`
	detect.Mutation
	Places *struct{} `json:"places,omitempty"`
}

// mutationTail is a mutation's keys after its places.
type mutationTail struct {
	DetectedAt time.Time  `json:"detectedAt"`
	ResolvedAt *time.Time `json:"resolvedAt"`
}

// mutationItem encodes m as encodeJSON does, its places, encoded already, spliced in as
// they are: encoding/json would pass over every byte of them again (half the CPU of a
// list of mutations).
func mutationItem(m mutationJSON) (json.RawMessage, error) {
	head, err := encodeJSON(mutationHead{ID: m.ID, Mutation: m.Mutation})
	if err != nil {
		return nil, err
	}
	tail, err := encodeJSON(mutationTail{DetectedAt: m.DetectedAt, ResolvedAt: m.ResolvedAt})
	if err != nil {
		return nil, err
	}
	head, tail = bytes.TrimSuffix(head, []byte("}\n")), bytes.TrimPrefix(bytes.TrimSuffix(tail, []byte("\n")), []byte("{"))
	places := []byte(m.RawPlaces)
	if bytes.ContainsAny(places, " \t\r\n") {
		// Places encoded by migration 000020's SQL have spaces between keys and values.
		var buf bytes.Buffer
		if err := json.Compact(&buf, places); err != nil {
			return nil, fmt.Errorf("places of mutation %d: %w", m.ID, err)
		}
		places = buf.Bytes()
	}
	b := make([]byte, 0, len(head)+len(places)+len(tail)+12)
	b = append(append(append(b, head...), `,"places":`...), places...)
	return append(append(b, ','), tail...), nil
}

// mutationFilter reads the mutations list's query, asking for one more than the page:
// a reference in any spelling, a workload as kind/name, since as a preset range back
// from now (24h, 7d, 30d, 90d) or an RFC 3339 time, until as an RFC 3339 time.
func mutationFilter(q query, now time.Time) (store.MutationFilter, string, error) {
	cluster, namespace, _, err := nameFilters(q)
	if err != nil {
		return store.MutationFilter{}, "", err
	}
	kind, err := q.oneOf("kind", "", web.MutationKinds()...)
	if err != nil {
		return store.MutationFilter{}, "", err
	}
	state, err := q.oneOf("state", "open", "open", "closed", "all")
	if err != nil {
		return store.MutationFilter{}, "", err
	}
	limit, err := q.limit()
	if err != nil {
		return store.MutationFilter{}, "", err
	}
	f := store.MutationFilter{Cluster: cluster, Namespace: namespace, Kind: kind, State: state, Limit: limit + 1}
	if raw := q.get("ref"); raw != "" {
		if f.Ref, err = timelineRef(raw); err != nil {
			return store.MutationFilter{}, "", err
		}
	}
	if raw := q.get("workload"); raw != "" {
		k, n, ok := strings.Cut(raw, "/")
		if !ok || k == "" || n == "" || strings.Contains(n, "/") || len(raw) > 2*maxFilterLength {
			return store.MutationFilter{}, "", badRequest("query parameter workload must be kind/name, such as Deployment/web, not %q", clip(raw, 80))
		}
		f.WorkloadKind, f.WorkloadName = k, n
	}
	if raw := q.get("since"); slices.Contains(web.SinceRanges(), raw) {
		f.Since = now.Add(-web.RangeDuration(raw))
	} else if raw != "" {
		if f.Since, err = time.Parse(time.RFC3339, raw); err != nil {
			return store.MutationFilter{}, "", badRequest("query parameter since must be %s or an RFC 3339 time, not %q",
				strings.Join(web.SinceRanges(), ", "), clip(raw, 80))
		}
	}
	if raw := q.get("until"); raw != "" {
		if f.Until, err = time.Parse(time.RFC3339, raw); err != nil {
			return store.MutationFilter{}, "", badRequest("query parameter until must be an RFC 3339 time, not %q", clip(raw, 80))
		}
	}
	filter := filterKey("cluster", cluster, "namespace", namespace, "kind", kind, "state", state, "ref", f.Ref,
		"workload", q.get("workload"), "since", q.get("since"), "until", q.get("until"))
	c, err := q.cursor("mutations", filter)
	if err != nil {
		return store.MutationFilter{}, "", err
	}
	f.BeforeID = c.ID
	return f, filter, nil
}

func (a *api) getMutation(w http.ResponseWriter, r *http.Request) error {
	if _, err := parseQuery(r.URL.RawQuery); err != nil {
		return err
	}
	id, err := pathID(chi.URLParam(r, "id"), "mutation")
	if err != nil {
		return err
	}
	m, err := a.st.MutationByID(r.Context(), id)
	if err != nil {
		return about(err, "mutation %d", id)
	}
	return respond(w, http.StatusOK, toMutationJSON(m))
}

// timelineJSON is which digests a reference ran, oldest first.
type timelineJSON struct {
	Ref     string               `json:"ref"`
	Digests []timelineDigestJSON `json:"digests"`
}

type timelineDigestJSON struct {
	Digest    string    `json:"digest"`
	FirstSeen time.Time `json:"firstSeen"`
	LastSeen  time.Time `json:"lastSeen"`
	Running   bool      `json:"running"`
	Clusters  []string  `json:"clusters"`
	Pods      int       `json:"pods"`
}

// timelineRef normalizes ?ref= as observations store references (imageref.ParseRef):
// nginx is docker.io/library/nginx:latest. A pinned reference stays pinned (its
// timeline shows what ran under that exact reference: one digest, or a pin-mismatch);
// a reference that does not parse is a 400.
func timelineRef(raw string) (string, error) {
	if raw == "" {
		return "", badRequest("query parameter ref is required: an image reference such as nginx:1.25")
	}
	ref := imageref.ParseRef(raw)
	if !ref.Valid() {
		return "", badRequest("query parameter ref is not an image reference: %q", raw)
	}
	return ref.Normalized, nil
}

func (a *api) timeline(w http.ResponseWriter, r *http.Request) error {
	q, err := parseQuery(r.URL.RawQuery, "ref")
	if err != nil {
		return err
	}
	ref, err := timelineRef(q.get("ref"))
	if err != nil {
		return err
	}
	return a.cachedRead(w, r, func(ctx context.Context) (any, store.Sightings, error) {
		ds, seen, err := a.st.Timeline(ctx, ref)
		if err != nil {
			return nil, nil, about(err, "timeline of %s", ref)
		}
		out := timelineJSON{Ref: ref, Digests: make([]timelineDigestJSON, len(ds))}
		for i, d := range ds {
			clusters := d.Clusters
			if clusters == nil {
				clusters = []string{}
			}
			out.Digests[i] = timelineDigestJSON{
				Digest: d.Digest, FirstSeen: utc(d.FirstSeen), LastSeen: utc(d.LastSeen),
				Running: d.Running, Clusters: clusters, Pods: d.Pods,
			}
		}
		return out, seen, nil
	})
}

// digestJSON is where a digest runs and ran: what runs now, and a page of the history,
// newest first. HistoryNextCursor is "" on the last page; HistoryTruncated, kept for
// clients of the time when the history stopped at 1,000 intervals, says the same as a
// cursor that is not "".
type digestJSON struct {
	Digest            string            `json:"digest"`
	Running           []detect.Place    `json:"running"`
	RunningNextCursor string            `json:"runningNextCursor"`
	History           []digestPlaceJSON `json:"history"`
	HistoryNextCursor string            `json:"historyNextCursor"`
	HistoryTruncated  bool              `json:"historyTruncated"`
}

type digestPlaceJSON struct {
	detect.Place
	FirstSeen time.Time `json:"firstSeen"`
	LastSeen  time.Time `json:"lastSeen"`
}

// toDigestJSON shapes a page of a digest's uses, next its history's next cursor.
func toDigestJSON(d string, use store.DigestUse, next string) digestJSON {
	out := digestJSON{Digest: d, Running: use.Running, History: make([]digestPlaceJSON, len(use.History)),
		HistoryNextCursor: next, HistoryTruncated: next != ""}
	if k := use.RunningNext; k != nil {
		out.RunningNextCursor = cursor{List: "digest-running", Filter: filterKey("digest", d), ID: k.ID, ClusterID: k.ClusterID,
			Workload: []string{k.Cluster, k.Namespace, k.Workload.Kind, k.Workload.Name, k.Pod, k.Container}}.encode()
	}
	if out.Running == nil {
		out.Running = []detect.Place{}
	}
	for i, p := range use.History {
		out.History[i] = digestPlaceJSON{Place: p.Place, FirstSeen: utc(p.FirstSeen), LastSeen: utc(p.LastSeen)}
	}
	return out
}

// digestHistoryPage reads ?limit= (def when absent, at most 1,000) and ?cursor= of a
// digest's history, asking for one more interval than the page. The cursor is bound to
// the digest. What runs now is whole (RunningLimit 0): digestRunningPage pages it.
func digestHistoryPage(q query, d string, def int) (store.HistoryPage, error) {
	limit := def
	if q.get("limit") != "" {
		var err error
		if limit, err = q.limit(); err != nil {
			return store.HistoryPage{}, err
		}
	}
	c, err := q.cursor("digest-history", filterKey("digest", d))
	if err != nil {
		return store.HistoryPage{}, err
	}
	p := store.HistoryPage{Limit: limit + 1}
	if c.At != nil {
		p.Before = &store.HistoryKey{FirstSeen: *c.At, ID: c.ID}
	}
	return p, nil
}

// digestUses reads a page of a digest's uses and trims it to the page, with the cursor
// of the next page ("" on the last).
func digestUses(ctx context.Context, st *store.Store, d string, p store.HistoryPage) (store.DigestUse, string, error) {
	use, err := st.DigestUses(ctx, d, p)
	if err != nil {
		return store.DigestUse{}, "", about(err, "digest %s", d)
	}
	next := ""
	if limit := p.Limit - 1; len(use.History) > limit {
		use.History = use.History[:limit]
		k := use.History[limit-1].Key
		at := k.FirstSeen.UTC()
		next = cursor{List: "digest-history", Filter: filterKey("digest", d), ID: k.ID, At: &at}.encode()
	}
	return use, next, nil
}

// digestRunningPage reads ?limit= (the history's: default 100) and ?runningCursor=
// into p, paging what runs now as the history is: a digest may run in thousands of
// pods.
func digestRunningPage(q query, d string, p *store.HistoryPage) error {
	p.RunningLimit = p.Limit - 1
	c, err := q.cursorIn("runningCursor", "digest-running", filterKey("digest", d))
	if err != nil {
		return err
	}
	if c.ID > 0 {
		p.RunningAfter = &store.RunningKey{ID: c.ID, ClusterID: c.ClusterID, Place: detect.Place{Cluster: c.Workload[0], Namespace: c.Workload[1],
			Workload: inventory.Workload{Kind: c.Workload[2], Name: c.Workload[3]}, Pod: c.Workload[4], Container: c.Workload[5]}}
	}
	return nil
}

func (a *api) digest(w http.ResponseWriter, r *http.Request) error {
	q, err := parseQuery(r.URL.RawQuery, "limit", "cursor", "runningCursor")
	if err != nil {
		return err
	}
	d := chi.URLParam(r, "digest")
	// The digests that imageIDs are parsed into (imageref), and no others.
	if !imageref.ValidDigest(d) {
		return badRequest("digest must be sha256:, sha384: or sha512: and its 64, 96 or 128 lowercase hex digits, not %q", clip(d, 80))
	}
	// Pages of 100, as every list's.
	p, err := digestHistoryPage(q, d, defaultLimit)
	if err != nil {
		return err
	}
	if err := digestRunningPage(q, d, &p); err != nil {
		return err
	}
	return a.cachedRead(w, r, func(ctx context.Context) (any, store.Sightings, error) {
		use, next, err := digestUses(ctx, a.st, d, p)
		if err != nil {
			return nil, nil, err
		}
		return toDigestJSON(d, use, next), use.Sightings, nil
	})
}

// clip shortens s for an error message.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
