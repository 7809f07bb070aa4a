package scheduler

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tagdrift/tagdrift/internal/receivers"
	"github.com/tagdrift/tagdrift/notify"
	"github.com/tagdrift/tagdrift/scanner/detect"
	"github.com/tagdrift/tagdrift/scanner/inventory"
	"github.com/tagdrift/tagdrift/store"
)

// A group larger than a message once carried (100 events) goes to each channel as one
// message: 250 mutations of one reference due together reach the Standard Webhooks
// receiver as one signed message carrying every event by id, Slack as one message
// within Block Kit's limits, Mailpit as one email that lists them all, and a real
// Alertmanager as 250 alerts. Four workers claim at once: none sends twice.
func TestDeliveriesLargeGroupOneMessage(t *testing.T) {
	st := newStore(t)
	ctx := context.Background()
	hook, hookSrv := receivers.NewWebhook(t, hookSecret)
	slack, slackSrv := receivers.NewSlack(t)
	mailpit := receivers.StartMailpit(t, receivers.MailpitOptions{})
	am := receivers.StartAlertmanager(t, "")
	var channels []store.Channel
	for _, c := range []store.NewChannel{
		{Name: "hook", Kind: store.ChannelWebhook, Config: json.RawMessage(`{"url":"` + hookSrv.URL + `"}`), Secret: []byte(hookSecret)},
		{Name: "slack", Kind: store.ChannelSlack, Secret: []byte(slackSrv.URL + "/services/T0/B0/XXXX")},
		{Name: "email", Kind: store.ChannelEmail, Config: json.RawMessage(fmt.Sprintf(
			`{"host":"127.0.0.1","port":%d,"from":"tagdrift@example.com","to":["platform@example.com"],"plain":true}`, mailpit.SMTPPort))},
		{Name: "alertmanager", Kind: store.ChannelAlertmanager, Config: json.RawMessage(`{"url":"` + am + `"}`)},
	} {
		c.Enabled = true
		ch, err := st.CreateChannel(ctx, testAudit, c)
		if err != nil {
			t.Fatal(err)
		}
		channels = append(channels, ch)
	}
	s := startDelivering(t, st, nil, DeliveryConfig{AttemptTimeout: 10 * time.Second, MaxAttempts: 4,
		RetryBase: 200 * time.Millisecond, Concurrency: 4, RepostInterval: time.Hour})

	const n = 250
	ref := "registry.example.com/fleet:1"
	now := time.Now()
	events := make([]store.OutboxEvent, n)
	for i := range events {
		w := inventory.Workload{Kind: "Deployment", Name: fmt.Sprintf("web-%03d", i/10)}
		m := notify.Mutation{ID: int64(i + 1), DetectedAt: now.Add(-time.Minute), Mutation: detect.Mutation{
			Kind: detect.WorkloadDivergence, Cluster: "fleet", Namespace: "shop", Workload: w, Container: fmt.Sprintf("c%d", i%10),
			Ref: ref, Digests: []string{"sha256:" + strings.Repeat("a", 64), "sha256:" + strings.Repeat("b", 64)},
		}}
		body, err := notify.NewPayload(notify.Event{Type: notify.MutationOpened, At: now, Mutation: m}, notify.PayloadConfig{}).Marshal()
		if err != nil {
			t.Fatal(err)
		}
		events[i] = store.OutboxEvent{Type: string(notify.MutationOpened), Payload: body, PayloadVersion: notify.PayloadVersion,
			At: now, GroupKey: ref}
		for _, ch := range channels {
			events[i].Deliveries = append(events[i].Deliveries, store.OutboxDelivery{ChannelID: ch.ID, NotBefore: now})
		}
	}
	if _, err := st.EnqueueNotifications(ctx, events, s.InsertDeliveries); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "every delivery recorded", time.Minute, func() bool {
		var pending int
		if err := st.Pool().QueryRow(ctx, `SELECT count(*) FROM notification_deliveries WHERE status <> 'delivered'`).Scan(&pending); err != nil {
			t.Fatal(err)
		}
		return pending == 0
	})
	time.Sleep(300 * time.Millisecond) // a message sent twice would show now

	log, err := st.DeliveryLog(ctx, channels[0].ID, 2*n)
	if err != nil || len(log) != n {
		t.Fatalf("webhook deliveries: %d, %v", len(log), err)
	}
	var want []string
	for _, d := range slices.Backward(log) {
		want = append(want, d.PublicID)
	}
	ms := hook.Messages()
	if c := hook.Counts(); len(ms) != 1 || c.Attempts != 1 || c.Bad != 0 {
		t.Fatalf("webhook: %d messages in %d requests (%d bad), want 1", len(ms), c.Attempts, c.Bad)
	}
	var p notify.Payload
	if err := json.Unmarshal(ms[0].Body, &p); err != nil {
		t.Fatal(err)
	}
	got := []string{p.ID}
	for _, g := range p.Grouped {
		got = append(got, g.ID)
	}
	// Its first event is the delivery whose job claimed the group, any of them: the
	// others follow in event order.
	slices.Sort(got)
	slices.Sort(want)
	if ms[0].ID != p.ID || !slices.Equal(got, want) {
		t.Errorf("the webhook message %s carries %d events, want the %d, each once", ms[0].ID, len(got), n)
	}
	if sm := slack.Messages(); len(sm) != 1 || !strings.Contains(sm[0].Body, fmt.Sprintf("and %d more of this reference", n-1)) {
		t.Errorf("slack: %d messages", len(sm))
	}
	mails := mailpit.Messages(t)
	if mails.Total != 1 || !strings.HasSuffix(mails.Messages[0].Subject, fmt.Sprintf("and %d more of this reference", n-1)) {
		t.Fatalf("mailpit holds %d messages: %+v", mails.Total, mails.Messages)
	}
	if text := mailpit.Text(t, mails.Messages[0].ID); strings.Count(text, "Mutation opened: workload-divergence") != n {
		t.Errorf("the email names %d events, want %d", strings.Count(text, "Mutation opened: workload-divergence"), n)
	}
	if alerts := receivers.ActiveAlerts(t, am, ""); len(alerts) != n {
		t.Errorf("alertmanager holds %d active alerts, want %d", len(alerts), n)
	}
}

