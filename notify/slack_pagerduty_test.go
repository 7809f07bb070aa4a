package notify

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
	"unicode/utf8"

	"github.com/tagdrift/tagdrift/scanner/detect"
)

// recorder is an HTTP receiver that keeps each body it is sent and answers status.
type recorder struct {
	mu     sync.Mutex
	status []int // answered in turn; the last one from then on
	bodies [][]byte
}

func newRecorder(t *testing.T, status ...int) (*recorder, *httptest.Server) {
	r := &recorder{status: status}
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	return r, srv
}

func (r *recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	defer r.mu.Unlock()
	if req.Method != http.MethodPost || req.Header.Get("Content-Type") != "application/json" {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	r.bodies = append(r.bodies, body)
	code := r.status[0]
	if len(r.status) > 1 {
		r.status = r.status[1:]
	}
	w.WriteHeader(code)
	fmt.Fprint(w, "ok")
}

func (r *recorder) got() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]string, len(r.bodies))
	for i, b := range r.bodies {
		out[i] = string(b)
	}
	return out
}

func TestSlack(t *testing.T) {
	rcv, srv := newRecorder(t, http.StatusInternalServerError, http.StatusOK)
	p := NewPayload(Event{ID: "evt_3", Type: MutationOpened, At: at, Mutation: divergence(1)}, PayloadConfig{BaseURL: "https://td.example"})
	if err := Retry(context.Background(), RetryPolicy{Base: 1}, sending(&Slack{URL: srv.URL + "/services/T0/B0/XXXX"}, p)); err != nil {
		t.Fatal(err)
	}
	bodies := rcv.got()
	want := `{"text":"Mutation opened: workload-divergence of docker.io/library/nginx:1.25 in prod/shop/Deployment/web container app",` +
		`"blocks":[{"type":"header","text":{"type":"plain_text","text":"Mutation opened: workload-divergence of docker.io/library/nginx:1.25 in prod/shop/Deployment/web container app","emoji":false}},` +
		`{"type":"section","text":{"type":"mrkdwn","text":"• ` + digestA + ` on prod/shop/web-a (app)\n• ` + digestB + ` on prod/shop/web-b0 (app)"}},` +
		`{"type":"context","elements":[{"type":"mrkdwn","text":"\u003chttps://td.example/workloads/prod/shop/Deployment/web|Open in tagdrift\u003e · \u003chttps://td.example/api/v1/mutations/42|API\u003e"}]}],` +
		`"replace_original":false,"delete_original":false}`
	if len(bodies) != 2 || bodies[0] != bodies[1] || bodies[1] != want {
		t.Fatalf("slack got %d bodies:\n%s\nwant\n%s", len(bodies), strings.Join(bodies, "\n"), want)
	}
}

func TestSlackWithinBlockKitLimits(t *testing.T) {
	// A tag-divergence over 300 digests, 40 pods each: far past what one message holds.
	m := Mutation{ID: 1, Mutation: detect.Mutation{Kind: detect.TagDivergence, Ref: strings.Repeat("r", 400) + ":<&>"}}
	for i := range 300 {
		d := fmt.Sprintf("sha256:%064d", i)
		m.Digests = append(m.Digests, d)
		for j := range 40 {
			m.Places = append(m.Places, detect.Place{Cluster: fmt.Sprintf("cluster-%d", j), Namespace: "ns", Pod: strings.Repeat("p", 60), Container: "c", Digest: d})
		}
	}
	p := NewPayload(Event{ID: "e", Type: MutationOpened, Mutation: m}, PayloadConfig{MaxPlaces: 40})
	b, err := json.Marshal(SlackMessage(p))
	if err != nil {
		t.Fatal(err)
	}
	var msg struct {
		Blocks []struct {
			Type string `json:"type"`
			Text struct {
				Text string `json:"text"`
			} `json:"text"`
		} `json:"blocks"`
	}
	if err := json.Unmarshal(b, &msg); err != nil {
		t.Fatal(err)
	}
	if len(msg.Blocks) > 50 {
		t.Errorf("%d blocks, Block Kit allows 50", len(msg.Blocks))
	}
	for i, bl := range msg.Blocks {
		n := utf8.RuneCountInString(bl.Text.Text)
		if (bl.Type == "header" && n > 150) || n > 3000 {
			t.Errorf("block %d (%s) has %d characters", i, bl.Type, n)
		}
		if strings.Contains(bl.Text.Text, "<&>") && bl.Type == "section" {
			t.Errorf("block %d not escaped", i)
		}
	}
	all := string(b)
	if !strings.Contains(all, m.Digests[0]) || !strings.Contains(all, "lines more: see tagdrift") {
		t.Errorf("first digest or the count of the rest missing")
	}
}

func TestPagerDuty(t *testing.T) {
	rcv, srv := newRecorder(t, http.StatusAccepted)
	pd := &PagerDuty{RoutingKey: "R0UT1NGKEY", URL: srv.URL + "/v2/enqueue"}
	m := divergence(1)
	opened := NewPayload(Event{ID: "evt_4", Type: MutationOpened, At: at, Mutation: m}, PayloadConfig{BaseURL: "https://td.example"})
	resolvedAt := at.Add(time.Hour)
	m.ResolvedAt = &resolvedAt
	resolved := NewPayload(Event{ID: "evt_5", Type: MutationResolved, Reason: ReasonConverged, At: resolvedAt, Mutation: m}, PayloadConfig{})
	for _, p := range []Payload{opened, resolved} {
		if err := pd.Send(context.Background(), p); err != nil {
			t.Fatal(err)
		}
	}
	details, _ := json.Marshal(opened)
	want := []string{
		`{"routing_key":"R0UT1NGKEY","event_action":"trigger","dedup_key":"42","payload":{` +
			`"summary":"Mutation opened: workload-divergence of docker.io/library/nginx:1.25 in prod/shop/Deployment/web container app",` +
			`"source":"prod","severity":"warning","timestamp":"2026-12-05T12:00:00.000Z","component":"docker.io/library/nginx:1.25",` +
			`"group":"shop","class":"workload-divergence","custom_details":` + string(details) + `},` +
			`"links":[{"href":"https://td.example/workloads/prod/shop/Deployment/web","text":"Open in tagdrift"}]}`,
		`{"routing_key":"R0UT1NGKEY","event_action":"resolve","dedup_key":"42"}`,
	}
	got := rcv.got()
	if len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("pagerduty got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	t.Run("a refused key is not retried and not quoted", func(t *testing.T) {
		rcv, srv := newRecorder(t, http.StatusBadRequest)
		err := Retry(context.Background(), RetryPolicy{Base: 1}, sending(&PagerDuty{RoutingKey: "R0UT1NGKEY", URL: srv.URL}, opened))
		if err == nil || len(rcv.got()) != 1 || strings.Contains(err.Error(), "R0UT1NGKEY") {
			t.Errorf("err %v after %d attempts", err, len(rcv.got()))
		}
	})
}
