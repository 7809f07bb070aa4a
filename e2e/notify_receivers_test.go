package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/tagdrift/tagdrift/internal/kubeenv"
	"github.com/tagdrift/tagdrift/internal/receivers"
	"github.com/tagdrift/tagdrift/notify"
	"github.com/tagdrift/tagdrift/store"
)

// receiverSet is one of each receiver a channel kind sends to, started for a test.
type receiverSet struct {
	hook    *webhookReceiver
	slack   *receivers.Slack
	pd      *receivers.PagerDuty
	am      string // Alertmanager's root URL
	mailpit receivers.Mailpit
}

const pdRoutingKey = "R0UT1NGKEY0E2E"

// startReceivers starts the five receivers and registers a channel for each in st,
// with a route of routeFor.
func startReceivers(t *testing.T, st *store.Store, routeFor func(channelID int64) store.Route) receiverSet {
	t.Helper()
	ctx := context.Background()
	var r receiverSet
	hook, hookSrv := newWebhookReceiver(t)
	slack, slackSrv := receivers.NewSlack(t)
	pd, pdSrv := receivers.NewPagerDuty(t, pdRoutingKey)
	r.hook, r.slack, r.pd = hook, slack, pd
	r.am = receivers.StartAlertmanager(t, "")
	r.mailpit = receivers.StartMailpit(t, receivers.MailpitOptions{})
	for _, c := range []store.NewChannel{
		{Name: "hook", Kind: store.ChannelWebhook, Config: json.RawMessage(`{"url":"` + hookSrv.URL + `/tagdrift"}`), Secret: []byte(notifySecret)},
		{Name: "slack", Kind: store.ChannelSlack, Secret: []byte(slackSrv.URL + "/services/T0/B0/XXXX")},
		{Name: "pagerduty", Kind: store.ChannelPagerDuty, Config: json.RawMessage(`{"url":"` + pdSrv.URL + `/v2/enqueue"}`), Secret: []byte(pdRoutingKey)},
		{Name: "alertmanager", Kind: store.ChannelAlertmanager, Config: json.RawMessage(`{"url":"` + r.am + `"}`)},
		{Name: "email", Kind: store.ChannelEmail, Config: json.RawMessage(fmt.Sprintf(
			`{"host":"127.0.0.1","port":%d,"from":"tagdrift@example.com","to":["platform@example.com"],"plain":true}`, r.mailpit.SMTPPort))},
	} {
		c.Enabled = true
		ch, err := st.CreateChannel(ctx, store.Audit{Actor: "test"}, c)
		if err != nil {
			t.Fatalf("channel %s: %v", c.Name, err)
		}
		if _, err := st.CreateRoute(ctx, store.Audit{Actor: "test"}, routeFor(ch.ID)); err != nil {
			t.Fatalf("route of %s: %v", c.Name, err)
		}
	}
	return r
}

