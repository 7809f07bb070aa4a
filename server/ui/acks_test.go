package ui

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tagdrift/tagdrift/scanner/attention"
	"github.com/tagdrift/tagdrift/scanner/detect"
	"github.com/tagdrift/tagdrift/store"
	"github.com/tagdrift/tagdrift/web"
)

// hostileReason is a reason of markup, long enough to wrap.
const hostileReason = `<img src=x onerror=alert(7)> canary of build 2026.12.01-rc.1-with-a-very-long-name-that-does-not-wrap-by-itself`

// newAckEnv is a UI with an admin (root), a viewer (vic) and a Deployment whose pods
// run two digests in one revision (an open workload-divergence), and the same tag at a
// third digest in dev (a tag-divergence).
func newAckEnv(t *testing.T) (*uiEnv, store.Mutation) {
	t.Helper()
	e := newUIEnv(t, nil)
	e.addUser("root", store.RoleAdmin)
	e.addUser("vic", store.RoleViewer)
	te := &testEnv{t: t, st: e.st}
	f := &fleet{t: t, e: te, id: map[string]int64{"prod": te.addCluster("prod"), "dev": te.addCluster("dev")}}
	t0 := time.Now().Add(-3 * time.Minute).UTC().Truncate(time.Second)
	f.scan("prod", t0, webPod("prod", "web-a", "u-a", "a"), webPod("prod", hostilePod, "u-h", "a"))
	f.scan("prod", t0.Add(time.Minute), webPod("prod", "web-a", "u-a", "a"), webPod("prod", hostilePod, "u-h", "a"), webPod("prod", "web-c", "u-c", "b"))
	// Another digest under the same tag in dev: a tag-divergence, which a rule may expect.
	f.scan("dev", t0.Add(time.Minute), webPod("dev", "web-d", "u-d", "c"))
	ms, err := e.st.ListMutations(context.Background(), store.MutationFilter{Kind: string(detect.WorkloadDivergence), State: store.StateOpen})
	if err != nil || len(ms) != 1 {
		t.Fatalf("open workload-divergences: %d, %v", len(ms), err)
	}
	return e, ms[0]
}

// overviewCounts reads the overview's open, acknowledged and expected counts from its
// HTML.
func overviewCounts(t *testing.T, b *browser) (open, acked, expected int) {
	t.Helper()
	p := b.get("/")
	wantStatus(t, p, http.StatusOK)
	n := func(testid string) int {
		s := p.find(`[data-testid="` + testid + `"]`)
		if s.Length() != 1 {
			t.Fatalf("%d %s on the overview: %s", s.Length(), testid, p.body)
		}
		v, err := strconv.Atoi(s.AttrOr("data-count", ""))
		if err != nil {
			t.Fatalf("%s: %v", testid, err)
		}
		return v
	}
	return n("open-total"), n("acknowledged-total"), n("expected-total")
}

func mutationState(t *testing.T, st *store.Store, id int64) attention.State {
	t.Helper()
	m, err := st.MutationByID(context.Background(), id, store.Scope{})
	if err != nil {
		t.Fatal(err)
	}
	return m.State
}

