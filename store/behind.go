package store

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"sort"
	"sync"

	"github.com/jackc/pgx/v5"

	"github.com/tagdrift/tagdrift/scanner/detect"
)

// Behind the tag (DESIGN section 3; the rule is detect.Behind): the store reads what the
// rule needs, the tag moves and the open observations of the references that moved,
// judges every workload of the live clusters at once, and keeps the answer with the
// data version it was read at, so that a list's page, the count and the filter read it
// from memory until the data changes. A judgement reads every open observation of the
// moved references (on the benchmark fleet, where every workload runs one, 50,000
// rows at 1M: about 150 ms), which a page must not pay: after a change it reads only
// the clusters whose runs moved, and the scan that made the change judges
// (JudgeBehind), so that the next page finds the judgement made.

// BehindRef is one reference a workload runs behind its tag: the rule's answer, and
// the live clusters of its group that run what the tag points to now (TagClusters,
// sorted; none when no pod runs it any more).
type BehindRef struct {
	detect.BehindRef
	TagClusters []string
}

// behindMovesSQL reads the tag moves (detect.Move): the tag-moved events, and the
// pod-drifts of unpinned references (a pinned one's normalized form names its digest),
// which show a tag's return to a digest it had before.
const behindMovesSQL = `
	SELECT m.ref, m.cluster_group, m.digests[1], m.digests[2], m.detected_at, m.id
	FROM mutations m
	WHERE (m.kind = 'tag-moved' OR (m.kind = 'pod-drift' AND strpos(m.ref, '@') = 0)) AND cardinality(m.digests) = 2`

// behindRowsSQL reads, for the moved references ($1), what each workload of the live
// clusters ($2) runs of them: from the summary's running rows (a row a reference,
// digest and cluster), their open observations through the partial index of open ones
// by digest and cluster (the reference is a filter, not a key, or the planner walks
// the index of every interval by reference and digest). A row a container of a pod:
// the judgement keeps each workload's digests once. Neither a DISTINCT nor a join of
// the clusters here: the planner expects one row where the benchmark fleet has 50,000,
// so it sorted them on disk and joined every one to every cluster (400 ms at 1M rows,
// against about 100 ms for the rows alone).
const behindRowsSQL = `
	SELECT o.cluster_id, o.namespace COLLATE "C", o.workload_kind COLLATE "C", o.workload_name COLLATE "C", o.ref, o.digest
	FROM ref_digest_clusters r
	JOIN observations o ON o.digest = r.digest AND o.cluster_id = r.cluster_id AND o.closed_at IS NULL
	WHERE r.running > 0 AND r.ref = ANY($1) AND r.cluster_id = ANY($2) AND o.ref || '' = r.ref`

// behindClustersSQL reads the live clusters with their groups, and the data version at
// which what each runs last changed.
const behindClustersSQL = `
	SELECT c.id, c.name, g.name, c.runs_version FROM clusters c JOIN cluster_groups g ON g.id = c.group_id
	WHERE c.deleted_at IS NULL`

// behindState is every workload behind a tag, judged at a data version.
type behindState struct {
	version   int64
	workloads map[runningKey][]BehindRef
	// What the judgement was made from, so that the next one can keep what did not
	// change: the tags' targets, the live clusters, and by cluster the references
	// (in groups) whose tag's digest it runs.
	targets map[detect.RefGroup]detect.TagTarget
	live    map[int64]liveCluster
	tagRuns map[int64][]detect.RefGroup
	// tagClusters are the live clusters (names, sorted) that run each tag's digest.
	tagClusters map[detect.RefGroup][]string
	// read is how many clusters this judgement read and judged (the rest it kept).
	read int
	// keys are workloads' keys in arrays, as behindPageSQL takes them, in the order
	// SortCluster's columns compare (cluster name, namespace, kind, name, by bytes), so
	// that a page in that order passes only the keys after its cursor (behindPart).
	ids                                []int64
	clusters, namespaces, kinds, names []string
}

// liveCluster is a live cluster's name and group.
type liveCluster struct{ name, group string }

// behindKey is a judged workload's key with its cluster's name.
type behindKey struct {
	id                             int64
	cluster, namespace, kind, name string
}

