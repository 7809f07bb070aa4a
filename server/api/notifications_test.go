package api

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pb33f/libopenapi"
	"github.com/pb33f/libopenapi-validator/schema_validation"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/tagdrift/tagdrift/notify"
	"github.com/tagdrift/tagdrift/scanner/detect"
	"github.com/tagdrift/tagdrift/scanner/inventory"
	"github.com/tagdrift/tagdrift/server/request"
	"github.com/tagdrift/tagdrift/store"
)

// testSigningSecret is a webhook channel's signing secret in these tests.
const testSigningSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// receiver is a webhook receiver that verifies every signature, as a user's would, and
// keeps the bodies it accepted.
type receiver struct {
	*httptest.Server
	mu     sync.Mutex
	bodies [][]byte
	status int // what it answers; 0 is 204
}

func newReceiver(t *testing.T, status int) *receiver {
	rc := &receiver{status: status}
	wh, err := standardwebhooks.NewWebhook(testSigningSecret)
	if err != nil {
		t.Fatal(err)
	}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := wh.Verify(body, r.Header); err != nil {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		rc.mu.Lock()
		rc.bodies = append(rc.bodies, body)
		rc.mu.Unlock()
		if rc.status != 0 {
			// A body that must never reach the admin.
			http.Error(w, "receiver-internal-detail password=hunter2", rc.status)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *receiver) received() [][]byte {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([][]byte(nil), rc.bodies...)
}

func newNotifyEnv(t *testing.T) *testEnv {
	return newEnv(t, func(c *testConfig) {
		// The pipeline's Build, with a client that reaches the loopback receivers.
		c.Notifier = request.Notifier{Build: func(kind string, config json.RawMessage, secret []byte) (notify.Sender, error) {
			return notify.Build(kind, config, secret, notify.NewHTTPClient(2*time.Second))
		}}
	})
}

func channelBody(name, kind, config, secret string) string {
	return `{"name":` + jsonString(name) + `,"kind":` + jsonString(kind) + `,"config":` + config + `,"secret":` + jsonString(secret) + `}`
}

func TestChannelsCRUD(t *testing.T) {
	e := newNotifyEnv(t)
	admin := e.as("admin")
	rc := newReceiver(t, 0)

	// Viewers neither read nor write channels.
	want(t, e.as("viewer").get("/api/v1/notifications/channels"), http.StatusForbidden)
	want(t, e.as("viewer").send("POST", "/api/v1/notifications/channels", channelBody("x", "webhook", `{"url":"`+rc.URL+`"}`, testSigningSecret)), http.StatusForbidden)

	res := admin.send("POST", "/api/v1/notifications/channels", channelBody("ops hook", "webhook", `{"url":"`+rc.URL+`"}`, testSigningSecret))
	want(t, res, http.StatusCreated)
	if strings.Contains(string(res.body), testSigningSecret) {
		t.Fatalf("created channel shows its secret: %s", res.body)
	}
	var ch channelJSON
	res.decode(t, &ch)
	if ch.Name != "ops hook" || ch.Kind != "webhook" || !ch.HasSecret || !ch.Enabled || ch.LastDelivery != nil || res.header.Get("Location") != fmt.Sprintf("/api/v1/notifications/channels/%d", ch.ID) {
		t.Errorf("created %+v, Location %q", ch, res.header.Get("Location"))
	}
	// The secret is sealed: the store opens what was posted.
	if got, err := e.st.ChannelSecret(context.Background(), ch.ID); err != nil || string(got) != testSigningSecret {
		t.Errorf("stored secret %q, %v", got, err)
	}

	// Refusals: a taken name, a bad kind, a config Build refuses, a config not an object,
	// unknown fields, a name with control characters.
	want(t, admin.send("POST", "/api/v1/notifications/channels", channelBody("ops hook", "webhook", `{"url":"`+rc.URL+`"}`, testSigningSecret)), http.StatusConflict)
	for _, body := range []string{
		channelBody("a", "carrier-pigeon", `{}`, ""),
		channelBody("b", "webhook", `{"url":"ftp://x"}`, testSigningSecret),
		channelBody("b", "webhook", `{"url":"https://x.example"}`, "not-a-signing-secret"),
		channelBody("b", "pagerduty", `{"severity":"apocalyptic"}`, "routing-key"),
		channelBody("c", "slack", `[1,2]`, "https://hooks.slack.com/services/T/B/X"),
		channelBody("d\x07", "slack", `{}`, ""),
		channelBody("", "slack", `{}`, ""),
		`{"name":"e","kind":"slack","surprise":1}`,
	} {
		res := admin.send("POST", "/api/v1/notifications/channels", body)
		want(t, res, http.StatusBadRequest)
		res.problem(t)
	}

	// List and get; never the secret.
	want(t, admin.send("POST", "/api/v1/notifications/channels", channelBody("<script>alert(1)</script> slack", "slack", `null`, "https://hooks.slack.com/services/T0/B0/secret-part")), http.StatusCreated)
	res = admin.get("/api/v1/notifications/channels")
	want(t, res, http.StatusOK)
	var list struct{ Items []channelJSON }
	res.decode(t, &list)
	if len(list.Items) != 2 || list.Items[0].Name != "<script>alert(1)</script> slack" || list.Items[1].ID != ch.ID {
		t.Errorf("list %+v", list.Items)
	}
	if strings.Contains(string(res.body), "secret-part") || strings.Contains(string(res.body), testSigningSecret) {
		t.Errorf("list shows a secret: %s", res.body)
	}
	want(t, admin.get(fmt.Sprintf("/api/v1/notifications/channels/%d", ch.ID)), http.StatusOK)
	want(t, admin.get("/api/v1/notifications/channels/999999"), http.StatusNotFound)
	want(t, admin.get("/api/v1/notifications/channels/x"), http.StatusBadRequest)

	// Disable, rename: the secret stays. Replace the secret. An empty patch is refused.
	path := fmt.Sprintf("/api/v1/notifications/channels/%d", ch.ID)
	res = admin.send("PATCH", path, `{"enabled":false,"name":"ops"}`)
	want(t, res, http.StatusOK)
	res.decode(t, &ch)
	if ch.Enabled || ch.Name != "ops" || !ch.HasSecret {
		t.Errorf("patched %+v", ch)
	}
	want(t, admin.send("PATCH", path, `{}`), http.StatusBadRequest)
	want(t, admin.send("PATCH", path, `{"config":{"url":"gopher://x"}}`), http.StatusBadRequest)
	want(t, admin.send("PATCH", path, `{"secret":"whsec_bmV3LXNlY3JldC1uZXctc2VjcmV0"}`), http.StatusOK)
	if got, _ := e.st.ChannelSecret(context.Background(), ch.ID); string(got) != "whsec_bmV3LXNlY3JldC1uZXctc2VjcmV0" {
		t.Errorf("secret not replaced: %q", got)
	}
	// A webhook needs its signing secret: removing it is refused, and the refusal
	// quotes no secret.
	res = admin.send("PATCH", path, `{"secret":""}`)
	want(t, res, http.StatusBadRequest)
	if p := res.problem(t); !strings.Contains(p.Detail, "secret") {
		t.Errorf("refusal %q", p.Detail)
	}

	// Audited, never with a secret.
	events, err := e.st.FindAuditEvents(context.Background(), store.AuditFilter{Action: "channel.", Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 4 {
		t.Errorf("%d channel audit events, want 4 (2 creates, 2 updates): %+v", len(events), events)
	}
	for _, ev := range events {
		b, _ := json.Marshal(ev.Detail)
		if strings.Contains(string(b), "whsec_") || strings.Contains(string(b), "secret-part") || !strings.HasPrefix(ev.Actor, "token:") {
			t.Errorf("audit event %+v %s", ev, b)
		}
	}

	want(t, admin.send("DELETE", path, ""), http.StatusNoContent)
	want(t, admin.send("DELETE", path, ""), http.StatusNotFound)
	want(t, admin.get(path), http.StatusNotFound)
}

func TestChannelTestMessage(t *testing.T) {
	e := newNotifyEnv(t)
	admin := e.as("admin")
	ok, failing := newReceiver(t, 0), newReceiver(t, http.StatusInternalServerError)
	create := func(name, url string) int64 {
		res := admin.send("POST", "/api/v1/notifications/channels", channelBody(name, "webhook", `{"url":"`+url+`"}`, testSigningSecret))
		want(t, res, http.StatusCreated)
		var ch channelJSON
		res.decode(t, &ch)
		return ch.ID
	}
	var out testJSON
	res := admin.send("POST", fmt.Sprintf("/api/v1/notifications/channels/%d/test", create("ok", ok.URL)), "")
	want(t, res, http.StatusOK)
	res.decode(t, &out)
	if !out.Delivered || out.ErrorClass != "" {
		t.Errorf("test to a receiver that accepts: %+v", out)
	}
	got := ok.received()
	if len(got) != 1 {
		t.Fatalf("receiver got %d messages, want 1", len(got))
	}
	// What a webhook receives is the documented NotificationEvent.
	validateEvent(t, got[0])

	res = admin.send("POST", fmt.Sprintf("/api/v1/notifications/channels/%d/test", create("failing", failing.URL)), "")
	want(t, res, http.StatusOK)
	res.decode(t, &out)
	if out.Delivered || out.ErrorClass != "status-500" || !out.Retryable || strings.Contains(string(res.body), "hunter2") {
		t.Errorf("test to a receiver that fails: %s", res.body)
	}

	// A closed port: the connection fails, said in tagdrift's words, without the URL.
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	res = admin.send("POST", fmt.Sprintf("/api/v1/notifications/channels/%d/test", create("closed", closed.URL)), "")
	want(t, res, http.StatusOK)
	res.decode(t, &out)
	if out.Delivered || out.ErrorClass != "connect" || strings.Contains(string(res.body), "127.0.0.1") {
		t.Errorf("test to a closed port: %s", res.body)
	}
	want(t, e.as("viewer").send("POST", "/api/v1/notifications/channels/1/test", ""), http.StatusForbidden)
	want(t, admin.send("POST", "/api/v1/notifications/channels/999999/test", ""), http.StatusNotFound)

	events, err := e.st.FindAuditEvents(context.Background(), store.AuditFilter{Action: request.ActionChannelTest, Limit: 10})
	if err != nil || len(events) != 3 {
		t.Errorf("%d test audit events (%v), want 3", len(events), err)
	}

	// Without a sender, the server says it cannot send.
	bare := newEnv(t, nil)
	res = bare.as("admin").send("POST", "/api/v1/notifications/channels", channelBody("x", "webhook", `{"url":"http://127.0.0.1:1"}`, testSigningSecret))
	want(t, res, http.StatusCreated)
	var ch channelJSON
	res.decode(t, &ch)
	want(t, bare.as("admin").send("POST", fmt.Sprintf("/api/v1/notifications/channels/%d/test", ch.ID), ""), http.StatusServiceUnavailable)
}

// validateEvent checks a webhook body against the NotificationEvent schema.
func validateEvent(t *testing.T, body []byte) {
	t.Helper()
	doc, err := libopenapi.NewDocument(openAPIDoc)
	if err != nil {
		t.Fatal(err)
	}
	model, err := doc.BuildV3Model()
	if err != nil {
		t.Fatal(err)
	}
	proxy, ok := model.Model.Components.Schemas.Get("NotificationEvent")
	if !ok {
		t.Fatal("no NotificationEvent schema")
	}
	if valid, errs := schema_validation.NewSchemaValidator().ValidateSchemaBytes(proxy.Schema(), body); !valid {
		for _, ve := range errs {
			t.Errorf("webhook body does not match NotificationEvent: %s: %s %v", ve.Message, ve.Reason, ve.SchemaValidationErrors)
		}
	}
}

// TestNotificationEventSchema checks payloads of every kind and type against the
// documented schema.
func TestNotificationEventSchema(t *testing.T) {
	now := time.Now()
	for _, p := range examplePayloads(now) {
		b, err := p.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		validateEvent(t, b)
	}
}

func examplePayloads(now time.Time) []notify.Payload {
	d1, d2 := "sha256:"+strings.Repeat("a", 64), "sha256:"+strings.Repeat("b", 64)
	web := inventory.Workload{Kind: "Deployment", Name: "web"}
	places := []detect.Place{
		{Cluster: "prod", Namespace: "shop", Workload: web, Pod: "web-1", Container: "app", Digest: d1},
		{Cluster: "prod", Namespace: "shop", Workload: web, Pod: "web-2", Container: "app", Digest: d2},
	}
	mutation := func(kind detect.Kind, ref string) notify.Mutation {
		return notify.Mutation{ID: 7, DetectedAt: now, Mutation: detect.Mutation{
			Kind: kind, Cluster: "prod", Namespace: "shop", Workload: web, Container: "app", Ref: ref, Digests: []string{d1, d2}, Places: places,
		}}
	}
	resolved := mutation(detect.WorkloadDivergence, "nginx:1.25")
	resolved.ResolvedAt = &now
	cfg := notify.PayloadConfig{BaseURL: "https://td.example", MaxPlaces: 1}
	return []notify.Payload{
		request.TestPayload(store.Channel{ID: 1}, now),
		notify.NewPayload(notify.Event{ID: "evt_1", Type: notify.MutationOpened, At: now, Group: "prod-eu", Mutation: mutation(detect.WorkloadDivergence, "nginx:1.25")}, cfg),
		notify.NewPayload(notify.Event{ID: "evt_2", Type: notify.MutationChanged, At: now, PreviousDigests: []string{d1}, Mutation: mutation(detect.TagDivergence, "nginx:1.25")}, cfg),
		notify.NewPayload(notify.Event{ID: "evt_3", Type: notify.MutationOpened, At: now, Mutation: mutation(detect.PinMismatch, "nginx:1.25@"+d1)}, cfg),
		notify.NewPayload(notify.Event{ID: "evt_4", Type: notify.MutationResolved, Reason: notify.ReasonClusterDeleted, At: now, Mutation: resolved}, cfg),
		notify.NewPayload(notify.Event{ID: "evt_5", Type: notify.EventRecorded, At: now, Mutation: mutation(detect.PodDrift, "nginx:1.25")}, cfg),
	}
}

func TestDeliveryLog(t *testing.T) {
	e := newNotifyEnv(t)
	admin := e.as("admin")
	ctx := context.Background()
	res := admin.send("POST", "/api/v1/notifications/channels", channelBody("log", "slack", `{}`, "https://hooks.slack.com/services/T/B/X"))
	want(t, res, http.StatusCreated)
	var ch channelJSON
	res.decode(t, &ch)
	now := time.Now().UTC().Truncate(time.Second)
	payload, _ := request.TestPayload(store.Channel{ID: ch.ID}, now).Marshal()
	queued, err := e.st.EnqueueNotifications(ctx, []store.OutboxEvent{
		{Type: "event.recorded", Payload: payload, PayloadVersion: 1, At: now, Deliveries: []store.OutboxDelivery{{ChannelID: ch.ID, NotBefore: now}}},
		{Type: "event.recorded", Payload: payload, PayloadVersion: 1, At: now.Add(time.Second), Deliveries: []store.OutboxDelivery{{ChannelID: ch.ID, NotBefore: now}}},
	}, nil)
	if err != nil || len(queued) != 2 {
		t.Fatalf("enqueue: %v %v", queued, err)
	}
	if err := e.st.RecordAttempt(ctx, queued[0].ID, now, "", false); err != nil {
		t.Fatal(err)
	}
	if err := e.st.RecordAttempt(ctx, queued[1].ID, now, "status-503", false); err != nil {
		t.Fatal(err)
	}
	if err := e.st.RecordAttempt(ctx, queued[1].ID, now.Add(time.Second), "timeout", true); err != nil {
		t.Fatal(err)
	}
	res = admin.get(fmt.Sprintf("/api/v1/notifications/channels/%d/deliveries", ch.ID))
	want(t, res, http.StatusOK)
	var log struct{ Items []deliveryJSON }
	res.decode(t, &log)
	if len(log.Items) != 2 {
		t.Fatalf("log %s", res.body)
	}
	newest, oldest := log.Items[0], log.Items[1]
	if newest.Status != "failed" || newest.Attempts != 2 || newest.ErrorClass != "timeout" || newest.Type != "event.recorded" || newest.DeliveredAt != nil ||
		oldest.Status != "delivered" || oldest.Attempts != 1 || oldest.ErrorClass != "" || oldest.DeliveredAt == nil || !strings.HasPrefix(oldest.EventID, "evt_") {
		t.Errorf("log %+v", log.Items)
	}
	res = admin.get(fmt.Sprintf("/api/v1/notifications/channels/%d/deliveries?limit=1", ch.ID))
	want(t, res, http.StatusOK)
	res.decode(t, &log)
	if len(log.Items) != 1 || log.Items[0].ID != newest.ID {
		t.Errorf("limit=1: %+v", log.Items)
	}
	want(t, admin.get(fmt.Sprintf("/api/v1/notifications/channels/%d/deliveries?cursor=x", ch.ID)), http.StatusBadRequest)
	want(t, admin.get("/api/v1/notifications/channels/999999/deliveries"), http.StatusNotFound)

	// The channel's list entry sums it up.
	res = admin.get(fmt.Sprintf("/api/v1/notifications/channels/%d", ch.ID))
	want(t, res, http.StatusOK)
	res.decode(t, &ch)
	if ch.FailedDeliveries != 1 || ch.LastDelivery == nil || ch.LastDelivery.Status != "failed" || ch.LastDelivery.ErrorClass != "timeout" {
		t.Errorf("channel %+v", ch)
	}
}

func TestRoutesCRUD(t *testing.T) {
	e := newNotifyEnv(t)
	admin := e.as("admin")
	res := admin.send("POST", "/api/v1/notifications/channels", channelBody("r", "slack", `{}`, "https://hooks.slack.com/services/T/B/X"))
	want(t, res, http.StatusCreated)
	var ch channelJSON
	res.decode(t, &ch)
	want(t, admin.send("POST", "/api/v1/groups", `{"name":"prod-eu"}`), http.StatusCreated)

	// Defaults: every cluster, kind and type, a group wait of 30s, no baseline.
	res = admin.send("POST", "/api/v1/notifications/routes", fmt.Sprintf(`{"channelId":%d}`, ch.ID))
	want(t, res, http.StatusCreated)
	var rt routeJSON
	res.decode(t, &rt)
	if rt.GroupWait != "30s" || rt.RepeatInterval != "" || rt.SendBaseline || !rt.Enabled || rt.ClusterGroup != "" || len(rt.Kinds) != 0 {
		t.Errorf("default route %+v", rt)
	}

	body := fmt.Sprintf(`{"channelId":%d,"clusterGroup":"prod-eu","kinds":["tag-divergence","tag-moved"],"types":["mutation.opened","event.recorded"],
		"matchers":"cluster=~\"prod-.*\", namespace!=\"kube-system\"","groupWait":"1m","repeatInterval":"4h","sendBaseline":true}`, ch.ID)
	res = admin.send("POST", "/api/v1/notifications/routes", body)
	want(t, res, http.StatusCreated)
	res.decode(t, &rt)
	if rt.ClusterGroup != "prod-eu" || len(rt.Kinds) != 2 || rt.Matchers != `cluster=~"prod-.*", namespace!="kube-system"` || rt.GroupWait != "1m" || rt.RepeatInterval != "4h" || !rt.SendBaseline {
		t.Errorf("route %+v", rt)
	}
	path := fmt.Sprintf("/api/v1/notifications/routes/%d", rt.ID)

	for _, bad := range []string{
		`{"channelId":999999}`,
		fmt.Sprintf(`{"channelId":%d,"clusterGroup":"nope"}`, ch.ID),
		fmt.Sprintf(`{"channelId":%d,"kinds":["tag-wobble"]}`, ch.ID),
		fmt.Sprintf(`{"channelId":%d,"types":["mutation.exploded"]}`, ch.ID),
		fmt.Sprintf(`{"channelId":%d,"matchers":"cluster=~\"(\""}`, ch.ID),
		fmt.Sprintf(`{"channelId":%d,"matchers":"cluster prod"}`, ch.ID),
		fmt.Sprintf(`{"channelId":%d,"groupWait":"soon"}`, ch.ID),
		fmt.Sprintf(`{"channelId":%d,"repeatInterval":"1s"}`, ch.ID),
	} {
		res := admin.send("POST", "/api/v1/notifications/routes", bad)
		if res.status != http.StatusBadRequest {
			t.Errorf("%s: %s, want 400", bad, res)
		}
	}

	res = admin.send("PATCH", path, `{"enabled":false,"clusterGroup":"","kinds":[]}`)
	want(t, res, http.StatusOK)
	res.decode(t, &rt)
	if rt.Enabled || rt.ClusterGroup != "" || len(rt.Kinds) != 0 || rt.GroupWait != "1m" || rt.Matchers == "" {
		t.Errorf("patched %+v", rt)
	}
	want(t, admin.send("PATCH", path, `{}`), http.StatusBadRequest)
	res = admin.get("/api/v1/notifications/routes?channelId=" + fmt.Sprint(ch.ID))
	want(t, res, http.StatusOK)
	var list struct{ Items []routeJSON }
	res.decode(t, &list)
	if len(list.Items) != 2 {
		t.Errorf("routes %+v", list.Items)
	}
	want(t, admin.get(path), http.StatusOK)
	want(t, e.as("viewer").get(path), http.StatusForbidden)
	want(t, admin.send("DELETE", path, ""), http.StatusNoContent)
	want(t, admin.get(path), http.StatusNotFound)
	want(t, admin.send("DELETE", path, ""), http.StatusNotFound)

	events, err := e.st.FindAuditEvents(context.Background(), store.AuditFilter{Action: "route.", Limit: 10})
	if err != nil || len(events) != 4 {
		t.Errorf("%d route audit events (%v), want 4", len(events), err)
	}
}
