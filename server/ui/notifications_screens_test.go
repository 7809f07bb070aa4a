//go:build screenshots

package ui

import (
	"context"
	"encoding/json"
	"strconv"
	"testing"
	"time"

	"github.com/tagdrift/tagdrift/server/request"
	"github.com/tagdrift/tagdrift/store"
)

// seedNotifications registers channels (a hostile long name among them, one with no
// delivery), a route and a delivery log of every status, for the screenshots, and
// returns their pages by name.
func seedNotifications(t *testing.T, st *store.Store) map[string]string {
	ctx := context.Background()
	mk := func(name, kind, config string) store.Channel {
		c, err := st.CreateChannel(ctx, store.Audit{Actor: "test"}, store.NewChannel{Name: name, Kind: kind, Config: json.RawMessage(config), Secret: []byte("s3cret"), Enabled: true})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	loud := mk(`<img src=x onerror=alert(1)> #platform-alerts-eu-west-1-production-payments`, "slack", `{}`)
	mk("receiver", "webhook", `{"url":"https://receiver.example/hook"}`)
	quiet := mk("oncall", "pagerduty", `{"severity":"warning"}`)
	if _, err := st.UpdateChannel(ctx, store.Audit{Actor: "test"}, quiet.ID, store.ChannelChange{Name: quiet.Name, Config: quiet.Config, Enabled: false}); err != nil {
		t.Fatal(err)
	}
	route, err := st.CreateRoute(ctx, store.Audit{Actor: "test"}, store.Route{ChannelID: loud.ID, Kinds: []string{"tag-divergence", "tag-moved", "pin-mismatch"},
		Types: []string{"mutation.opened", "mutation.resolved", "event.recorded"}, Matchers: `cluster=~"eu-west-1-production-.*", namespace!="kube-system"`,
		GroupWait: time.Minute, RepeatInterval: 4 * time.Hour, Enabled: true})
	if err != nil {
		t.Fatal(err)
	}
	// A disabled one, to every kind, with a repeat: the list's other state.
	if _, err := st.CreateRoute(ctx, store.Audit{Actor: "test"}, store.Route{ChannelID: quiet.ID, GroupWait: 30 * time.Second,
		RepeatInterval: time.Hour, SendBaseline: true, Enabled: false}); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	payload, _ := request.TestPayload(loud, now).Marshal()
	var events []store.OutboxEvent
	for i, typ := range []string{"mutation.opened", "event.recorded", "mutation.resolved", "mutation.changed"} {
		events = append(events, store.OutboxEvent{Type: typ, Payload: payload, PayloadVersion: 1, At: now.Add(time.Duration(i-4) * time.Hour),
			Deliveries: []store.OutboxDelivery{{ChannelID: loud.ID, NotBefore: now}}})
	}
	q, err := st.EnqueueNotifications(ctx, events, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i, class := range []string{"", "status-503", "timeout", ""} {
		if i == 3 {
			break // pending
		}
		if err := st.RecordAttempt(ctx, q[i].ID, now, class, i == 2); err != nil {
			t.Fatal(err)
		}
	}
	// A delivery whose route was disabled while it waited: dropped, saying why.
	dropped, err := st.EnqueueNotifications(ctx, []store.OutboxEvent{{Type: "mutation.opened", Reason: "repeat", Payload: payload, PayloadVersion: 1,
		At: now.Add(-time.Minute), Deliveries: []store.OutboxDelivery{{ChannelID: loud.ID, NotBefore: now.Add(-time.Minute), RouteIDs: []int64{route.ID}}}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	route.Enabled = false
	if _, err := st.UpdateRoute(ctx, store.Audit{Actor: "test"}, route); err != nil {
		t.Fatal(err)
	}
	if _, carried, _, err := st.ClaimGroup(ctx, dropped[0].ID, now, true); err != nil || carried {
		t.Fatalf("the delivery of a disabled route: carried %v, %v", carried, err)
	}
	route.Enabled = true
	if _, err := st.UpdateRoute(ctx, store.Audit{Actor: "test"}, route); err != nil {
		t.Fatal(err)
	}
	return map[string]string{
		"notifications": "/admin/notifications",
		"notifroutes":   "/admin/notifications/routes",
		"notifroute":    "/admin/notifications/routes/" + strconv.FormatInt(route.ID, 10),
		"notifchannel":  "/admin/notifications/channels/" + strconv.FormatInt(loud.ID, 10),
		"notifquiet":    "/admin/notifications/channels/" + strconv.FormatInt(quiet.ID, 10),
	}
}