// TestNotifyEveryReceiver: a mutation opened by a real scan of a real API server, seen
// by `tagdrift serve`, reaches a receiver of every channel kind: the Standard Webhooks
// receiver (every signature verified), a Slack incoming webhook that checks the Block
// Kit payload (both digests, within Block Kit's limits), a PagerDuty Events API v2 that
// checks the schema (the mutation's id as dedup_key), a real Alertmanager (the alert
// fires) and a real Mailpit (the message arrives). Its resolution follows to each (the
// incident resolved after its trigger, the alert ended). A tag move then reaches each
// as one event, but PagerDuty, whose route does not name events. Nothing arrives twice.
func TestNotifyEveryReceiver(t *testing.T) {
	ctx := context.Background()
	c := setup.env.Cluster("delta")
	const ns, ref = "notify-all", "registry.example.com/notify-all:1"
	digest := func(letter string) string { return "sha256:" + strings.Repeat(letter, 64) }
	ps := notifyPods{t: t, c: c, ns: ns}
	run := func(pod, letter string) { ps.run(pod, "registry.example.com/notify-all@"+digest(letter)) }
	// web: w1 and w2 of one ReplicaSet on digest a; side: x1 of another on digest b,
	// so that b is no news when w2 takes it.
	ps.create("w1", "web-abc", ref)
	ps.create("w2", "web-abc", ref)
	ps.create("x1", "side-def", ref)
	run("w1", "a")
	run("w2", "a")
	run("x1", "b")

	services, st, adminToken := serveNotifying(t, 1)
	s := services[0]
	// The pods' own pod-drift events are left out; PagerDuty's route names no types, so
	// it takes no event.recorded. A short group wait: what one scan opens for the
	// reference goes as one message.
	rcv := startReceivers(t, st, func(id int64) store.Route {
		return store.Route{ChannelID: id, Matchers: `reference="` + ref + `"`, Enabled: true, GroupWait: time.Second,
			Kinds: []string{"workload-divergence", "tag-moved"}}
	})
	// Each step is scanned at once, through the API, rather than on the interval.
	scan := func() { t.Helper(); scanDelta(t, s.url, adminToken) }
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		if err := pollUntil(60*time.Second, ok); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	mails := func() []string { // X-Tagdrift-Event of each message, oldest first
		var out []string
		list := rcv.mailpit.Messages(t)
		for i := len(list.Messages) - 1; i >= 0; i-- {
			h := rcv.mailpit.Headers(t, list.Messages[i].ID)["X-Tagdrift-Event"]
			out = append(out, strings.Join(h, ","))
		}
		return out
	}
	active := func(id int64) []receivers.Alert {
		return receivers.ActiveAlerts(t, rcv.am, fmt.Sprintf("mutation_id=%q", strconv.FormatInt(id, 10)))
	}
	started := time.Now()

	// A digest joins: the workload-divergence opens, and reaches every receiver.
	run("w2", "b")
	scan()
	opened := rcv.hook.waitEvent(t, 0, notify.MutationOpened, 60*time.Second)
	id := opened.Mutation.ID
	if opened.Mutation.Kind != "workload-divergence" || opened.Mutation.Ref != ref || len(opened.Digests) != 2 || len(opened.Grouped) != 0 {
		t.Errorf("webhook: opened %+v", opened)
	}
	waitFor("slack: the opening", func() bool { return len(rcv.slack.Messages()) == 1 })
	if m := rcv.slack.Messages()[0]; !strings.Contains(m.Body, digest("a")) || !strings.Contains(m.Body, digest("b")) ||
		!strings.HasPrefix(m.Text, "Mutation opened: workload-divergence of "+ref) {
		t.Errorf("slack: the opening lacks a digest or its title: %s", m.Body)
	}
	waitFor("pagerduty: the trigger", func() bool { return len(rcv.pd.Events()) == 1 })
	if ev := rcv.pd.Events()[0]; ev.EventAction != "trigger" || ev.DedupKey != strconv.FormatInt(id, 10) ||
		ev.Payload.Class != "workload-divergence" || !strings.Contains(string(ev.Payload.CustomDetails), digest("b")) {
		t.Errorf("pagerduty: %+v, want a trigger with dedup_key %d", ev, id)
	}
	waitFor("alertmanager: the alert fires", func() bool { return len(active(id)) == 1 })
	if a := active(id)[0]; a.Labels["kind"] != "workload-divergence" || a.Labels["cluster"] != "delta" ||
		a.Labels["namespace"] != ns || a.Labels["reference"] != ref || a.Labels["workload"] != "ReplicaSet/web-abc" {
		t.Errorf("alertmanager: labels %v", a.Labels)
	}
	waitFor("mailpit: the opening", func() bool { return len(mails()) == 1 })
	list := rcv.mailpit.Messages(t)
	if m := list.Messages[0]; m.MessageID != opened.ID+"@tagdrift" || !strings.HasPrefix(m.Subject, "Mutation opened: workload-divergence") {
		t.Errorf("mailpit: %+v, want the event %s", m, opened.ID)
	} else if text := rcv.mailpit.Text(t, m.ID); !strings.Contains(text, digest("a")) || !strings.Contains(text, digest("b")) {
		t.Errorf("mailpit: the body lacks a digest:\n%s", text)
	}
	t.Logf("opened: at every receiver %v after the change", time.Since(started).Round(time.Millisecond))

	// Converged: the resolution follows to each.
	run("w2", "a")
	scan()
	resolved := rcv.hook.waitEvent(t, 1, notify.MutationResolved, 60*time.Second)
	if resolved.Mutation.ID != id || resolved.Reason != notify.ReasonConverged {
		t.Errorf("webhook: resolved %+v", resolved)
	}
	waitFor("slack: the resolution", func() bool { return len(rcv.slack.Messages()) == 2 })
	if m := rcv.slack.Messages()[1]; !strings.HasPrefix(m.Text, "Mutation resolved (converged): workload-divergence") {
		t.Errorf("slack: %s", m.Text)
	}
	waitFor("pagerduty: the resolve", func() bool { return len(rcv.pd.Events()) == 2 })
	if got := rcv.pd.Actions(strconv.FormatInt(id, 10)); !slices.Equal(got, []string{"trigger", "resolve"}) {
		t.Errorf("pagerduty: %v for dedup_key %d, want trigger then resolve", got, id)
	}
	waitFor("alertmanager: the alert ends", func() bool { return len(active(id)) == 0 })
	waitFor("mailpit: the resolution", func() bool { return len(mails()) == 2 })

	// The tag moves under side's pod (from a or b: both were first seen at the
	// baseline): one event.recorded to each but PagerDuty.
	run("x1", "c")
	scan()
	moved := rcv.hook.waitEvent(t, 2, notify.EventRecorded, 60*time.Second)
	if moved.Mutation.Kind != "tag-moved" || moved.Change == nil || moved.Change.To != digest("c") ||
		len(moved.Grouped) != 0 {
		t.Errorf("webhook: moved %+v (change %+v)", moved, moved.Change)
	}
	waitFor("slack: the tag move", func() bool { return len(rcv.slack.Messages()) == 3 })
	if m := rcv.slack.Messages()[2]; !strings.HasPrefix(m.Text, "Event recorded: tag-moved of "+ref) || !strings.Contains(m.Body, digest("c")) {
		t.Errorf("slack: the tag move %s", m.Body)
	}
	waitFor("alertmanager: the event's alert", func() bool { return len(active(moved.Mutation.ID)) == 1 })
	waitFor("mailpit: the tag move", func() bool { return len(mails()) == 3 })
	if got, want := mails(), []string{"mutation.opened", "mutation.resolved", "event.recorded"}; !slices.Equal(got, want) {
		t.Errorf("mailpit: events %v, want %v", got, want)
	}

	// Nothing more arrives: every delivery is recorded delivered, and the event never
	// reached PagerDuty. One second more for anything late to show.
	waitFor("every delivery recorded", func() bool {
		n, err := pendingDeliveries(ctx, st)
		return err == nil && n == 0
	})
	time.Sleep(time.Second)
	if n := len(rcv.hook.received()); n != 3 {
		t.Errorf("webhook: %d events, want 3", n)
	}
	rcv.hook.checkOnce(t)
	if n := len(rcv.slack.Messages()); n != 3 {
		t.Errorf("slack: %d messages, want 3", n)
	}
	if evs := rcv.pd.Events(); len(evs) != 2 {
		t.Errorf("pagerduty: %d events, want the trigger and the resolve: %+v", len(evs), evs)
	}
	if n := len(mails()); n != 3 {
		t.Errorf("mailpit: %d messages, want 3", n)
	}
	t.Logf("three steps at five receivers in %v", time.Since(started).Round(time.Millisecond))
}

