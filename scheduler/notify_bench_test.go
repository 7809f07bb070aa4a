package scheduler

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"

	"github.com/tagdrift/tagdrift/internal/receivers"
	"github.com/tagdrift/tagdrift/notify"
	"github.com/tagdrift/tagdrift/scanner/imageref"
	"github.com/tagdrift/tagdrift/scanner/inventory"
	"github.com/tagdrift/tagdrift/store"
)

// notifyBenchContainers is how many containers, each running the benchmark's one tag,
// each workload's pods have: a workload-divergence each when the tag's digests part.
const notifyBenchContainers = 10

// BenchmarkNotifyFleet measures notifications of a fleet-wide tag move: one scan opens
// a workload-divergence in each of 10 containers of 100 workloads (TAGDRIFT_NOTIFY_BENCH_WORKLOADS
// sets how many; make bench-smoke takes 5), all of one tag, and two routes (a webhook
// and a Slack channel) send mutation.opened to real HTTP receivers: the Standard
// Webhooks one, which verifies each signature, and the Slack one, which checks Block
// Kit's limits. Each operation is that scan (its transaction writes the mutations, the
// events, the deliveries and their jobs) and the wait until every delivery is recorded;
// the scan before it, which resolves the last one's mutations, is not timed. Reported:
// messages per route, the median and the slowest event's time from the scan's commit
// to its arrival at the webhook receiver, when every delivery job had ended (most find
// their delivery carried by another's message; not timed), the rows written, and the memory allocated
// (by the scan and the deliveries: -benchmem's B/op). With no group wait and with one
// of 2 s: River promotes scheduled jobs every 5 s or so, so the target is the wait plus
// under 6 s at the median, under 1 s with no wait.
func BenchmarkNotifyFleet(b *testing.B) {
	workloads := 100
	if v := os.Getenv("TAGDRIFT_NOTIFY_BENCH_WORKLOADS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			b.Fatalf("TAGDRIFT_NOTIFY_BENCH_WORKLOADS=%q: a positive number", v)
		}
		workloads = n
	}
	for _, wait := range []time.Duration{0, 2 * time.Second} {
		b.Run(fmt.Sprintf("mutations=%d/groupwait=%s", workloads*notifyBenchContainers, wait), func(b *testing.B) {
			benchNotifyFleet(b, workloads, wait)
		})
	}
}

func benchNotifyFleet(b *testing.B, workloads int, groupWait time.Duration) {
	ctx := context.Background()
	st := newStore(b)
	cl, err := st.CreateCluster(ctx, store.NewCluster{Name: "fleet", Server: "https://fleet.example:6443", Context: "fleet",
		Credentials: []byte(`{}`), ScanInterval: time.Hour, Enabled: false})
	if err != nil {
		b.Fatal(err)
	}
	hook, hookSrv := receivers.NewWebhook(b, hookSecret)
	slack, slackSrv := receivers.NewSlack(b)
	for _, c := range []store.NewChannel{
		{Name: "hook", Kind: store.ChannelWebhook, Config: json.RawMessage(`{"url":"` + hookSrv.URL + `"}`), Secret: []byte(hookSecret)},
		{Name: "slack", Kind: store.ChannelSlack, Secret: []byte(slackSrv.URL + "/services/T0/B0/XXXX")},
	} {
		c.Enabled = true
		ch, err := st.CreateChannel(ctx, testAudit, c)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := st.CreateRoute(ctx, testAudit, store.Route{ChannelID: ch.ID, Types: []string{string(notify.MutationOpened)},
			Kinds: []string{"workload-divergence"}, GroupWait: groupWait, Enabled: true}); err != nil {
			b.Fatal(err)
		}
	}
	startDelivering(b, st, nil, DeliveryConfig{AttemptTimeout: 10 * time.Second, RepostInterval: time.Hour})

	scan := func(pods []inventory.Pod) time.Time {
		b.Helper()
		id, err := st.StartScan(ctx, cl.ID, time.Now())
		if err != nil {
			b.Fatal(err)
		}
		if _, err := st.CompleteScan(ctx, id, pods, len(pods)*notifyBenchContainers, time.Now()); err != nil {
			b.Fatal(err)
		}
		return time.Now()
	}
	// The first scan of the cluster is its baseline, and sends nothing.
	scan(fleetPods(workloads, -1))

	var latencies []time.Duration
	var slowest []time.Duration
	var drained []time.Duration
	var messages [2]int
	var rows [3]int
	var allocated uint64
	round := 0
	for b.Loop() {
		b.StopTimer()
		scan(fleetPods(workloads, -1)) // converged: the last round's mutations resolve
		before := notifyRows(b, st)
		seenHook, seenSlack := len(hook.Messages()), len(slack.Messages())
		var m0 runtime.MemStats
		runtime.ReadMemStats(&m0)
		round++
		b.StartTimer()

		committed := scan(fleetPods(workloads, round))
		waitDelivered(b, st)

		b.StopTimer()
		drained = append(drained, waitJobsDone(b, st).Sub(committed))
		var m1 runtime.MemStats
		runtime.ReadMemStats(&m1)
		allocated += m1.TotalAlloc - m0.TotalAlloc
		after := notifyRows(b, st)
		for i := range rows {
			rows[i] += after[i] - before[i]
		}
		msgs := hook.Messages()[seenHook:]
		messages[0] += len(msgs)
		messages[1] += len(slack.Messages()) - seenSlack
		events, last := 0, time.Duration(0)
		for _, m := range msgs {
			var p notify.Payload
			if err := json.Unmarshal(m.Body, &p); err != nil {
				b.Fatal(err)
			}
			d := m.At.Sub(committed)
			for range 1 + len(p.Grouped) {
				latencies = append(latencies, d)
			}
			events += 1 + len(p.Grouped)
			last = max(last, d)
		}
		if want := workloads * notifyBenchContainers; events != want {
			b.Fatalf("round %d: %d events reached the webhook receiver, want %d", round, events, want)
		}
		slowest = append(slowest, last)
		b.StartTimer()
	}
	if c := hook.Counts(); c.Bad != 0 || len(c.IDs) != len(hook.Messages()) {
		b.Errorf("webhook: %d bad signatures, %d requests for %d messages", c.Bad, len(c.IDs), len(hook.Messages()))
	}
	n := float64(round)
	slices.Sort(latencies)
	slices.Sort(slowest)
	b.ReportMetric(float64(messages[0])/n, "msgs-hook/op")
	b.ReportMetric(float64(messages[1])/n, "msgs-slack/op")
	b.ReportMetric(latencies[len(latencies)/2].Seconds(), "s-p50-commit-to-delivery")
	b.ReportMetric(slowest[len(slowest)/2].Seconds(), "s-last-delivery")
	slices.Sort(drained)
	b.ReportMetric(drained[len(drained)/2].Seconds(), "s-jobs-done")
	b.ReportMetric(float64(rows[0])/n, "events/op")
	b.ReportMetric(float64(rows[1])/n, "deliveries/op")
	b.ReportMetric(float64(rows[2])/n, "jobs/op")
	b.ReportMetric(float64(allocated)/n/(1<<20), "MiB-alloc/op")
}

