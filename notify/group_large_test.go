package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/tagdrift/tagdrift/internal/receivers"
	"github.com/tagdrift/tagdrift/scanner/detect"
	"github.com/tagdrift/tagdrift/scanner/inventory"
)

// fleetPayloads are n mutation.opened payloads of one reference, as a fleet-wide tag
// move writes them: a workload-divergence in each of 10 containers of n/10 workloads,
// a pod on each digest.
func fleetPayloads(n int) []Payload {
	ps := make([]Payload, n)
	for i := range ps {
		w := inventory.Workload{Kind: "Deployment", Name: fmt.Sprintf("web-%03d", i/10)}
		c := fmt.Sprintf("c%d", i%10)
		m := Mutation{ID: int64(i + 1), DetectedAt: at, Mutation: detect.Mutation{
			Kind: detect.WorkloadDivergence, Cluster: "fleet", Namespace: "shop", Workload: w, Container: c,
			Ref: "registry.example.com/fleet:1", Digests: []string{digestA, digestB},
			Places: []detect.Place{
				{Cluster: "fleet", Namespace: "shop", Workload: w, Pod: w.Name + "-0", Container: c, Digest: digestA},
				{Cluster: "fleet", Namespace: "shop", Workload: w, Pod: w.Name + "-1", Container: c, Digest: digestB},
			},
		}}
		ps[i] = NewPayload(Event{ID: fmt.Sprintf("evt_%05d", i), Type: MutationOpened, At: at, Mutation: m}, PayloadConfig{BaseURL: "https://td.example"})
	}
	return ps
}

// eventIDs lists the ids of the events a webhook receiver's messages carry, each
// message's own and its grouped ones, in order.
func eventIDs(t *testing.T, ms []receivers.Message) []string {
	t.Helper()
	var ids []string
	for _, m := range ms {
		var p Payload
		if err := json.Unmarshal(m.Body, &p); err != nil {
			t.Fatal(err)
		}
		if p.ID != m.ID {
			t.Errorf("message %s carries event %s first", m.ID, p.ID)
		}
		ids = append(ids, p.ID)
		for _, g := range p.Grouped {
			ids = append(ids, g.ID)
		}
	}
	return ids
}

func payloadIDs(ps []Payload) []string {
	ids := make([]string, len(ps))
	for i, p := range ps {
		ids[i] = p.ID
	}
	return ids
}

// A fleet-wide change of 1,000 mutations is one webhook message, every event in it by
// id; a group whose body would pass the cap goes as several signed messages, each
// within it, each under its first event's id, the same ones again on a retry.
func TestWebhookGroupOneMessageWithinCap(t *testing.T) {
	ps := fleetPayloads(1000)
	ctx := context.Background()

	rcv, srv := receivers.NewWebhook(t, testSecret())
	if err := SendGroup(ctx, &Webhook{URL: srv.URL, Secret: testSecret()}, ps); err != nil {
		t.Fatal(err)
	}
	ms := rcv.Messages()
	if len(ms) != 1 || len(ms[0].Body) > DefaultWebhookMaxBody {
		t.Fatalf("%d messages for 1,000 events (first of %d bytes), want 1 within %d", len(ms), len(ms[0].Body), DefaultWebhookMaxBody)
	}
	if got := eventIDs(t, ms); !slices.Equal(got, payloadIDs(ps)) {
		t.Fatalf("the message carries %d events, want the 1,000 in order", len(got))
	}
	t.Logf("1,000 events: one body of %d bytes", len(ms[0].Body))

	const maxBody = 64 << 10
	rcv, srv = receivers.NewWebhook(t, testSecret())
	rcv.Fail(http.StatusServiceUnavailable)
	hook := &Webhook{URL: srv.URL, Secret: testSecret(), MaxBody: maxBody}
	if err := SendGroup(ctx, hook, ps); err == nil || !Retryable(err) {
		t.Fatalf("first attempt against a 503: %v", err)
	}
	if err := SendGroup(ctx, hook, ps); err != nil {
		t.Fatal(err)
	}
	ms = rcv.Messages()
	if len(ms) < 2 {
		t.Fatalf("%d messages past a %d-byte cap", len(ms), maxBody)
	}
	for _, m := range ms {
		if len(m.Body) > maxBody {
			t.Errorf("message %s: %d bytes, cap %d", m.ID, len(m.Body), maxBody)
		}
	}
	if got := eventIDs(t, ms); !slices.Equal(got, payloadIDs(ps)) {
		t.Fatalf("the messages carry %d events, want the 1,000 in order, each once", len(got))
	}
	c := rcv.Counts()
	// The retry sent the same messages: the one refused, then each once.
	if c.Bad != 0 || c.Attempts != len(ms)+1 || c.Refused[ms[0].ID] != 1 {
		t.Errorf("receiver: %d requests (%d bad), refused %v, for %d messages", c.Attempts, c.Bad, c.Refused, len(ms))
	}
	// Each part is as long as the cap lets it be: with the next event, it would pass.
	parts, err := splitGroup(ps, maxBody)
	if err != nil {
		t.Fatal(err)
	}
	for i, part := range parts {
		body, err := Merge(part).Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if len(body) != len(ms[i].Body) {
			t.Errorf("part %d: %d bytes counted, %d sent", i, len(body), len(ms[i].Body))
		}
		if i+1 < len(parts) {
			longer, _ := Merge(append(slices.Clone(part), parts[i+1][0])).Marshal()
			if len(longer) <= maxBody {
				t.Errorf("part %d ends early: %d bytes with the next event", i, len(longer))
			}
		}
	}
	// One event alone past the cap still goes.
	if parts, err := splitGroup(ps[:3], 10); err != nil || len(parts) != 3 {
		t.Errorf("a cap below one event: %d parts, %v", len(parts), err)
	}
}