func TestAcknowledgeRequestAndApprove(t *testing.T) {
	t.Parallel()
	e, m := newAckEnv(t)
	page := web.MutationURL(m.ID)
	root, vic := e.browser(), e.browser()
	root.signIn("root")
	vic.signIn("vic")
	open0, acked0, _ := overviewCounts(t, root)
	if open0 < 1 || acked0 != 0 {
		t.Fatalf("before: %d open, %d acknowledged", open0, acked0)
	}

	// The list offers the action; the viewer's page asks, and says an admin approves.
	p := vic.get("/mutations")
	wantStatus(t, p, http.StatusOK)
	if p.find(`[data-testid=mutation-row][data-id="`+itoa(m.ID)+`"] [data-testid=acknowledge-link]`).AttrOr("href", "") != page+"#acknowledge" {
		t.Errorf("no acknowledge link on the row: %s", p.body)
	}
	p = vic.get(page)
	wantStatus(t, p, http.StatusOK)
	if p.text("#acknowledge") != "Request acknowledgement" || p.text("[data-testid=ack-submit]") != "Request acknowledgement" ||
		!strings.Contains(p.text("[data-testid=request-note]"), "An admin approves it") {
		t.Errorf("viewer's form: %q %q", p.text("#acknowledge"), p.text("[data-testid=request-note]"))
	}

	// Refusals, each next to its field.
	later := e.clock.Now().Add(30 * 24 * time.Hour).UTC().Format("2006-01-02T15:04")
	tooLate := e.clock.Now().Add(120 * 24 * time.Hour).UTC().Format("2006-01-02T15:04")
	for _, c := range []struct {
		form  url.Values
		field string
	}{
		{url.Values{"reason": {" "}, "until": {"resolved"}}, "ack-reason"},
		{url.Values{"reason": {"x"}, "until": {"time"}}, "ack-expires"},
		{url.Values{"reason": {"x"}, "until": {"time"}, "expires": {tooLate}}, "ack-expires"},
		{url.Values{"reason": {"x"}, "until": {"time"}, "expires": {"2001-01-01T00:00"}}, "ack-expires"},
		{url.Values{"reason": {"x"}, "until": {"forever"}}, "ack-until"},
		{url.Values{"reason": {"x"}, "until": {"resolved"}, "ticket": {"javascript:alert(1)"}}, "ack-ticket"},
	} {
		p = vic.post(page+"/acknowledge", c.form)
		wantStatus(t, p, http.StatusUnprocessableEntity)
		if p.text("[data-testid=error-"+c.field+"]") == "" {
			t.Errorf("%v: no message next to %s: %s", c.form, c.field, p.body)
		}
	}
	// A post from another site is refused, as every form's.
	p = vic.do(http.MethodPost, page+"/acknowledge", url.Values{"reason": {"x"}, "until": {"resolved"}}, map[string]string{"Sec-Fetch-Site": "cross-site"})
	wantStatus(t, p, http.StatusForbidden)
	if acks, _ := e.st.Acks(context.Background(), store.AckFilter{}); len(acks) != 0 {
		t.Fatalf("a refused form made %d acknowledgements", len(acks))
	}

	// The viewer's request: the mutation stays open, the counts do not move.
	p = vic.post(page+"/acknowledge", url.Values{"reason": {hostileReason}, "until": {"time"}, "expires": {later},
		"ticket": {"https://tracker.example.com/OPS-123"}})
	wantStatus(t, p, http.StatusSeeOther)
	if s := mutationState(t, e.st, m.ID); s != attention.StateOpen {
		t.Fatalf("after a request: %s", s)
	}
	if o, a, _ := overviewCounts(t, root); o != open0 || a != 0 {
		t.Errorf("after a request: %d open, %d acknowledged", o, a)
	}
	p = vic.get(page)
	if p.find("[data-testid=pending-request]").Length() != 1 || p.find(`[data-testid=ack-row][data-state=requested]`).Length() != 1 {
		t.Errorf("the page does not show the pending request: %s", p.body)
	}

	// Only an admin decides: the viewer sees no buttons and is refused.
	p = vic.get("/acknowledgements")
	wantStatus(t, p, http.StatusOK)
	req := p.find(`[data-testid=requests] [data-testid=ack-row]`)
	if req.Length() != 1 || p.find("[data-testid=ack-approve]").Length() != 0 || p.find("[data-testid=rule-form]").Length() != 0 {
		t.Fatalf("viewer's page: %d requests: %s", req.Length(), p.body)
	}
	id := req.AttrOr("data-id", "")
	wantStatus(t, vic.post("/acknowledgements/"+id+"/approve", nil), http.StatusForbidden)
	p = root.get("/acknowledgements")
	if p.find(`[data-testid=requests] [data-testid=ack-approve]`).Length() != 1 || p.find("img[src=x]").Length() != 0 ||
		p.text(`[data-testid=requests] [data-testid=ack-reason]`) != hostileReason {
		t.Fatalf("admin's page: %s", p.body)
	}
	wantStatus(t, root.post("/acknowledgements/"+id+"/approve", nil), http.StatusSeeOther)
	// Approving twice is a conflict, said on a page.
	wantStatus(t, root.post("/acknowledgements/"+id+"/approve", nil), http.StatusConflict)

	// Approved: acknowledged, out of the open count, beside it.
	if s := mutationState(t, e.st, m.ID); s != attention.StateAcknowledged {
		t.Fatalf("after approval: %s", s)
	}
	if o, a, _ := overviewCounts(t, root); o != open0-1 || a != 1 {
		t.Errorf("after approval: %d open, %d acknowledged; before %d open", o, a, open0)
	}
	p = vic.get(page)
	if p.text("[data-testid=ack-who]") != "user:vic" || p.text("[data-testid=acknowledged-by] [data-testid=ack-reason]") != hostileReason ||
		p.text("[data-testid=acknowledged-by] [data-testid=ack-approver]") != "user:root" ||
		p.find("[data-testid=ack-form]").Length() != 0 {
		t.Errorf("acknowledged page: %s", p.body)
	}
	p = vic.get("/mutations")
	if p.find(`[data-testid=mutation-row][data-id="`+itoa(m.ID)+`"]`).Length() != 0 {
		t.Error("the default list (open) shows an acknowledged mutation")
	}
	p = vic.get("/mutations?state=acknowledged")
	row := p.find(`[data-testid=mutation-row][data-id="` + itoa(m.ID) + `"]`)
	if row.AttrOr("data-state", "") != "acknowledged" || !strings.Contains(row.Find("[data-testid=why]").Text(), "user:vic") {
		t.Errorf("acknowledged list: %s", p.body)
	}
	p = vic.get(web.WorkloadURL("prod", "shop", "Deployment", "web"))
	// The tag-divergence through it is still open: the workload is mutant, and its
	// acknowledged mutation is listed as such, with who and why.
	row = p.find(`[data-testid=open-mutations] [data-testid=mutation-row][data-id="` + itoa(m.ID) + `"]`)
	if row.AttrOr("data-state", "") != "acknowledged" || !strings.Contains(row.Find("[data-testid=why]").Text(), "user:vic") ||
		p.find("[data-testid=known]").Length() != 0 {
		t.Errorf("workload page: %s", p.body)
	}

	// Revoked: open again, and the acknowledgement stays in the history.
	wantStatus(t, root.post("/acknowledgements/"+id+"/revoke", nil), http.StatusSeeOther)
	if o, a, _ := overviewCounts(t, root); o != open0 || a != 0 {
		t.Errorf("after revocation: %d open, %d acknowledged", o, a)
	}
	p = root.get("/acknowledgements?status=history")
	if p.find(`[data-testid=acks] [data-testid=ack-row][data-state=revoked]`).Length() != 1 {
		t.Errorf("history: %s", p.body)
	}
	if p = root.get("/acknowledgements"); p.find(`[data-testid=acks] [data-testid=ack-row]`).Length() != 0 {
		t.Errorf("a revoked acknowledgement is listed as current")
	}

	// An admin's acknowledgement is active at once.
	p = root.get(page)
	if p.text("#acknowledge") != "Acknowledge" || p.find("[data-testid=request-note]").Length() != 0 {
		t.Errorf("admin's form: %q", p.text("#acknowledge"))
	}
	wantStatus(t, root.post(page+"/acknowledge", url.Values{"reason": {"known"}, "until": {"changed"}}), http.StatusSeeOther)
	if s := mutationState(t, e.st, m.ID); s != attention.StateAcknowledged {
		t.Fatalf("after an admin's acknowledgement: %s", s)
	}
	if o, a, _ := overviewCounts(t, root); o != open0-1 || a != 1 {
		t.Errorf("after an admin's acknowledgement: %d open, %d acknowledged", o, a)
	}
	p = root.get(page)
	if !strings.Contains(p.text("[data-testid=acknowledged-by] [data-testid=ack-ends]"), "until it changes") {
		t.Errorf("ends: %q", p.text("[data-testid=acknowledged-by] [data-testid=ack-ends]"))
	}
	// With the tag-divergence through it acknowledged too, nothing of the workload
	// needs attention: the page says so.
	tds, err := e.st.ListMutations(context.Background(), store.MutationFilter{Kind: string(detect.TagDivergence), State: store.StateOpen})
	if err != nil || len(tds) != 1 {
		t.Fatalf("open tag-divergences: %d, %v", len(tds), err)
	}
	wantStatus(t, root.post(web.MutationURL(tds[0].ID)+"/acknowledge", url.Values{"reason": {"rollout under way"}, "until": {"resolved"}}), http.StatusSeeOther)
	p = vic.get(web.WorkloadURL("prod", "shop", "Deployment", "web"))
	if p.find("[data-testid=known] [data-testid=state]").Text() != "acknowledged" {
		t.Errorf("workload page, all acknowledged: %q", p.text("[data-testid=known]"))
	}
	if o, a, _ := overviewCounts(t, root); o != open0-2 || a != 2 {
		t.Errorf("both acknowledged: %d open, %d acknowledged", o, a)
	}
	// Audited as the admin did it.
	evs, _ := e.st.FindAuditEvents(context.Background(), store.AuditFilter{Actor: "user:root", Action: "ack.", Limit: 10})
	if len(evs) != 4 { // approve, revoke, create, create
		t.Errorf("%d audit events of root's acknowledgements", len(evs))
	}
}