// fleetPods is the fleet of workloads: in each, a pod of round 0 running the tag's
// digest a in every container, and for round > 0 a second pod, of that round, running
// digest b: every container of every workload diverges.
func fleetPods(workloads, round int) []inventory.Pod {
	ref := imageref.ParseRef("registry.example.com/fleet:1")
	pod := func(w, r int, letter string) inventory.Pod {
		id, _ := imageref.ParseImageID("registry.example.com/fleet@sha256:" + strings.Repeat(letter, 64))
		name := fmt.Sprintf("web-%03d", w)
		p := inventory.Pod{Cluster: "fleet", Namespace: "shop", Name: fmt.Sprintf("%s-%d", name, r),
			UID: types.UID(fmt.Sprintf("%s-%d", name, r)), Workload: inventory.Workload{Kind: "Deployment", Name: name},
			Controller: inventory.Controller{Kind: "ReplicaSet", Name: name + "-1", UID: types.UID(name + "-rs"), Revision: "1"}}
		for c := range notifyBenchContainers {
			p.Containers = append(p.Containers, inventory.Container{Name: fmt.Sprintf("c%d", c), Type: inventory.Regular, Ref: &ref, ID: &id})
		}
		return p
	}
	var out []inventory.Pod
	for w := range workloads {
		out = append(out, pod(w, 0, "a"))
		if round > 0 {
			out = append(out, pod(w, round, "b"))
		}
	}
	return out
}

// notifyRows counts the notification events, deliveries and delivery jobs written so
// far.
func notifyRows(b *testing.B, st *store.Store) [3]int {
	b.Helper()
	var n [3]int
	err := st.Pool().QueryRow(context.Background(), `
		SELECT (SELECT count(*) FROM notification_events), (SELECT count(*) FROM notification_deliveries),
		       (SELECT count(*) FROM river_job WHERE kind = 'deliver-notification')`).Scan(&n[0], &n[1], &n[2])
	if err != nil {
		b.Fatal(err)
	}
	return n
}

// waitDelivered waits until no delivery is pending.
func waitDelivered(b *testing.B, st *store.Store) {
	b.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		var pending, failed int
		err := st.Pool().QueryRow(context.Background(), `
			SELECT count(*) FILTER (WHERE status = 'pending'), count(*) FILTER (WHERE status = 'failed')
			FROM notification_deliveries`).Scan(&pending, &failed)
		if err != nil {
			b.Fatal(err)
		}
		if failed > 0 {
			b.Fatalf("%d deliveries failed", failed)
		}
		if pending == 0 {
			return
		}
		if time.Now().After(deadline) {
			b.Fatalf("%d deliveries still pending after 2 minutes", pending)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitJobsDone waits until every delivery job has ended (most of them find their
// delivery carried by another's message), and returns when.
func waitJobsDone(b *testing.B, st *store.Store) time.Time {
	b.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		var left int
		err := st.Pool().QueryRow(context.Background(), `
			SELECT count(*) FROM river_job WHERE kind = 'deliver-notification' AND finalized_at IS NULL`).Scan(&left)
		if err != nil {
			b.Fatal(err)
		}
		if left == 0 {
			return time.Now()
		}
		if time.Now().After(deadline) {
			b.Fatalf("%d delivery jobs still to run after 2 minutes", left)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
