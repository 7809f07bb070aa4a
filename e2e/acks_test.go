package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/tagdrift/tagdrift/internal/kubeenv"
	"github.com/tagdrift/tagdrift/notify"
	"github.com/tagdrift/tagdrift/scanner/attention"
	"github.com/tagdrift/tagdrift/store"
)

// TestAcknowledgements, on two real API servers scanned by a real serve: a nightly
// tag that moves in a dev cluster, inside a rule, is recorded expected and nothing is
// sent; the same move in a prod cluster is sent. A workload-divergence acknowledged
// until resolved is sent as acknowledged, and its acknowledgement ends when the pods
// converge; one acknowledged for a few seconds opens again when the expiry job ends it,
// and that is sent.
func TestAcknowledgements(t *testing.T) {
	ctx := context.Background()
	db := newDatabase(t)
	dev, prod := setup.env.Cluster("gamma"), setup.env.Cluster("delta")
	const ns = "acks"
	for _, c := range []*kubeenv.Cluster{dev, prod} {
		if err := c.Namespace(ctx, ns); err != nil {
			t.Fatal(err)
		}
		// The clusters are shared (TestScanPaginates counts every pod of delta): none
		// of these pods stay.
		t.Cleanup(func() {
			now := int64(0)
			if err := c.Admin.CoreV1().Pods(ns).DeleteCollection(ctx, metav1.DeleteOptions{GracePeriodSeconds: &now}, metav1.ListOptions{}); err != nil {
				t.Errorf("delete the pods of %s: %v", ns, err)
			}
		})
	}
	yes := true
	digest := func(letter string) string {
		return "registry.example.com/team-a/app@sha256:" + strings.Repeat(letter, 64)
	}
	create := func(c *kubeenv.Cluster, pod, rs, image, letter string) {
		t.Helper()
		_, err := c.Admin.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: pod, Labels: map[string]string{"pod-template-hash": "abc"},
				OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: rs,
					UID: types.UID("00000000-0000-0000-0000-0000000000" + rs[len(rs)-2:]), Controller: &yes}}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: image}}},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
	}
	run := func(c *kubeenv.Cluster, pod, letter string) {
		t.Helper()
		if err := c.SetContainerStatuses(ctx, ns, pod, kubeenv.PodStatus{Containers: []kubeenv.ContainerStatus{
			{Name: "app", ImageID: digest(letter)}}}); err != nil {
			t.Fatal(err)
		}
	}
	const nightly = "registry.example.com/team-a/app:nightly"
	create(dev, "n1", "nightly-a1", nightly, "a")
	run(dev, "n1", "a")
	create(prod, "n1", "nightly-a1", nightly, "a")
	run(prod, "n1", "a")
	for _, p := range []string{"w1", "w2"} {
		create(prod, p, "web-a2", "registry.example.com/team-a/app:1.0", "c")
		run(prod, p, "c")
	}

	recv, srv := newWebhookReceiver(t)
	kc := filepath.Join(t.TempDir(), "kubeconfig")
	if err := kubeenv.WriteKubeconfig(kc, "dev-a", dev.Context("dev-a", dev.AdminToken), prod.Context("prod-b", prod.AdminToken)); err != nil {
		t.Fatal(err)
	}
	key := newKeyText()
	adminToken := "e2e-admin-" + newKeyText()[:16]
	env := []string{"TAGDRIFT_DATABASE_URL=" + db.URL, "TAGDRIFT_ENCRYPTION_KEY=" + key, "TAGDRIFT_ADMIN_TOKEN=" + adminToken}
	// Two groups: the nightly tag running different code in dev and prod at once is not
	// a tag-divergence between them.
	s := startServe(t, env, "--cluster-kubeconfig", kc+":dev-a", "--cluster-kubeconfig", kc+":prod-b",
		"--cluster-group", "dev-a=dev", "--cluster-group", "prod-b=prod",
		"--allow-cluster-network", "127.0.0.0/8", "--allow-channel-network", "127.0.0.0/8",
		"--scan-interval", "10s", "--notify-retry-base", "200ms", "--expiry-interval", "2s",
		"--external-url", "https://tagdrift.example.com")
	st := openStore(t, db.URL, key)
	if err := pollUntil(60*time.Second, func() bool {
		n := succeededSince(st, time.Time{})
		return len(n) == 2 && allAtLeast(n, 1)
	}); err != nil {
		t.Fatalf("no first scans: %v\n%s", err, s.logs.String())
	}
	// Rules and acknowledgements go through the API, as a user's do: its store writes
	// their notifications.
	api := apiClient{t: t, url: s.url, token: adminToken}
	api.must(http.MethodPost, "/api/v1/rules", map[string]any{
		"scope": `cluster=~"dev-.*", reference=~".*:nightly"`, "reason": "nightly builds move"}, http.StatusCreated, nil)
	ch, err := st.CreateChannel(ctx, store.Audit{Actor: "test"}, store.NewChannel{Name: "hook", Kind: store.ChannelWebhook,
		Config: json.RawMessage(`{"url":"` + srv.URL + `/tagdrift"}`), Secret: []byte(notifySecret), Enabled: true})
	if err != nil {
		t.Fatal(err)
	}
	// The conditions of the namespace; its pods' own events (pod-drift) would be merged
	// into the same messages (one reference, one group wait) and are left out.
	if _, err := st.CreateRoute(ctx, store.Audit{Actor: "test"}, store.Route{ChannelID: ch.ID, Matchers: `namespace="acks"`, Enabled: true,
		Types: []string{string(notify.MutationOpened), string(notify.MutationChanged), string(notify.MutationAcknowledged),
			string(notify.MutationResolved)}}); err != nil {
		t.Fatal(err)
	}
	// A tag-moved has no namespace of its own; a second route takes the events of the
	// reference.
	if _, err := st.CreateRoute(ctx, store.Audit{Actor: "test"}, store.Route{ChannelID: ch.ID, Matchers: `reference="` + nightly + `"`,
		Types: []string{string(notify.EventRecorded)}, Enabled: true}); err != nil {
		t.Fatal(err)
	}

	// The nightly tag moves in both clusters.
	run(dev, "n1", "b")
	run(prod, "n1", "b")
	recorded := recv.waitEvent(t, 0, notify.EventRecorded, 60*time.Second)
	if got := placesCluster(recorded); got != "prod-b" {
		t.Errorf("event recorded in %q, want prod-b: %+v", got, recorded)
	}
	if err := pollUntil(60*time.Second, func() bool {
		ms, err := st.ListMutations(ctx, store.MutationFilter{State: store.StateExpected, Cluster: "dev-a"})
		return err == nil && len(ms) > 0
	}); err != nil {
		t.Fatalf("the dev move is not recorded expected: %v", err)
	}

	// A workload-divergence in prod, acknowledged until resolved.
	after := len(recv.received())
	run(prod, "w2", "d")
	opened := recv.waitEvent(t, after, notify.MutationOpened, 60*time.Second)
	if opened.Mutation.Kind != "workload-divergence" {
		t.Fatalf("opened: %+v", opened)
	}
	api.must(http.MethodPost, "/api/v1/acknowledgements", map[string]any{
		"mutation": opened.Mutation.ID, "reason": "rollout in progress", "until": attention.UntilResolved}, http.StatusCreated, nil)
	recv.waitEvent(t, after+1, notify.MutationAcknowledged, 30*time.Second)
	run(prod, "w2", "c")
	resolved := recv.waitEvent(t, after+2, notify.MutationResolved, 60*time.Second)
	if resolved.Mutation.ID != opened.Mutation.ID {
		t.Errorf("resolved %d, want %d", resolved.Mutation.ID, opened.Mutation.ID)
	}
	acks, err := st.Acks(ctx, store.AckFilter{MutationID: opened.Mutation.ID})
	if err != nil || len(acks) != 1 || acks[0].Status != store.AckEnded || acks[0].EndReason != "resolved" {
		t.Fatalf("the acknowledgement until resolved after convergence: %+v, %v", acks, err)
	}

	// Another, acknowledged for a few seconds: the expiry job opens it again, sent.
	after = len(recv.received())
	run(prod, "w2", "e")
	again := recv.waitEvent(t, after, notify.MutationOpened, 60*time.Second)
	api.must(http.MethodPost, "/api/v1/acknowledgements", map[string]any{
		"mutation": again.Mutation.ID, "reason": "until the deploy", "until": attention.UntilTime,
		"expiresAt": time.Now().Add(4 * time.Second).UTC().Format(time.RFC3339Nano)}, http.StatusCreated, nil)
	// The acknowledgement, then its end: the group wait may carry both in one message
	// (one reference, due together), in that order.
	if err := pollUntil(60*time.Second, func() bool {
		evs := flatten(recv.received()[after+1:])
		return len(evs) >= 2
	}); err != nil {
		t.Fatalf("no acknowledgement and reopening: %v; received %+v", err, flatten(recv.received()))
	}
	evs := flatten(recv.received()[after+1:])
	if evs[0].Type != notify.MutationAcknowledged || evs[1].Type != notify.MutationOpened ||
		evs[1].Reason != notify.ReasonAcknowledgementEnded || evs[1].Mutation.ID != again.Mutation.ID {
		t.Errorf("after the acknowledgement: %+v, want it acknowledged, then opened again (acknowledgement-ended)", evs)
	}

	for _, p := range recv.received() {
		if placesCluster(p) == "dev-a" {
			t.Errorf("sent about the dev cluster, inside the rule: %s %+v", p.Type, p.Mutation)
		}
	}
	if c := recv.Counts(); c.Bad != 0 {
		t.Errorf("%d deliveries failed verification", c.Bad)
	}
}

// placesCluster is the cluster of a payload's mutation: its own, or its places'.
func placesCluster(p notify.Payload) string {
	if p.Mutation.Cluster != "" {
		return p.Mutation.Cluster
	}
	if p.Change != nil {
		for _, pl := range p.Change.Places {
			return pl.Cluster
		}
	}
	for _, d := range p.Digests {
		for _, pl := range d.Places {
			return pl.Cluster
		}
	}
	return ""
}

// flatten is the events of messages in order: each message's own, then those it
// carries (grouped).
func flatten(ps []notify.Payload) []notify.GroupedEvent {
	var out []notify.GroupedEvent
	for _, p := range ps {
		out = append(out, notify.GroupedEvent{ID: p.ID, Type: p.Type, Reason: p.Reason, Mutation: p.Mutation, Links: p.Links})
		out = append(out, p.Grouped...)
	}
	return out
}
