package store

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tagdrift/tagdrift/scanner/detect"
)

// TimelineDigest is one digest a reference ran, over all clusters.
type TimelineDigest struct {
	Digest string
	// Letter is its letter under the reference ("" when it has none yet).
	Letter    string
	FirstSeen time.Time
	LastSeen  time.Time // for a digest still running, its cluster's latest succeeded scan
	Running   bool
	Clusters  []string // sorted: every live cluster that ran it
	Pods      int      // distinct pods that ran it, ever
	// PodsNow and ClustersNow are the pods and clusters that run it now.
	PodsNow     int
	ClustersNow []string
	// Spans says when each cluster ran it, by cluster name.
	Spans []TimelineSpan
}

// TimelineSpan is when one cluster ran one digest of a reference: from its first
// sighting to its last (a digest still running: its cluster's latest succeeded scan).
type TimelineSpan struct {
	Cluster   string
	FirstSeen time.Time
	LastSeen  time.Time
	Pods      int // ever
	PodsNow   int
	Running   bool
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// lastSeenSQL is an interval's last sighting: last_seen once closed; while open, when
// its cluster's latest succeeded scan listed it (that scan's start, as CompleteScan
// writes last_seen on close, so the value holds across the close), from seen
// (cluster_id, at).
const lastSeenSQL = `COALESCE(o.last_seen, seen.at, o.first_seen)`

// Timeline returns the digests a normalized reference ran, oldest first, across the
// live clusters (a deleted cluster leaves the timeline: its pods count neither now nor
// ever); an empty slice when it never ran. The sightings are
// those of the clusters still running one of them, whose last sighting it shows. Only
// the clusters in scope sc count: a digest only others ran is not in it.
func (s *Store) Timeline(ctx context.Context, ref string, sc Scope) ([]TimelineDigest, Sightings, error) {
	q := query{args: []any{ref}}
	// Read from the summary, one row per digest and cluster (ref_digest_clusters, kept
	// in the transactions that change the intervals), not from the tens of thousands of
	// intervals of a popular reference. A running digest's last sighting is looked up
	// once per cluster running it, from the cluster's latest succeeded scan, in the
	// statement that reports which scan that was. The rows are grouped by digest here:
	// a few hundred rows cost less to read than PostgreSQL's ordered aggregates of them.
	rows, err := s.pool.Query(ctx, `
		SELECT per.digest, c.name, per.cluster_id, per.pods, per.running, per.first_seen,
		       GREATEST(per.last_seen, per.first_seen, seen.at), per.running > 0, COALESCE(seen.id, 0), l.seq
		FROM ref_digest_clusters per JOIN clusters c ON c.id = per.cluster_id
		LEFT JOIN digest_letters l ON l.ref = per.ref AND l.digest = per.digest
		LEFT JOIN LATERAL (
			SELECT sc.id, sc.started_at AS at FROM scans sc
			WHERE per.running > 0 AND sc.cluster_id = per.cluster_id AND sc.status = 'succeeded'
			ORDER BY sc.id DESC LIMIT 1
		) seen ON true
		WHERE per.ref = $1 AND c.deleted_at IS NULL`+sc.groupSQL(&q, "c.group_id"), q.args...)
	if err != nil {
		return nil, nil, fmt.Errorf("timeline of %s: %w", ref, err)
	}
	type span struct {
		digest    string
		clusterID int64
		scan      int64
		seq       *int
		TimelineSpan
	}
	spans, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (span, error) {
		var sp span
		err := r.Scan(&sp.digest, &sp.Cluster, &sp.clusterID, &sp.Pods, &sp.PodsNow, &sp.FirstSeen, &sp.LastSeen, &sp.Running, &sp.scan, &sp.seq)
		return sp, err
	})
	if err != nil {
		return nil, nil, fmt.Errorf("timeline of %s: %w", ref, err)
	}
	// By digest, then cluster name (by bytes) and registration.
	slices.SortFunc(spans, func(a, b span) int {
		return cmp.Or(strings.Compare(a.digest, b.digest), strings.Compare(a.Cluster, b.Cluster), cmp.Compare(a.clusterID, b.clusterID))
	})
	seen := Sightings{}
	out := []TimelineDigest{}
	for _, sp := range spans {
		if sp.Running {
			seen.add(sp.clusterID, sp.scan)
		}
		n := len(out)
		if n == 0 || out[n-1].Digest != sp.digest {
			out = append(out, TimelineDigest{Digest: sp.digest, FirstSeen: sp.FirstSeen, LastSeen: sp.LastSeen})
			n++
			if sp.seq != nil {
				out[n-1].Letter = LetterName(*sp.seq)
			}
		}
		d := &out[n-1]
		d.FirstSeen, d.LastSeen = minTime(d.FirstSeen, sp.FirstSeen), maxTime(d.LastSeen, sp.LastSeen)
		d.Running = d.Running || sp.Running
		d.Pods += sp.Pods
		d.PodsNow += sp.PodsNow
		if sp.Running && !slices.Contains(d.ClustersNow, sp.Cluster) {
			d.ClustersNow = append(d.ClustersNow, sp.Cluster)
		}
		if k := len(d.Spans); k > 0 && d.Spans[k-1].Cluster == sp.Cluster {
			prev := &d.Spans[k-1]
			prev.FirstSeen, prev.LastSeen = minTime(prev.FirstSeen, sp.FirstSeen), maxTime(prev.LastSeen, sp.LastSeen)
			prev.Pods += sp.Pods
			prev.PodsNow += sp.PodsNow
			prev.Running = prev.Running || sp.Running
			continue
		}
		d.Spans = append(d.Spans, sp.TimelineSpan)
		d.Clusters = append(d.Clusters, sp.Cluster)
	}
	// Oldest first.
	slices.SortFunc(out, func(a, b TimelineDigest) int {
		return cmp.Or(a.FirstSeen.Compare(b.FirstSeen), strings.Compare(a.Digest, b.Digest))
	})
	if sc.Limited && len(out) > 0 {
		seqs, err := scopeLetters(ctx, s.pool, []string{ref}, sc)
		if err != nil {
			return nil, nil, fmt.Errorf("timeline of %s: %w", ref, err)
		}
		for i := range out {
			out[i].Letter = ""
			if seq, ok := seqs[RefDigest{ref, out[i].Digest}]; ok {
				out[i].Letter = LetterName(seq)
			}
		}
	}
	return out, seen, nil
}

