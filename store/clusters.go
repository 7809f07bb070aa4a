package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Cluster is a registered cluster, without its credentials.
type Cluster struct {
	ID           int64
	Name         string
	Server       string
	Context      string
	ScanInterval time.Duration
	Annotate     string
	Enabled      bool
	CreatedAt    time.Time
	// Group is the cluster group it correlates in (DefaultGroup unless set).
	Group string
	// ScanMode is how its changes are found: ScanModePoll (a listing every interval)
	// or ScanModeWatch (a watch, with a full listing as a safety net).
	ScanMode string
}

// Scan modes of a cluster.
const (
	ScanModePoll  = "poll"
	ScanModeWatch = "watch"
)

// NewCluster is a cluster to register. Credentials are sealed before they are stored
// (the vetted, reduced kubeconfig, as the caller encodes it).
type NewCluster struct {
	Name         string
	Server       string
	Context      string
	Credentials  []byte
	ScanInterval time.Duration // default 5m
	Annotate     string        // "off" (default) or "on"
	Enabled      bool
	// Group is the group to put it in, created when there is none of that name; ""
	// for the default group.
	Group string
	// ScanMode is ScanModePoll (default) or ScanModeWatch.
	ScanMode string
}

const clusterColumns = `id, name, server, context, scan_interval, annotate, enabled, created_at,
	(SELECT g.name FROM cluster_groups g WHERE g.id = group_id), scan_mode`

func scanCluster(row pgx.Row) (Cluster, error) {
	var c Cluster
	err := row.Scan(&c.ID, &c.Name, &c.Server, &c.Context, &c.ScanInterval, &c.Annotate, &c.Enabled, &c.CreatedAt, &c.Group, &c.ScanMode)
	return c, err
}

// CreateCluster registers a cluster; ErrConflict when a live cluster has the name.
func (s *Store) CreateCluster(ctx context.Context, nc NewCluster) (Cluster, error) {
	var c Cluster
	err := s.tx(ctx, func(tx pgx.Tx) error {
		var err error
		if c, err = s.createCluster(ctx, tx, nc, Audit{}); err != nil {
			return err
		}
		return bumpDataVersion(ctx, tx)
	})
	if err != nil {
		return Cluster{}, fmt.Errorf("create cluster: %w", err)
	}
	return c, nil
}

// createCluster inserts a cluster inside tx, defaults filled. Its callers move the
// data version: no cached read shows a cluster before it runs something, but one that
// comes to must never be served stale.
//
// Its group is made when there is none of that name (recorded as a's). A new cluster
// runs nothing yet: no reference needs a recheck.
func (s *Store) createCluster(ctx context.Context, tx pgx.Tx, nc NewCluster, a Audit) (Cluster, error) {
	if nc.ScanInterval == 0 {
		nc.ScanInterval = 5 * time.Minute
	}
	if nc.Annotate == "" {
		nc.Annotate = "off"
	}
	if nc.ScanMode == "" {
		nc.ScanMode = ScanModePoll
	}
	group, err := groupID(ctx, tx, nc.Group, a)
	if err != nil {
		return Cluster{}, err
	}
	var id int64
	if err := tx.QueryRow(ctx, `SELECT nextval('clusters_id_seq')`).Scan(&id); err != nil {
		return Cluster{}, fmt.Errorf("cluster id: %w", err)
	}
	sealed, err := s.keys.Seal(nc.Credentials, aad(id))
	if err != nil {
		return Cluster{}, fmt.Errorf("seal credentials: %w", err)
	}
	c, err := scanCluster(tx.QueryRow(ctx, `
		INSERT INTO clusters (id, name, server, context, kubeconfig, key_id, scan_interval, annotate, enabled, group_id, scan_mode)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
		RETURNING `+clusterColumns,
		id, nc.Name, nc.Server, nc.Context, sealed, int64(s.keys.Primary()), nc.ScanInterval, nc.Annotate, nc.Enabled, group, nc.ScanMode))
	// The name is unique among live clusters only (clusters_name_live).
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" {
		return Cluster{}, fmt.Errorf("cluster %q: %w", nc.Name, ErrConflict)
	}
	return c, err
}

