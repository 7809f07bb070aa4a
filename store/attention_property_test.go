package store

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"k8s.io/apimachinery/pkg/types"

	"github.com/tagdrift/tagdrift/notify"
	"github.com/tagdrift/tagdrift/scanner/attention"
	"github.com/tagdrift/tagdrift/scanner/detect"
	"github.com/tagdrift/tagdrift/scanner/inventory"
)

// stateSnapshot is a mutation as the property test sees it between two transactions.
type stateSnapshot struct {
	kind    detect.Kind
	state   attention.State
	digests []string
}

// TestStateProperty drives random scans, rules, acknowledgements, approvals,
// revocations and expiries through the store, and after every transaction checks that
// every consumer of the state agrees with attention.Decide: the column (recomputed in
// Go from the rules and acknowledgements in force), the lists and counts that filter
// on it, and the outbox (exactly the events notify.Decide says the change of state
// is). Expiry times are either past or an hour ahead, so that the database's clock
// between two reads cannot cross one: the expiry job is the clock step.
func TestStateProperty(t *testing.T) {
	t.Parallel()
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 27))
	ctx := context.Background()
	s, _ := mustStore(t, mustRing(t, newKey(t)))
	hook := mustChannel(t, s, "hook", ChannelWebhook, []byte("whsec_c2VjcmV0LXRva2Vu"))
	if _, err := s.CreateRoute(ctx, testAudit, Route{ChannelID: hook.ID, SendBaseline: true, Enabled: true}); err != nil {
		t.Fatal(err)
	}
	s.SetOutbox(Outbox{Jobs: func(context.Context, pgx.Tx, []QueuedDelivery) error { return nil }})
	clusters := []Cluster{mustCluster(t, s, "dev-a", "tok"), mustCluster(t, s, "prod", "tok")}
	scopes := []string{`cluster=~"dev-.*"`, `reference="nginx:1.25"`, `workload="Deployment/api"`, `namespace="shop", cluster="prod"`}
	admin, viewer := Audit{Actor: "user:admin"}, Audit{Actor: "user:viewer"}
	at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

	snapshot := func() map[int64]stateSnapshot {
		t.Helper()
		rows, err := s.pool.Query(ctx, `SELECT id, kind, state, digests FROM mutations`)
		if err != nil {
			t.Fatal(err)
		}
		out := map[int64]stateSnapshot{}
		for rows.Next() {
			var id int64
			var kind, state string
			var digests []string
			if err := rows.Scan(&id, &kind, &state, &digests); err != nil {
				t.Fatal(err)
			}
			out[id] = stateSnapshot{detect.Kind(kind), attention.State(state), digests}
		}
		if rows.Err() != nil {
			t.Fatal(rows.Err())
		}
		return out
	}
	var lastEvent int64
	prev := snapshot()
	check := func(op string) {
		t.Helper()
		cur := snapshot()
		// The column is Decide's, now.
		var dbNow time.Time
		tx, err := s.pool.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		f, err := readInForce(ctx, tx)
		if err == nil {
			err = tx.QueryRow(ctx, `SELECT now()`).Scan(&dbNow)
		}
		var ms []attention.Mutation
		if err == nil {
			var rows pgx.Rows
			rows, err = tx.Query(ctx, `SELECT `+attentionColumns+` FROM mutations WHERE resolved_at IS NULL`)
			if err == nil {
				ms, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (attention.Mutation, error) { return scanAttention(r) })
			}
		}
		_ = tx.Rollback(ctx)
		if err != nil {
			t.Fatal(err)
		}
		open := 0
		for _, m := range ms {
			if want := decideInForce(m, f, dbNow); cur[m.ID].state != want {
				t.Fatalf("after %s: mutation %d (%s) is %q in the column, Decide says %q", op, m.ID, m.Kind, cur[m.ID].state, want)
			}
			if cur[m.ID].state == attention.StateOpen {
				open++
			}
		}
		for id, m := range cur {
			if m.kind.IsEvent() && m.state != attention.StateResolved && m.state != attention.StateExpected {
				t.Fatalf("after %s: event %d is %q", op, id, m.state)
			}
		}
		// Lists and counts read the column.
		listed, err := s.ListMutations(ctx, MutationFilter{State: StateOpen, Limit: 1000})
		if err != nil || len(listed) != open {
			t.Fatalf("after %s: state=open lists %d, the column has %d open (%v)", op, len(listed), open, err)
		}
		counts, err := s.OpenMutationCounts(ctx, Scope{})
		if err != nil {
			t.Fatal(err)
		}
		counted := 0
		for _, c := range counts {
			if c.State == string(attention.StateOpen) {
				counted += c.Count
			}
		}
		if counted != open {
			t.Fatalf("after %s: counts say %d open, the column %d", op, counted, open)
		}
		// Each cluster's count of open mutations touching it (the clusters page, the
		// API's openMutations) counts what the column says is open.
		statuses, err := s.ClusterStatuses(ctx, Scope{})
		if err != nil {
			t.Fatal(err)
		}
		for _, cs := range statuses {
			want := 0
			for _, m := range ms {
				if cur[m.ID].state == attention.StateOpen && touches(m.Mutation, cs.Name) {
					want++
				}
			}
			if cs.OpenMutations != want {
				t.Fatalf("after %s: cluster %s counts %d open, the column %d", op, cs.Name, cs.OpenMutations, want)
			}
		}
		// The outbox holds what notify.Decide says each change of state is.
		rows, err := s.pool.Query(ctx, `SELECT id, mutation_id, type FROM notification_events WHERE id > $1 ORDER BY id`, lastEvent)
		if err != nil {
			t.Fatal(err)
		}
		got := map[int64][]string{}
		for rows.Next() {
			var id, mid int64
			var typ string
			if err := rows.Scan(&id, &mid, &typ); err != nil {
				t.Fatal(err)
			}
			got[mid] = append(got[mid], typ)
			lastEvent = id
		}
		for id, c := range cur {
			p := prev[id]
			var want []string
			if typ, ok := notify.Decide(c.kind, notify.Snapshot{State: p.state, Digests: p.digests},
				notify.Snapshot{State: c.state, Digests: c.digests}); ok {
				want = []string{string(typ)}
			}
			if !slices.Equal(got[id], want) {
				t.Fatalf("after %s: mutation %d (%s) went %q %v -> %q %v and sent %v, want %v",
					op, id, c.kind, p.state, p.digests, c.state, c.digests, got[id], want)
			}
		}
		prev = cur
	}

	expiry := func() *time.Time {
		switch rng.IntN(3) {
		case 0:
			return nil
		case 1:
			e := time.Now().Add(-time.Second)
			return &e
		}
		e := time.Now().Add(time.Hour)
		return &e
	}
	pick := func(ids []int64) int64 { return ids[rng.IntN(len(ids))] }
	idsWhere := func(sql string) []int64 {
		t.Helper()
		rows, err := s.pool.Query(ctx, sql)
		if err != nil {
			t.Fatal(err)
		}
		ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
		if err != nil {
			t.Fatal(err)
		}
		return ids
	}
	for step := range 120 {
		switch op := rng.IntN(10); {
		case op < 4:
			c := clusters[rng.IntN(len(clusters))]
			var pods []inventory.Pod
			for i, w := range []string{"web", "web", "web", "api"} {
				if rng.IntN(4) == 0 {
					continue
				}
				p := pod(fmt.Sprintf("%s-%d", w, i), fmt.Sprintf("%s-%s-%d", c.Name, w, i), "app", digest(string("aabc"[rng.IntN(4)])))
				p.Cluster, p.Workload.Name = c.Name, w
				p.Controller.Name, p.Controller.UID = w+"-1", types.UID("rs-"+c.Name+w)
				pods = append(pods, p)
			}
			at = at.Add(time.Minute)
			id, err := s.StartScan(ctx, c.ID, at)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.CompleteScan(ctx, id, pods, len(pods), at); err != nil {
				t.Fatal(err)
			}
			check(fmt.Sprintf("step %d: scan of %s", step, c.Name))
			if _, err := s.RecheckRefs(ctx, 100, at); err != nil {
				t.Fatal(err)
			}
			check(fmt.Sprintf("step %d: recheck", step))
			continue
		case op == 4:
			if _, err := s.CreateRule(ctx, admin, NewRule{Scope: scopes[rng.IntN(len(scopes))], Reason: "moves", ExpiresAt: expiry()}); err != nil {
				t.Fatal(err)
			}
		case op == 5:
			live := idsWhere(`SELECT id FROM mutable_tag_rules WHERE ended_at IS NULL`)
			if len(live) == 0 {
				continue
			}
			if _, err := s.RevokeRule(ctx, admin, pick(live)); err != nil {
				t.Fatal(err)
			}
		case op == 6:
			open := idsWhere(`SELECT id FROM mutations WHERE resolved_at IS NULL`)
			if len(open) == 0 {
				continue
			}
			na := NewAck{MutationID: pick(open), Reason: "known", Until: attention.Untils[rng.IntN(3)], Approved: rng.IntN(2) == 0}
			if na.Until == attention.UntilTime || rng.IntN(3) == 0 {
				if na.ExpiresAt = expiry(); na.ExpiresAt == nil {
					e := time.Now().Add(time.Hour)
					na.ExpiresAt = &e
				}
			}
			who := viewer
			if na.Approved {
				who = admin
			}
			if _, err := s.CreateAck(ctx, who, na); err != nil {
				t.Fatal(err)
			}
		case op == 7:
			asked := idsWhere(`SELECT id FROM acknowledgements WHERE status = 'requested'`)
			if len(asked) == 0 {
				continue
			}
			// Its mutation may have resolved since, or its time passed: then not
			// allowed, and nothing changes.
			if _, err := s.DecideAck(ctx, admin, pick(asked), rng.IntN(3) > 0); err != nil && !errors.Is(err, ErrNotAllowed) {
				t.Fatal(err)
			}
		case op == 8:
			live := idsWhere(`SELECT id FROM acknowledgements WHERE status IN ('active', 'requested')`)
			if len(live) == 0 {
				continue
			}
			if _, err := s.RevokeAck(ctx, admin, pick(live)); err != nil {
				t.Fatal(err)
			}
		case op == 9:
			e := expiry()
			if e == nil {
				if _, err := s.SettleExpired(ctx); err != nil {
					t.Fatal(err)
				}
				check(fmt.Sprintf("step %d: expiry", step))
				continue
			}
			if _, err := s.CreateAck(ctx, admin, NewAck{Scope: scopes[rng.IntN(len(scopes))], Reason: "window", Until: attention.UntilTime, ExpiresAt: e, Approved: true}); err != nil {
				t.Fatal(err)
			}
		}
		check(fmt.Sprintf("step %d: op", step))
	}
	var states []string
	if err := s.pool.QueryRow(ctx, `SELECT array_agg(DISTINCT state ORDER BY state) FROM mutations`).Scan(&states); err != nil {
		t.Fatal(err)
	}
	t.Logf("states seen at the end: %v", states)
}

// decideInForce is attention.Decide over what is in force, as the property test
// recomputes it.
func decideInForce(m attention.Mutation, f inForce, now time.Time) attention.State {
	return attention.Decide(m, f.rules, f.acks, now).State
}

// touches reports whether m is a mutation of cluster, or has a place in it.
func touches(m detect.Mutation, cluster string) bool {
	if m.Cluster == cluster {
		return true
	}
	return m.Cluster == "" && slices.ContainsFunc(m.Places, func(p detect.Place) bool { return p.Cluster == cluster })
}
