package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tagdrift/tagdrift/internal/kubeenv"
	"github.com/tagdrift/tagdrift/internal/receivers"
	"github.com/tagdrift/tagdrift/notify"
	"github.com/tagdrift/tagdrift/store"
)

const notifySecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// webhookReceiver is the shared Standard Webhooks receiver (package receivers), its
// messages read as tagdrift's payloads.
type webhookReceiver struct {
	*receivers.Webhook
	t *testing.T
}

func newWebhookReceiver(t *testing.T) (*webhookReceiver, *httptest.Server) {
	w, srv := receivers.NewWebhook(t, notifySecret)
	return &webhookReceiver{Webhook: w, t: t}, srv
}

// received returns the distinct events received, in order.
func (h *webhookReceiver) received() []notify.Payload {
	var out []notify.Payload
	for _, m := range h.Messages() {
		var p notify.Payload
		if err := json.Unmarshal(m.Body, &p); err != nil {
			h.t.Errorf("payload of %s: %v", m.ID, err)
		}
		if p.ID != m.ID {
			h.t.Errorf("payload id %q under webhook-id %q", p.ID, m.ID)
		}
		out = append(out, p)
	}
	return out
}

// checkOnce fails the test when an event was taken more than once, or a delivery did
// not verify.
func (h *webhookReceiver) checkOnce(t *testing.T) {
	t.Helper()
	c := h.Counts()
	for id, n := range c.Accepted {
		if n != 1 {
			t.Errorf("event %s delivered %d times", id, n)
		}
	}
	if c.Bad != 0 {
		t.Errorf("%d deliveries failed verification", c.Bad)
	}
}

// waitEvent waits until the receiver has an event of type typ of mutation kind in
// the notify namespace beyond the first after ones.
func (h *webhookReceiver) waitEvent(t *testing.T, after int, typ notify.Type, within time.Duration) notify.Payload {
	t.Helper()
	var got notify.Payload
	err := pollUntil(within, func() bool {
		for _, p := range h.received()[min(after, len(h.received())):] {
			if p.Type == typ {
				got = p
				return true
			}
		}
		return false
	})
	if err != nil {
		t.Fatalf("no %s at the receiver: %v; received %+v", typ, err, h.received())
	}
	return got
}