// The jobs of a group's deliveries but its lead run after other work: another
// reference's message, written just after a fleet-wide change, does not wait while
// River runs through the hundreds of jobs whose delivery the change's message carries.
func TestDeliveryLeadsRunFirst(t *testing.T) {
	st := newStore(t)
	ctx := context.Background()
	hook, hookSrv := receivers.NewWebhook(t, hookSecret)
	ch, err := st.CreateChannel(ctx, testAudit, store.NewChannel{Name: "hook", Kind: store.ChannelWebhook,
		Config: json.RawMessage(`{"url":"` + hookSrv.URL + `"}`), Secret: []byte(hookSecret), Enabled: true})
	if err != nil {
		t.Fatal(err)
	}
	s := startDelivering(t, st, nil, DeliveryConfig{AttemptTimeout: 10 * time.Second, Concurrency: 4, RepostInterval: time.Hour})
	event := func(ref string, mutation int64) store.OutboxEvent {
		now := time.Now()
		return store.OutboxEvent{Type: string(notify.MutationOpened), Payload: payloadJSON(t, notify.MutationOpened, mutation, ref),
			PayloadVersion: notify.PayloadVersion, At: now, GroupKey: ref, Deliveries: []store.OutboxDelivery{{ChannelID: ch.ID, NotBefore: now}}}
	}
	const n = 500
	fleet := make([]store.OutboxEvent, n)
	for i := range fleet {
		fleet[i] = event("registry.example.com/fleet:1", int64(i+1))
	}
	if _, err := st.EnqueueNotifications(ctx, fleet, s.InsertDeliveries); err != nil {
		t.Fatal(err)
	}
	lone, err := st.EnqueueNotifications(ctx, []store.OutboxEvent{event("registry.example.com/other:1", n+1)}, s.InsertDeliveries)
	if err != nil {
		t.Fatal(err)
	}
	var priorities []int
	rows, err := st.Pool().Query(ctx, `SELECT priority, count(*) FROM river_job WHERE kind = 'deliver-notification' GROUP BY priority ORDER BY priority`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var p, c int
		if err := rows.Scan(&p, &c); err != nil {
			t.Fatal(err)
		}
		priorities = append(priorities, p, c)
	}
	if rows.Err() != nil || !slices.Equal(priorities, []int{1, 2, followerPriority, n - 1}) {
		t.Fatalf("delivery jobs by priority %v (%v), want the two leads at 1 and the %d others at %d", priorities, rows.Err(), n-1, followerPriority)
	}
	d, err := st.Delivery(ctx, lone[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the other reference's message", 30*time.Second, func() bool {
		return slices.ContainsFunc(hook.Messages(), func(m receivers.Message) bool { return m.ID == d.PublicID })
	})
	var left int
	if err := st.Pool().QueryRow(ctx, `SELECT count(*) FROM river_job WHERE kind = 'deliver-notification' AND finalized_at IS NULL`).Scan(&left); err != nil {
		t.Fatal(err)
	}
	// Behind them it would arrive once (nearly) all had run (River finalizes in batches,
	// so a few dozen may still show: 56 when tried); ahead, with (nearly) all left.
	if left < n/2 {
		t.Errorf("the other reference's message arrived with %d of the fleet's %d jobs left, want it ahead of most", left, n-1)
	}
	t.Logf("the other reference's message arrived with %d delivery jobs left", left)
	waitFor(t, "every delivery recorded", time.Minute, func() bool {
		var pending int
		if err := st.Pool().QueryRow(ctx, `SELECT count(*) FROM notification_deliveries WHERE status <> 'delivered'`).Scan(&pending); err != nil {
			t.Fatal(err)
		}
		return pending == 0
	})
	if ms := hook.Messages(); len(ms) != 2 {
		t.Errorf("%d webhook messages, want the fleet's and the other's", len(ms))
	}
}