// DigestPlace is a place that ran a digest, and when.
type DigestPlace struct {
	detect.Place
	// Ref is the normalized reference the container ran it under, Letter the digest's
	// letter under Ref ("" when it has none yet).
	Ref, Letter string
	FirstSeen   time.Time
	LastSeen    time.Time
	// Key orders the history and pages through it.
	Key HistoryKey
}

// HistoryKey is an interval's place in a digest's history, newest first: by first
// sighting, then by id.
type HistoryKey struct {
	FirstSeen time.Time
	ID        int64
}

// HistoryPage selects a page of a digest's history: at most Limit intervals (0:
// HistoryLimit) after Before (nil: from the newest).
type HistoryPage struct {
	Before *HistoryKey
	Limit  int
	// RunningLimit, when positive, pages what runs now too: at most RunningLimit
	// places after RunningAfter (nil: from the first). 0 gives every place.
	RunningLimit int
	RunningAfter *RunningKey
	// Refs asks for DigestUse.Refs too.
	Refs bool
	// Scope keeps the places of the clusters the reader's role covers: a digest that
	// ran only outside it has empty lists, as one never seen.
	Scope Scope
}

// RunningKey is a running place's position in a digest's Running list: the place, its
// cluster's id (a deleted cluster and a live one may share a name) and its interval's.
type RunningKey struct {
	detect.Place
	ClusterID, ID int64
}

// DigestUse is where a digest runs now and ran before.
type DigestUse struct {
	Running []detect.Place
	// RunningNext is, when a RunningLimit left places out, where the next page of
	// Running starts (the key of its last place); nil when Running is whole.
	RunningNext *RunningKey
	// History holds a page of the intervals of every place that ran it, newest first.
	History []DigestPlace
	// Refs are the normalized references seen running it, sorted; at most RefsLimit,
	// and only when HistoryPage.Refs asks. Letters holds its letter under each of them.
	Refs    []string
	Letters map[string]string
	// Sightings are those of the clusters whose open intervals History shows.
	Sightings Sightings
}

// RefsLimit bounds the references DigestUses returns.
const RefsLimit = 100

// HistoryLimit is the history page size when none is given, and the web page's.
const HistoryLimit = 1000

// historyBeforeSQL is the condition of the intervals before a page's last (its
// first_seen and id), written out rather than as a row comparison, so that the bound on
// first_seen is a condition of the (digest, first_seen) index.
const historyBeforeSQL = `first_seen <= {{first_seen}} AND (first_seen < {{first_seen}} OR id < {{id}})`

// runningClustersAfterSQL is the condition of the clusters from the one of the last
// running place of the page before (its name and id) on.
const runningClustersAfterSQL = ` WHERE (name COLLATE "C", id) >= ({{cluster}}, {{id}})`

// runningAfterSQL is the condition of the open intervals o of cluster c after the last
// running place of the page before, whose cluster id is the hole cluster_id: all of the
// clusters after it, and those past its place in its own.
const runningAfterSQL = ` AND (c.id <> {{cluster_id}} OR (o.namespace COLLATE "C", o.workload_kind COLLATE "C",
	o.workload_name COLLATE "C", o.pod COLLATE "C", o.container COLLATE "C", o.id) > ({{namespace}}, {{kind}}, {{name}}, {{pod}},
	{{container}}, {{id}}))`

