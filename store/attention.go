package store

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tagdrift/tagdrift/notify"
	"github.com/tagdrift/tagdrift/scanner/attention"
	"github.com/tagdrift/tagdrift/scanner/detect"
)

// The state column (issue 27): every mutation's state is attention.Decide's answer,
// written here and nowhere else, in the transaction that changes the mutation, a rule
// or an acknowledgement, and by the expiry job; lists and counts filter on it in SQL.

// inForce is what decides states: the rules not ended and the acknowledgements
// active, their scopes parsed. A scope that no longer parses (the API refuses them)
// covers nothing rather than everything.
type inForce struct {
	rules []attention.Rule
	acks  []attention.Ack
}

// readInForce reads the rules and acknowledgements in force, in tx.
func readInForce(ctx context.Context, tx pgx.Tx) (inForce, error) {
	var f inForce
	rows, err := tx.Query(ctx, `SELECT id, scope, expires_at FROM mutable_tag_rules WHERE ended_at IS NULL ORDER BY id`)
	if err != nil {
		return f, fmt.Errorf("read rules: %w", err)
	}
	for rows.Next() {
		var r attention.Rule
		var scope string
		if err := rows.Scan(&r.ID, &scope, &r.ExpiresAt); err != nil {
			rows.Close()
			return f, fmt.Errorf("read rules: %w", err)
		}
		if r.Scope, err = attention.ParseScope(scope); err == nil {
			f.rules = append(f.rules, r)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return f, fmt.Errorf("read rules: %w", err)
	}
	rows, err = tx.Query(ctx, `
		SELECT id, COALESCE(mutation_id, 0), scope, until, expires_at, digests
		FROM acknowledgements WHERE status = 'active' ORDER BY id`)
	if err != nil {
		return f, fmt.Errorf("read acknowledgements: %w", err)
	}
	for rows.Next() {
		var a attention.Ack
		var scope, until string
		if err := rows.Scan(&a.ID, &a.MutationID, &scope, &until, &a.ExpiresAt, &a.Digests); err != nil {
			rows.Close()
			return f, fmt.Errorf("read acknowledgements: %w", err)
		}
		a.Until = attention.Until(until)
		if a.MutationID == 0 {
			if a.Scope, err = attention.ParseScope(scope); err != nil {
				continue
			}
		}
		f.acks = append(f.acks, a)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return f, fmt.Errorf("read acknowledgements: %w", err)
	}
	return f, nil
}

// attentionColumns are what attention.Decide reads of a mutation, for scanAttention.
const attentionColumns = `id, kind, cluster, namespace, workload_kind, workload_name, container, ref, digests, places,
	cluster_group, resolved_at IS NOT NULL`

// scanAttention reads a row of attentionColumns, and then the extra ones.
func scanAttention(row pgx.Row, extra ...any) (attention.Mutation, error) {
	var m attention.Mutation
	var kind string
	err := row.Scan(append([]any{&m.ID, &kind, &m.Cluster, &m.Namespace, &m.Workload.Kind, &m.Workload.Name, &m.Container,
		&m.Ref, &m.Digests, &m.Places, &m.Group, &m.Resolved}, extra...)...)
	m.Kind = detect.Kind(kind)
	return m, err
}

// settled is one mutation whose state settle decided.
type settled struct {
	kind        detect.Kind
	prev, cur   attention.Verdict
	digests     []string
	endedAcks   map[int64]string // acknowledgements of it that ended, and how
	wasResolved bool
}

// settle decides the state of mutations ids by the database's clock (the one every
// replica and the expiry job agree on, whatever time a scan says it finished at) and
// writes it where it differs from the column, ending the acknowledgements of one mutation that its change ends
// (until resolved, until changed). It returns what it decided, by id.
func settle(ctx context.Context, tx pgx.Tx, ids []int64) (map[int64]settled, error) {
	out := map[int64]settled{}
	if len(ids) == 0 {
		return out, nil
	}
	at, err := now(ctx, tx)
	if err != nil {
		return nil, err
	}
	f, err := readInForce(ctx, tx)
	if err != nil {
		return nil, err
	}
	rows, err := tx.Query(ctx, `
		SELECT `+attentionColumns+`, state, COALESCE(state_rule_id, 0), COALESCE(state_ack_id, 0)
		FROM mutations WHERE id = ANY($1) ORDER BY id FOR UPDATE`, ids)
	if err != nil {
		return nil, fmt.Errorf("read mutations to settle: %w", err)
	}
	var ms []attention.Mutation
	prev := map[int64]attention.Verdict{}
	for rows.Next() {
		var state string
		var v attention.Verdict
		m, err := scanAttention(rows, &state, &v.Rule, &v.Ack)
		if err != nil {
			rows.Close()
			return nil, fmt.Errorf("read mutations to settle: %w", err)
		}
		v.State = attention.State(state)
		ms = append(ms, m)
		prev[m.ID] = v
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read mutations to settle: %w", err)
	}
	for _, m := range ms {
		s := settled{kind: m.Kind, prev: prev[m.ID], digests: m.Digests, wasResolved: m.Resolved}
		// Acknowledgements of this mutation that its change ends end first, so that
		// Decide does not count them.
		for _, a := range f.acks {
			if a.MutationID != m.ID {
				continue
			}
			switch {
			case m.Resolved && a.Until == attention.UntilResolved:
				s.endedAcks = addEnd(s.endedAcks, a.ID, "resolved")
			case a.Until == attention.UntilChanged && !subset(m.Digests, a.Digests):
				s.endedAcks = addEnd(s.endedAcks, a.ID, "changed")
			}
		}
		acks := f.acks
		if len(s.endedAcks) > 0 {
			acks = slices.DeleteFunc(slices.Clone(f.acks), func(a attention.Ack) bool { _, ended := s.endedAcks[a.ID]; return ended })
		}
		s.cur = attention.Decide(m, f.rules, acks, at)
		for id, how := range s.endedAcks {
			if _, err := tx.Exec(ctx, `
				UPDATE acknowledgements SET status = 'ended', ended_at = $2, end_reason = $3 WHERE id = $1 AND status = 'active'`,
				id, at, how); err != nil {
				return nil, fmt.Errorf("end acknowledgement %d: %w", id, err)
			}
		}
		if s.cur != s.prev {
			if _, err := tx.Exec(ctx, `
				UPDATE mutations SET state = $2, state_rule_id = NULLIF($3, 0), state_ack_id = NULLIF($4, 0) WHERE id = $1`,
				m.ID, string(s.cur.State), s.cur.Rule, s.cur.Ack); err != nil {
				return nil, fmt.Errorf("settle the state of mutation %d: %w", m.ID, err)
			}
		}
		out[m.ID] = s
	}
	return out, nil
}

func addEnd(m map[int64]string, id int64, how string) map[int64]string {
	if m == nil {
		m = map[int64]string{}
	}
	m[id] = how
	return m
}

// subset reports whether every member of a is in b.
func subset(a, b []string) bool {
	for _, x := range a {
		if !slices.Contains(b, x) {
			return false
		}
	}
	return true
}

// settleChanges settles the mutations changes name and completes them: their kind and
// state as the column now holds it, and the reason of a change of state that is not
// the transaction's own.
func settleChanges(ctx context.Context, tx pgx.Tx, changes []mutationChange) error {
	ids := make([]int64, len(changes))
	for i, c := range changes {
		ids[i] = c.id
	}
	got, err := settle(ctx, tx, ids)
	if err != nil {
		return err
	}
	for i := range changes {
		s, ok := got[changes[i].id]
		if !ok {
			continue
		}
		changes[i].kind = s.kind
		changes[i].cur = s.cur.State
		changes[i].reason = reasonOf(changes[i].prev, s.cur.State, s.wasResolved)
	}
	return nil
}

// reasonOf is why a mutation went from prev to cur when that is not what the
// transaction did to it (a scan resolving it is the scan's reason).
func reasonOf(prev, cur attention.State, resolved bool) notify.Reason {
	switch {
	case cur == attention.StateExpected && !resolved:
		return notify.ReasonExpected
	case prev == attention.StateAcknowledged && cur == attention.StateOpen:
		return notify.ReasonAcknowledgementEnded
	}
	return ""
}

// resettle settles ids as a change of rules or acknowledgements (not of the mutations
// themselves) moves them at at, and writes the notifications that is. It returns how
// many changed state.
func (s *Store) resettle(ctx context.Context, tx pgx.Tx, ids []int64, at time.Time) (int, error) {
	changed, err := s.resettleChanged(ctx, tx, ids, at)
	return len(changed), err
}

// resettleChanged is resettle, returning the ids of the mutations whose state changed
// (in order): what the ReplicaSet annotation must be written again for.
func (s *Store) resettleChanged(ctx context.Context, tx pgx.Tx, ids []int64, at time.Time) ([]int64, error) {
	got, err := settle(ctx, tx, ids)
	if err != nil {
		return nil, err
	}
	var changes []mutationChange
	for id, st := range got {
		if st.cur.State == st.prev.State {
			continue
		}
		changes = append(changes, mutationChange{
			id: id, kind: st.kind, prev: st.prev.State, cur: st.cur.State, prevDigests: st.digests,
			reason: reasonOf(st.prev.State, st.cur.State, st.wasResolved),
		})
	}
	slices.SortFunc(changes, func(a, b mutationChange) int { return int(a.id - b.id) })
	if err := s.writeOutbox(ctx, tx, changes, at, notify.ReasonExpected, nil, nil); err != nil {
		return nil, fmt.Errorf("write the notifications of the change of state: %w", err)
	}
	changed := make([]int64, len(changes))
	for i, c := range changes {
		changed[i] = c.id
	}
	return changed, nil
}

// unresolvedIDs returns the ids of every mutation not resolved: what a rule or a scope
// acknowledgement may now cover or stop covering.
func unresolvedIDs(ctx context.Context, tx pgx.Tx) ([]int64, error) {
	rows, err := tx.Query(ctx, `SELECT id FROM mutations WHERE resolved_at IS NULL ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("read unresolved mutations: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, fmt.Errorf("read unresolved mutations: %w", err)
	}
	return ids, nil
}

// Reasons returns the rules and acknowledgements that ms's states name (Mutation.Rule,
// Mutation.Ack), by id: why each is not open; only those in scope sc (Rules, Acks): a
// rule that may name clusters outside it is left out, its id alone shown.
func (s *Store) Reasons(ctx context.Context, ms []Mutation, sc Scope) (map[int64]Rule, map[int64]Ack, error) {
	var ruleIDs, ackIDs []int64
	for _, m := range ms {
		if m.Rule != 0 {
			ruleIDs = append(ruleIDs, m.Rule)
		}
		if m.Ack != 0 {
			ackIDs = append(ackIDs, m.Ack)
		}
	}
	rules, acks := map[int64]Rule{}, map[int64]Ack{}
	if len(ruleIDs) > 0 {
		q := query{args: []any{ruleIDs}}
		rows, err := s.pool.Query(ctx, `SELECT `+ruleColumns+` FROM mutable_tag_rules WHERE id = ANY($1)`+sc.matchersSQL(&q, "scope"), q.args...)
		if err != nil {
			return nil, nil, fmt.Errorf("read rules: %w", err)
		}
		rs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Rule, error) { return scanRule(r) })
		if err != nil {
			return nil, nil, fmt.Errorf("read rules: %w", err)
		}
		for _, r := range rs {
			rules[r.ID] = r
		}
	}
	if len(ackIDs) > 0 {
		q := query{args: []any{ackIDs}}
		rows, err := s.pool.Query(ctx, `SELECT `+ackColumns+` FROM acknowledgements WHERE id = ANY($1)`+ackScopeSQL(&q, sc), q.args...)
		if err != nil {
			return nil, nil, fmt.Errorf("read acknowledgements: %w", err)
		}
		as, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Ack, error) { return scanAck(r) })
		if err != nil {
			return nil, nil, fmt.Errorf("read acknowledgements: %w", err)
		}
		for _, a := range as {
			acks[a.ID] = a
		}
	}
	return rules, acks, nil
}

// Unmatched returns the rules and acknowledgements in force that match nothing
// unresolved any more (a tag no longer run, a workload gone): candidates to revoke. A
// rule matches the conditions it may make expected; an acknowledgement, what it may
// cover.
func (s *Store) Unmatched(ctx context.Context) ([]Rule, []Ack, error) {
	var rules []Rule
	var acks []Ack
	err := s.tx(ctx, func(tx pgx.Tx) error {
		at, err := now(ctx, tx)
		if err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `
			SELECT `+attentionColumns+` FROM mutations WHERE resolved_at IS NULL`)
		if err != nil {
			return fmt.Errorf("read unresolved mutations: %w", err)
		}
		ms, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (attention.Mutation, error) { return scanAttention(r) })
		if err != nil {
			return fmt.Errorf("read unresolved mutations: %w", err)
		}
		rows, err = tx.Query(ctx, `SELECT `+ruleColumns+` FROM mutable_tag_rules WHERE ended_at IS NULL ORDER BY id`)
		if err != nil {
			return fmt.Errorf("read rules: %w", err)
		}
		live, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Rule, error) { return scanRule(r) })
		if err != nil {
			return fmt.Errorf("read rules: %w", err)
		}
		for _, r := range live {
			scope, err := attention.ParseScope(r.Scope)
			if err != nil || !slices.ContainsFunc(ms, func(m attention.Mutation) bool {
				return attention.Expectable(m.Kind) && attention.InScope(m.Mutation, scope)
			}) {
				rules = append(rules, r)
			}
		}
		rows, err = tx.Query(ctx, `SELECT `+ackColumns+` FROM acknowledgements WHERE status = 'active' ORDER BY id`)
		if err != nil {
			return fmt.Errorf("read acknowledgements: %w", err)
		}
		active, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Ack, error) { return scanAck(r) })
		if err != nil {
			return fmt.Errorf("read acknowledgements: %w", err)
		}
		for _, a := range active {
			scope, _ := attention.ParseScope(a.Scope)
			in := attention.Ack{ID: a.ID, MutationID: a.MutationID, Scope: scope, Until: a.Until, ExpiresAt: a.ExpiresAt, Digests: a.Digests}
			if !slices.ContainsFunc(ms, func(m attention.Mutation) bool { return in.Covers(m, at) }) {
				acks = append(acks, a)
			}
		}
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("find unmatched rules and acknowledgements: %w", err)
	}
	return rules, acks, nil
}