func TestRuleForm(t *testing.T) {
	t.Parallel()
	e, wd := newAckEnv(t)
	root, vic := e.browser(), e.browser()
	root.signIn("root")
	vic.signIn("vic")
	p := root.get("/acknowledgements")
	wantStatus(t, p, http.StatusOK)
	for _, id := range []string{"no-requests", "no-acks", "no-rules", "no-unmatched"} {
		if p.find("[data-testid="+id+"]").Length() != 1 {
			t.Errorf("no empty state %s", id)
		}
	}
	if !strings.Contains(p.text("[data-testid=rule-form]"), web.RuleScopeExample) {
		t.Error("the form shows no example scope")
	}
	wantStatus(t, vic.post("/acknowledgements/rules", url.Values{"scope": {`cluster="prod"`}, "reason": {"x"}}), http.StatusForbidden)

	for _, c := range []struct {
		form        url.Values
		field, want string
	}{
		{url.Values{"scope": {`reference=~"registry.example.com/team-a/.*:nightly", cluster=~"dev-.*`}, "reason": {"x"}}, "rule-scope", "Scope:"},
		{url.Values{"scope": {`team="a"`}, "reason": {"x"}}, "rule-scope", `unknown label "team"`},
		{url.Values{"scope": {""}, "reason": {"x"}}, "rule-scope", "empty"},
		{url.Values{"scope": {`cluster="prod"`}, "reason": {""}}, "rule-reason", "Say why"},
		{url.Values{"scope": {`cluster="prod"`}, "reason": {"x"}, "expires": {"soon"}}, "rule-expires", "Not a time"},
	} {
		p = root.post("/acknowledgements/rules", c.form)
		wantStatus(t, p, http.StatusUnprocessableEntity)
		if got := p.text("[data-testid=error-" + c.field + "]"); !strings.Contains(got, c.want) {
			t.Errorf("%v: %s says %q, want %q", c.form, c.field, got, c.want)
		}
		// What was typed stays.
		if p.find("#rule-scope").Text() != c.form.Get("scope") {
			t.Errorf("scope not kept: %q", p.find("#rule-scope").Text())
		}
	}
	if rules, _ := e.st.Rules(context.Background(), false, store.Scope{}); len(rules) != 0 {
		t.Fatalf("a refused form made %d rules", len(rules))
	}

	// A rule over the tag's moves: the move is expected, counted beside open.
	_, _, exp0 := overviewCounts(t, root)
	p = root.post("/acknowledgements/rules", url.Values{"scope": {`reference="nginx:1.25", cluster=~".*"`}, "reason": {hostileReason},
		"expires": {e.clock.Now().Add(48 * time.Hour).Format("2006-01-02T15:04")}})
	wantStatus(t, p, http.StatusSeeOther)
	// One that matches nothing.
	wantStatus(t, root.post("/acknowledgements/rules", url.Values{"scope": {`cluster="nowhere"`}, "reason": {"gone"}}), http.StatusSeeOther)
	p = root.get("/acknowledgements?done=rule")
	if p.text("[data-testid=flash]") != "Rule declared." || p.find(`[data-testid=rules] [data-testid=rule-row]`).Length() != 2 {
		t.Fatalf("rules: %s", p.body)
	}
	// The reference equality is stored normalized.
	if !strings.Contains(p.find(`[data-testid=rules]`).Text(), `reference="docker.io/library/nginx:1.25"`) {
		t.Errorf("scope not normalized: %s", p.find(`[data-testid=rules]`).Text())
	}
	unmatched := p.find(`[data-testid=unmatched-rules] [data-testid=rule-row]`)
	if unmatched.Length() != 1 || unmatched.Find("[data-testid=rule-scope]").Text() != `cluster="nowhere"` {
		t.Errorf("unmatched: %d", unmatched.Length())
	}
	o, _, exp := overviewCounts(t, root)
	if exp <= exp0 {
		t.Errorf("expected %d after the rule, %d before (open %d)", exp, exp0, o)
	}
	ms, _ := e.st.ListMutations(context.Background(), store.MutationFilter{State: store.StateExpected})
	if len(ms) == 0 {
		t.Fatal("nothing expected")
	}
	p = vic.get(web.MutationURL(ms[0].ID))
	if p.text("[data-testid=expected-by] [data-testid=rule-reason]") != hostileReason || p.find("[data-testid=ack-form]").Length() != 0 {
		t.Errorf("expected mutation's page: %s", p.body)
	}

	// Revoked: in the history, not current.
	id := unmatched.AttrOr("data-id", "")
	wantStatus(t, root.post("/acknowledgements/rules/"+id+"/revoke", nil), http.StatusSeeOther)
	wantStatus(t, root.post("/acknowledgements/rules/"+id+"/revoke", nil), http.StatusConflict)
	p = root.get("/acknowledgements?status=history")
	if r := p.find(`[data-testid=rules] [data-testid=rule-row]`); r.Length() != 1 || r.AttrOr("data-state", "") != "revoked" {
		t.Errorf("history rules: %s", p.body)
	}
	wantStatus(t, root.get("/acknowledgements?status=bogus"), http.StatusBadRequest)

	// A ticket that is not a web link (stored by another client) is never a live link.
	if _, err := e.st.CreateAck(context.Background(), store.Audit{Actor: "token:1:script"}, store.NewAck{MutationID: wd.ID,
		Reason: "x", Ticket: "javascript:alert(1)", Until: attention.UntilResolved, Approved: true}); err != nil {
		t.Fatal(err)
	}
	p = vic.get(web.MutationURL(wd.ID))
	for _, s := range []string{"[data-testid=acknowledged-by] [data-testid=ack-ticket]", "[data-testid=acks] [data-testid=ack-ticket]"} {
		if href := p.find(s).AttrOr("href", ""); href == "" || strings.HasPrefix(href, "javascript:") {
			t.Errorf("%s: href %q", s, href)
		}
	}
}
