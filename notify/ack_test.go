package notify

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tagdrift/tagdrift/scanner/attention"
)

// The events of an acknowledgement's life: acknowledged, open again when it ends,
// resolved (from acknowledged) and resolved because a rule declares it expected.

var ackExpires = at.Add(72 * time.Hour)

func ackOf() *Acknowledgement {
	// Not in UTC: the payload writes it in UTC.
	expires := ackExpires.In(time.FixedZone("CET", 3600))
	return &Acknowledgement{
		ID: 9, Actor: "user:viewer", ApprovedBy: "user:admin", Reason: "rolling out 1.25.3 <canary>",
		Ticket: "https://tickets.example/OPS-7", Until: attention.UntilResolved, ExpiresAt: &expires,
	}
}

func acknowledged(cfg PayloadConfig) Payload {
	return NewPayload(Event{ID: "evt_ack", Type: MutationAcknowledged, At: at, Mutation: divergence(1), Acknowledgement: ackOf()}, cfg)
}

func openedAgain(cfg PayloadConfig) Payload {
	return NewPayload(Event{ID: "evt_again", Type: MutationOpened, Reason: ReasonAcknowledgementEnded, At: at.Add(time.Hour), Mutation: divergence(1)}, cfg)
}

func expected(cfg PayloadConfig) Payload {
	m := divergence(1)
	m.Kind = "tag-divergence"
	return NewPayload(Event{ID: "evt_expected", Type: MutationResolved, Reason: ReasonExpected, At: at, Mutation: m}, cfg)
}

const (
	ackTitle = "Mutation acknowledged by user:viewer: workload-divergence of docker.io/library/nginx:1.25 in prod/shop/Deployment/web container app"
	ackLine  = "acknowledged by user:viewer until it resolves, 2026-12-08 12:00 UTC at the latest: rolling out 1.25.3 <canary>"
)

func TestPayloadAcknowledged(t *testing.T) {
	p := acknowledged(PayloadConfig{})
	b, err := p.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Mutation        struct{ State string }
		Acknowledgement json.RawMessage
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	// The documented shape, key for key.
	want := `{"id":9,"actor":"user:viewer","approvedBy":"user:admin","reason":"rolling out 1.25.3 <canary>",` +
		`"ticket":"https://tickets.example/OPS-7","until":"resolved","expiresAt":"2026-12-08T12:00:00Z"}`
	if string(doc.Acknowledgement) != want || doc.Mutation.State != "acknowledged" {
		t.Errorf("acknowledgement %s, state %q\nwant %s and acknowledged", doc.Acknowledgement, doc.Mutation.State, want)
	}
	if Title(p) != ackTitle {
		t.Errorf("title %q", Title(p))
	}
	text := Text(p)
	for _, s := range []string{ackTitle + "\n\n" + ackLine + "\n", "approved by user:admin\n", "ticket: https://tickets.example/OPS-7\n",
		digestA + " on prod/shop/web-a (app)\n"} {
		if !strings.Contains(text, s) {
			t.Errorf("text lacks %q:\n%s", s, text)
		}
	}

	// An acknowledgement on another type is not the payload's.
	other := NewPayload(Event{ID: "e", Type: MutationOpened, At: at, Mutation: divergence(1), Acknowledgement: ackOf()}, PayloadConfig{})
	if other.Acknowledgement != nil || other.Mutation.State != attention.StateOpen {
		t.Errorf("opened: acknowledgement %+v, state %q", other.Acknowledgement, other.Mutation.State)
	}
	// The caller's state wins over the type's.
	m := divergence(1)
	m.State = attention.StateAcknowledged
	if got := NewPayload(Event{Type: MutationChanged, Mutation: m}, PayloadConfig{}).Mutation.State; got != attention.StateAcknowledged {
		t.Errorf("state given acknowledged, payload says %q", got)
	}

	again := openedAgain(PayloadConfig{})
	if again.Reason != ReasonAcknowledgementEnded || again.Mutation.State != attention.StateOpen ||
		!strings.HasPrefix(Text(again), "Mutation open again (acknowledgement ended): workload-divergence of docker.io/library/nginx:1.25") ||
		!strings.Contains(Text(again), "\n\nIts acknowledgement ended (expired, revoked, or a digest joined) while it is still there: it needs attention again.\n") {
		t.Errorf("opened again: %+v\n%s", again, Text(again))
	}
	exp := expected(PayloadConfig{})
	if exp.Mutation.State != attention.StateExpected ||
		!strings.HasPrefix(Text(exp), "Mutation expected (a rule declares its tag mutable): tag-divergence of ") ||
		!strings.Contains(Text(exp), "A rule now declares its tag mutable: it is expected, no longer open, and no longer sent.") {
		t.Errorf("expected: %+v\n%s", exp, Text(exp))
	}
	resolved := NewPayload(Event{Type: MutationResolved, Reason: ReasonConverged, Mutation: divergence(1)}, PayloadConfig{})
	if resolved.Mutation.State != attention.StateResolved || len(StatusLines(resolved)) != 0 ||
		!strings.HasPrefix(Title(resolved), "Mutation resolved (converged): ") {
		t.Errorf("resolved: state %q, status %q, title %q", resolved.Mutation.State, StatusLines(resolved), Title(resolved))
	}
}

