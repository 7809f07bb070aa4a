package ui

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tagdrift/tagdrift/notify"
	"github.com/tagdrift/tagdrift/server/request"
	"github.com/tagdrift/tagdrift/store"
)

const hostileChannel = `<img src=x onerror=alert(1)> #platform-alerts-with-a-long-name-that-does-not-wrap`

func newNotifyUIEnv(t *testing.T) *uiEnv {
	return newUIEnv(t, func(c *testConfig) {
		c.Notifier = request.Notifier{Build: func(kind string, config json.RawMessage, secret []byte) (notify.Sender, error) {
			return notify.Build(kind, config, secret, notify.NewHTTPClient(2*time.Second))
		}}
	})
}

func TestNotificationsPages(t *testing.T) {
	t.Parallel()
	e := newNotifyUIEnv(t)
	e.addUser("root", store.RoleAdmin)
	e.addUser("vic", store.RoleViewer)
	ctx := context.Background()
	var hits atomic.Int32
	slack := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.WriteHeader(http.StatusOK)
	}))
	defer slack.Close()

	v := e.browser()
	v.signIn("vic")
	for _, path := range []string{"/admin/notifications", "/admin/notifications/routes", "/admin/notifications/channels/1"} {
		wantStatus(t, v.get(path), http.StatusForbidden)
	}
	wantStatus(t, v.post("/admin/notifications/channels", url.Values{"name": {"x"}, "kind": {"slack"}, "secret": {slack.URL}}), http.StatusForbidden)

	b := e.browser()
	b.signIn("root")
	p := b.get("/admin/notifications")
	wantStatus(t, p, http.StatusOK)
	if p.find("[data-testid=no-channels]").Length() != 1 || p.find("[data-testid=admin-tab-notifications][aria-current=page]").Length() != 1 {
		t.Error("no empty state, or the tab is not current")
	}

	// Refused next to its field: a Slack channel without its URL.
	p = b.post("/admin/notifications/channels", url.Values{"name": {"ops"}, "kind": {"slack"}, "config": {"{}"}, "enabled": {"true"}})
	wantStatus(t, p, http.StatusUnprocessableEntity)
	if p.text("[data-testid=error-channel-secret]") == "" {
		t.Errorf("no message next to the secret: %s", p.body)
	}
	p = b.post("/admin/notifications/channels", url.Values{"name": {"ops"}, "kind": {"slack"}, "config": {"[1]"}, "secret": {slack.URL}})
	wantStatus(t, p, http.StatusUnprocessableEntity)
	if p.text("[data-testid=error-channel-config]") == "" || strings.Contains(string(p.body), slack.URL) {
		t.Errorf("config refusal: %s", p.body)
	}

	// Registered; the secret is never shown.
	p = b.post("/admin/notifications/channels", url.Values{"name": {hostileChannel}, "kind": {"slack"}, "config": {""}, "secret": {slack.URL + "/T0/B0/xoxb-secret"}, "enabled": {"true"}})
	wantStatus(t, p, http.StatusSeeOther)
	p = b.get("/admin/notifications")
	row := p.find("[data-testid=channel-row]")
	if row.Length() != 1 || row.AttrOr("data-channel", "") != hostileChannel || p.find("img[src=x]").Length() != 0 {
		t.Fatalf("channel row: %s", p.body)
	}
	if strings.Contains(string(p.body), "xoxb-secret") {
		t.Error("the page shows the secret")
	}
	cs, _ := e.st.Channels(ctx)
	id := cs[0].ID

	// Send a test message: delivered, said on the page.
	p = b.post(row.Find("form[action$='/test']").AttrOr("action", ""), url.Values{})
	wantStatus(t, p, http.StatusOK)
	if p.find("[data-testid=test-result][data-delivered=true]").Length() != 1 || hits.Load() != 1 {
		t.Errorf("test result: %q, %d hits", p.text("[data-testid=test-result]"), hits.Load())
	}

	// Disable, then the channel's page: its delivery log (empty) and settings.
	wantStatus(t, b.post("/admin/notifications/channels/"+itoa(id)+"/disable", url.Values{}), http.StatusSeeOther)
	if c, _ := e.st.Channel(ctx, id); c.Enabled {
		t.Error("still enabled")
	}
	p = b.get("/admin/notifications/channels/" + itoa(id))
	wantStatus(t, p, http.StatusOK)
	if p.find("[data-testid=no-deliveries]").Length() != 1 || p.find("#channel-secret").AttrOr("value", "") != "" {
		t.Errorf("channel page: %s", p.body)
	}
	// Save with a blank secret: the stored one is kept.
	wantStatus(t, b.post("/admin/notifications/channels/"+itoa(id), url.Values{"name": {"renamed"}, "config": {"{}"}, "enabled": {"true"}}), http.StatusSeeOther)
	if c, _ := e.st.Channel(ctx, id); c.Name != "renamed" || !c.Enabled || !c.HasSecret {
		t.Errorf("edited %+v", c)
	}
	if s, _ := e.st.ChannelSecret(ctx, id); string(s) != slack.URL+"/T0/B0/xoxb-secret" {
		t.Errorf("secret %q", s)
	}

	// The delivery log shows what the outbox recorded.
	payload, _ := request.TestPayload(store.Channel{ID: id}, time.Now()).Marshal()
	q, err := e.st.EnqueueNotifications(ctx, []store.OutboxEvent{{Type: "mutation.opened", Payload: payload, PayloadVersion: 1, At: time.Now(),
		Deliveries: []store.OutboxDelivery{{ChannelID: id, NotBefore: time.Now()}}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.st.RecordAttempt(ctx, q[0].ID, time.Now(), "status-503", true); err != nil {
		t.Fatal(err)
	}
	p = b.get("/admin/notifications/channels/" + itoa(id))
	if r := p.find("[data-testid=delivery-row]"); r.Length() != 1 || r.AttrOr("data-status", "") != "failed" || !strings.Contains(r.Text(), "status-503") {
		t.Errorf("delivery log: %s", p.find("[data-testid=deliveries]").Text())
	}
	p = b.get("/admin/notifications")
	if p.text("[data-testid=channel-failed]") != "1" {
		t.Errorf("failed count %q", p.text("[data-testid=channel-failed]"))
	}

	// Routes: the baseline note, a refusal next to the matchers, a route added, deleted.
	p = b.get("/admin/notifications/routes")
	wantStatus(t, p, http.StatusOK)
	if !strings.Contains(p.text("[data-testid=baseline-note]"), "baseline") || p.find("[data-testid=no-routes]").Length() != 1 {
		t.Error("no baseline note or no empty state")
	}
	p = b.post("/admin/notifications/routes", url.Values{"channel": {itoa(id)}, "matchers": {`cluster=~"(`}})
	wantStatus(t, p, http.StatusUnprocessableEntity)
	if p.text("[data-testid=error-route-matchers]") == "" {
		t.Errorf("no message next to the matchers: %s", p.body)
	}
	p = b.post("/admin/notifications/routes", url.Values{"channel": {itoa(id)}, "kind": {"tag-moved"}, "type": {"event.recorded"}, "matchers": {`cluster=~"prod-.*"`}, "groupWait": {"1m"}})
	wantStatus(t, p, http.StatusSeeOther)
	p = b.get("/admin/notifications/routes")
	rs, _ := e.st.Routes(ctx, store.Scope{})
	if len(rs) != 1 || rs[0].GroupWait != time.Minute || rs[0].SendBaseline || len(rs[0].Kinds) != 1 || p.find("[data-testid=route-row]").Length() != 1 {
		t.Fatalf("routes %+v", rs)
	}
	wantStatus(t, b.post("/admin/notifications/routes/"+itoa(rs[0].ID)+"/delete", url.Values{}), http.StatusSeeOther)
	if rs, _ := e.st.Routes(ctx, store.Scope{}); len(rs) != 0 {
		t.Errorf("route not deleted")
	}

	// Delete the channel, confirmed.
	p = b.get("/admin/notifications/channels/" + itoa(id) + "/delete")
	wantStatus(t, p, http.StatusOK)
	wantStatus(t, b.post("/admin/notifications/channels/"+itoa(id)+"/delete", url.Values{}), http.StatusSeeOther)
	if cs, _ := e.st.Channels(ctx); len(cs) != 0 {
		t.Error("channel not deleted")
	}
	evs, _ := e.st.FindAuditEvents(ctx, store.AuditFilter{Actor: "user:root", Limit: 50})
	n := 0
	for _, ev := range evs {
		if strings.HasPrefix(ev.Action, "channel.") || strings.HasPrefix(ev.Action, "route.") {
			n++
		}
	}
	if n != 7 { // create, test, disable, update, route create, route delete, delete
		t.Errorf("%d notification audit events, want 7", n)
	}
}

func itoa(id int64) string { return strconv.FormatInt(id, 10) }