// TestNotifyWebhook: a mutation opened by a real scan of a real API server reaches a
// webhook receiver that verifies every signature, through 500s (retried until it
// takes it); its resolution follows; and a notification committed just before serve is
// killed is delivered by the next serve. Each event arrives under one webhook-id, and
// no signature fails.
func TestNotifyWebhook(t *testing.T) {
	ctx := context.Background()
	db := newDatabase(t)
	c := setup.env.Cluster("delta")
	const ns = "notify"
	if err := c.Namespace(ctx, ns); err != nil {
		t.Fatal(err)
	}
	// delta is shared: TestScanPaginates counts every pod of it, so none of these stay.
	t.Cleanup(func() {
		now := int64(0)
		if err := c.Admin.CoreV1().Pods(ns).DeleteCollection(ctx, metav1.DeleteOptions{GracePeriodSeconds: &now}, metav1.ListOptions{}); err != nil {
			t.Errorf("delete the pods of %s: %v", ns, err)
		}
	})
	// w1 and w2: pods of one ReplicaSet revision on one digest of one tag.
	yes := true
	digest := func(letter string) string {
		return "registry.example.com/notify@sha256:" + strings.Repeat(letter, 64)
	}
	run := func(pod, letter string) {
		t.Helper()
		if err := c.SetContainerStatuses(ctx, ns, pod, kubeenv.PodStatus{Containers: []kubeenv.ContainerStatus{
			{Name: "app", ImageID: digest(letter)}}}); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"w1", "w2"} {
		_, err := c.Admin.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"pod-template-hash": "abc"},
				OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "web-abc",
					UID: "00000000-0000-0000-0000-0000000000aa", Controller: &yes}}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.example.com/notify:1"}}},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		run(name, "a")
	}

	recv, srv := newWebhookReceiver(t)

	kc := filepath.Join(t.TempDir(), "kubeconfig")
	if err := kubeenv.WriteKubeconfig(kc, "delta", c.Context("delta", c.AdminToken)); err != nil {
		t.Fatal(err)
	}
	key := newKeyText()
	env := []string{"TAGDRIFT_DATABASE_URL=" + db.URL, "TAGDRIFT_ENCRYPTION_KEY=" + key}
	args := []string{"--cluster-kubeconfig", kc + ":delta", "--allow-cluster-network", "127.0.0.0/8",
		"--allow-channel-network", "127.0.0.0/8", "--scan-interval", "10s", "--notify-retry-base", "200ms",
		"--external-url", "https://tagdrift.example.com"}
	s := startServe(t, env, args...)
	st := openStore(t, db.URL, key)
	// The first scan is the baseline: nothing is sent of it. Wait for it, then route.
	if err := pollUntil(60*time.Second, func() bool { return allAtLeast(succeededSince(st, time.Time{}), 1) }); err != nil {
		t.Fatalf("no first scan: %v\n%s", err, s.logs.String())
	}
	ch, err := st.CreateChannel(ctx, store.Audit{Actor: "test"}, store.NewChannel{Name: "hook", Kind: store.ChannelWebhook,
		Config: json.RawMessage(`{"url":"` + srv.URL + `/tagdrift"}`), Secret: []byte(notifySecret), Enabled: true})
	if err != nil {
		t.Fatal(err)
	}
	// The pods changing digest are pod-drift events too: this route leaves them out.
	route, err := st.CreateRoute(ctx, store.Audit{Actor: "test"}, store.Route{ChannelID: ch.ID, Matchers: `namespace="notify"`, Enabled: true,
		Types: []string{string(notify.MutationOpened), string(notify.MutationChanged), string(notify.MutationResolved)}})
	if err != nil {
		t.Fatal(err)
	}

	// A digest joins: the workload-divergence opens, and reaches the receiver through
	// two 500s.
	recv.Fail(http.StatusInternalServerError, http.StatusInternalServerError)
	run("w2", "b")
	opened := recv.waitEvent(t, 0, notify.MutationOpened, 60*time.Second)
	if opened.Mutation.Kind != "workload-divergence" || opened.Mutation.Namespace != ns || len(opened.Digests) != 2 ||
		!strings.HasPrefix(opened.Links.UI, "https://tagdrift.example.com/") {
		t.Errorf("opened: %+v", opened)
	}
	// Converged: resolved follows, for the same mutation.
	run("w2", "a")
	resolved := recv.waitEvent(t, 1, notify.MutationResolved, 60*time.Second)
	if resolved.Mutation.ID != opened.Mutation.ID || resolved.Reason != notify.ReasonConverged || resolved.Mutation.ResolvedAt == nil {
		t.Errorf("resolved: %+v", resolved)
	}

	// Killed between commit and delivery: the route waits 30 s before sending, serve
	// is killed once the delivery is written, and the next serve delivers it.
	route.GroupWait = 30 * time.Second
	if _, err := st.UpdateRoute(ctx, store.Audit{Actor: "test"}, route); err != nil {
		t.Fatal(err)
	}
	run("w2", "c")
	var pending store.Delivery
	err = pollUntil(60*time.Second, func() bool {
		log, err := st.DeliveryLog(ctx, ch.ID, 1)
		if err != nil || len(log) == 0 {
			return false
		}
		pending = log[0]
		return pending.Type == string(notify.MutationOpened) && pending.Status == store.DeliveryPending
	})
	if err != nil {
		t.Fatalf("no pending delivery of the second opening: %v", err)
	}
	if err := s.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	s.wait(t, 30*time.Second)
	if n := len(recv.received()); n != 2 {
		t.Fatalf("the receiver got %d events before the restart, want 2", n)
	}
	startServe(t, env, args...)
	again := recv.waitEvent(t, 2, notify.MutationOpened, 90*time.Second)
	if again.ID != pending.PublicID {
		t.Errorf("after the restart the receiver got %s, want the pending %s", again.ID, pending.PublicID)
	}

	recv.checkOnce(t)
	log, err := st.DeliveryLog(ctx, ch.ID, 10)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range log {
		if d.Status != store.DeliveryDelivered {
			t.Errorf("delivery %d (%s): %s, %q", d.ID, d.Type, d.Status, d.LastError)
		}
	}
}