func TestUntilText(t *testing.T) {
	when := time.Date(2026, 12, 24, 18, 30, 0, 0, time.UTC)
	for _, tt := range []struct {
		a    Acknowledgement
		want string
	}{
		{Acknowledgement{Until: attention.UntilTime, ExpiresAt: &when}, "until 2026-12-24 18:30 UTC"},
		{Acknowledgement{Until: attention.UntilResolved}, "until it resolves"},
		{Acknowledgement{Until: attention.UntilChanged}, "until it changes"},
		{Acknowledgement{Until: attention.UntilChanged, ExpiresAt: &when}, "until it changes, 2026-12-24 18:30 UTC at the latest"},
	} {
		if got := UntilText(&tt.a); got != tt.want {
			t.Errorf("%s: %q, want %q", tt.a.Until, got, tt.want)
		}
	}
	a := Acknowledgement{Actor: "user:ada", Reason: "known", Until: attention.UntilTime, ExpiresAt: &when, Scope: `cluster=~"dev-.*"`}
	p := Payload{Type: MutationAcknowledged, Acknowledgement: &a}
	want := []string{"acknowledged by user:ada until 2026-12-24 18:30 UTC: known", `acknowledged with everything in cluster=~"dev-.*"`,
		"Nothing more is sent about it until the acknowledgement ends or it resolves."}
	if got := StatusLines(p); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("status lines %q\nwant %q", got, want)
	}
}

// A webhook receiver verifies the acknowledgement's message as any other and reads
// who, why, the ticket and until when.
func TestWebhookAcknowledged(t *testing.T) {
	secret := testSecret()
	rcv, srv := newWebhookReceiver(t, secret)
	wh := &Webhook{URL: srv.URL + "/hook", Secret: secret}
	for _, p := range []Payload{acknowledged(PayloadConfig{}), openedAgain(PayloadConfig{})} {
		if err := wh.Send(context.Background(), p); err != nil {
			t.Fatal(err)
		}
	}
	unique, bad := rcv.unique(t), rcv.Counts().Bad
	got, ok := unique["evt_ack"]
	if !ok || bad != 0 || got.Type != MutationAcknowledged || got.Mutation.State != attention.StateAcknowledged {
		t.Fatalf("receiver kept %+v (bad signatures %d)", unique, bad)
	}
	a := got.Acknowledgement
	if a == nil || a.Actor != "user:viewer" || a.ApprovedBy != "user:admin" || a.Ticket != "https://tickets.example/OPS-7" ||
		a.Until != attention.UntilResolved || a.ExpiresAt == nil || !a.ExpiresAt.Equal(ackExpires) || a.ID != 9 {
		t.Errorf("acknowledgement %+v", a)
	}
	if again := unique["evt_again"]; again.Reason != ReasonAcknowledgementEnded || again.Acknowledgement != nil ||
		again.Mutation.State != attention.StateOpen {
		t.Errorf("opened again %+v", again)
	}
}

func TestSlackAcknowledged(t *testing.T) {
	rcv, srv := newRecorder(t, http.StatusOK)
	s := &Slack{URL: srv.URL + "/services/T0/B0/XXXX"}
	cfg := PayloadConfig{BaseURL: "https://td.example"}
	for _, p := range []Payload{acknowledged(cfg), openedAgain(cfg), expected(cfg)} {
		if err := s.Send(context.Background(), p); err != nil {
			t.Fatal(err)
		}
	}
	bodies := rcv.got()
	if len(bodies) != 3 {
		t.Fatalf("slack got %d messages", len(bodies))
	}
	type block struct {
		Type string
		Text struct{ Text string }
	}
	var msgs [3]struct {
		Text   string
		Blocks []block
	}
	for i, b := range bodies {
		if err := json.Unmarshal([]byte(b), &msgs[i]); err != nil {
			t.Fatal(err)
		}
	}
	// The acknowledgement: who, until when, why (Slack's reserved < and > escaped),
	// who approved, the ticket, then the digests and the links.
	ack := msgs[0]
	wantStatus := "acknowledged by user:viewer until it resolves, 2026-12-08 12:00 UTC at the latest: rolling out 1.25.3 &lt;canary&gt;\n" +
		"approved by user:admin\nticket: https://tickets.example/OPS-7\n" +
		"Nothing more is sent about it until the acknowledgement ends or it resolves."
	if ack.Text != ackTitle || len(ack.Blocks) != 4 || ack.Blocks[0].Text.Text != ackTitle || ack.Blocks[1].Type != "section" ||
		ack.Blocks[1].Text.Text != wantStatus || !strings.HasPrefix(ack.Blocks[2].Text.Text, "• "+digestA) || ack.Blocks[3].Type != "context" {
		t.Errorf("acknowledged message:\n%s\nwant status section\n%s", bodies[0], wantStatus)
	}
	if m := msgs[1]; !strings.HasPrefix(m.Text, "Mutation open again (acknowledgement ended): ") ||
		!strings.HasPrefix(m.Blocks[1].Text.Text, "Its acknowledgement ended") {
		t.Errorf("opened again:\n%s", bodies[1])
	}
	if m := msgs[2]; !strings.HasPrefix(m.Text, "Mutation expected (a rule declares its tag mutable): ") ||
		!strings.HasPrefix(m.Blocks[1].Text.Text, "A rule now declares its tag mutable") {
		t.Errorf("expected:\n%s", bodies[2])
	}
}

