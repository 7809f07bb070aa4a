package store

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"k8s.io/apimachinery/pkg/types"

	"github.com/tagdrift/tagdrift/scanner/detect"
	"github.com/tagdrift/tagdrift/scanner/imageref"
	"github.com/tagdrift/tagdrift/scanner/inventory"
	"github.com/tagdrift/tagdrift/scanner/report"
)

// Names sort by bytes (COLLATE "C") wherever a list is ordered by them, so that the
// order, and the cursors that page through it, are those of Go's strings.Compare (and of
// `tagdrift scan`) whatever the database's locale.

// defaultLimit is the page size when a filter gives none.
const defaultLimit = 100

func limitOf(n int) int {
	if n <= 0 {
		return defaultLimit
	}
	return n
}

// ClusterStatus is a live cluster with its latest scan and open mutation count.
type ClusterStatus struct {
	Cluster
	LastScan      *Scan // nil when never scanned (a queued scan counts)
	OpenMutations int   // open conditions with a place in the cluster
}

// touchesSQL holds when mutation m bears on live cluster c: it is c's own (cluster_id),
// or it spans clusters (cluster_id NULL) and has a place in c. A mutation left open by a
// deleted cluster of the same name is not the new cluster's.
const touchesSQL = `(m.cluster_id = c.id OR (m.cluster_id IS NULL AND
	m.places @> jsonb_build_array(jsonb_build_object('cluster', c.name))))`

// clusterStatusSQL reads live clusters with their newest scan (by id, any status) and
// the open mutations that touch them, counted once each.
const clusterStatusSQL = `
	SELECT c.id, c.name, c.server, c.context, c.scan_interval, c.annotate, c.enabled, c.created_at,
	       s.id, s.status, s.queued_at, s.started_at, s.finished_at, s.pods, s.containers, s.opened, s.closed, s.error,
	       (SELECT count(*) FROM mutations m WHERE m.resolved_at IS NULL AND ` + touchesSQL + `)
	FROM clusters c
	LEFT JOIN LATERAL (SELECT * FROM scans WHERE cluster_id = c.id ORDER BY id DESC LIMIT 1) s ON true
	WHERE c.deleted_at IS NULL`

func scanClusterStatus(row pgx.Row) (ClusterStatus, error) {
	var cs ClusterStatus
	var (
		id                                *int64
		status, errText                   *string
		queued                            *time.Time
		pods, containers, opened, closedN *int
		sc                                Scan
	)
	c := &cs.Cluster
	err := row.Scan(&c.ID, &c.Name, &c.Server, &c.Context, &c.ScanInterval, &c.Annotate, &c.Enabled, &c.CreatedAt,
		&id, &status, &queued, &sc.StartedAt, &sc.FinishedAt, &pods, &containers, &opened, &closedN, &errText,
		&cs.OpenMutations)
	if err != nil {
		return cs, err
	}
	if id != nil {
		sc.ID, sc.ClusterID, sc.Status, sc.QueuedAt = *id, c.ID, *status, *queued
		sc.Pods, sc.Containers, sc.Opened, sc.Closed, sc.Error = *pods, *containers, *opened, *closedN, *errText
		cs.LastScan = &sc
	}
	return cs, nil
}

