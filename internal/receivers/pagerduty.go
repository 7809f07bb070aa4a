package receivers

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
	"unicode/utf8"
)

// PagerDuty is PagerDuty's Events API v2 (developer.pagerduty.com, "Send an Alert
// Event") as far as a sender can tell: it takes an event that follows the schema and
// carries the routing key, answering 202 as PagerDuty does, and refuses (400, and an
// error of the test) one that does not. An acknowledge or resolve of a dedup_key never
// triggered is an error too: PagerDuty would drop it.
type PagerDuty struct {
	t          testing.TB
	routingKey string
	mu         sync.Mutex
	events     []PagerDutyEvent
}

// PagerDutyEvent is one event taken.
type PagerDutyEvent struct {
	RoutingKey  string            `json:"routing_key"`
	EventAction string            `json:"event_action"`
	DedupKey    string            `json:"dedup_key"`
	Payload     *PagerDutyPayload `json:"payload,omitempty"`
	Images      []json.RawMessage `json:"images,omitempty"`
	Links       []struct {
		Href string `json:"href"`
		Text string `json:"text"`
	} `json:"links,omitempty"`
	Client    string `json:"client,omitempty"`
	ClientURL string `json:"client_url,omitempty"`
}

// PagerDutyPayload is a trigger's payload.
type PagerDutyPayload struct {
	Summary       string          `json:"summary"`
	Source        string          `json:"source"`
	Severity      string          `json:"severity"`
	Timestamp     string          `json:"timestamp,omitempty"`
	Component     string          `json:"component,omitempty"`
	Group         string          `json:"group,omitempty"`
	Class         string          `json:"class,omitempty"`
	CustomDetails json.RawMessage `json:"custom_details,omitempty"`
}

// NewPagerDuty starts a PagerDuty-shaped receiver taking routingKey until the test
// ends; its events endpoint is srv.URL+"/v2/enqueue".
func NewPagerDuty(t testing.TB, routingKey string) (*PagerDuty, *httptest.Server) {
	p := &PagerDuty{t: t, routingKey: routingKey}
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)
	return p, srv
}

func (p *PagerDuty) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	refuse := func(format string, args ...any) {
		msg := fmt.Sprintf(format, args...)
		p.t.Errorf("pagerduty: %s\n%s", msg, body)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		_ = json.NewEncoder(w).Encode(map[string]any{"status": "invalid event", "message": "Event object is invalid", "errors": []string{msg}})
	}
	if err != nil || r.Method != http.MethodPost || r.URL.Path != "/v2/enqueue" {
		refuse("%s %s (%v)", r.Method, r.URL.Path, err)
		return
	}
	if r.Header.Get("Content-Type") != "application/json" {
		refuse("Content-Type %q", r.Header.Get("Content-Type"))
		return
	}
	var ev PagerDutyEvent
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&ev); err != nil {
		refuse("not an Events API v2 event: %v", err)
		return
	}
	if problem := p.check(ev); problem != "" {
		refuse("%s", problem)
		return
	}
	p.mu.Lock()
	p.events = append(p.events, ev)
	p.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusAccepted)
	_ = json.NewEncoder(w).Encode(map[string]string{"status": "success", "message": "Event processed", "dedup_key": ev.DedupKey})
}

// check says what is wrong with ev, "" for nothing.
func (p *PagerDuty) check(ev PagerDutyEvent) string {
	if ev.RoutingKey != p.routingKey {
		return "a wrong routing_key"
	}
	if ev.DedupKey == "" || len(ev.DedupKey) > 255 {
		return fmt.Sprintf("dedup_key %q: 1 to 255 characters (a sender that acknowledges and resolves must set it)", ev.DedupKey)
	}
	switch ev.EventAction {
	case "trigger":
		pl := ev.Payload
		if pl == nil {
			return "a trigger without payload"
		}
		if n := utf8.RuneCountInString(pl.Summary); n == 0 || n > 1024 {
			return fmt.Sprintf("summary of %d characters, 1 to 1024 allowed", n)
		}
		if pl.Source == "" {
			return "no source"
		}
		switch pl.Severity {
		case "critical", "error", "warning", "info":
		default:
			return fmt.Sprintf("severity %q", pl.Severity)
		}
		if pl.Timestamp != "" {
			if _, err := time.Parse(time.RFC3339, pl.Timestamp); err != nil {
				return fmt.Sprintf("timestamp %q is not ISO 8601", pl.Timestamp)
			}
		}
		if len(pl.CustomDetails) > 0 && pl.CustomDetails[0] != '{' {
			return "custom_details is not an object"
		}
	case "acknowledge", "resolve":
		p.mu.Lock()
		defer p.mu.Unlock()
		for _, e := range p.events {
			if e.DedupKey == ev.DedupKey && e.EventAction == "trigger" {
				return ""
			}
		}
		return fmt.Sprintf("%s of dedup_key %q, never triggered", ev.EventAction, ev.DedupKey)
	default:
		return fmt.Sprintf("event_action %q", ev.EventAction)
	}
	for _, l := range ev.Links {
		if l.Href == "" {
			return "a link without href"
		}
	}
	return ""
}

// Events returns the events taken, in order.
func (p *PagerDuty) Events() []PagerDutyEvent {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]PagerDutyEvent(nil), p.events...)
}

// Actions returns the event actions taken for dedupKey, in order.
func (p *PagerDuty) Actions(dedupKey string) []string {
	var out []string
	for _, e := range p.Events() {
		if e.DedupKey == dedupKey {
			out = append(out, e.EventAction)
		}
	}
	return out
}