// serveNotifying starts n `tagdrift serve` on a new database, reaching channels on
// loopback and scanning cluster delta every minute (tests ask for the scans they need
// through the API, as the returned admin token may), and waits for the first scan,
// the baseline: nothing is sent of it.
func serveNotifying(t *testing.T, n int) ([]*service, *store.Store, string) {
	t.Helper()
	db := newDatabase(t)
	c := setup.env.Cluster("delta")
	kc := filepath.Join(t.TempDir(), "kubeconfig")
	if err := kubeenv.WriteKubeconfig(kc, "delta", c.Context("delta", c.AdminToken)); err != nil {
		t.Fatal(err)
	}
	key := newKeyText()
	adminToken := "e2e-admin-" + newKeyText()[:16]
	env := []string{"TAGDRIFT_DATABASE_URL=" + db.URL, "TAGDRIFT_ENCRYPTION_KEY=" + key, "TAGDRIFT_ADMIN_TOKEN=" + adminToken}
	var services []*service
	for range n {
		services = append(services, startServe(t, env, "--cluster-kubeconfig", kc+":delta", "--allow-cluster-network", "127.0.0.0/8",
			"--allow-channel-network", "127.0.0.0/8", "--scan-interval", "1m", "--notify-retry-base", "200ms",
			"--external-url", "https://tagdrift.example.com"))
	}
	st := openStore(t, db.URL, key)
	if err := pollUntil(60*time.Second, func() bool { return allAtLeast(succeededSince(st, time.Time{}), 1) }); err != nil {
		t.Fatalf("no first scan: %v\n%s", err, services[0].logs.String())
	}
	return services, st, adminToken
}

