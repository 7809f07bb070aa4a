package ui

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tagdrift/tagdrift/store"
)

// A route's page edits it with the API's checks: the form shows the route as it is, a
// refusal stays next to its field with what was typed (and changes nothing), a save
// changes every field and goes back to the list; the list disables and enables it; a
// viewer can do none of it; each change is audited once, by the admin.
func TestRouteEditPages(t *testing.T) {
	t.Parallel()
	e := newNotifyUIEnv(t)
	e.addUser("root", store.RoleAdmin)
	e.addUser("vic", store.RoleViewer)
	ctx := context.Background()
	admin := store.Audit{Actor: "test"}
	slack, err := e.st.CreateChannel(ctx, admin, store.NewChannel{Name: "#ops", Kind: store.ChannelSlack, Secret: []byte("https://hooks.example/x"), Enabled: true})
	if err != nil {
		t.Fatal(err)
	}
	hook, err := e.st.CreateChannel(ctx, admin, store.NewChannel{Name: hostileChannel, Kind: store.ChannelWebhook, Secret: []byte("whsec_eA=="), Enabled: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.st.CreateGroup(ctx, "prod-eu", admin); err != nil {
		t.Fatal(err)
	}
	rt, err := e.st.CreateRoute(ctx, admin, store.Route{ChannelID: slack.ID, Kinds: []string{"tag-moved"}, Matchers: `cluster="prod"`,
		GroupWait: time.Minute, Enabled: true})
	if err != nil {
		t.Fatal(err)
	}
	path := "/admin/notifications/routes/" + itoa(rt.ID)

	v := e.browser()
	v.signIn("vic")
	wantStatus(t, v.get(path), http.StatusForbidden)
	wantStatus(t, v.post(path, url.Values{"channel": {itoa(slack.ID)}}), http.StatusForbidden)
	wantStatus(t, v.post(path+"/disable", nil), http.StatusForbidden)

	b := e.browser()
	b.signIn("root")
	p := b.get(path)
	wantStatus(t, p, http.StatusOK)
	f := p.find("[data-testid=route-edit-form]")
	if f.Find("#route-channel option[selected]").AttrOr("value", "") != itoa(slack.ID) ||
		f.Find("input[name=kind][checked]").AttrOr("value", "") != "tag-moved" || f.Find("input[name=kind][checked]").Length() != 1 ||
		f.Find("#route-matchers").AttrOr("value", "") != `cluster="prod"` || f.Find("#route-wait").AttrOr("value", "") != "1m" ||
		f.Find("#route-repeat").AttrOr("value", "x") != "" || f.Find("#route-enabled[checked]").Length() != 1 {
		t.Fatalf("the edit form does not show the route: %s", f.Text())
	}
	if p.find("[data-testid=route-summary]").Length() != 1 || !strings.Contains(p.text("[data-testid=route-summary]"), "#ops") {
		t.Errorf("summary %q", p.text("[data-testid=route-summary]"))
	}

	// Refused, as the API refuses: next to the field, what was typed kept, nothing saved.
	for _, bad := range []struct{ field, value, testid string }{
		{"repeatInterval", "30s", "error-route-repeat"},
		{"matchers", `cluster=~"(`, "error-route-matchers"},
		{"group", "nowhere", "error-route-group"},
		{"groupWait", "48h", "error-route-wait"},
	} {
		form := url.Values{"channel": {itoa(hook.ID)}, "matchers": {`namespace="shop"`}, "groupWait": {"10s"}, "enabled": {"true"}}
		form.Set(bad.field, bad.value)
		p = b.post(path, form)
		wantStatus(t, p, http.StatusUnprocessableEntity)
		if p.text("[data-testid="+bad.testid+"]") == "" {
			t.Errorf("%s=%s: no message next to it: %s", bad.field, bad.value, p.find("form").Text())
		}
		if bad.field != "matchers" && p.find("#route-matchers").AttrOr("value", "") != `namespace="shop"` {
			t.Errorf("%s=%s: what was typed is lost", bad.field, bad.value)
		}
		if got, _ := e.st.Route(ctx, rt.ID, store.Scope{}); got.ChannelID != slack.ID || got.Matchers != `cluster="prod"` {
			t.Fatalf("a refused edit changed the route: %+v", got)
		}
	}

	// Saved: every field, as PATCH would.
	p = b.post(path, url.Values{"channel": {itoa(hook.ID)}, "group": {"prod-eu"}, "kind": {"tag-divergence", "pin-mismatch"},
		"type": {"mutation.opened", "mutation.resolved"}, "matchers": {`namespace!="kube-system"`}, "groupWait": {"10s"},
		"repeatInterval": {"4h"}, "sendBaseline": {"true"}})
	wantStatus(t, p, http.StatusSeeOther)
	if loc := p.header.Get("Location"); loc != "/admin/notifications/routes" {
		t.Errorf("saved, sent to %q", loc)
	}
	got, err := e.st.Route(ctx, rt.ID, store.Scope{})
	if err != nil {
		t.Fatal(err)
	}
	if got.ChannelID != hook.ID || got.ClusterGroup != "prod-eu" || !slices.Equal(got.Kinds, []string{"tag-divergence", "pin-mismatch"}) ||
		!slices.Equal(got.Types, []string{"mutation.opened", "mutation.resolved"}) || got.Matchers != `namespace!="kube-system"` ||
		got.GroupWait != 10*time.Second || got.RepeatInterval != 4*time.Hour || !got.SendBaseline || got.Enabled {
		t.Errorf("saved route %+v (the enabled box was not sent: disabled)", got)
	}

	// The list: the route disabled, enabled from there, its name escaped, a link to edit.
	p = b.get("/admin/notifications/routes")
	row := p.find("[data-testid=route-row]")
	if row.AttrOr("data-enabled", "") != "false" || row.Find("[data-testid=route-enable]").Length() != 1 ||
		row.Find("a[data-testid=route-edit]").AttrOr("href", "") != path || !strings.Contains(row.Text(), hostileChannel) {
		t.Fatalf("route row: %s", row.Text())
	}
	if strings.Contains(p.body, "<img src=x") {
		t.Error("the channel's name is not escaped")
	}
	wantStatus(t, b.post(path+"/enable", nil), http.StatusSeeOther)
	if got, _ := e.st.Route(ctx, rt.ID, store.Scope{}); !got.Enabled || got.Matchers != `namespace!="kube-system"` || got.RepeatInterval != 4*time.Hour {
		t.Errorf("enabled: %+v (nothing else may change)", got)
	}
	if b.get("/admin/notifications/routes").find("[data-testid=route-disable]").Length() != 1 {
		t.Error("no disable button on an enabled route")
	}
	wantStatus(t, b.post(path+"/disable", nil), http.StatusSeeOther)
	if got, _ := e.st.Route(ctx, rt.ID, store.Scope{}); got.Enabled {
		t.Error("not disabled")
	}
	wantStatus(t, b.get("/admin/notifications/routes/999"), http.StatusNotFound)
	wantStatus(t, b.post("/admin/notifications/routes/999/enable", nil), http.StatusNotFound)

	evs, err := e.st.FindAuditEvents(ctx, store.AuditFilter{Actor: "user:root", Action: "route.", Limit: 20})
	if err != nil {
		t.Fatal(err)
	}
	var enabled []any
	for _, ev := range slices.Backward(evs) {
		if ev.Action != store.ActionRouteUpdate || ev.Target != "route "+itoa(rt.ID) {
			t.Errorf("audit %s %s", ev.Action, ev.Target)
		}
		enabled = append(enabled, ev.Detail["enabled"])
	}
	if !slices.Equal(enabled, []any{false, true, false}) {
		t.Errorf("audited route updates (enabled): %v, want the save, enable, disable", enabled)
	}
}
