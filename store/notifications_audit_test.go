package store

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestNotificationChangesAuditedInTheirTransaction checks that each change of a
// channel or a route writes its audit row in the change's own transaction: with the
// audit trail refusing rows (a trigger, as a full disk or a lost connection would),
// nothing changes; with it working, each change is there with its row.
func TestNotificationChangesAuditedInTheirTransaction(t *testing.T) {
	ctx := context.Background()
	s, _ := mustStore(t, mustRing(t, newKey(t)))
	if _, err := s.pool.Exec(ctx, `
		CREATE FUNCTION refuse_audit() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN
			IF NEW.actor = 'test:refused' THEN RAISE EXCEPTION 'audit trail refuses %', NEW.action; END IF;
			RETURN NEW;
		END $$;
		CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_events FOR EACH ROW EXECUTE FUNCTION refuse_audit();`); err != nil {
		t.Fatal(err)
	}
	refused, ok := Audit{Actor: "test:refused"}, Audit{Actor: "user:ada", RemoteAddr: "192.0.2.1"}
	count := func(table string) int {
		var n int
		if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM `+table).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	// Refused: nothing is created, changed or deleted.
	if _, err := s.CreateChannel(ctx, refused, NewChannel{Name: "hook", Kind: ChannelSlack, Secret: []byte("https://hooks.example/x"), Enabled: true}); err == nil {
		t.Fatal("a channel was created though its audit failed")
	}
	if n := count("notification_channels"); n != 0 {
		t.Errorf("%d channels after a create whose audit failed", n)
	}
	ch, err := s.CreateChannel(ctx, ok, NewChannel{Name: "hook", Kind: ChannelSlack, Secret: []byte("https://hooks.example/x"), Enabled: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpdateChannel(ctx, refused, ch.ID, ChannelChange{Name: "renamed", ReplaceSecret: true, Secret: []byte("https://hooks.example/y")}); err == nil {
		t.Fatal("a channel was updated though its audit failed")
	}
	if c, _ := s.Channel(ctx, ch.ID); c.Name != "hook" || !c.Enabled {
		t.Errorf("channel after an update whose audit failed: %+v", c)
	}
	if secret, _ := s.ChannelSecret(ctx, ch.ID); string(secret) != "https://hooks.example/x" {
		t.Errorf("secret after an update whose audit failed: %q", secret)
	}
	if _, err := s.CreateRoute(ctx, refused, Route{ChannelID: ch.ID, Enabled: true}); err == nil {
		t.Fatal("a route was created though its audit failed")
	}
	if n := count("notification_routes"); n != 0 {
		t.Errorf("%d routes after a create whose audit failed", n)
	}
	rt, err := s.CreateRoute(ctx, ok, Route{ChannelID: ch.ID, GroupWait: time.Minute, Matchers: `cluster="prod"`, Enabled: true})
	if err != nil {
		t.Fatal(err)
	}
	edit := rt
	edit.Enabled, edit.Matchers = false, `cluster="dev"`
	if _, err := s.UpdateRoute(ctx, refused, edit); err == nil {
		t.Fatal("a route was updated though its audit failed")
	}
	if got, _ := s.Route(ctx, rt.ID, Scope{}); !got.Enabled || got.Matchers != `cluster="prod"` {
		t.Errorf("route after an update whose audit failed: %+v", got)
	}
	if err := s.DeleteRoute(ctx, refused, rt.ID); err == nil {
		t.Fatal("a route was deleted though its audit failed")
	}
	if err := s.DeleteChannel(ctx, refused, ch.ID); err == nil {
		t.Fatal("a channel was deleted though its audit failed")
	}
	if count("notification_routes") != 1 || count("notification_channels") != 1 {
		t.Error("a delete whose audit failed deleted")
	}
	var stray int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM audit_events WHERE actor = 'test:refused'`).Scan(&stray); err != nil || stray != 0 {
		t.Errorf("refused audit rows: %d, %v", stray, err)
	}

	// Working: every change lands with its row, who made it, and never the secret.
	if _, err := s.UpdateRoute(ctx, ok, edit); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpdateChannel(ctx, ok, ch.ID, ChannelChange{Name: "renamed", Config: []byte(`{"x":1}`), Enabled: true, ReplaceSecret: true, Secret: []byte("https://hooks.example/y")}); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteRoute(ctx, ok, rt.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteChannel(ctx, ok, ch.ID); err != nil {
		t.Fatal(err)
	}
	evs, err := s.FindAuditEvents(ctx, AuditFilter{Actor: "user:ada", Limit: 20})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for i := len(evs) - 1; i >= 0; i-- {
		e := evs[i]
		if e.RemoteAddr != "192.0.2.1" {
			t.Errorf("%s without its address: %+v", e.Action, e)
		}
		line := e.Action + " " + e.Target
		switch e.Action {
		case ActionRouteUpdate:
			line += " enabled=" + fmtAny(e.Detail["enabled"]) + " matchers=" + fmtAny(e.Detail["matchers"])
		case ActionChannelUpdate:
			line += " name=" + fmtAny(e.Detail["name"]) + " config=" + fmtAny(e.Detail["configChanged"]) + " secret=" + fmtAny(e.Detail["secretReplaced"])
		}
		got = append(got, line)
		for _, v := range e.Detail {
			if strings.Contains(fmtAny(v), "hooks.example") {
				t.Errorf("%s holds the secret: %v", e.Action, e.Detail)
			}
		}
	}
	want := []string{
		"channel.create hook",
		"route.create " + routeTarget(rt.ID),
		"route.update " + routeTarget(rt.ID) + ` enabled=false matchers=cluster="dev"`,
		"channel.update hook name=renamed config=true secret=true",
		"route.delete " + routeTarget(rt.ID),
		"channel.delete renamed",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("audit trail:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func fmtAny(v any) string { return fmt.Sprint(v) }
