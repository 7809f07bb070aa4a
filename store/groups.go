package store

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/tagdrift/tagdrift/scanner/inventory"
)

// Cluster groups are tenancy for correlation: a tag-divergence spans the clusters of
// one group only. Every cluster has a group, DefaultGroup unless set, so that an
// installation with one team never sees one. The default group is row 1 of
// cluster_groups (migration 000031), the default of clusters.group_id; it is never
// renamed or deleted.

// DefaultGroup is the group of a cluster not put in another.
const DefaultGroup = inventory.DefaultGroup

// defaultGroupID is DefaultGroup's id, made by migration 000031.
const defaultGroupID = 1

// Audit actions on groups.
const (
	ActionGroupCreate = "group.create"
	ActionGroupRename = "group.rename"
	ActionGroupDelete = "group.delete"
)

// ErrInvalidGroupName is a group name outside groupName's rule.
var ErrInvalidGroupName = errors.New("invalid group name: want 1 to 63 lowercase letters, digits, '.' or '-', starting and ending with a letter or digit")

// groupName is the rule for group names: a DNS label, as cluster names are, because
// a group is a label value (metrics, notification routes, access scopes) as well.
var groupName = regexp.MustCompile(`^[a-z0-9]([a-z0-9.-]{0,61}[a-z0-9])?$`)

// ValidGroupName returns nil for a valid group name, else ErrInvalidGroupName.
func ValidGroupName(name string) error {
	if !groupName.MatchString(name) {
		return fmt.Errorf("group %q: %w", name, ErrInvalidGroupName)
	}
	return nil
}

// Group is a cluster group.
type Group struct {
	ID        int64
	Name      string
	CreatedAt time.Time
	Clusters  int // live clusters in it
}

const groupSQL = `
	SELECT g.id, g.name, g.created_at,
	       (SELECT count(*) FROM clusters c WHERE c.group_id = g.id AND c.deleted_at IS NULL)
	FROM cluster_groups g`

func scanGroup(row pgx.Row) (Group, error) {
	var g Group
	return g, row.Scan(&g.ID, &g.Name, &g.CreatedAt, &g.Clusters)
}

// Groups returns every group in scope sc, by name.
func (s *Store) Groups(ctx context.Context, sc Scope) ([]Group, error) {
	var q query
	rows, err := s.pool.Query(ctx, groupSQL+` WHERE true`+sc.groupSQL(&q, "g.id")+` ORDER BY g.name COLLATE "C"`, q.args...)
	if err != nil {
		return nil, fmt.Errorf("list groups: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Group, error) { return scanGroup(r) })
	if err != nil {
		return nil, fmt.Errorf("list groups: %w", err)
	}
	return out, nil
}

// GroupByName returns one group; ErrNotFound when none has the name.
func (s *Store) GroupByName(ctx context.Context, name string) (Group, error) {
	g, err := scanGroup(s.pool.QueryRow(ctx, groupSQL+` WHERE g.name = $1`, name))
	if err != nil {
		return Group{}, fmt.Errorf("group %q: %w", name, notFound(err))
	}
	return g, nil
}

// CreateGroup creates an empty group (group.create); ErrConflict when one has the
// name, ErrInvalidGroupName for a name outside the rule.
func (s *Store) CreateGroup(ctx context.Context, name string, a Audit) (Group, error) {
	if err := ValidGroupName(name); err != nil {
		return Group{}, fmt.Errorf("create group: %w", err)
	}
	var g Group
	err := s.tx(ctx, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `INSERT INTO cluster_groups (name) VALUES ($1) RETURNING id, name, created_at`, name).
			Scan(&g.ID, &g.Name, &g.CreatedAt)
		if err != nil {
			return uniqueConflict(err, "group", name)
		}
		return recordAudit(ctx, tx, a, ActionGroupCreate, name, nil)
	})
	if err != nil {
		return Group{}, fmt.Errorf("create group: %w", err)
	}
	return g, nil
}

