package ui

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/types"

	"github.com/tagdrift/tagdrift/scanner/annotate"
	"github.com/tagdrift/tagdrift/scanner/attention"
	"github.com/tagdrift/tagdrift/scanner/detect"
	"github.com/tagdrift/tagdrift/scanner/inventory"
	"github.com/tagdrift/tagdrift/server/access"
	"github.com/tagdrift/tagdrift/server/api"
	"github.com/tagdrift/tagdrift/server/metrics"
	"github.com/tagdrift/tagdrift/store"
)

// TestStateConsumersAgree drives random scans, rules, acknowledgements, approvals,
// revocations and expiry runs through the store, and after each checks that every
// consumer of the state column says the same: the column itself, the overview's counts
// read from its HTML with goquery, the API's lists by state, the metrics
// (tagdrift_open_mutations and tagdrift_unresolved_mutations) and the ReplicaSet
// annotation planned from what the store hands the annotator. The store's own
// TestStateProperty checks the column against attention.Decide and the outbox.
func TestStateConsumersAgree(t *testing.T) {
	t.Parallel()
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 2727))
	ctx := context.Background()
	e := newUIEnv(t, nil)
	e.addUser("root", store.RoleAdmin)
	root := e.browser()
	root.signIn("root")
	te := &testEnv{t: t, st: e.st}
	f := &fleet{t: t, e: te, id: map[string]int64{"prod": te.addCluster("prod"), "dev-a": te.addCluster("dev-a")}}

	r := chi.NewRouter()
	api.New(api.Config{Store: e.st, Access: access.New(e.cfg.Config), CacheBytes: -1}).Mount(r)
	apiSrv := httptest.NewServer(r)
	defer apiSrv.Close()
	apiCount := func(state string) int {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, apiSrv.URL+"/api/v1/mutations?limit=500&state="+state, nil)
		req.Header.Set("Authorization", "Bearer "+testAdminToken)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var l struct {
			Items []struct {
				State string `json:"state"`
			} `json:"items"`
		}
		if res.StatusCode != http.StatusOK || json.NewDecoder(res.Body).Decode(&l) != nil {
			t.Fatalf("API list state=%s: %d", state, res.StatusCode)
		}
		for _, m := range l.Items {
			if m.State != state && state != store.StateUnresolved {
				t.Fatalf("API list state=%s holds a mutation in state %s", state, m.State)
			}
		}
		return len(l.Items)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(metrics.NewGauges(metrics.Config{Source: e.st, Every: time.Nanosecond}))
	metricSums := func() map[string]float64 {
		t.Helper()
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]float64{}
		for _, mf := range mfs {
			for _, m := range mf.GetMetric() {
				key := mf.GetName()
				for _, l := range m.GetLabel() {
					if l.GetName() == "state" {
						key += "/" + l.GetValue()
					}
				}
				out[key] += m.GetGauge().GetValue()
			}
		}
		return out
	}
	column := func() map[string]int {
		t.Helper()
		counts, err := e.st.OpenMutationCounts(ctx, store.Scope{})
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]int{}
		for _, c := range counts {
			out[c.State] += c.Count
		}
		return out
	}
	check := func(op string) {
		t.Helper()
		col := column()
		open, acked, expected := overviewCounts(t, root)
		if open != col["open"] || acked != col["acknowledged"] || expected != col["expected"] {
			t.Fatalf("after %s: the overview says %d open, %d acknowledged, %d expected; the column %v", op, open, acked, expected, col)
		}
		for _, s := range []string{store.StateOpen, store.StateAcknowledged} {
			if n := apiCount(s); n != col[s] {
				t.Fatalf("after %s: the API lists %d %s, the column %d", op, n, s, col[s])
			}
		}
		m := metricSums()
		if int(m["tagdrift_open_mutations"]) != col["open"] {
			t.Fatalf("after %s: tagdrift_open_mutations sums %v, the column has %d open", op, m["tagdrift_open_mutations"], col["open"])
		}
		for _, s := range []string{"open", "acknowledged", "expected"} {
			if int(m["tagdrift_unresolved_mutations/"+s]) != col[s] {
				t.Fatalf("after %s: tagdrift_unresolved_mutations{state=%q} sums %v, the column %d", op, s, m["tagdrift_unresolved_mutations/"+s], col[s])
			}
		}
	}

	scopes := []string{`cluster=~"dev-.*"`, `reference="nginx:1.25"`, `cluster="prod", namespace="shop"`}
	admin := store.Audit{Actor: "user:root"}
	expiry := func() *time.Time {
		var at time.Time
		switch rng.IntN(3) {
		case 0:
			return nil
		case 1:
			at = time.Now().Add(-time.Second)
		default:
			at = time.Now().Add(time.Hour)
		}
		return &at
	}
	ids := func(sql string) []int64 {
		t.Helper()
		var out []int64
		rows, err := e.st.Pool().Query(ctx, sql)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				t.Fatal(err)
			}
			out = append(out, id)
		}
		return out
	}
	at := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
	lastPods := map[string][]inventory.Pod{}
	// The ReplicaSet annotation of each cluster's ReplicaSet, planned from what the
	// store gives the annotator, against the column's states of the mutations with a
	// place in that cluster.
	checkAnnotation := func(op string) {
		t.Helper()
		for cluster, id := range f.id {
			if len(lastPods[cluster]) == 0 {
				continue
			}
			touching, err := e.st.OpenMutationsTouching(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			in := annotate.Input{Cluster: cluster, Pods: lastPods[cluster],
				ReplicaSets: []annotate.ReplicaSet{{Namespace: "shop", Name: "web-1", UID: types.UID("rs-" + cluster)}}}
			for _, m := range touching {
				in.Mutations = append(in.Mutations, annotate.Mutation{Key: fmt.Sprint(m.ID), Kind: m.Kind, State: m.State,
					Container: m.Container, Ref: m.Ref, Digests: m.Digests, Places: m.Places})
			}
			var got annotate.MutationsValue
			for _, p := range annotate.Make(in).Patches {
				if v := p.Annotations[annotate.AnnotationMutations]; v != nil {
					if err := json.Unmarshal([]byte(*v), &got); err != nil {
						t.Fatal(err)
					}
				}
			}
			// What the column says of the mutations running in this cluster.
			rows, err := e.st.Pool().Query(ctx, `
				SELECT kind, state FROM mutations WHERE resolved_at IS NULL
				AND (cluster = $1 OR places @> jsonb_build_array(jsonb_build_object('cluster', $1::text)))`, cluster)
			if err != nil {
				t.Fatal(err)
			}
			kinds, allAcked, expectedKinds := map[string]bool{}, map[string]bool{}, map[string]bool{}
			for rows.Next() {
				var kind, state string
				if err := rows.Scan(&kind, &state); err != nil {
					t.Fatal(err)
				}
				switch state {
				case "open":
					kinds[kind], allAcked[kind] = true, false
				case "acknowledged":
					if !kinds[kind] {
						allAcked[kind] = true
					}
					kinds[kind] = true
				case "expected":
					expectedKinds[kind] = true
				}
			}
			rows.Close()
			want := annotate.MutationsValue{}
			for _, k := range []string{"workload-divergence", "pin-mismatch", "tag-divergence", "tag-moved", "pod-drift"} {
				if kinds[k] {
					want.Kinds = append(want.Kinds, detect.Kind(k))
					if allAcked[k] {
						want.Acknowledged = append(want.Acknowledged, detect.Kind(k))
					}
				} else if expectedKinds[k] {
					want.Expected = append(want.Expected, detect.Kind(k))
				}
			}
			for _, ks := range [][]detect.Kind{got.Kinds, got.Acknowledged, got.Expected, want.Kinds, want.Acknowledged, want.Expected} {
				slices.Sort(ks) // a set, in whatever order
			}
			if !slices.Equal(got.Kinds, want.Kinds) || !slices.Equal(got.Acknowledged, want.Acknowledged) || !slices.Equal(got.Expected, want.Expected) {
				t.Fatalf("after %s: %s's ReplicaSet is annotated %+v, the column says %+v", op, cluster, got, want)
			}
		}
	}
	check("start")
	for step := range 80 {
		op := rng.IntN(8)
		switch {
		case op < 3:
			cluster := []string{"prod", "dev-a"}[rng.IntN(2)]
			at = at.Add(time.Minute)
			ps := []struct{ name, letter string }{{"web-a", "a"}, {"web-b", "ab"[rng.IntN(2):][:1]}, {"web-c", "abc"[rng.IntN(3):][:1]}}
			var in []podArg
			for _, p := range ps {
				if rng.IntN(4) > 0 {
					in = append(in, podArg{p.name, p.letter})
				}
			}
			lastPods[cluster] = podsOf(cluster, in)
			f.scan(cluster, at, lastPods[cluster]...)
		case op == 3:
			if _, err := e.st.CreateRule(ctx, admin, store.NewRule{Scope: scopes[rng.IntN(len(scopes))], Reason: "moves", ExpiresAt: expiry()}); err != nil {
				t.Fatal(err)
			}
		case op == 4:
			live := ids(`SELECT id FROM mutable_tag_rules WHERE ended_at IS NULL`)
			if len(live) == 0 {
				continue
			}
			if _, err := e.st.RevokeRule(ctx, admin, live[rng.IntN(len(live))]); err != nil {
				t.Fatal(err)
			}
		case op == 5:
			open := ids(`SELECT id FROM mutations WHERE resolved_at IS NULL`)
			if len(open) == 0 {
				continue
			}
			na := store.NewAck{MutationID: open[rng.IntN(len(open))], Reason: "known", Until: attention.Untils[rng.IntN(3)], Approved: true}
			if na.Until == attention.UntilTime {
				if na.ExpiresAt = expiry(); na.ExpiresAt == nil {
					later := time.Now().Add(time.Hour)
					na.ExpiresAt = &later
				}
			}
			if _, err := e.st.CreateAck(ctx, admin, na); err != nil {
				t.Fatal(err)
			}
		case op == 6:
			live := ids(`SELECT id FROM acknowledgements WHERE status = 'active'`)
			if len(live) == 0 {
				continue
			}
			if _, err := e.st.RevokeAck(ctx, admin, live[rng.IntN(len(live))]); err != nil && !errors.Is(err, store.ErrNotAllowed) {
				t.Fatal(err)
			}
		default:
			if _, err := e.st.SettleExpired(ctx); err != nil {
				t.Fatal(err)
			}
		}
		check(fmt.Sprintf("step %d (op %d)", step, op))
		checkAnnotation(fmt.Sprintf("step %d (op %d)", step, op))
	}
	t.Logf("at the end: %v", column())
}

type podArg struct{ name, letter string }

// podsOf are pods of Deployment web in cluster; the dev cluster's have their own
// ReplicaSet.
func podsOf(cluster string, ps []podArg) []inventory.Pod {
	out := make([]inventory.Pod, 0, len(ps))
	for _, p := range ps {
		pod := webPod(cluster, p.name, cluster+"-"+p.name, p.letter)
		pod.Controller.UID = types.UID("rs-" + cluster)
		out = append(out, pod)
	}
	return out
}