// ClusterByName returns the live cluster of that name.
func (s *Store) ClusterByName(ctx context.Context, name string) (Cluster, error) {
	return s.ClusterByNameIn(ctx, name, Scope{})
}

// ClusterByNameIn returns the live cluster of that name in scope sc; ErrNotFound for
// one outside it, as for one that does not exist.
func (s *Store) ClusterByNameIn(ctx context.Context, name string, sc Scope) (Cluster, error) {
	q := query{args: []any{name}}
	c, err := scanCluster(s.pool.QueryRow(ctx, `SELECT `+clusterColumns+` FROM clusters WHERE name = $1 AND deleted_at IS NULL`+
		sc.groupSQL(&q, "group_id"), q.args...))
	if err != nil {
		return Cluster{}, fmt.Errorf("cluster %q: %w", name, notFound(err))
	}
	return c, nil
}

// Clusters returns every live cluster, by name.
func (s *Store) Clusters(ctx context.Context) ([]Cluster, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+clusterColumns+` FROM clusters WHERE deleted_at IS NULL ORDER BY name COLLATE "C"`)
	if err != nil {
		return nil, fmt.Errorf("list clusters: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Cluster, error) { return scanCluster(r) })
	if err != nil {
		return nil, fmt.Errorf("list clusters: %w", err)
	}
	return out, nil
}

// ClusterByID returns the live cluster with that id; ErrNotFound for a deleted one, so
// that its scan jobs end.
func (s *Store) ClusterByID(ctx context.Context, id int64) (Cluster, error) {
	c, err := scanCluster(s.pool.QueryRow(ctx, `SELECT `+clusterColumns+` FROM clusters WHERE id = $1 AND deleted_at IS NULL`, id))
	if err != nil {
		return Cluster{}, fmt.Errorf("cluster %d: %w", id, notFound(err))
	}
	return c, nil
}

// Due is an enabled cluster's place in the scan schedule.
type Due struct {
	ClusterID int64
	Interval  time.Duration
	// LastStarted is when its latest scan started, whatever its status; nil when it was
	// never scanned. For a watched cluster, when its latest listing (poll) started.
	LastStarted *time.Time
	// Watched tells a cluster in scan mode watch whose watch a replica holds (its
	// lease has not expired) and has not fallen back to polling: it is still listed,
	// as a safety net, at a longer interval.
	Watched bool
}

// ScanSchedule returns every enabled live cluster with its interval and latest scan start.
func (s *Store) ScanSchedule(ctx context.Context) ([]Due, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT c.id, c.scan_interval,
		       CASE WHEN c.scan_mode = 'watch'
		            THEN (SELECT max(started_at) FROM scans WHERE cluster_id = c.id AND kind = 'poll')
		            ELSE (SELECT max(started_at) FROM scans WHERE cluster_id = c.id) END,
		       c.scan_mode = 'watch' AND EXISTS (SELECT 1 FROM cluster_watches w
		           WHERE w.cluster_id = c.id AND w.expires_at > now() AND w.state <> 'polling')
		FROM clusters c WHERE c.enabled AND c.deleted_at IS NULL ORDER BY c.id`)
	if err != nil {
		return nil, fmt.Errorf("scan schedule: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Due, error) {
		var d Due
		return d, r.Scan(&d.ClusterID, &d.Interval, &d.LastStarted, &d.Watched)
	})
	if err != nil {
		return nil, fmt.Errorf("scan schedule: %w", err)
	}
	return out, nil
}

// ClusterStatus is a live cluster with its latest scan and open mutation count.
type ClusterStatus struct {
	Cluster
	LastScan      *Scan // nil when never scanned (a queued scan counts)
	OpenMutations int   // open conditions with a place in the cluster
	// LastSucceeded is when the cluster's latest succeeded scan finished; nil when none
	// has.
	LastSucceeded *time.Time
	// Watch is how the cluster's watch stands, for a cluster in scan mode watch; nil
	// for one polled.
	Watch *ClusterWatch
}

// ClusterWatch is how a watched cluster is watched: State is WatchLive, WatchResyncing,
// WatchStale (StaleSince says since when) or WatchPolling (Note says why: the
// credentials may not watch, a cap was reached, or no replica holds its lease).
type ClusterWatch struct {
	State        string
	StaleSince   *time.Time
	Note         string
	LastChange   *time.Time
	LastDetected *time.Time
}

// touchesSQL holds when mutation m bears on live cluster c: it is c's own (cluster_id),
// or it spans clusters (cluster_id NULL) and has a place in c. A mutation left open by a
// deleted cluster of the same name is not the new cluster's.
const touchesSQL = `(m.cluster_id = c.id OR (m.cluster_id IS NULL AND
	m.places @> jsonb_build_array(jsonb_build_object('cluster', c.name))))`

// clusterStatusSQL reads live clusters with their newest scan (by id, any status) and
// the open mutations that touch them (those that need attention), counted once each.
const clusterStatusSQL = `
	SELECT c.id, c.name, c.server, c.context, c.scan_interval, c.annotate, c.enabled, c.created_at,
	       (SELECT g.name FROM cluster_groups g WHERE g.id = c.group_id), c.scan_mode,
	       s.id, s.status, s.queued_at, s.started_at, s.finished_at, s.pods, s.containers, s.opened, s.closed, s.error_class, s.error,
	       s.annotate_writes, s.annotate_error, s.kind, s.snapshots,
	       (SELECT count(*) FROM mutations m WHERE m.resolved_at IS NULL AND m.state = 'open' AND ` + touchesSQL + `),
	       (SELECT ok.finished_at FROM scans ok WHERE ok.cluster_id = c.id AND ok.status = 'succeeded'
	        ORDER BY ok.id DESC LIMIT 1),
	       w.state, w.stale_since, w.note, w.last_change, w.last_detected, w.expires_at > now()
	FROM clusters c
	LEFT JOIN LATERAL (SELECT * FROM scans WHERE cluster_id = c.id ORDER BY id DESC LIMIT 1) s ON true
	LEFT JOIN cluster_watches w ON w.cluster_id = c.id
	WHERE c.deleted_at IS NULL`

func scanClusterStatus(row pgx.Row) (ClusterStatus, error) {
	var cs ClusterStatus
	var (
		id                                     *int64
		status, errClass, errText, annotateErr *string
		queued                                 *time.Time
		pods, containers, opened, closedN      *int
		kind                                   *string
		snapshots                              *int
		wState, wNote                          *string
		wLive                                  *bool
		cw                                     ClusterWatch
		sc                                     Scan
	)
	c := &cs.Cluster
	err := row.Scan(&c.ID, &c.Name, &c.Server, &c.Context, &c.ScanInterval, &c.Annotate, &c.Enabled, &c.CreatedAt, &c.Group, &c.ScanMode,
		&id, &status, &queued, &sc.StartedAt, &sc.FinishedAt, &pods, &containers, &opened, &closedN, &errClass, &errText,
		&sc.AnnotateWrites, &annotateErr, &kind, &snapshots, &cs.OpenMutations, &cs.LastSucceeded,
		&wState, &cw.StaleSince, &wNote, &cw.LastChange, &cw.LastDetected, &wLive)
	if err != nil {
		return cs, err
	}
	if id != nil {
		sc.ID, sc.ClusterID, sc.Status, sc.QueuedAt = *id, c.ID, *status, *queued
		sc.Pods, sc.Containers, sc.Opened, sc.Closed, sc.ErrorClass, sc.Error = *pods, *containers, *opened, *closedN, *errClass, *errText
		sc.AnnotateError, sc.Kind, sc.Snapshots = *annotateErr, *kind, *snapshots
		cs.LastScan = &sc
	}
	if c.ScanMode == ScanModeWatch {
		switch {
		case wState == nil || wLive == nil || !*wLive:
			cw = ClusterWatch{State: WatchPolling, LastChange: cw.LastChange, LastDetected: cw.LastDetected,
				Note: "no replica holds its watch: it is listed at its interval"}
		default:
			cw.State, cw.Note = *wState, *wNote
		}
		cs.Watch = &cw
	}
	return cs, nil
}

// ClusterStatuses returns every live (not deleted) cluster in scope sc, by name.
func (s *Store) ClusterStatuses(ctx context.Context, sc Scope) ([]ClusterStatus, error) {
	var q query
	rows, err := s.pool.Query(ctx, clusterStatusSQL+sc.groupSQL(&q, "c.group_id")+` ORDER BY c.name COLLATE "C"`, q.args...)
	if err != nil {
		return nil, fmt.Errorf("cluster statuses: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (ClusterStatus, error) { return scanClusterStatus(r) })
	if err != nil {
		return nil, fmt.Errorf("cluster statuses: %w", err)
	}
	return out, nil
}

// ClusterStatusByName returns a live cluster in scope sc; ErrNotFound when none has
// that name, or the one that has is outside sc.
func (s *Store) ClusterStatusByName(ctx context.Context, name string, sc Scope) (ClusterStatus, error) {
	q := query{args: []any{name}}
	cs, err := scanClusterStatus(s.pool.QueryRow(ctx, clusterStatusSQL+` AND c.name = $1`+sc.groupSQL(&q, "c.group_id"), q.args...))
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
		if c, err = s.createCluster(ctx, tx, nc, a); err != nil {
			return err
		}
		detail := map[string]any{
			"server": c.Server, "context": c.Context, "scanInterval": c.ScanInterval.String(),
			"annotate": c.Annotate, "enabled": c.Enabled,
		}
		// Named when not the default: a trail reads as it did before watches.
		if c.ScanMode != ScanModePoll {
			detail["scanMode"] = c.ScanMode
		}
		// Named when set: a single team's trail reads as it did before groups.
		if c.Group != DefaultGroup {
			detail["group"] = c.Group
		}
		if err := recordAudit(ctx, tx, a, ActionClusterCreate, c.Name, detail); err != nil {
			return err
		}
		return bumpDataVersion(ctx, tx)
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
	// Group moves the cluster to that group, created when there is none of that name
	// ("" for the default group).
	Group *string
	// ScanMode is ScanModePoll or ScanModeWatch.
	ScanMode *string
	// Within is the writer's scope: a cluster outside it is ErrNotFound, as if there
	// were none, checked under the cluster's row lock (a move by another admin between
	// a check and the change cannot slip through).
	Within Scope
}

// UpdateCluster changes a live cluster (cluster.update, naming the fields changed but
// never the credentials); ErrNotFound when none has that name.
//
// A move to another group settles, in the same transaction, what the group decides:
// the cluster's own open conditions move with it, and the unpinned references it runs
// are queued for RecheckRefs, which settles their tag-divergences in the group it left
// and in the one it joined (Updated.Refs says which).
//
// The audit detail lists the fields that changed under "fields" ("credentials" among
// them whenever new ones were given) with the new values of all but the credentials.
func (s *Store) UpdateCluster(ctx context.Context, name string, ch ClusterChange, a Audit) (Cluster, error) {
	c, _, err := s.UpdateClusterRefs(ctx, name, ch, a)
	return c, err
}

// UpdateClusterRefs is UpdateCluster, which also returns the references a move to
// another group queued for RecheckRefs (none without one), for a caller that wants
// them rechecked now rather than at the next pass.
func (s *Store) UpdateClusterRefs(ctx context.Context, name string, ch ClusterChange, a Audit) (Cluster, []string, error) {
	var c Cluster
	var refs []string
	err := s.tx(ctx, func(tx pgx.Tx) error {
		old, err := scanCluster(tx.QueryRow(ctx, `
			SELECT `+clusterColumns+` FROM clusters WHERE name = $1 AND deleted_at IS NULL
			AND ($2::bigint[] IS NULL OR group_id = ANY($2)) FOR UPDATE`, name, ch.Within.groupIDs()))
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
		if ch.ScanMode != nil {
			next.ScanMode = *ch.ScanMode
			change("scanMode", next.ScanMode != old.ScanMode, next.ScanMode)
		}
		var group int64
		if ch.Group != nil {
			next.Group = *ch.Group
			if next.Group == "" {
				next.Group = DefaultGroup
			}
			change("group", next.Group != old.Group, next.Group)
			if group, err = groupID(ctx, tx, next.Group, a); err != nil {
				return err
			}
			if next.Group != old.Group {
				if refs, err = moveGroup(ctx, tx, old.ID, next.Group); err != nil {
					return err
				}
			}
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
			       kubeconfig = COALESCE($7, kubeconfig), key_id = CASE WHEN $7::bytea IS NULL THEN key_id ELSE $8 END,
			       group_id = COALESCE($9, group_id), scan_mode = $10
			WHERE id = $1
			RETURNING `+clusterColumns,
			old.ID, next.Server, next.Context, next.ScanInterval, next.Annotate, next.Enabled, sealed, int64(s.keys.Primary()),
			nilIfZero(group), next.ScanMode))
		if err != nil {
			return fmt.Errorf("update the row: %w", err)
		}
		detail["fields"] = fields
		if err := recordAudit(ctx, tx, a, ActionClusterUpdate, name, detail); err != nil {
			return err
		}
		// No cached read shows what an edit can change today; the version moves
		// anyway, so that one that comes to show it can never be served stale.
		return bumpDataVersion(ctx, tx)
	})
	if err != nil {
		return Cluster{}, nil, fmt.Errorf("update cluster %q: %w", name, err)
	}
	return c, refs, nil
}