// RenameGroup renames a group (group.rename): ErrNotFound when none has the name,
// ErrConflict when another has the new one or the group is the default (whose name is
// what every cluster not put elsewhere is in). Its open mutations move to the new name
// with it, the identities of its tag-divergences too, so that the next recheck finds
// them open rather than resolving and opening them again; resolved ones keep the name
// they were detected under, as a deleted cluster's keep its.
func (s *Store) RenameGroup(ctx context.Context, name, to string, a Audit) (Group, error) {
	if err := ValidGroupName(to); err != nil {
		return Group{}, fmt.Errorf("rename group %q: %w", name, err)
	}
	var g Group
	err := s.tx(ctx, func(tx pgx.Tx) error {
		var id int64
		if err := tx.QueryRow(ctx, `SELECT id FROM cluster_groups WHERE name = $1 FOR UPDATE`, name).Scan(&id); err != nil {
			return notFound(err)
		}
		if id == defaultGroupID {
			return fmt.Errorf("the default group keeps its name: %w", ErrConflict)
		}
		if _, err := tx.Exec(ctx, `UPDATE cluster_groups SET name = $2 WHERE id = $1`, id, to); err != nil {
			return uniqueConflict(err, "group", to)
		}
		// The identity's last field is the group (detect.tagDivergenceIdentity).
		if _, err := tx.Exec(ctx, `
			UPDATE mutations SET cluster_group = $2,
			       identity = CASE WHEN kind = 'tag-divergence' THEN 'tag-divergence|' || ref || '|' || $2 ELSE identity END
			WHERE resolved_at IS NULL AND cluster_group = $1`, name, to); err != nil {
			return fmt.Errorf("move the open mutations: %w", err)
		}
		if err := recordAudit(ctx, tx, a, ActionGroupRename, name, map[string]any{"name": to}); err != nil {
			return err
		}
		var err error
		if g, err = scanGroup(tx.QueryRow(ctx, groupSQL+` WHERE g.id = $1`, id)); err != nil {
			return fmt.Errorf("read it back: %w", err)
		}
		return bumpDataVersion(ctx, tx)
	})
	if err != nil {
		return Group{}, fmt.Errorf("rename group %q: %w", name, err)
	}
	return g, nil
}

// DeleteGroup deletes a group without live clusters (group.delete): ErrNotFound when
// none has the name, ErrConflict when a live cluster is in it or it is the default.
// Deleted clusters that were in it move to the default group; the mutations detected
// in it keep its name.
func (s *Store) DeleteGroup(ctx context.Context, name string, a Audit) error {
	err := s.tx(ctx, func(tx pgx.Tx) error {
		var id int64
		if err := tx.QueryRow(ctx, `SELECT id FROM cluster_groups WHERE name = $1 FOR UPDATE`, name).Scan(&id); err != nil {
			return notFound(err)
		}
		if id == defaultGroupID {
			return fmt.Errorf("the default group is never deleted: %w", ErrConflict)
		}
		// The row lock above keeps a cluster from joining meanwhile: a cluster's
		// group is found with FOR SHARE (groupID).
		var live int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM clusters WHERE group_id = $1 AND deleted_at IS NULL`, id).Scan(&live); err != nil {
			return fmt.Errorf("count its clusters: %w", err)
		}
		if live > 0 {
			return fmt.Errorf("%d clusters are in it: %w", live, ErrConflict)
		}
		if _, err := tx.Exec(ctx, `UPDATE clusters SET group_id = $2 WHERE group_id = $1`, id, defaultGroupID); err != nil {
			return fmt.Errorf("move its deleted clusters: %w", err)
		}
		if _, err := tx.Exec(ctx, `DELETE FROM cluster_groups WHERE id = $1`, id); err != nil {
			return fmt.Errorf("delete the row: %w", err)
		}
		return recordAudit(ctx, tx, a, ActionGroupDelete, name, nil)
	})
	if err != nil {
		return fmt.Errorf("delete group %q: %w", name, err)
	}
	return nil
}

// groupID returns the id of the group of that name ("" for the default), creating it
// when there is none (recorded as group.create by a's actor; not recorded for no
// actor, as CreateCluster records nothing), and holds it against a deletion until tx
// ends.
func groupID(ctx context.Context, tx pgx.Tx, name string, a Audit) (int64, error) {
	if name == "" {
		name = DefaultGroup
	}
	var id int64
	err := tx.QueryRow(ctx, `SELECT id FROM cluster_groups WHERE name = $1 FOR SHARE`, name).Scan(&id)
	if err == nil {
		return id, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return 0, fmt.Errorf("group %q: %w", name, err)
	}
	if err := ValidGroupName(name); err != nil {
		return 0, err
	}
	// Two transactions making one group at once: the later waits for the earlier and
	// then takes its row.
	err = tx.QueryRow(ctx, `
		WITH made AS (INSERT INTO cluster_groups (name) VALUES ($1) ON CONFLICT (name) DO NOTHING RETURNING id)
		SELECT id FROM made UNION ALL SELECT id FROM cluster_groups WHERE name = $1
		LIMIT 1`, name).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("create group %q: %w", name, err)
	}
	if a.Actor == "" {
		return id, nil
	}
	if err := recordAudit(ctx, tx, a, ActionGroupCreate, name, map[string]any{"onDemand": true}); err != nil {
		return 0, err
	}
	return id, nil
}

// uniqueConflict turns a unique violation into ErrConflict.
func uniqueConflict(err error, what, name string) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" {
		return fmt.Errorf("%s %q: %w", what, name, ErrConflict)
	}
	return err
}