// after is the index of the first key after c in the order of the arrays (of the
// last key before it, when desc; -1 when none).
func (st *behindState) after(c WorkloadCursor, desc bool) int {
	cmpKey := func(i int) int {
		return cmp.Or(cmp.Compare(st.clusters[i], c.Cluster), cmp.Compare(st.namespaces[i], c.Namespace),
			cmp.Compare(st.kinds[i], c.Kind), cmp.Compare(st.names[i], c.Name))
	}
	// The first key at or after c.
	i := sort.Search(len(st.ids), func(i int) bool { return cmpKey(i) >= 0 })
	if desc {
		return i - 1
	}
	if i < len(st.ids) && cmpKey(i) == 0 {
		i++
	}
	return i
}

// behindCache keeps the last behindState; mu is held while one is judged, so that the
// readers that find it old wait for one judgement rather than each make their own.
type behindCache struct {
	mu    sync.Mutex
	state *behindState
}

// behindNow returns the judgement of the data as it is now.
func (s *Store) behindNow(ctx context.Context) (*behindState, error) {
	version, err := s.dataVersion(ctx)
	if err != nil {
		return nil, fmt.Errorf("workloads behind their tags: %w", err)
	}
	s.behind.mu.Lock()
	defer s.behind.mu.Unlock()
	if st := s.behind.state; st != nil && st.version >= version {
		return st, nil
	}
	st, err := s.judgeBehind(ctx, s.behind.state)
	if err != nil {
		return nil, fmt.Errorf("workloads behind their tags: %w", err)
	}
	if old := s.behind.state; old == nil || st.version >= old.version {
		s.behind.state = st
	}
	return st, nil
}

// JudgeBehind judges the workloads behind their tags now, when the data changed since
// the last judgement, so that the next page or count finds it made: the scheduler
// calls it after a scan, watch record or recheck that changed the data, rather than
// the first reader after it paying for it. A reader that comes while it judges waits for that judgement.
func (s *Store) JudgeBehind(ctx context.Context) error {
	_, err := s.behindNow(ctx)
	return err
}

// BehindJudged reports whether the last judgement is of the data as it is now, so
// that a read would not judge again.
func (s *Store) BehindJudged(ctx context.Context) (bool, error) {
	version, err := s.dataVersion(ctx)
	if err != nil {
		return false, fmt.Errorf("workloads behind their tags: %w", err)
	}
	s.behind.mu.Lock()
	defer s.behind.mu.Unlock()
	return s.behind.state != nil && s.behind.state.version >= version, nil
}

// judgeBehind reads the moves, the live clusters and the data version in one snapshot,
// and judges the workloads. After old (nil for none), with the same tag targets and
// the same live clusters in the same groups, only the clusters whose runs moved since
// old's version (runs_version, set by the scan that opened or closed their intervals)
// are read and judged again; the others keep old's verdicts. Anything else judges
// every workload.
func (s *Store) judgeBehind(ctx context.Context, old *behindState) (*behindState, error) {
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, err
	}
	defer tx.Rollback(ctx)
	st := &behindState{workloads: map[runningKey][]BehindRef{}, live: map[int64]liveCluster{}, tagRuns: map[int64][]detect.RefGroup{}}
	if err := tx.QueryRow(ctx, `SELECT version FROM data_version`).Scan(&st.version); err != nil {
		return nil, err
	}
	rows, err := tx.Query(ctx, behindMovesSQL)
	if err != nil {
		return nil, fmt.Errorf("read the tag moves: %w", err)
	}
	moves, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (detect.Move, error) {
		var m detect.Move
		return m, r.Scan(&m.Ref, &m.Group, &m.From, &m.To, &m.At, &m.Seq)
	})
	if err != nil {
		return nil, fmt.Errorf("read the tag moves: %w", err)
	}
	st.targets = detect.Targets(moves)
	var id int64
	var c liveCluster
	runsVersion := map[int64]int64{}
	var runsAt int64
	rows, err = tx.Query(ctx, behindClustersSQL)
	if err != nil {
		return nil, fmt.Errorf("read the clusters: %w", err)
	}
	if _, err := pgx.ForEachRow(rows, []any{&id, &c.name, &c.group, &runsAt}, func() error {
		st.live[id], runsVersion[id] = c, runsAt
		return nil
	}); err != nil {
		return nil, fmt.Errorf("read the clusters: %w", err)
	}
	if len(st.targets) == 0 {
		return st, nil
	}
	again := old == nil || !maps.Equal(old.live, st.live) || !sameTargets(old.targets, st.targets)
	var ids []int64 // the clusters judged again
	for id := range st.live {
		if again || runsVersion[id] > old.version {
			ids = append(ids, id)
		}
	}
	if !again {
		// The verdicts and tag runs of the clusters that did not change stand.
		for k, bs := range old.workloads {
			if !slices.Contains(ids, k.clusterID) {
				st.workloads[k] = bs
			}
		}
		for id, rgs := range old.tagRuns {
			if !slices.Contains(ids, id) {
				st.tagRuns[id] = rgs
			}
		}
	}
	st.read = len(ids)
	if len(ids) > 0 {
		if err := st.judge(ctx, tx, ids); err != nil {
			return nil, err
		}
	}
	if again {
		old = nil
	}
	st.finish(old, ids)
	return st, nil
}

