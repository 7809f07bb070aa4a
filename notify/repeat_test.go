package notify

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func reminder(cfg PayloadConfig) Payload {
	return NewPayload(Event{ID: "evt_repeat", Type: MutationOpened, Reason: ReasonRepeat, At: at.Add(4 * time.Hour), Mutation: divergence(1)}, cfg)
}

// A reminder is a mutation.opened with reason repeat: its own id, the mutation open,
// and a title and a line that say it is a reminder, not a new mutation.
func TestPayloadReminder(t *testing.T) {
	p := reminder(PayloadConfig{})
	b, err := p.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{`"id":"evt_repeat"`, `"type":"mutation.opened"`, `"reason":"repeat"`, `"state":"open"`, `"resolvedAt":null`} {
		if !strings.Contains(string(b), s) {
			t.Errorf("payload lacks %s: %s", s, b)
		}
	}
	if got := Title(p); !strings.HasPrefix(got, "Mutation still open (reminder): workload-divergence of docker.io/library/nginx:1.25") {
		t.Errorf("title %q", got)
	}
	if got := StatusLines(p); len(got) != 1 || !strings.Contains(got[0], "Still open since 2026-12-05 11:00 UTC") {
		t.Errorf("status lines %q", got)
	}
	if got := Title(NewPayload(Event{Type: MutationOpened, At: at, Mutation: divergence(1)}, PayloadConfig{})); strings.Contains(got, "reminder") {
		t.Errorf("a first opening titled as a reminder: %q", got)
	}
}

// Targets names the routes that chose each channel; EventOf gives back, from a stored
// payload, what routes match on, so that a route edited since matches as it reads now.
func TestTargetsRoutesAndEventOf(t *testing.T) {
	prod, err := ParseMatchers(`cluster="prod"`)
	if err != nil {
		t.Fatal(err)
	}
	staging, err := ParseMatchers(`cluster="staging"`)
	if err != nil {
		t.Fatal(err)
	}
	routes := []Route{
		{ID: 1, ChannelID: 10, GroupWait: time.Minute, Matchers: prod},
		{ID: 2, ChannelID: 20, Matchers: staging},
		{ID: 3, ChannelID: 10, GroupWait: 10 * time.Second},
		{ID: 4, ChannelID: 20, Types: []string{"mutation.resolved"}},
	}
	ev := Event{Type: MutationOpened, At: at, Mutation: divergence(1)}
	got := Targets(routes, ev, false)
	if len(got) != 1 || got[0].ChannelID != 10 || !slices.Equal(got[0].RouteIDs, []int64{1, 3}) || !got[0].NotBefore.Equal(at.Add(10*time.Second)) {
		t.Fatalf("targets %+v", got)
	}
	back := EventOf(NewPayload(ev, PayloadConfig{}))
	for _, r := range routes {
		if r.Matches(back, false) != r.Matches(ev, false) {
			t.Errorf("route %d matches the stored payload %v, the event %v", r.ID, r.Matches(back, false), r.Matches(ev, false))
		}
	}
	if !routes[0].Matches(back, false) || routes[1].Matches(back, false) {
		t.Error("EventOf lost the labels routes match on")
	}
}