// ClusterStatuses returns every live (not deleted) cluster, by name.
func (s *Store) ClusterStatuses(ctx context.Context) ([]ClusterStatus, error) {
	rows, err := s.pool.Query(ctx, clusterStatusSQL+` ORDER BY c.name COLLATE "C"`)
	if err != nil {
		return nil, fmt.Errorf("cluster statuses: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (ClusterStatus, error) { return scanClusterStatus(r) })
	if err != nil {
		return nil, fmt.Errorf("cluster statuses: %w", err)
	}
	return out, nil
}

// ClusterStatusByName returns a live cluster; ErrNotFound when none has that name.
func (s *Store) ClusterStatusByName(ctx context.Context, name string) (ClusterStatus, error) {
	cs, err := scanClusterStatus(s.pool.QueryRow(ctx, clusterStatusSQL+` AND c.name = $1`, name))
	if err != nil {
		return ClusterStatus{}, fmt.Errorf("cluster %q: %w", name, notFound(err))
	}
	return cs, nil
}

// RegisterCluster is CreateCluster recorded in the audit trail (cluster.create).
func (s *Store) RegisterCluster(ctx context.Context, nc NewCluster, a Audit) (Cluster, error) {
	var c Cluster
	err := s.tx(ctx, func(tx pgx.Tx) error {
		var err error
		if c, err = s.createCluster(ctx, tx, nc); err != nil {
			return err
		}
		return recordAudit(ctx, tx, a, ActionClusterCreate, c.Name, map[string]any{
			"server": c.Server, "context": c.Context, "scanInterval": c.ScanInterval.String(),
			"annotate": c.Annotate, "enabled": c.Enabled,
		})
	})
	if err != nil {
		return Cluster{}, fmt.Errorf("register cluster: %w", err)
	}
	return c, nil
}

// ClusterChange is a partial update; nil fields keep their value.
type ClusterChange struct {
	Server       *string
	Context      *string
	Credentials  []byte // sealed anew when set
	ScanInterval *time.Duration
	Annotate     *string
	Enabled      *bool
}

// UpdateCluster changes a live cluster (cluster.update, naming the fields changed but
// never the credentials); ErrNotFound when none has that name.
//
// The audit detail lists the fields that changed under "fields" ("credentials" among
// them whenever new ones were given) with the new values of all but the credentials.
func (s *Store) UpdateCluster(ctx context.Context, name string, ch ClusterChange, a Audit) (Cluster, error) {
	var c Cluster
	err := s.tx(ctx, func(tx pgx.Tx) error {
		old, err := scanCluster(tx.QueryRow(ctx, `
			SELECT `+clusterColumns+` FROM clusters WHERE name = $1 AND deleted_at IS NULL FOR UPDATE`, name))
		if err != nil {
			return notFound(err)
		}
		next := old
		fields := []string{}
		detail := map[string]any{}
		change := func(field string, differs bool, value any) {
			if differs {
				fields = append(fields, field)
				detail[field] = value
			}
		}
		if ch.Server != nil {
			next.Server = *ch.Server
			change("server", next.Server != old.Server, next.Server)
		}
		if ch.Context != nil {
			next.Context = *ch.Context
			change("context", next.Context != old.Context, next.Context)
		}
		if ch.ScanInterval != nil {
			next.ScanInterval = *ch.ScanInterval
			change("scanInterval", next.ScanInterval != old.ScanInterval, next.ScanInterval.String())
		}
		if ch.Annotate != nil {
			next.Annotate = *ch.Annotate
			change("annotate", next.Annotate != old.Annotate, next.Annotate)
		}
		if ch.Enabled != nil {
			next.Enabled = *ch.Enabled
			change("enabled", next.Enabled != old.Enabled, next.Enabled)
		}
		var sealed []byte
		if ch.Credentials != nil {
			if sealed, err = s.keys.Seal(ch.Credentials, aad(old.ID)); err != nil {
				return fmt.Errorf("seal credentials: %w", err)
			}
			fields = append(fields, "credentials") // named only: never a value
		}
		c, err = scanCluster(tx.QueryRow(ctx, `
			UPDATE clusters SET server = $2, context = $3, scan_interval = $4, annotate = $5, enabled = $6,
			       kubeconfig = COALESCE($7, kubeconfig), key_id = CASE WHEN $7::bytea IS NULL THEN key_id ELSE $8 END
			WHERE id = $1
			RETURNING `+clusterColumns,
			old.ID, next.Server, next.Context, next.ScanInterval, next.Annotate, next.Enabled, sealed, int64(s.keys.Primary())))
		if err != nil {
			return err
		}
		detail["fields"] = fields
		return recordAudit(ctx, tx, a, ActionClusterUpdate, name, detail)
	})
	if err != nil {
		return Cluster{}, fmt.Errorf("update cluster %q: %w", name, err)
	}
	return c, nil
}

// DeleteCluster deletes a live cluster (cluster.delete): its credentials are dropped at
// once and it is never scanned again. Without purge its history (observations, scans,
// mutations) stays queryable; with purge it goes too. ErrNotFound when none has that
// name.
//
// Without purge, the cluster is marked deleted, which frees its name; its queued and
// running scans are aborted, so that a scan still listing it records nothing; and its
// open observations are closed now, last seen by its latest succeeded scan, so that
// what runs means what runs in a cluster still watched. The caller then reconciles the
// mutations it bore on with the references returned (scheduler.Forget): a cluster no
// longer watched must not keep conditions open that no scan will ever resolve.
func (s *Store) DeleteCluster(ctx context.Context, name string, purge bool, a Audit) (Deleted, error) {
	var d Deleted
	err := s.tx(ctx, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `SELECT id FROM clusters WHERE name = $1 AND deleted_at IS NULL FOR UPDATE`, name).Scan(&d.ID)
		if err != nil {
			return notFound(err)
		}
		id := d.ID
		rows, err := tx.Query(ctx, `
			SELECT DISTINCT ref FROM observations WHERE cluster_id = $1 AND closed_at IS NULL AND NOT pinned ORDER BY ref`, id)
		if err != nil {
			return fmt.Errorf("references run: %w", err)
		}
		if d.Refs, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
			return fmt.Errorf("references run: %w", err)
		}
		if purge {
			// Scans, observations and the cluster's own mutations cascade.
			if _, err := tx.Exec(ctx, `DELETE FROM clusters WHERE id = $1`, id); err != nil {
				return fmt.Errorf("purge: %w", err)
			}
		} else {
			// Aborting first waits for a scan completing now, whose rows the next
			// statement then closes.
			if _, err := tx.Exec(ctx, `
				UPDATE scans SET status = 'aborted', error = 'cluster deleted', finished_at = now()
				WHERE cluster_id = $1 AND status IN ('queued', 'running')`, id); err != nil {
				return fmt.Errorf("abort scans: %w", err)
			}
			if _, err := tx.Exec(ctx, `
				UPDATE observations SET closed_at = now(), last_seen = COALESCE(
					(SELECT started_at FROM scans WHERE cluster_id = $1 AND status = 'succeeded' ORDER BY id DESC LIMIT 1),
					first_seen)
				WHERE cluster_id = $1 AND closed_at IS NULL`, id); err != nil {
				return fmt.Errorf("close observations: %w", err)
			}
			if _, err := tx.Exec(ctx, `
				UPDATE clusters SET deleted_at = now(), kubeconfig = NULL, enabled = false WHERE id = $1`, id); err != nil {
				return err
			}
		}
		if err := recordAudit(ctx, tx, a, ActionClusterDelete, name, map[string]any{"purge": purge}); err != nil {
			return err
		}
		return bumpDataVersion(ctx, tx)
	})
	if err != nil {
		return Deleted{}, fmt.Errorf("delete cluster %q: %w", name, err)
	}
	return d, nil
}

