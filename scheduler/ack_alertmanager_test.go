package scheduler

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"

	"github.com/tagdrift/tagdrift/internal/receivers"
	"github.com/tagdrift/tagdrift/notify"
	"github.com/tagdrift/tagdrift/scanner/attention"
	"github.com/tagdrift/tagdrift/scanner/imageref"
	"github.com/tagdrift/tagdrift/scanner/inventory"
	"github.com/tagdrift/tagdrift/store"
)

// The whole chain with a real Alertmanager: a mutation opened by a scan fires; its
// acknowledgement ends the alert at once, and the repost of open alerts does not bring
// it back; revoked while the mutation is still there, the alert fires again, saying
// why.
func TestAlertmanagerAcknowledgedThenOpenAgain(t *testing.T) {
	root := receivers.StartAlertmanager(t, "")
	st := newStore(t)
	ctx := context.Background()
	c, err := st.CreateCluster(ctx, store.NewCluster{Name: "prod", Server: "https://prod.example:6443", Context: "prod",
		Credentials: []byte(`{}`), ScanInterval: time.Hour, Enabled: false})
	if err != nil {
		t.Fatal(err)
	}
	ch, err := st.CreateChannel(ctx, store.Audit{Actor: "test"}, store.NewChannel{Name: "am", Kind: store.ChannelAlertmanager,
		Config: json.RawMessage(`{"url":"` + root + `"}`), Enabled: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateRoute(ctx, store.Audit{Actor: "test"}, store.Route{ChannelID: ch.ID, SendBaseline: true, Enabled: true}); err != nil {
		t.Fatal(err)
	}
	repost := time.Second
	startDelivering(t, st, nil, DeliveryConfig{RepostInterval: repost, RetryBase: 200 * time.Millisecond})

	pod := func(name, uid, letter string) inventory.Pod {
		ref := imageref.ParseRef("registry.example.com/web:1")
		id, _ := imageref.ParseImageID("registry.example.com/web@sha256:" + strings.Repeat(letter, 64))
		return inventory.Pod{Cluster: "prod", Namespace: "shop", Name: name, UID: types.UID(uid),
			Workload:   inventory.Workload{Kind: "Deployment", Name: "web"},
			Controller: inventory.Controller{Kind: "ReplicaSet", Name: "web-1", UID: "rs-1", Revision: "1"},
			Containers: []inventory.Container{{Name: "app", Type: inventory.Regular, Ref: &ref, ID: &id}}}
	}
	scanID, err := st.StartScan(ctx, c.ID, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.CompleteScan(ctx, scanID, []inventory.Pod{pod("a", "u1", "a"), pod("b", "u2", "b")}, 2, time.Now()); err != nil {
		t.Fatal(err)
	}
	open, err := st.ListMutations(ctx, store.MutationFilter{})
	if err != nil || len(open) != 1 {
		t.Fatalf("open mutations: %+v, %v", open, err)
	}
	id := open[0].ID
	waitFor(t, "the alert fires", 30*time.Second, func() bool { return len(activeAlerts(t, root, id)) == 1 })

	ack, err := st.CreateAck(ctx, store.Audit{Actor: "user:admin"}, store.NewAck{
		MutationID: id, Reason: "rolling out", Ticket: "https://tickets.example/OPS-7", Until: attention.UntilResolved, Approved: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the acknowledged alert ends", 10*time.Second, func() bool { return len(activeAlerts(t, root, id)) == 0 })
	// Past the reposts of the open alerts and the endsAt the alert was first given.
	time.Sleep(5 * repost)
	if got := activeAlerts(t, root, id); len(got) != 0 {
		t.Fatalf("acknowledged alert active again: %+v", got)
	}

	if _, err := st.RevokeAck(ctx, store.Audit{Actor: "user:admin"}, ack.ID); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the alert fires again", 30*time.Second, func() bool { return len(activeAlerts(t, root, id)) == 1 })
	if got := alertAnnotations(t, root, id); got["reason"] != string(notify.ReasonAcknowledgementEnded) ||
		!strings.HasPrefix(got["summary"], "Mutation open again") {
		t.Errorf("annotations of the alert firing again: %v", got)
	}
}

// alertAnnotations returns the annotations of mutation id's one active alert.
func alertAnnotations(t *testing.T, root string, id int64) map[string]string {
	t.Helper()
	resp, err := http.Get(fmt.Sprintf("%s/api/v2/alerts?active=true&filter=%s", root, url.QueryEscape(fmt.Sprintf(`mutation_id="%d"`, id))))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out []struct {
		Annotations map[string]string `json:"annotations"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || len(out) != 1 {
		t.Fatalf("alerts of mutation %d: %+v, %v", id, out, err)
	}
	return out[0].Annotations
}
