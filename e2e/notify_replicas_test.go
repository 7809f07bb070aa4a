package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tagdrift/tagdrift/notify"
	"github.com/tagdrift/tagdrift/store"
)

// TestNotifyTwoReplicas runs two `tagdrift serve` on one database, both delivering:
// four workloads of four references each open a workload-divergence (with their tag
// moves and pod drifts) and resolve it, while the webhook receiver refuses its first
// requests. Every event written reaches the receiver, in exactly one message; and no
// message arrives more often than once plus the times it was refused: nothing twice
// beyond retries.
func TestNotifyTwoReplicas(t *testing.T) {
	ctx := context.Background()
	c := setup.env.Cluster("delta")
	const ns, workloads = "notify-replicas", 4
	ps := notifyPods{t: t, c: c, ns: ns}
	image := func(i int) string { return fmt.Sprintf("registry.example.com/replica-%d", i) }
	digest := func(i int, letter string) string { return image(i) + "@sha256:" + strings.Repeat(letter, 64) }
	for i := range workloads {
		for _, pod := range []string{"a", "b"} {
			name := fmt.Sprintf("r%d-%s", i, pod)
			ps.create(name, fmt.Sprintf("rep%d-abc", i), image(i)+":1")
			ps.run(name, digest(i, "a"))
		}
	}

	services, st, adminToken := serveNotifying(t, 2)
	one, two := services[0], services[1]
	recv, srv := newWebhookReceiver(t)
	ch, err := st.CreateChannel(ctx, store.Audit{Actor: "test"}, store.NewChannel{Name: "hook", Kind: store.ChannelWebhook,
		Config: json.RawMessage(`{"url":"` + srv.URL + `/tagdrift"}`), Secret: []byte(notifySecret), Enabled: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateRoute(ctx, store.Audit{Actor: "test"}, store.Route{ChannelID: ch.ID, Matchers: `reference=~"registry.example.com/replica-.*"`,
		GroupWait: time.Second, Enabled: true}); err != nil {
		t.Fatal(err)
	}
	recv.Fail(http.StatusInternalServerError, http.StatusServiceUnavailable, http.StatusInternalServerError)

	// Each step is scanned at once, asked of one replica; either may run it, and both
	// deliver.
	written := func() int {
		log, err := st.DeliveryLog(ctx, ch.ID, 1000)
		if err != nil {
			t.Fatal(err)
		}
		return len(log)
	}
	step := func(letter string) {
		t.Helper()
		before := written()
		for i := range workloads {
			ps.run(fmt.Sprintf("r%d-b", i), digest(i, letter))
		}
		scanDelta(t, one.url, adminToken)
		if err := pollUntil(60*time.Second, func() bool {
			n, err := pendingDeliveries(ctx, st)
			return err == nil && n == 0 && written() > before
		}); err != nil {
			t.Fatalf("no deliveries, or some still pending: %v", err)
		}
	}
	step("b")               // opened, tag-moved, pod-drift of each workload
	step("a")               // resolved, pod-drift back
	time.Sleep(time.Second) // anything delivered twice would show now

	log, err := st.DeliveryLog(ctx, ch.ID, 1000)
	if err != nil {
		t.Fatal(err)
	}
	types := map[string]int{}
	for _, d := range log {
		types[d.Type]++
		if d.Status != store.DeliveryDelivered {
			t.Errorf("delivery %d (%s): %s after %d attempts, %q", d.ID, d.Type, d.Status, d.Attempts, d.LastError)
		}
	}
	if types[string(notify.MutationOpened)] != workloads || types[string(notify.MutationResolved)] != workloads ||
		types[string(notify.EventRecorded)] < 2*workloads {
		t.Errorf("events written: %v, want %d opened, %d resolved, tag moves and pod drifts", types, workloads, workloads)
	}
	// Every event in exactly one message.
	carried := map[string]int{}
	for _, p := range recv.received() {
		carried[p.ID]++
		for _, g := range p.Grouped {
			carried[g.ID]++
		}
	}
	for _, d := range log {
		if carried[d.PublicID] != 1 {
			t.Errorf("event %s (%s) carried by %d messages, want 1", d.PublicID, d.Type, carried[d.PublicID])
		}
	}
	// Each message once, but for its retries.
	counts := recv.Counts()
	raw := map[string]int{}
	for _, id := range counts.IDs {
		raw[id]++
	}
	retried := 0
	for id, n := range raw {
		retried += counts.Refused[id]
		if n != 1+counts.Refused[id] || counts.Accepted[id] != 1 {
			t.Errorf("message %s: %d requests, %d refused, %d taken; want one taken and one more request per refusal",
				id, n, counts.Refused[id], counts.Accepted[id])
		}
	}
	if retried != 3 || counts.Bad != 0 {
		t.Errorf("%d retried requests, %d bad signatures; want the 3 refused and none", retried, counts.Bad)
	}
	delivered := func(s *service) int { return strings.Count(s.logs.String(), `"msg":"notification delivered"`) }
	t.Logf("%d events in %d messages (%d requests); delivered by replica one %d, two %d",
		len(log), len(recv.Messages()), counts.Attempts, delivered(one), delivered(two))
}