// scanDelta asks the service at url for a scan of delta now.
func scanDelta(t *testing.T, url, adminToken string) {
	t.Helper()
	api := apiClient{t: t, url: url, token: adminToken}
	if code, body := api.do(http.MethodPost, "/api/v1/clusters/delta/scans", nil); code >= 300 {
		t.Fatalf("ask for a scan: %d %s", code, body)
	}
}

// notifyPods makes pods in a namespace of a shared cluster, owned by ReplicaSets as a
// Deployment's are, and plays their kubelet; it deletes them when the test ends
// (TestScanPaginates counts every pod of the cluster).
type notifyPods struct {
	t  *testing.T
	c  *kubeenv.Cluster
	ns string
}

// create makes pod name running image, owned by ReplicaSet rs (no such object exists:
// its workload is ReplicaSet/rs), once the namespace exists.
func (p notifyPods) create(name, rs, image string) {
	p.t.Helper()
	ctx := context.Background()
	if err := p.c.Namespace(ctx, p.ns); err != nil {
		p.t.Fatal(err)
	}
	yes := true
	_, err := p.c.Admin.CoreV1().Pods(p.ns).Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"pod-template-hash": rs[strings.LastIndex(rs, "-")+1:]},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: rs,
				UID: types.UID("rs-" + p.ns + "-" + rs), Controller: &yes}}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: image}}},
	}, metav1.CreateOptions{})
	if err != nil {
		p.t.Fatal(err)
	}
	p.t.Cleanup(func() {
		now := int64(0)
		err := p.c.Admin.CoreV1().Pods(p.ns).Delete(context.Background(), name, metav1.DeleteOptions{GracePeriodSeconds: &now})
		if err != nil {
			p.t.Errorf("delete pod %s/%s: %v", p.ns, name, err)
		}
	})
}

// run has pod's container app run imageID.
func (p notifyPods) run(pod, imageID string) {
	p.t.Helper()
	if err := p.c.SetContainerStatuses(context.Background(), p.ns, pod, kubeenv.PodStatus{Containers: []kubeenv.ContainerStatus{
		{Name: "app", ImageID: imageID}}}); err != nil {
		p.t.Fatal(err)
	}
}

// pendingDeliveries counts the deliveries not yet delivered or failed.
func pendingDeliveries(ctx context.Context, st *store.Store) (int, error) {
	var n int
	err := st.Pool().QueryRow(ctx, `SELECT count(*) FROM notification_deliveries WHERE status = 'pending'`).Scan(&n)
	return n, err
}