// DigestUses returns where a digest runs and ran, across all clusters in page.Scope,
// deleted ones included: what runs now, and a page of the history. Running is sorted by cluster
// (name, then registration), namespace, workload, pod and container, names by bytes;
// an interval still open is in both lists,
// last seen by its cluster's latest succeeded scan. A digest never seen has empty
// lists, not ErrNotFound.
func (s *Store) DigestUses(ctx context.Context, digest string, page HistoryPage) (DigestUse, error) {
	limit := page.Limit
	if limit <= 0 {
		limit = HistoryLimit
	}
	var q query
	q.where("digest = " + q.arg(digest))
	q.whereScope(page.Scope.clusterSQL(&q, "cluster_id"))
	if b := page.Before; b != nil {
		q.where(fill(historyBeforeSQL, holes{"first_seen": q.arg(b.FirstSeen), "id": q.arg(b.ID)}))
	}
	limitArg := q.arg(limit)
	b := &pgx.Batch{}
	// What runs now, by cluster name and registration, then namespace, workload, pod and
	// container (names by bytes) and interval, a page after the key of the last place of
	// the page before: cluster by cluster in that order, each one's intervals of the
	// digest through observations_open_digest_cluster, so that a page reads the clusters
	// it shows and not every container of a digest that runs across the fleet.
	var run query
	clusterCond := ""
	inner := "o.digest = " + run.arg(digest) + " AND o.closed_at IS NULL AND o.cluster_id = c.id"
	runLimit := ""
	if page.RunningLimit > 0 {
		runLimit = " LIMIT " + run.arg(page.RunningLimit+1)
		if a := page.RunningAfter; a != nil {
			id := run.arg(a.ClusterID)
			clusterCond = fill(runningClustersAfterSQL, holes{"cluster": run.arg(a.Cluster), "id": id})
			inner += fill(runningAfterSQL, holes{"cluster_id": id, "namespace": run.arg(a.Namespace), "kind": run.arg(a.Workload.Kind),
				"name": run.arg(a.Workload.Name), "pod": run.arg(a.Pod), "container": run.arg(a.Container), "id": run.arg(a.ID)})
		}
	}
	if page.Scope.Limited {
		if clusterCond == "" {
			clusterCond = " WHERE true"
		}
		clusterCond += page.Scope.groupSQL(&run, "group_id")
	}
	placeOrder := `o.namespace COLLATE "C", o.workload_kind COLLATE "C", o.workload_name COLLATE "C", o.pod COLLATE "C", o.container COLLATE "C", o.id`
	// (The clusters sorted in a subquery, so that the plan reads them in order and stops
	// at the page.)
	b.Queue(`
		SELECT c.name, o.namespace, o.workload_kind, o.workload_name, o.pod, o.container, o.digest, o.id, c.id
		FROM (SELECT id, name FROM clusters`+clusterCond+` ORDER BY name COLLATE "C", id) c
		CROSS JOIN LATERAL (
			SELECT o.namespace, o.workload_kind, o.workload_name, o.pod, o.container, o.digest, o.id
			FROM observations o WHERE `+inner+`
			ORDER BY `+placeOrder+runLimit+`
		) o
		ORDER BY c.name COLLATE "C", c.id, `+placeOrder+runLimit, run.args...)
	b.Queue(`
		WITH o AS (
			SELECT id, cluster_id, namespace, workload_kind, workload_name, pod, container, ref, digest, first_seen, last_seen, closed_at
			FROM observations`+q.clause()+` ORDER BY first_seen DESC, id DESC LIMIT `+limitArg+`
		), seen AS (
			SELECT x.cluster_id, l.id AS scan_id, l.started_at AS at
			FROM (SELECT DISTINCT cluster_id FROM o WHERE closed_at IS NULL) x
			LEFT JOIN LATERAL (
				SELECT sc.id, sc.started_at FROM scans sc WHERE sc.cluster_id = x.cluster_id AND sc.status = 'succeeded'
				ORDER BY sc.id DESC LIMIT 1
			) l ON true
		)
		SELECT c.name, o.namespace, o.workload_kind, o.workload_name, o.pod, o.container, o.digest, o.first_seen, `+lastSeenSQL+`,
		       seen.cluster_id, COALESCE(seen.scan_id, 0), o.id, o.ref, l.seq
		FROM o JOIN clusters c ON c.id = o.cluster_id LEFT JOIN seen ON seen.cluster_id = o.cluster_id
		LEFT JOIN digest_letters l ON l.ref = o.ref AND l.digest = o.digest
		ORDER BY o.first_seen DESC, o.id DESC`, q.args...)
	if page.Refs {
		// From the reference summary (ref_digest_clusters_digest), not the intervals.
		rq := query{args: []any{digest, RefsLimit}}
		b.Queue(`
			SELECT r.ref, l.seq FROM (SELECT DISTINCT ref FROM ref_digest_clusters WHERE digest = $1`+page.Scope.clusterSQL(&rq, "cluster_id")+` ORDER BY ref LIMIT $2) r
			LEFT JOIN digest_letters l ON l.ref = r.ref AND l.digest = $1
			ORDER BY r.ref`, rq.args...)
	}
	res := s.pool.SendBatch(ctx, b)
	defer res.Close()

	use := DigestUse{Running: []detect.Place{}, History: []DigestPlace{}, Sightings: Sightings{}}
	rows, err := res.Query()
	if err != nil {
		return DigestUse{}, fmt.Errorf("where %s runs: %w", digest, err)
	}
	var keys []RunningKey
	use.Running, err = pgx.AppendRows(use.Running, rows, func(r pgx.CollectableRow) (detect.Place, error) {
		var k RunningKey
		err := r.Scan(&k.Cluster, &k.Namespace, &k.Workload.Kind, &k.Workload.Name, &k.Pod, &k.Container, &k.Digest, &k.ID, &k.ClusterID)
		keys = append(keys, k)
		return k.Place, err
	})
	if err != nil {
		return DigestUse{}, fmt.Errorf("where %s runs: %w", digest, err)
	}
	if n := page.RunningLimit; n > 0 && len(use.Running) > n {
		use.Running = use.Running[:n]
		use.RunningNext = &keys[n-1]
	}
	rows, err = res.Query()
	if err != nil {
		return DigestUse{}, fmt.Errorf("where %s ran: %w", digest, err)
	}
	use.History, err = pgx.AppendRows(use.History, rows, func(r pgx.CollectableRow) (DigestPlace, error) {
		var p DigestPlace
		var sighted *int64
		var scan int64
		var seq *int
		err := r.Scan(&p.Cluster, &p.Namespace, &p.Workload.Kind, &p.Workload.Name, &p.Pod, &p.Container, &p.Digest,
			&p.FirstSeen, &p.LastSeen, &sighted, &scan, &p.Key.ID, &p.Ref, &seq)
		p.Key.FirstSeen = p.FirstSeen
		if seq != nil {
			p.Letter = LetterName(*seq)
		}
		if sighted != nil {
			use.Sightings.add(*sighted, scan)
		}
		return p, err
	})
	if err != nil {
		return DigestUse{}, fmt.Errorf("where %s ran: %w", digest, err)
	}
	if !page.Refs {
		return use, s.scopeDigestLetters(ctx, &use, digest, page.Scope)
	}
	rows, err = res.Query()
	if err != nil {
		return DigestUse{}, fmt.Errorf("references running %s: %w", digest, err)
	}
	use.Letters = map[string]string{}
	use.Refs, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (string, error) {
		var ref string
		var seq *int
		if err := r.Scan(&ref, &seq); err != nil {
			return "", err
		}
		if seq != nil {
			use.Letters[ref] = LetterName(*seq)
		}
		return ref, nil
	})
	if err != nil {
		return DigestUse{}, fmt.Errorf("references running %s: %w", digest, err)
	}
	return use, s.scopeDigestLetters(ctx, &use, digest, page.Scope)
}

// scopeDigestLetters sets the letters of digest's DigestUse read in the limited scope
// sc to those of the scope (scopeLetters); nothing for every cluster's reader.
func (s *Store) scopeDigestLetters(ctx context.Context, use *DigestUse, digest string, sc Scope) error {
	if !sc.Limited || len(use.History)+len(use.Refs) == 0 {
		return nil
	}
	refs := slices.Clone(use.Refs)
	for _, p := range use.History {
		refs = append(refs, p.Ref)
	}
	seqs, err := scopeLetters(ctx, s.pool, refs, sc)
	if err != nil {
		return fmt.Errorf("letters of where it ran: %w", err)
	}
	letter := func(ref, digest string) string {
		if seq, ok := seqs[RefDigest{ref, digest}]; ok {
			return LetterName(seq)
		}
		return ""
	}
	for i := range use.History {
		use.History[i].Letter = letter(use.History[i].Ref, use.History[i].Digest)
	}
	for ref := range use.Letters {
		delete(use.Letters, ref)
	}
	for _, ref := range use.Refs {
		if l := letter(ref, digest); l != "" {
			use.Letters[ref] = l
		}
	}
	return nil
}

// query collects the conditions and arguments of a query built from a filter, so that
// absent filters leave no condition for the planner to see through.