// A Slack message of 1,000 events stays within Block Kit's limits: the first event's
// digests, 20 others listed, the rest counted by type, a link to them all.
func TestSlackGroupSummarized(t *testing.T) {
	rcv, srv := receivers.NewSlack(t)
	ps := fleetPayloads(1000)
	ps[700].Type, ps[701].Type = MutationResolved, MutationResolved
	if err := SendGroup(context.Background(), &Slack{URL: srv.URL + "/services/T0/B0/XXXX"}, ps); err != nil {
		t.Fatal(err)
	}
	ms := rcv.Messages()
	if len(ms) != 1 {
		t.Fatalf("%d Slack messages for one group", len(ms))
	}
	body := ms[0].Body
	for _, want := range []string{
		digestA, digestB, "and 999 more of this reference",
		"web-000 container c1", "web-002 container c0", // listed
		"and 979 more: 977 mutation.opened (workload-divergence), 2 mutation.resolved (workload-divergence); see tagdrift",
		"All of registry.example.com/fleet:1", "https://td.example/mutations?ref=registry.example.com%2Ffleet%3A1",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the message lacks %q", want)
		}
	}
	if strings.Contains(body, "web-002 container c1") {
		t.Error("the 22nd event is listed, want it counted")
	}
}

// An email lists up to 2,000 events of a group, one a line, and counts the rest; its
// subject says how many more it carries.
func TestEmailTextOfAGroup(t *testing.T) {
	ps := fleetPayloads(2500)
	text := Text(Merge(ps))
	first, _, _ := strings.Cut(text, "\n")
	if !strings.HasSuffix(first, ", and 2499 more of this reference") {
		t.Errorf("subject %q", first)
	}
	if n := strings.Count(text, "\nMutation opened: "); n != textMaxGrouped {
		t.Errorf("%d events listed, want %d", n, textMaxGrouped)
	}
	if !strings.Contains(text, "\nand 499 more: 499 mutation.opened (workload-divergence); see tagdrift\n") {
		t.Error("the events not listed are not counted")
	}
	if len(text) > 1<<20 {
		t.Errorf("%d bytes of text", len(text))
	}
	if small := Text(Merge(ps[:300])); strings.Contains(small, "see tagdrift") || strings.Count(small, "\nMutation opened: ") != 299 {
		t.Error("a group of 300 is not listed whole")
	}
}

// A group goes to Alertmanager as alerts in requests of 256 at most, every one.
func TestAlertmanagerGroupBatched(t *testing.T) {
	var mu sync.Mutex
	var sizes []int
	seen := map[string]bool{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var alerts []struct {
			Labels map[string]string `json:"labels"`
		}
		b, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(b, &alerts); err != nil {
			t.Errorf("alerts do not decode: %v", err)
		}
		mu.Lock()
		sizes = append(sizes, len(alerts))
		for _, a := range alerts {
			seen[a.Labels["mutation_id"]] = true
		}
		mu.Unlock()
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()
	if err := SendGroup(context.Background(), &Alertmanager{URL: srv.URL}, fleetPayloads(600)); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(sizes, []int{256, 256, 88}) || len(seen) != 600 {
		t.Errorf("requests of %v alerts, %d mutations; want 256, 256, 88 and 600", sizes, len(seen))
	}
}