// moveGroup settles a cluster's move to another group inside the transaction that
// moves it: its own open conditions (workload-divergences, pin-mismatches) take the
// new group's name, and the unpinned references it runs are queued for RecheckRefs,
// which reads every group of them again: the old group's tag-divergences lose the
// cluster's places (or resolve), the new group's gain them (or open). It returns the
// references queued.
func moveGroup(ctx context.Context, tx pgx.Tx, clusterID int64, group string) ([]string, error) {
	if _, err := tx.Exec(ctx, `
		UPDATE mutations SET cluster_group = $2, group_id = (SELECT g.id FROM cluster_groups g WHERE g.name = $2)
		WHERE cluster_id = $1 AND resolved_at IS NULL AND kind IN ('workload-divergence', 'pin-mismatch')`, clusterID, group); err != nil {
		return nil, fmt.Errorf("move the cluster's open conditions: %w", err)
	}
	rows, err := tx.Query(ctx, `
		SELECT DISTINCT ref FROM observations WHERE cluster_id = $1 AND closed_at IS NULL AND NOT pinned ORDER BY ref`, clusterID)
	if err != nil {
		return nil, fmt.Errorf("references run: %w", err)
	}
	refs, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("references run: %w", err)
	}
	if err := queueRechecks(ctx, tx, refs, time.Now(), false); err != nil {
		return nil, err
	}
	return refs, nil
}

// nilIfZero is nil for 0, so that COALESCE keeps a column.
func nilIfZero(id int64) *int64 {
	if id == 0 {
		return nil
	}
	return &id
}