// PagerDuty: the trigger opens an incident, the acknowledgement acknowledges it (the
// same dedup_key), the end of the acknowledgement triggers it again, and a resolution
// from acknowledged resolves it.
func TestPagerDutyAcknowledged(t *testing.T) {
	rcv, srv := newRecorder(t, http.StatusAccepted)
	pd := &PagerDuty{RoutingKey: "R0UT1NGKEY", URL: srv.URL + "/v2/enqueue"}
	m := divergence(1)
	opened := NewPayload(Event{ID: "evt_1", Type: MutationOpened, At: at, Mutation: m}, PayloadConfig{})
	resolvedAt := at.Add(2 * time.Hour)
	m.ResolvedAt = &resolvedAt
	resolved := NewPayload(Event{ID: "evt_4", Type: MutationResolved, Reason: ReasonConverged, At: resolvedAt, Mutation: m}, PayloadConfig{})
	for _, p := range []Payload{opened, acknowledged(PayloadConfig{}), openedAgain(PayloadConfig{}), acknowledged(PayloadConfig{}), resolved} {
		if err := pd.Send(context.Background(), p); err != nil {
			t.Fatal(err)
		}
	}
	var actions []string
	for _, b := range rcv.got() {
		var ev PagerDutyEvent
		if err := json.Unmarshal([]byte(b), &ev); err != nil {
			t.Fatal(err)
		}
		if ev.DedupKey != "42" {
			t.Errorf("dedup_key %q in %s", ev.DedupKey, b)
		}
		actions = append(actions, ev.EventAction)
		if ev.EventAction == "acknowledge" && b != `{"routing_key":"R0UT1NGKEY","event_action":"acknowledge","dedup_key":"42"}` {
			t.Errorf("acknowledge %s", b)
		}
		if ev.EventAction == "trigger" && ev.Payload == nil {
			t.Errorf("trigger without payload: %s", b)
		}
	}
	if got := strings.Join(actions, ","); got != "trigger,acknowledge,trigger,acknowledge,resolve" {
		t.Errorf("actions %s", got)
	}
	if ev := PagerDutyEventOf(openedAgain(PayloadConfig{}), "k", ""); !strings.HasPrefix(ev.Payload.Summary, "Mutation open again (acknowledgement ended)") {
		t.Errorf("trigger again summary %q", ev.Payload.Summary)
	}
}

// AlertOf an acknowledged mutation ends the alert at the acknowledgement and says why.
func TestAlertOfAcknowledged(t *testing.T) {
	am := &Alertmanager{Now: func() time.Time { return at.Add(time.Hour) }}
	a := am.AlertOf(acknowledged(PayloadConfig{}))
	if !time.Time(a.EndsAt).Equal(at) || a.Annotations["state"] != ackLine || a.Annotations["event_type"] != "mutation.acknowledged" ||
		a.Annotations["ticket_url"] != "https://tickets.example/OPS-7" || a.Labels["mutation_id"] != "42" {
		t.Errorf("alert %+v", a)
	}
	again := am.AlertOf(openedAgain(PayloadConfig{}))
	if !time.Time(again.EndsAt).Equal(at.Add(time.Hour+4*DefaultRepostInterval)) || again.Annotations["reason"] != "acknowledgement-ended" {
		t.Errorf("opened again %+v", again)
	}
	if exp := am.AlertOf(expected(PayloadConfig{})); !time.Time(exp.EndsAt).Equal(at) || !strings.HasPrefix(exp.Annotations["state"], "expected") {
		t.Errorf("expected %+v", exp)
	}
}