// Deleted is what a deleted cluster leaves to reconcile: its mutations, and the
// tag-divergences of the unpinned references it ran (scheduler.Forget).
type Deleted struct {
	ID   int64
	Refs []string
}

// ScanFilter selects scans, newest first.
type ScanFilter struct {
	Cluster  string // a cluster name; "" for all
	BeforeID int64  // ids below this one; 0 from the newest
	Limit    int
}

// ScanRecord is a scan with its cluster's name.
type ScanRecord struct {
	Scan
	Cluster string
}

const scanRecordSQL = `
	SELECT s.id, s.cluster_id, s.status, s.queued_at, s.started_at, s.finished_at, s.pods, s.containers,
	       s.opened, s.closed, s.error, c.name
	FROM scans s JOIN clusters c ON c.id = s.cluster_id`

func scanScanRecord(row pgx.Row) (ScanRecord, error) {
	var r ScanRecord
	sc := &r.Scan
	err := row.Scan(&sc.ID, &sc.ClusterID, &sc.Status, &sc.QueuedAt, &sc.StartedAt, &sc.FinishedAt,
		&sc.Pods, &sc.Containers, &sc.Opened, &sc.Closed, &sc.Error, &r.Cluster)
	return r, err
}

// ListScans returns scans matching f, newest first. Scans of deleted clusters are listed
// under their name too.
func (s *Store) ListScans(ctx context.Context, f ScanFilter) ([]ScanRecord, error) {
	var q query
	q.where("s.id < " + q.arg(cmp.Or(f.BeforeID, 1<<63-1)))
	if f.Cluster != "" {
		q.where("c.name = " + q.arg(f.Cluster))
	}
	rows, err := s.pool.Query(ctx, scanRecordSQL+q.clause()+` ORDER BY s.id DESC LIMIT `+q.arg(limitOf(f.Limit)), q.args...)
	if err != nil {
		return nil, fmt.Errorf("list scans: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (ScanRecord, error) { return scanScanRecord(r) })
	if err != nil {
		return nil, fmt.Errorf("list scans: %w", err)
	}
	return out, nil
}

// ScanRecordByID returns one scan; ErrNotFound when there is none.
func (s *Store) ScanRecordByID(ctx context.Context, id int64) (ScanRecord, error) {
	r, err := scanScanRecord(s.pool.QueryRow(ctx, scanRecordSQL+` WHERE s.id = $1`, id))
	if err != nil {
		return ScanRecord{}, fmt.Errorf("scan %d: %w", id, notFound(err))
	}
	return r, nil
}

// WorkloadKey orders workloads for paging.
type WorkloadKey struct {
	Cluster, Namespace, Kind, Name string
}

// WorkloadFilter selects workloads that run now (have open observations).
type WorkloadFilter struct {
	Cluster, Namespace, Kind string // "" for all
	MutantOnly               bool   // only places of open mutations
	After                    *WorkloadKey
	Limit                    int
}

// workloadPageSQL pages through the workloads running in live clusters: per cluster,
// in name order, the distinct workloads of its open observations through the
// observations_open_workload index, each cluster's scan stopping at the page size; then
// whether each of the page's workloads is a place of an open mutation of its cluster
// (through the mutations_places index). The %s are the extra conditions on
// observations o, the page size, and the extra conditions on clusters c.
const workloadPageSQL = `
	SELECT q.id, q.cluster, q.namespace, q.kind, q.name,
	       EXISTS (SELECT 1 FROM mutations m
	               WHERE m.resolved_at IS NULL AND (m.cluster_id IS NULL OR m.cluster_id = q.id)
	                 AND m.places @> jsonb_build_array(jsonb_build_object('cluster', q.cluster, 'namespace', q.namespace,
	                     'workload', jsonb_build_object('kind', q.kind, 'name', q.name))))
	FROM (
		SELECT c.id, c.name COLLATE "C" AS cluster, w.namespace, w.kind, w.name
		FROM clusters c
		CROSS JOIN LATERAL (
			SELECT DISTINCT o.namespace COLLATE "C" AS namespace, o.workload_kind COLLATE "C" AS kind,
			       o.workload_name COLLATE "C" AS name
			FROM observations o
			WHERE o.cluster_id = c.id AND o.closed_at IS NULL %s
			ORDER BY 1, 2, 3
			LIMIT %s
		) w
		WHERE c.deleted_at IS NULL %s
		ORDER BY c.name COLLATE "C", w.namespace, w.kind, w.name
		LIMIT %[2]s
	) q
	ORDER BY q.cluster, q.namespace, q.kind, q.name`

// mutantPageSQL pages through the workloads that are places of open mutations in live
// clusters and still run there: driven from the open mutations, which are few. The %s
// are the extra conditions on the places k, and the page size.
const mutantPageSQL = `
	WITH marks AS (
		SELECT DISTINCT c.id, c.name COLLATE "C" AS cluster, (p->>'namespace') COLLATE "C" AS namespace,
		       (p->'workload'->>'kind') COLLATE "C" AS kind, (p->'workload'->>'name') COLLATE "C" AS name
		FROM mutations m
		CROSS JOIN LATERAL jsonb_array_elements(m.places) p
		JOIN clusters c ON c.name = p->>'cluster' AND c.deleted_at IS NULL
		WHERE m.resolved_at IS NULL AND (m.cluster_id IS NULL OR m.cluster_id = c.id)
	)
	SELECT k.id, k.cluster, k.namespace, k.kind, k.name, true
	FROM marks k
	WHERE EXISTS (SELECT 1 FROM observations o
	              WHERE o.cluster_id = k.id AND o.closed_at IS NULL AND o.namespace COLLATE "C" = k.namespace
	                AND o.workload_kind COLLATE "C" = k.kind AND o.workload_name COLLATE "C" = k.name) %s
	ORDER BY k.cluster, k.namespace, k.kind, k.name
	LIMIT %s`

// workloadRowsSQL reads the open observations of a page of workloads: $1 to $4 are
// their cluster ids, namespaces, kinds and names.
const workloadRowsSQL = `
	SELECT o.cluster_id, o.namespace, o.workload_kind, o.workload_name, o.pod, o.pod_uid, o.container,
	       o.container_type, o.image, o.digest, o.digest_kind, o.image_id
	FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[]) AS p (id, namespace, kind, name)
	JOIN observations o ON o.cluster_id = p.id AND o.closed_at IS NULL AND o.namespace COLLATE "C" = p.namespace
	                   AND o.workload_kind COLLATE "C" = p.kind AND o.workload_name COLLATE "C" = p.name`

// ListWorkloads returns running workloads in the shape of `tagdrift scan -o json`,
// ordered by cluster, namespace, kind and name, after f.After. Mutant is true for a
// place of an open mutation.
//
// Only live clusters' open observations count, and only containers that run a digest
// are stored, so a container still waiting for its image is not listed.
func (s *Store) ListWorkloads(ctx context.Context, f WorkloadFilter) ([]report.Workload, error) {
	limit := limitOf(f.Limit)
	var q query
	var sqlText string
	if f.MutantOnly {
		var cond strings.Builder
		if f.Cluster != "" {
			cond.WriteString(" AND k.cluster = " + q.arg(f.Cluster))
		}
		if f.Namespace != "" {
			cond.WriteString(" AND k.namespace = " + q.arg(f.Namespace))
		}
		if f.Kind != "" {
			cond.WriteString(" AND k.kind = " + q.arg(f.Kind))
		}
		if a := f.After; a != nil {
			cond.WriteString(fmt.Sprintf(" AND (k.cluster, k.namespace, k.kind, k.name) > (%s, %s, %s, %s)",
				q.arg(a.Cluster), q.arg(a.Namespace), q.arg(a.Kind), q.arg(a.Name)))
		}
		sqlText = fmt.Sprintf(mutantPageSQL, cond.String(), q.arg(limit))
	} else {
		var clusterCond, obsCond strings.Builder
		if f.Cluster != "" {
			clusterCond.WriteString(" AND c.name = " + q.arg(f.Cluster))
		}
		if f.Namespace != "" {
			obsCond.WriteString(` AND o.namespace COLLATE "C" = ` + q.arg(f.Namespace))
		}
		if f.Kind != "" {
			obsCond.WriteString(` AND o.workload_kind COLLATE "C" = ` + q.arg(f.Kind))
		}
		if a := f.After; a != nil {
			cl := q.arg(a.Cluster)
			clusterCond.WriteString(` AND c.name COLLATE "C" >= ` + cl)
			// Past the cursor's cluster every workload follows it; a workload kind is
			// never empty, so ('', '', '') precedes them all and keeps the row
			// comparison an index condition.
			obsCond.WriteString(fmt.Sprintf(` AND (o.namespace COLLATE "C", o.workload_kind COLLATE "C", o.workload_name COLLATE "C") >
				(CASE WHEN c.name = %[1]s THEN %[2]s ELSE '' END, CASE WHEN c.name = %[1]s THEN %[3]s ELSE '' END,
				 CASE WHEN c.name = %[1]s THEN %[4]s ELSE '' END)`, cl, q.arg(a.Namespace), q.arg(a.Kind), q.arg(a.Name)))
		}
		sqlText = fmt.Sprintf(workloadPageSQL, obsCond.String(), q.arg(limit), clusterCond.String())
	}
	rows, err := s.pool.Query(ctx, sqlText, q.args...)
	if err != nil {
		return nil, fmt.Errorf("list workloads: %w", err)
	}
	var page workloadPage
	for rows.Next() {
		var id int64
		var k WorkloadKey
		var mutant bool
		if err := rows.Scan(&id, &k.Cluster, &k.Namespace, &k.Kind, &k.Name, &mutant); err != nil {
			rows.Close()
			return nil, fmt.Errorf("list workloads: %w", err)
		}
		page.add(id, k, mutant)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list workloads: %w", err)
	}
	if len(page.ids) == 0 {
		return []report.Workload{}, nil
	}
	return s.workloads(ctx, &page)
}

// workloadPage is a page of workloads, as the arrays workloadRowsSQL takes.
type workloadPage struct {
	ids                      []int64
	namespaces, kinds, names []string
	cluster                  map[int64]string
	mutant                   map[WorkloadKey]bool
}

func (p *workloadPage) add(id int64, k WorkloadKey, mutant bool) {
	if p.cluster == nil {
		p.cluster, p.mutant = map[int64]string{}, map[WorkloadKey]bool{}
	}
	p.ids, p.namespaces, p.kinds, p.names = append(p.ids, id), append(p.namespaces, k.Namespace), append(p.kinds, k.Kind), append(p.names, k.Name)
	p.cluster[id] = k.Cluster
	p.mutant[k] = mutant
}

// workloads reads a page of workloads and groups their open observations as
// report.Build groups a scan's pods.
func (s *Store) workloads(ctx context.Context, page *workloadPage) ([]report.Workload, error) {
	rows, err := s.pool.Query(ctx, workloadRowsSQL, page.ids, page.namespaces, page.kinds, page.names)
	if err != nil {
		return nil, fmt.Errorf("read workloads: %w", err)
	}
	defer rows.Close()
	parser := imageref.NewParser()
	parsed := map[[3]string]*imageref.ID{}
	var pods []inventory.Pod
	for rows.Next() {
		var p inventory.Pod
		var cid int64
		var uid, container, typ, image, dgst, kind, raw string
		if err := rows.Scan(&cid, &p.Namespace, &p.Workload.Kind, &p.Workload.Name, &p.Name, &uid, &container, &typ, &image,
			&dgst, &kind, &raw); err != nil {
			return nil, fmt.Errorf("read workloads: %w", err)
		}
		p.Cluster, p.UID = page.cluster[cid], types.UID(uid)
		// The digest as stored when the scan parsed it; the reference parsed again
		// (remembered), as OpenPods does, for its normalized form and pin.
		idKey := [3]string{raw, kind, dgst}
		id, ok := parsed[idKey]
		if !ok {
			id = &imageref.ID{Raw: raw, Kind: imageref.Kind(kind), Digest: dgst}
			parsed[idKey] = id
		}
		// One pod per row: Build merges a workload's pods and removes repeated names.
		p.Containers = []inventory.Container{{Name: container, Type: inventory.ContainerType(typ), Ref: parser.Ref(image), ID: id}}
		pods = append(pods, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read workloads: %w", err)
	}
	out := report.Build([]report.ClusterScan{{Pods: pods}}, nil).Workloads
	for i := range out {
		w := &out[i]
		w.Mutant = page.mutant[WorkloadKey{w.Cluster, w.Namespace, w.Kind, w.Name}]
	}
	return out, nil
}

// MutationFilter selects mutations, newest first.
type MutationFilter struct {
	Cluster   string // the cluster, or a place in it (cross-cluster tag-divergences)
	Namespace string // likewise
	Kind      string
	State     string // open (default), closed or all
	BeforeID  int64
	Limit     int
}

// Mutation states of MutationFilter. Events (tag-moved, pod-drift) are recorded
// resolved at the moment they happened, so they are never open: closed and all list
// them.
const (
	StateOpen   = "open"
	StateClosed = "closed"
	StateAll    = "all"
)

const mutationSQL = `
	SELECT id, identity, kind, cluster, namespace, workload_kind, workload_name, container, ref, digests, places::text,
	       detected_at, resolved_at
	FROM mutations m`

func scanMutation(row pgx.Row) (Mutation, error) {
	var m Mutation
	var kind, places string
	err := row.Scan(&m.ID, &m.Identity, &kind, &m.Cluster, &m.Namespace, &m.Workload.Kind, &m.Workload.Name,
		&m.Container, &m.Ref, &m.Digests, &places, &m.DetectedAt, &m.ResolvedAt)
	if err != nil {
		return m, err
	}
	m.Kind = detect.Kind(kind)
	if err := json.Unmarshal([]byte(places), &m.Places); err != nil {
		return m, fmt.Errorf("places of mutation %d: %w", m.ID, err)
	}
	return m, nil
}

// ListMutations returns mutations matching f, newest first. A cluster or namespace
// matches the mutation's own, or any of its places (a tag-divergence across clusters
// has none of its own); given both, one place must be in both. Deleted clusters'
// mutations are listed under their name.
func (s *Store) ListMutations(ctx context.Context, f MutationFilter) ([]Mutation, error) {
	var q query
	switch f.State {
	case "", StateOpen:
		q.where("m.resolved_at IS NULL")
	case StateClosed:
		q.where("m.resolved_at IS NOT NULL")
	case StateAll:
	default:
		return nil, fmt.Errorf("list mutations: unknown state %q", f.State)
	}
	if f.Kind != "" {
		q.where("m.kind = " + q.arg(f.Kind))
	}
	if f.Cluster != "" || f.Namespace != "" {
		place := map[string]string{}
		var own []string
		if f.Cluster != "" {
			place["cluster"] = f.Cluster
			own = append(own, "m.cluster = "+q.arg(f.Cluster))
		}
		if f.Namespace != "" {
			place["namespace"] = f.Namespace
			own = append(own, "m.namespace = "+q.arg(f.Namespace))
		}
		b, err := json.Marshal([]map[string]string{place})
		if err != nil {
			return nil, fmt.Errorf("list mutations: %w", err)
		}
		q.where(fmt.Sprintf("(m.places @> %s::jsonb OR (%s))", q.arg(string(b)), strings.Join(own, " AND ")))
	}
	if f.BeforeID > 0 {
		q.where("m.id < " + q.arg(f.BeforeID))
	}
	rows, err := s.pool.Query(ctx, mutationSQL+q.clause()+" ORDER BY m.id DESC LIMIT "+q.arg(limitOf(f.Limit)), q.args...)
	if err != nil {
		return nil, fmt.Errorf("list mutations: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Mutation, error) { return scanMutation(r) })
	if err != nil {
		return nil, fmt.Errorf("list mutations: %w", err)
	}
	return out, nil
}

// MutationByID returns one mutation; ErrNotFound when there is none.
func (s *Store) MutationByID(ctx context.Context, id int64) (Mutation, error) {
	m, err := scanMutation(s.pool.QueryRow(ctx, mutationSQL+" WHERE m.id = $1", id))
	if err != nil {
		return Mutation{}, fmt.Errorf("mutation %d: %w", id, notFound(err))
	}
	return m, nil
}

// TimelineDigest is one digest a reference ran, over all clusters.
type TimelineDigest struct {
	Digest    string
	FirstSeen time.Time
	LastSeen  time.Time // for a digest still running, its cluster's latest succeeded scan
	Running   bool
	Clusters  []string // sorted
	Pods      int      // distinct pods that ran it
}

// lastSeenSQL is an interval's last sighting: last_seen once closed; while open, when
// its cluster's latest succeeded scan listed it (that scan's start, as CompleteScan
// writes last_seen on close, so the value holds across the close), from seen
// (cluster_id, at).
const lastSeenSQL = `COALESCE(o.last_seen, seen.at, o.first_seen)`

// latestScanSQL is when cluster %s's latest succeeded scan started.
const latestScanSQL = `(SELECT sc.started_at FROM scans sc WHERE sc.cluster_id = %s AND sc.status = 'succeeded'
	ORDER BY sc.id DESC LIMIT 1)`

// Timeline returns the digests a normalized reference ran, oldest first, across all
// clusters, deleted ones included; an empty slice when it never ran.
func (s *Store) Timeline(ctx context.Context, ref string) ([]TimelineDigest, error) {
	// Aggregated per pod, then per cluster, then per digest, all by hashing: a popular
	// reference has tens of thousands of intervals, and DISTINCT aggregates would sort
	// them. A running digest's last sighting is looked up once per cluster running it.
	rows, err := s.pool.Query(ctx, `
		WITH pods AS (
			SELECT digest, cluster_id, min(first_seen) AS first_seen, max(last_seen) AS last_seen,
			       bool_or(closed_at IS NULL) AS running
			FROM observations WHERE ref = $1
			GROUP BY digest, cluster_id, pod_uid
		), per AS (
			SELECT digest, cluster_id, count(*) AS pods, min(first_seen) AS first_seen, max(last_seen) AS last_seen,
			       bool_or(running) AS running
			FROM pods GROUP BY digest, cluster_id
		)
		SELECT per.digest, min(per.first_seen),
		       max(GREATEST(per.last_seen, per.first_seen,
		           CASE WHEN per.running THEN `+fmt.Sprintf(latestScanSQL, "per.cluster_id")+` END)),
		       bool_or(per.running), array_agg(c.name), sum(per.pods)
		FROM per JOIN clusters c ON c.id = per.cluster_id
		GROUP BY per.digest
		ORDER BY 2, 1`, ref)
	if err != nil {
		return nil, fmt.Errorf("timeline of %s: %w", ref, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (TimelineDigest, error) {
		var d TimelineDigest
		if err := r.Scan(&d.Digest, &d.FirstSeen, &d.LastSeen, &d.Running, &d.Clusters, &d.Pods); err != nil {
			return d, err
		}
		// A deleted cluster and its successor share a name.
		slices.Sort(d.Clusters)
		d.Clusters = slices.Compact(d.Clusters)
		return d, nil
	})
	if err != nil {
		return nil, fmt.Errorf("timeline of %s: %w", ref, err)
	}
	if out == nil {
		out = []TimelineDigest{}
	}
	return out, nil
}

// DigestPlace is a place that ran a digest, and when.
type DigestPlace struct {
	detect.Place
	FirstSeen time.Time
	LastSeen  time.Time
}

// DigestUse is where a digest runs now and ran before.
type DigestUse struct {
	Running []detect.Place
	// History holds the intervals of every place that ran it, newest first, at most
	// HistoryLimit of them; Truncated says more were left out.
	History   []DigestPlace
	Truncated bool
}

// HistoryLimit bounds the history DigestUses returns.
const HistoryLimit = 1000

// DigestUses returns where a digest runs and ran, across all clusters, deleted ones
// included. Running is sorted by cluster, namespace, workload, pod and container; an
// interval still open is in both lists, last seen by its cluster's latest succeeded
// scan. A digest never seen has empty lists, not ErrNotFound.
func (s *Store) DigestUses(ctx context.Context, digest string) (DigestUse, error) {
	b := &pgx.Batch{}
	b.Queue(`
		SELECT c.name, o.namespace, o.workload_kind, o.workload_name, o.pod, o.container, o.digest
		FROM observations o JOIN clusters c ON c.id = o.cluster_id
		WHERE o.digest = $1 AND o.closed_at IS NULL`, digest)
	b.Queue(`
		WITH o AS (
			SELECT id, cluster_id, namespace, workload_kind, workload_name, pod, container, digest, first_seen, last_seen, closed_at
			FROM observations WHERE digest = $1 ORDER BY first_seen DESC, id DESC LIMIT $2
		), seen AS (
			SELECT x.cluster_id, `+fmt.Sprintf(latestScanSQL, "x.cluster_id")+` AS at
			FROM (SELECT DISTINCT cluster_id FROM o WHERE closed_at IS NULL) x
		)
		SELECT c.name, o.namespace, o.workload_kind, o.workload_name, o.pod, o.container, o.digest, o.first_seen, `+lastSeenSQL+`
		FROM o JOIN clusters c ON c.id = o.cluster_id LEFT JOIN seen ON seen.cluster_id = o.cluster_id
		ORDER BY o.first_seen DESC, o.id DESC`, digest, HistoryLimit+1)
	res := s.pool.SendBatch(ctx, b)
	defer res.Close()

	use := DigestUse{Running: []detect.Place{}, History: []DigestPlace{}}
	rows, err := res.Query()
	if err != nil {
		return DigestUse{}, fmt.Errorf("where %s runs: %w", digest, err)
	}
	use.Running, err = pgx.AppendRows(use.Running, rows, func(r pgx.CollectableRow) (detect.Place, error) {
		var p detect.Place
		return p, r.Scan(&p.Cluster, &p.Namespace, &p.Workload.Kind, &p.Workload.Name, &p.Pod, &p.Container, &p.Digest)
	})
	if err != nil {
		return DigestUse{}, fmt.Errorf("where %s runs: %w", digest, err)
	}
	slices.SortFunc(use.Running, detect.ComparePlaces)
	rows, err = res.Query()
	if err != nil {
		return DigestUse{}, fmt.Errorf("where %s ran: %w", digest, err)
	}
	use.History, err = pgx.AppendRows(use.History, rows, func(r pgx.CollectableRow) (DigestPlace, error) {
		var p DigestPlace
		return p, r.Scan(&p.Cluster, &p.Namespace, &p.Workload.Kind, &p.Workload.Name, &p.Pod, &p.Container, &p.Digest,
			&p.FirstSeen, &p.LastSeen)
	})
	if err != nil {
		return DigestUse{}, fmt.Errorf("where %s ran: %w", digest, err)
	}
	if len(use.History) > HistoryLimit {
		use.History, use.Truncated = use.History[:HistoryLimit], true
	}
	return use, nil
}

// query collects the conditions and arguments of a query built from a filter, so that
// absent filters leave no condition for the planner to see through.
type query struct {
	conds []string
	args  []any
}

// arg adds an argument and returns its placeholder.
func (q *query) arg(v any) string {
	q.args = append(q.args, v)
	return "$" + strconv.Itoa(len(q.args))
}

func (q *query) where(cond string) { q.conds = append(q.conds, cond) }

// clause is the WHERE clause of the conditions, or "".
func (q *query) clause() string {
	if len(q.conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(q.conds, " AND ")
}