// judge judges the workloads of the clusters ids, reading what they run of the moved
// references.
func (st *behindState) judge(ctx context.Context, tx pgx.Tx, ids []int64) error {
	var refs []string
	for k := range st.targets {
		if !slices.Contains(refs, k.Ref) {
			refs = append(refs, k.Ref)
		}
	}
	rows, err := tx.Query(ctx, behindRowsSQL, refs, ids)
	if err != nil {
		return fmt.Errorf("read what runs the moved tags: %w", err)
	}
	runs := map[runningKey]map[string][]string{}
	var k runningKey
	var ref, digest string
	_, err = pgx.ForEachRow(rows, []any{&k.clusterID, &k.namespace, &k.kind, &k.name, &ref, &digest}, func() error {
		c, ok := st.live[k.clusterID]
		if !ok {
			return nil
		}
		rg := detect.RefGroup{Ref: ref, Group: c.group}
		if t, ok := st.targets[rg]; ok && t.Digest == digest && !slices.Contains(st.tagRuns[k.clusterID], rg) {
			st.tagRuns[k.clusterID] = append(st.tagRuns[k.clusterID], rg)
		}
		r := runs[k]
		if r == nil {
			r = map[string][]string{}
			runs[k] = r
		}
		if !slices.Contains(r[ref], digest) {
			r[ref] = append(r[ref], digest)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("read what runs the moved tags: %w", err)
	}
	for k, r := range runs {
		if bs := detect.Behind(st.live[k.clusterID].group, r, st.targets); len(bs) > 0 {
			out := make([]BehindRef, len(bs))
			for i, b := range bs {
				b.MovedAt = b.MovedAt.UTC()
				out[i] = BehindRef{BehindRef: b}
			}
			st.workloads[k] = out
		}
	}
	return nil
}

// finish sets where each tag's digest runs on every verdict and puts the keys in order.
// What it keeps of old (nil when it judged everything), the verdicts and keys of the
// clusters it did not judge again (judged), it neither copies nor sorts again: a kept
// verdict is copied only when where its tag's digest runs changed (never changed in
// place: readers may hold it), and the kept keys, in order already, are merged with the
// new ones sorted. After one cluster's change of ten, a sort and a copy of every
// workload behind were most of the judgement.
func (st *behindState) finish(old *behindState, judged []int64) {
	st.tagClusters = map[detect.RefGroup][]string{}
	for id, rgs := range st.tagRuns {
		for _, rg := range rgs {
			st.tagClusters[rg] = append(st.tagClusters[rg], st.live[id].name)
		}
	}
	for _, cs := range st.tagClusters {
		slices.Sort(cs)
	}
	kept := func(id int64) bool { return old != nil && !slices.Contains(judged, id) }
	var fresh []behindKey
	for k, bs := range st.workloads {
		group := st.live[k.clusterID].group
		if kept(k.clusterID) && !slices.ContainsFunc(bs, func(b BehindRef) bool {
			rg := detect.RefGroup{Ref: b.Ref, Group: group}
			return !slices.Equal(st.tagClusters[rg], old.tagClusters[rg])
		}) {
			continue
		}
		out := make([]BehindRef, len(bs))
		for i, b := range bs {
			b.TagClusters = st.tagClusters[detect.RefGroup{Ref: b.Ref, Group: group}]
			out[i] = b
		}
		st.workloads[k] = out
		if !kept(k.clusterID) {
			fresh = append(fresh, behindKey{k.clusterID, st.live[k.clusterID].name, k.namespace, k.kind, k.name})
		}
	}
	slices.SortFunc(fresh, compareBehindKeys)
	n := len(st.workloads)
	st.ids, st.clusters, st.namespaces, st.kinds, st.names = make([]int64, 0, n), make([]string, 0, n),
		make([]string, 0, n), make([]string, 0, n), make([]string, 0, n)
	add := func(k behindKey) {
		st.ids, st.clusters, st.namespaces, st.kinds, st.names = append(st.ids, k.id), append(st.clusters, k.cluster),
			append(st.namespaces, k.namespace), append(st.kinds, k.kind), append(st.names, k.name)
	}
	i := 0
	if old != nil {
		for j, id := range old.ids {
			if !kept(id) {
				continue
			}
			k := behindKey{id, old.clusters[j], old.namespaces[j], old.kinds[j], old.names[j]}
			for ; i < len(fresh) && compareBehindKeys(fresh[i], k) < 0; i++ {
				add(fresh[i])
			}
			add(k)
		}
	}
	for _, k := range fresh[i:] {
		add(k)
	}
}

// compareBehindKeys orders keys as SortCluster's columns compare: cluster name,
// namespace, kind, name, by bytes.
func compareBehindKeys(a, b behindKey) int {
	return cmp.Or(cmp.Compare(a.cluster, b.cluster), cmp.Compare(a.namespace, b.namespace),
		cmp.Compare(a.kind, b.kind), cmp.Compare(a.name, b.name))
}

// sameTargets reports whether two judgements' tags point to the same digests, moved
// at the same times, away from the same ones.
func sameTargets(a, b map[detect.RefGroup]detect.TagTarget) bool {
	return maps.EqualFunc(a, b, func(x, y detect.TagTarget) bool {
		return x.Digest == y.Digest && x.MovedAt.Equal(y.MovedAt) && slices.Equal(x.Left, y.Left)
	})
}

// fillBehind sets the Behind of each workload of page (page.out) that is behind a tag.
func (s *Store) fillBehind(ctx context.Context, page *workloadPage) error {
	if len(page.out) == 0 {
		return nil
	}
	st, err := s.behindNow(ctx)
	if err != nil {
		return err
	}
	for i, w := range page.out {
		page.out[i].Behind = st.workloads[runningKey{w.ClusterID, w.Namespace, w.Kind, w.Name}]
	}
	return nil
}

// CountBehind counts the workloads of live clusters in scope sc behind a tag (each
// once, however many of its references are). The judgement is the one of every
// cluster (a tag's target is its group's); a limited scope counts its clusters' verdicts.
func (s *Store) CountBehind(ctx context.Context, sc Scope) (int, error) {
	st, err := s.behindNow(ctx)
	if err != nil {
		return 0, err
	}
	if !sc.Limited {
		return len(st.workloads), nil
	}
	var q query
	rows, err := s.pool.Query(ctx, `SELECT id FROM clusters WHERE deleted_at IS NULL`+sc.groupSQL(&q, "group_id"), q.args...)
	if err != nil {
		return 0, fmt.Errorf("workloads behind their tags: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return 0, fmt.Errorf("workloads behind their tags: %w", err)
	}
	n := 0
	for k := range st.workloads {
		if slices.Contains(ids, k.clusterID) {
			n++
		}
	}
	return n, nil
}

// behindPageSQL pages through the workloads behind a tag ($1 to $4: their cluster ids,
// namespaces, kinds and names), as mutantPageSQL through the places of open mutations,
// each with its sort keys from running_workloads a. The holes are mutantPageSQL's.
const behindPageSQL = `
	WITH marks AS MATERIALIZED (
		SELECT c.id, c.name COLLATE "C" AS cluster, u.namespace COLLATE "C", u.kind COLLATE "C", u.name COLLATE "C"
		FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[]) AS u (id, namespace, kind, name)
		JOIN clusters c ON c.id = u.id AND c.deleted_at IS NULL
	)
	SELECT k.id, k.cluster, k.namespace, k.kind, k.name,
	       place_of_open_mutation(k.id, k.cluster, k.namespace, k.kind, k.name) {{bodies}}
	FROM marks k
	JOIN running_workloads a ON a.cluster_id = k.id AND a.namespace = k.namespace AND a.kind = k.kind AND a.name = k.name
	WHERE true {{where}}
	ORDER BY {{order}}
	LIMIT {{limit}}`

// behindPage reads the workloads behind a tag in an order: the behind filter's page.
func (s *Store) behindPage(ctx context.Context, page *workloadPage, f WorkloadFilter, order []string, limit int) error {
	return s.behindPart(ctx, page, f, order, f.After, limit, false)
}

// behindPart reads the workloads behind a tag in an order after a cursor; notMutant
// leaves out the places of open mutations (SortMutant's part of them comes first).
func (s *Store) behindPart(ctx context.Context, page *workloadPage, f WorkloadFilter, order []string, after *WorkloadCursor, limit int, notMutant bool) error {
	st, err := s.behindNow(ctx)
	if err != nil {
		return err
	}
	read := func(ids []int64, namespaces, kinds, names []string, after *WorkloadCursor, limit int) error {
		q := query{args: []any{ids, namespaces, kinds, names}}
		cond := pageFilterSQL(&q, f, "k.cluster", "k.id", "k.namespace", "k.kind", "k.name")
		if notMutant {
			cond += " AND NOT place_of_open_mutation(k.id, k.cluster, k.namespace, k.kind, k.name)"
		}
		if after != nil {
			cond += " AND " + afterSQL(&q, order, markColumns, *after, f.Desc, false)
		}
		sqlText := fill(behindPageSQL, holes{"bodies": page.bodyColumns("a"), "where": cond,
			"order": orderSQL(order, markColumns, f.Desc), "limit": q.arg(limit)})
		if err := s.readPage(ctx, page, sqlText, q.args, page.withBodies); err != nil {
			return fmt.Errorf("workloads behind their tags: %w", err)
		}
		return nil
	}
	if !slices.Equal(order, workloadOrder[SortCluster]) {
		// Another order: the database sorts every judged workload.
		return read(st.ids, st.namespaces, st.kinds, st.names, after, limit)
	}
	// The arrays' own order: pass the keys after the cursor a run at a time, so that a
	// page sorts a few hundred, not all of them (4,377 on the benchmark fleet); a run
	// the filter thins out is followed by a longer one.
	want := len(page.out) + limit
	run := max(4*limit, 64)
	if !f.Desc {
		i := 0
		if after != nil {
			i = st.after(*after, false)
		}
		for i < len(st.ids) && len(page.out) < want {
			j := min(i+run, len(st.ids))
			if err := read(st.ids[i:j], st.namespaces[i:j], st.kinds[i:j], st.names[i:j], nil, want-len(page.out)); err != nil {
				return err
			}
			i, run = j, 2*run
		}
		return nil
	}
	j := len(st.ids)
	if after != nil {
		j = st.after(*after, true) + 1
	}
	for j > 0 && len(page.out) < want {
		i := max(j-run, 0)
		if err := read(st.ids[i:j], st.namespaces[i:j], st.kinds[i:j], st.names[i:j], nil, want-len(page.out)); err != nil {
			return err
		}
		j, run = i, 2*run
	}
	return nil
}

// notBehindSQL is the condition that a workload (its cluster's id, namespace, kind and
// name, as the holes name them) is not behind a tag: the judged ones are the arrays
// (ids, namespaces, kinds, names), one hashed list.
const notBehindSQL = ` AND ({{id}}, {{namespace}}, {{kind}}, {{name}}) NOT IN
	(SELECT * FROM unnest({{ids}}::bigint[], {{namespaces}}::text[], {{kinds}}::text[], {{names}}::text[]))`
