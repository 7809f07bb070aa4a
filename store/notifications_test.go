package store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

func mustChannel(t testing.TB, s *Store, name, kind string, secret []byte) Channel {
	t.Helper()
	c, err := s.CreateChannel(context.Background(), testAudit, NewChannel{
		Name: name, Kind: kind, Config: json.RawMessage(`{"url":"http://127.0.0.1:9093"}`), Secret: secret, Enabled: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestChannelsSealSecrets(t *testing.T) {
	ctx := context.Background()
	s, _ := mustStore(t, mustRing(t, newKey(t)))
	hook := mustChannel(t, s, "hook", ChannelWebhook, []byte("whsec_c2VjcmV0LXRva2Vu"))
	am := mustChannel(t, s, "am", ChannelAlertmanager, nil)
	if !hook.HasSecret || am.HasSecret || !hook.Enabled || string(hook.Config) != `{"url": "http://127.0.0.1:9093"}` {
		t.Errorf("channels %+v %+v", hook, am)
	}
	if _, err := s.CreateChannel(ctx, testAudit, NewChannel{Name: "hook", Kind: ChannelSlack}); !errors.Is(err, ErrConflict) {
		t.Errorf("a second channel named hook: %v, want ErrConflict", err)
	}
	if _, err := s.CreateChannel(ctx, testAudit, NewChannel{Name: "x", Kind: "carrier-pigeon"}); err == nil {
		t.Error("a channel of an unknown kind was created")
	}

	// Sealed at rest: the column never holds the secret.
	var raw []byte
	if err := s.pool.QueryRow(ctx, `SELECT secret FROM notification_channels WHERE id = $1`, hook.ID).Scan(&raw); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte("c2VjcmV0LXRva2Vu")) {
		t.Error("the secret is stored in clear")
	}
	if got, err := s.ChannelSecret(ctx, hook.ID); err != nil || string(got) != "whsec_c2VjcmV0LXRva2Vu" {
		t.Errorf("ChannelSecret = %q, %v", got, err)
	}
	if got, err := s.ChannelSecret(ctx, am.ID); err != nil || got != nil {
		t.Errorf("ChannelSecret of a channel without one = %q, %v", got, err)
	}
	// Bound to its row: copied onto another channel, it does not open.
	if _, err := s.pool.Exec(ctx, `UPDATE notification_channels SET secret = $2, key_id = 1 WHERE id = $1`, am.ID, raw); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ChannelSecret(ctx, am.ID); err == nil {
		t.Error("a secret copied from another channel opened")
	}

	// Editing keeps the secret unless told to replace it.
	edited, err := s.UpdateChannel(ctx, testAudit, hook.ID, ChannelChange{Name: "hook-2", Config: json.RawMessage(`{"url":"http://127.0.0.1:1"}`)})
	if err != nil || edited.Name != "hook-2" || edited.Enabled || !edited.HasSecret {
		t.Fatalf("update: %+v, %v", edited, err)
	}
	if got, _ := s.ChannelSecret(ctx, hook.ID); string(got) != "whsec_c2VjcmV0LXRva2Vu" {
		t.Errorf("secret after an edit that keeps it: %q", got)
	}
	if _, err := s.UpdateChannel(ctx, testAudit, hook.ID, ChannelChange{Name: "hook-2", ReplaceSecret: true, Secret: []byte("new")}); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.ChannelSecret(ctx, hook.ID); string(got) != "new" {
		t.Errorf("secret after replacing it: %q", got)
	}
	if _, err := s.UpdateChannel(ctx, testAudit, hook.ID, ChannelChange{Name: "am"}); !errors.Is(err, ErrConflict) {
		t.Errorf("rename onto a taken name: %v", err)
	}
	if _, err := s.UpdateChannel(ctx, testAudit, 999, ChannelChange{Name: "z"}); !errors.Is(err, ErrNotFound) {
		t.Errorf("update a missing channel: %v", err)
	}

	list, err := s.Channels(ctx)
	if err != nil || len(list) != 2 || list[0].Name != "am" || list[1].Name != "hook-2" {
		t.Errorf("channels %+v, %v", list, err)
	}
	if err := s.DeleteChannel(ctx, testAudit, am.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Channel(ctx, am.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("deleted channel: %v", err)
	}
	if err := s.DeleteChannel(ctx, testAudit, am.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("delete twice: %v", err)
	}
}

func TestRoutes(t *testing.T) {
	ctx := context.Background()
	s, _ := mustStore(t, mustRing(t, newKey(t)))
	ch := mustChannel(t, s, "slack", ChannelSlack, []byte("https://hooks.example/T/B/X"))
	all, err := s.CreateRoute(ctx, testAudit, Route{ChannelID: ch.ID, GroupWait: 30 * time.Second, Enabled: true})
	if err != nil {
		t.Fatal(err)
	}
	if all.ClusterGroup != "" || all.Kinds == nil || len(all.Kinds) != 0 || all.RepeatInterval != 0 || all.GroupWait != 30*time.Second {
		t.Errorf("route %+v", all)
	}
	prod, err := s.CreateRoute(ctx, testAudit, Route{
		ChannelID: ch.ID, ClusterGroup: "prod", Kinds: []string{"tag-divergence"}, Types: []string{"mutation.opened", "event.recorded"},
		Matchers: `{cluster=~"prod-.*"}`, RepeatInterval: 4 * time.Hour, SendBaseline: true, Enabled: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	if prod.ClusterGroup != "prod" || !slices.Equal(prod.Types, []string{"mutation.opened", "event.recorded"}) ||
		prod.RepeatInterval != 4*time.Hour || prod.GroupWait != 0 || !prod.SendBaseline || prod.Matchers != `{cluster=~"prod-.*"}` {
		t.Errorf("route %+v", prod)
	}
	if _, err := s.CreateRoute(ctx, testAudit, Route{ChannelID: 999}); !errors.Is(err, ErrNotFound) {
		t.Errorf("route of a missing channel: %v", err)
	}
	prod.Enabled, prod.RepeatInterval, prod.ClusterGroup = false, 0, ""
	if got, err := s.UpdateRoute(ctx, testAudit, prod); err != nil || got.Enabled || got.RepeatInterval != 0 || got.ClusterGroup != "" {
		t.Errorf("update: %+v, %v", got, err)
	}
	if _, err := s.UpdateRoute(ctx, testAudit, Route{ID: 999, ChannelID: ch.ID}); !errors.Is(err, ErrNotFound) {
		t.Errorf("update a missing route: %v", err)
	}
	if _, err := s.CreateRoute(ctx, testAudit, Route{ChannelID: ch.ID, GroupWait: -time.Second}); err == nil {
		t.Error("a negative group wait was stored")
	}
	if err := s.DeleteRoute(ctx, testAudit, all.ID); err != nil {
		t.Fatal(err)
	}
	if routes, err := s.Routes(ctx, Scope{}); err != nil || len(routes) != 1 || routes[0].ID != prod.ID {
		t.Errorf("routes %+v, %v", routes, err)
	}
	// A channel's routes go with it.
	if err := s.DeleteChannel(ctx, testAudit, ch.ID); err != nil {
		t.Fatal(err)
	}
	if routes, err := s.Routes(ctx, Scope{}); err != nil || len(routes) != 0 {
		t.Errorf("routes after their channel was deleted: %+v, %v", routes, err)
	}
}

// mustMutation inserts an open mutation of cluster c and returns its id.
func mustMutation(t *testing.T, s *Store, c Cluster) int64 {
	t.Helper()
	var id int64
	err := s.pool.QueryRow(context.Background(), `
		INSERT INTO mutations (identity, kind, cluster_id, cluster, ref, digests, places, places_json, detected_at, updated_at)
		VALUES ('wd/x', 'workload-divergence', $1, $2, 'docker.io/library/nginx:1.25', '{sha256:a,sha256:b}', '[]', '[]', now(), now())
		RETURNING id`, c.ID, c.Name).Scan(&id)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestOutbox(t *testing.T) {
	ctx := context.Background()
	s, _ := mustStore(t, mustRing(t, newKey(t)))
	hook := mustChannel(t, s, "hook", ChannelWebhook, []byte("whsec_eA=="))
	slack := mustChannel(t, s, "slack", ChannelSlack, []byte("https://hooks.example/T/B/X"))
	cluster := mustCluster(t, s, "prod", "tok")
	mid := mustMutation(t, s, cluster)
	at := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)

	events := []OutboxEvent{
		{
			Type: "mutation.opened", MutationID: mid, Payload: json.RawMessage(`{"type":"mutation.opened"}`), PayloadVersion: 1, At: at,
			Deliveries: []OutboxDelivery{
				{ChannelID: hook.ID, NotBefore: at.Add(30 * time.Second)},
				{ChannelID: slack.ID, NotBefore: at.Add(30 * time.Second)},
				// Two routes to one channel: one delivery, at the earlier time.
				{ChannelID: hook.ID, NotBefore: at},
			},
		},
		{Type: "event.recorded", Payload: json.RawMessage(`{}`), PayloadVersion: 1, At: at, Deliveries: []OutboxDelivery{{ChannelID: slack.ID, NotBefore: at}}},
	}

	// The jobs are inserted inside the transaction: when that fails, nothing is written.
	refuse := func(context.Context, pgx.Tx, []QueuedDelivery) error { return errors.New("queue refused") }
	if _, err := s.EnqueueNotifications(ctx, events, refuse); err == nil || !strings.Contains(err.Error(), "queue refused") {
		t.Fatalf("enqueue with failing jobs: %v", err)
	}
	var n int
	if err := s.pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM notification_events) + (SELECT count(*) FROM notification_deliveries)`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("%d rows left by a rolled-back enqueue (%v)", n, err)
	}

	var inTx []QueuedDelivery
	jobs := func(ctx context.Context, tx pgx.Tx, qs []QueuedDelivery) error {
		// What the job inserter sees is already written in the same transaction.
		var pending int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM notification_deliveries WHERE status = 'pending'`).Scan(&pending); err != nil || pending != len(qs) {
			t.Errorf("inside the transaction: %d pending deliveries for %d jobs (%v)", pending, len(qs), err)
		}
		inTx = qs
		return nil
	}
	queued, err := s.EnqueueNotifications(ctx, events, jobs)
	if err != nil {
		t.Fatal(err)
	}
	if len(queued) != 3 || !slices.Equal(queued, inTx) || !queued[0].NotBefore.Equal(at) || !queued[1].NotBefore.Equal(at.Add(30*time.Second)) {
		t.Fatalf("queued %+v (jobs saw %+v)", queued, inTx)
	}

	first, err := s.Delivery(ctx, queued[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	other, err := s.Delivery(ctx, queued[2].ID)
	if err != nil {
		t.Fatal(err)
	}
	if first.Channel.ID != hook.ID || first.MutationID != mid || first.Type != "mutation.opened" || first.Status != DeliveryPending ||
		string(first.Payload) != `{"type": "mutation.opened"}` || !strings.HasPrefix(first.PublicID, "evt_") || len(first.PublicID) != 36 {
		t.Errorf("delivery %+v", first)
	}
	if other.PublicID == first.PublicID || other.MutationID != 0 {
		t.Errorf("two events share a public id, or an event without a mutation has one: %+v", other)
	}

	// Attempts: a retryable failure, then success; a late duplicate attempt changes
	// nothing; a give-up is failed.
	if err := s.RecordAttempt(ctx, first.ID, at.Add(time.Minute), "status-503", false); err != nil {
		t.Fatal(err)
	}
	if d, _ := s.Delivery(ctx, first.ID); d.Status != DeliveryPending || d.Attempts != 1 || d.LastError != "status-503" {
		t.Errorf("after a failed attempt: %+v", d)
	}
	if err := s.RecordAttempt(ctx, first.ID, at.Add(2*time.Minute), "", false); err != nil {
		t.Fatal(err)
	}
	if err := s.RecordAttempt(ctx, first.ID, at.Add(3*time.Minute), "timeout", true); err != nil {
		t.Fatal(err)
	}
	if d, _ := s.Delivery(ctx, first.ID); d.Status != DeliveryDelivered || d.Attempts != 2 || d.DeliveredAt == nil || !d.DeliveredAt.Equal(at.Add(2*time.Minute)) {
		t.Errorf("after success: %+v", d)
	}
	if err := s.RecordAttempt(ctx, queued[1].ID, at, "status-400", true); err != nil {
		t.Fatal(err)
	}
	if d, _ := s.Delivery(ctx, queued[1].ID); d.Status != DeliveryFailed || d.LastError != "status-400" {
		t.Errorf("after giving up: %+v", d)
	}
	if err := s.RecordAttempt(ctx, 999, at, "", false); !errors.Is(err, ErrNotFound) {
		t.Errorf("attempt of a missing delivery: %v", err)
	}

	log, err := s.DeliveryLog(ctx, slack.ID, 10)
	if err != nil || len(log) != 2 || log[0].ID != queued[2].ID || log[1].ID != queued[1].ID {
		t.Errorf("slack's delivery log %+v, %v", log, err)
	}

	// A purged mutation leaves its events and their payloads.
	if _, err := s.pool.Exec(ctx, `DELETE FROM clusters WHERE id = $1`, cluster.ID); err != nil {
		t.Fatal(err)
	}
	if d, err := s.Delivery(ctx, first.ID); err != nil || d.MutationID != 0 || len(d.Payload) == 0 {
		t.Errorf("after the purge: %+v, %v", d, err)
	}
	// A deleted channel takes its deliveries: their jobs find nothing to send.
	if err := s.DeleteChannel(ctx, testAudit, hook.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Delivery(ctx, first.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("delivery of a deleted channel: %v", err)
	}
	if _, err := s.EnqueueNotifications(ctx, []OutboxEvent{{Type: "mutation.opened", Payload: json.RawMessage(`{}`), At: at,
		Deliveries: []OutboxDelivery{{ChannelID: hook.ID, NotBefore: at}}}}, jobs); !errors.Is(err, ErrNotFound) {
		t.Errorf("enqueue to a deleted channel: %v", err)
	}
}

func TestRotateChannelKeys(t *testing.T) {
	ctx := context.Background()
	oldKey, newKeyText := newKey(t), newKey(t)
	s, db := mustStore(t, mustRing(t, oldKey))
	hook := mustChannel(t, s, "hook", ChannelWebhook, []byte("whsec_b2xk"))
	mustChannel(t, s, "am", ChannelAlertmanager, nil)

	newOnly, err := Open(ctx, db.URL, mustRing(t, newKeyText), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer newOnly.Close()
	if err := newOnly.CheckChannelSecrets(ctx); err == nil || !strings.Contains(err.Error(), `channel "hook"`) {
		t.Errorf("with the new key only, before rotation: %v", err)
	}

	rotated, err := Open(ctx, db.URL, mustRing(t, oldKey, newKeyText), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer rotated.Close()
	if n, err := rotated.RotateChannelKeys(ctx); err != nil || n != 1 {
		t.Fatalf("rotation: %d, %v, want 1", n, err)
	}
	if n, err := rotated.RotateChannelKeys(ctx); err != nil || n != 0 {
		t.Fatalf("rotation again: %d, %v, want 0", n, err)
	}
	if err := newOnly.CheckChannelSecrets(ctx); err != nil {
		t.Errorf("with the new key only, after rotation: %v", err)
	}
	if got, err := newOnly.ChannelSecret(ctx, hook.ID); err != nil || string(got) != "whsec_b2xk" {
		t.Errorf("secret after rotation: %q, %v", got, err)
	}
}
