package api

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tagdrift/tagdrift/store"
)

// stateJSON is what the tests read of a mutation: its state and why.
type stateJSON struct {
	ID              int64  `json:"id"`
	Kind            string `json:"kind"`
	State           string `json:"state"`
	Acknowledgement *struct {
		ID        int64      `json:"id"`
		By        string     `json:"by"`
		Reason    string     `json:"reason"`
		Ticket    string     `json:"ticket"`
		Until     string     `json:"until"`
		ExpiresAt *time.Time `json:"expiresAt"`
	} `json:"acknowledgement"`
	Rule *struct {
		ID     int64  `json:"id"`
		Scope  string `json:"scope"`
		Reason string `json:"reason"`
	} `json:"rule"`
}

// mutationOf returns the one mutation of kind the fleet has unresolved.
func mutationOf(t *testing.T, c caller, kind string) stateJSON {
	t.Helper()
	var l struct{ Items []stateJSON }
	res := c.get("/api/v1/mutations?state=unresolved&kind=" + kind)
	want(t, res, http.StatusOK)
	res.decode(t, &l)
	if len(l.Items) != 1 {
		t.Fatalf("%d unresolved %s: %s", len(l.Items), kind, res.body)
	}
	return l.Items[0]
}

// mutationByID reads one mutation.
func mutationByID(t *testing.T, c caller, id int64) stateJSON {
	t.Helper()
	var m stateJSON
	res := c.get(fmt.Sprintf("/api/v1/mutations/%d", id))
	want(t, res, http.StatusOK)
	res.decode(t, &m)
	return m
}

// listedIDs returns the ids a mutations list answers.
func listedIDs(t *testing.T, c caller, query string) []int64 {
	t.Helper()
	var l struct{ Items []stateJSON }
	res := c.get("/api/v1/mutations" + query)
	want(t, res, http.StatusOK)
	res.decode(t, &l)
	ids := make([]int64, len(l.Items))
	for i, m := range l.Items {
		ids[i] = m.ID
	}
	return ids
}

// ackBody is a POST /api/v1/acknowledgements body of a mutation.
func ackBody(mutation int64, until string, expires *time.Time, extra string) string {
	b := fmt.Sprintf(`{"mutation":%d,"reason":"rolling out v2","until":%q`, mutation, until)
	if expires != nil {
		b += `,"expiresAt":"` + expires.UTC().Format(time.RFC3339) + `"`
	}
	return b + extra + "}"
}

// wantProblem fails unless res is a problem of status whose detail holds each of parts.
func wantProblem(t *testing.T, res response, status int, parts ...string) {
	t.Helper()
	want(t, res, status)
	p := res.problem(t)
	for _, part := range parts {
		if !strings.Contains(p.Detail, part) {
			t.Errorf("detail %q does not say %q", p.Detail, part)
		}
	}
}

// auditActions returns the actions the audit trail lists for a family ("ack.").
func auditActions(t *testing.T, c caller, family string) []string {
	t.Helper()
	var l struct {
		Items []auditJSON
	}
	res := c.get("/api/v1/audit?limit=100&action=" + url.QueryEscape(family))
	want(t, res, http.StatusOK)
	res.decode(t, &l)
	var out []string
	for _, e := range l.Items {
		if !strings.HasPrefix(e.Action, family) {
			t.Errorf("action=%s lists %s", family, e.Action)
		}
		out = append(out, e.Action)
	}
	return out
}

// A viewer asks, an admin approves, denies, revokes; the mutation's state follows and
// says why; the limits and refusals say what is wrong.
func TestAcknowledgementFlow(t *testing.T) {
	t.Parallel()
	e, _ := newFleet(t)
	admin, viewer := e.as("admin"), e.as("viewer")
	wd := mutationOf(t, admin, "workload-divergence")
	if wd.State != "open" || wd.Acknowledgement != nil || wd.Rule != nil {
		t.Fatalf("fresh workload-divergence: %+v", wd)
	}
	day := time.Now().Add(24 * time.Hour)

	// A viewer's acknowledgement is a request: the mutation stays open.
	res := viewer.send("POST", "/api/v1/acknowledgements", ackBody(wd.ID, "time", &day, `,"ticket":"https://tickets.example.com/OPS-1"`))
	want(t, res, http.StatusCreated)
	var req ackJSON
	res.decode(t, &req)
	if req.Status != store.AckRequested || req.Mutation == nil || *req.Mutation != wd.ID || req.Scope != nil ||
		res.header.Get("Location") != fmt.Sprintf("/api/v1/acknowledgements/%d", req.ID) || !strings.HasPrefix(req.RequestedBy, "token:") {
		t.Fatalf("request %+v, Location %q", req, res.header.Get("Location"))
	}
	if got := mutationByID(t, viewer, wd.ID); got.State != "open" {
		t.Fatalf("a request made the mutation %q", got.State)
	}
	// Viewers do not decide.
	want(t, viewer.send("POST", fmt.Sprintf("/api/v1/acknowledgements/%d/approve", req.ID), ""), http.StatusForbidden)
	want(t, viewer.send("POST", fmt.Sprintf("/api/v1/acknowledgements/%d/deny", req.ID), ""), http.StatusForbidden)

	// Approved, it covers the mutation, and the answer says who, why, until when.
	res = admin.send("POST", fmt.Sprintf("/api/v1/acknowledgements/%d/approve", req.ID), "")
	want(t, res, http.StatusOK)
	var approved ackJSON
	res.decode(t, &approved)
	if approved.Status != store.AckActive || approved.DecidedBy == "" || approved.DecidedAt == nil {
		t.Fatalf("approved %+v", approved)
	}
	got := mutationByID(t, viewer, wd.ID)
	if a := got.Acknowledgement; got.State != "acknowledged" || a == nil || a.ID != req.ID || a.By != req.RequestedBy ||
		a.Reason != "rolling out v2" || a.Ticket != "https://tickets.example.com/OPS-1" || a.Until != "time" ||
		a.ExpiresAt == nil || !a.ExpiresAt.Equal(day.Truncate(time.Second)) || got.Rule != nil {
		t.Fatalf("acknowledged mutation %+v (acknowledgement %+v)", got, got.Acknowledgement)
	}
	if ids := listedIDs(t, viewer, ""); slices.Contains(ids, wd.ID) {
		t.Errorf("state=open (the default) lists the acknowledged mutation: %v", ids)
	}
	if ids := listedIDs(t, viewer, "?state=acknowledged"); !slices.Equal(ids, []int64{wd.ID}) {
		t.Errorf("state=acknowledged lists %v", ids)
	}
	wantProblem(t, viewer.get("/api/v1/mutations?state=snoozed"), http.StatusBadRequest, "acknowledged", "unresolved")
	// Twice is a conflict that says why.
	wantProblem(t, admin.send("POST", fmt.Sprintf("/api/v1/acknowledgements/%d/approve", req.ID), ""), http.StatusConflict, "not requested")
	// A viewer does not end an active one, even their own.
	want(t, viewer.send("POST", fmt.Sprintf("/api/v1/acknowledgements/%d/revoke", req.ID), ""), http.StatusForbidden)

	// Revoked, the mutation opens again; revoking again is a conflict.
	res = admin.send("POST", fmt.Sprintf("/api/v1/acknowledgements/%d/revoke", req.ID), "")
	want(t, res, http.StatusOK)
	var revoked ackJSON
	res.decode(t, &revoked)
	if revoked.Status != store.AckEnded || revoked.EndReason != "revoked" || revoked.EndedBy == "" || revoked.EndedAt == nil {
		t.Fatalf("revoked %+v", revoked)
	}
	if got := mutationByID(t, viewer, wd.ID); got.State != "open" || got.Acknowledgement != nil {
		t.Fatalf("after revocation %+v", got)
	}
	wantProblem(t, admin.send("POST", fmt.Sprintf("/api/v1/acknowledgements/%d/revoke", req.ID), ""), http.StatusConflict, "ended")

	// Denied, nothing changes; a denied request is not withdrawn.
	res = viewer.send("POST", "/api/v1/acknowledgements", ackBody(wd.ID, "changed", nil, ""))
	want(t, res, http.StatusCreated)
	var second ackJSON
	res.decode(t, &second)
	res = admin.send("POST", fmt.Sprintf("/api/v1/acknowledgements/%d/deny", second.ID), "")
	want(t, res, http.StatusOK)
	var denied ackJSON
	res.decode(t, &denied)
	if denied.Status != store.AckDenied {
		t.Fatalf("denied %+v", denied)
	}
	if got := mutationByID(t, viewer, wd.ID); got.State != "open" {
		t.Fatalf("after denial %q", got.State)
	}
	want(t, viewer.send("POST", fmt.Sprintf("/api/v1/acknowledgements/%d/revoke", second.ID), ""), http.StatusForbidden)
	wantProblem(t, admin.send("POST", fmt.Sprintf("/api/v1/acknowledgements/%d/revoke", second.ID), ""), http.StatusConflict, "denied")

	// A viewer withdraws their own request; another viewer may not.
	res = viewer.send("POST", "/api/v1/acknowledgements", ackBody(wd.ID, "resolved", nil, ""))
	want(t, res, http.StatusCreated)
	var third ackJSON
	res.decode(t, &third)
	_, other, err := e.st.CreateToken(context.Background(), store.NewToken{Name: "other viewer", Role: store.RoleViewer}, store.Audit{Actor: "cli:test"})
	if err != nil {
		t.Fatal(err)
	}
	e.tokens["other"] = other
	want(t, e.as("other").send("POST", fmt.Sprintf("/api/v1/acknowledgements/%d/revoke", third.ID), ""), http.StatusForbidden)
	res = viewer.send("POST", fmt.Sprintf("/api/v1/acknowledgements/%d/revoke", third.ID), "")
	want(t, res, http.StatusOK)
	res.decode(t, &third)
	if third.Status != store.AckEnded || third.EndReason != "revoked" {
		t.Fatalf("withdrawn %+v", third)
	}

	// A viewer asks at most 90 days ahead; an admin is not limited, and is active at once.
	far := time.Now().Add(91 * 24 * time.Hour)
	wantProblem(t, viewer.send("POST", "/api/v1/acknowledgements", ackBody(wd.ID, "time", &far, "")), http.StatusBadRequest, "at most 90 days ahead")
	wantProblem(t, viewer.send("POST", "/api/v1/acknowledgements", ackBody(wd.ID, "resolved", &far, "")), http.StatusBadRequest, "90 days")
	res = admin.send("POST", "/api/v1/acknowledgements", ackBody(wd.ID, "time", &far, ""))
	want(t, res, http.StatusCreated)
	var own ackJSON
	res.decode(t, &own)
	if own.Status != store.AckActive || !strings.HasSuffix(own.RequestedBy, ":admin") || own.DecidedBy != own.RequestedBy {
		t.Fatalf("admin's own %+v", own)
	}
	if got := mutationByID(t, viewer, wd.ID); got.State != "acknowledged" || got.Acknowledgement == nil || got.Acknowledgement.ID != own.ID {
		t.Fatalf("after the admin's own %+v", got)
	}

	// Refusals name the problem.
	past := time.Now().Add(-time.Minute)
	moved := mutationsOfKind(t, admin, "tag-moved")
	for _, tc := range []struct {
		body   string
		status int
		says   string
	}{
		{`{"mutation":` + fmt.Sprint(wd.ID) + `,"reason":"  ","until":"changed"}`, http.StatusBadRequest, "reason is required"},
		{ackBody(wd.ID, "changed", nil, `,"ticket":"ftp://tickets.example.com/1"`), http.StatusBadRequest, "ticket"},
		{ackBody(wd.ID, "changed", nil, `,"ticket":"OPS-1"`), http.StatusBadRequest, "http or https"},
		{ackBody(wd.ID, "time", nil, ""), http.StatusBadRequest, "needs expiresAt"},
		{ackBody(wd.ID, "forever", nil, ""), http.StatusBadRequest, "until must be one of time, resolved, changed"},
		{ackBody(wd.ID, "time", &past, ""), http.StatusBadRequest, "in the future"},
		{ackBody(wd.ID, "changed", nil, `,"scope":"cluster=\"prod\""`), http.StatusBadRequest, "not both"},
		{`{"reason":"x","until":"time"}`, http.StatusBadRequest, "a mutation"},
		{`{"scope":"cluster=\"prod\"","reason":"x","until":"resolved"}`, http.StatusBadRequest, "until must be time"},
		{`{"scope":"team=\"a\"","reason":"x","until":"time","expiresAt":"` + day.UTC().Format(time.RFC3339) + `"}`, http.StatusBadRequest, `unknown label "team"`},
		{ackBody(999999, "changed", nil, ""), http.StatusNotFound, "mutation 999999 not found"},
		{ackBody(moved[0], "changed", nil, ""), http.StatusConflict, "event"},
	} {
		wantProblem(t, viewer.send("POST", "/api/v1/acknowledgements", tc.body), tc.status, tc.says)
	}
	want(t, viewer.get("/api/v1/acknowledgements/999999"), http.StatusNotFound)
	want(t, admin.send("POST", "/api/v1/acknowledgements/999999/approve", ""), http.StatusNotFound)

	// The list filters and pages.
	var l struct {
		Items      []ackJSON
		NextCursor string
	}
	res = viewer.get("/api/v1/acknowledgements?status=ended&limit=1")
	want(t, res, http.StatusOK)
	res.decode(t, &l)
	if len(l.Items) != 1 || l.Items[0].ID != third.ID || l.NextCursor == "" {
		t.Fatalf("first page of ended: %s", res.body)
	}
	res = viewer.get("/api/v1/acknowledgements?status=ended&limit=1&cursor=" + l.NextCursor)
	want(t, res, http.StatusOK)
	res.decode(t, &l)
	if len(l.Items) != 1 || l.Items[0].ID != req.ID || l.NextCursor != "" {
		t.Fatalf("second page of ended: %s", res.body)
	}
	want(t, viewer.get("/api/v1/acknowledgements?status=active&limit=1&cursor="+url.QueryEscape(l.NextCursor+"x")), http.StatusBadRequest)
	res = viewer.get(fmt.Sprintf("/api/v1/acknowledgements?mutation=%d", wd.ID))
	want(t, res, http.StatusOK)
	res.decode(t, &l)
	if len(l.Items) != 4 || l.Items[0].ID != own.ID {
		t.Fatalf("acknowledgements of the mutation: %s", res.body)
	}
	wantProblem(t, viewer.get("/api/v1/acknowledgements?status=asleep"), http.StatusBadRequest, "status")
	res = viewer.get(fmt.Sprintf("/api/v1/acknowledgements/%d", second.ID))
	want(t, res, http.StatusOK)

	// Every change is in the audit trail, under the ack. family.
	acts := auditActions(t, admin, "ack.")
	for _, a := range []string{"ack.request", "ack.approve", "ack.revoke", "ack.deny", "ack.create"} {
		if !slices.Contains(acts, a) {
			t.Errorf("audit ack. lists %v, not %s", acts, a)
		}
	}
}

// mutationsOfKind returns the ids of every mutation of kind.
func mutationsOfKind(t *testing.T, c caller, kind string) []int64 {
	t.Helper()
	ids := listedIDs(t, c, "?state=all&kind="+kind)
	if len(ids) == 0 {
		t.Fatalf("no %s", kind)
	}
	return ids
}

// A rule makes the tag-divergence expected (not open, with the rule in the answer), a
// scope acknowledgement covers what lies in it, and what matches nothing is listed.
func TestRulesAndScopes(t *testing.T) {
	t.Parallel()
	e, f := newFleet(t)
	// Staging runs another digest of the tag: a tag-divergence across the clusters.
	f.scan("staging", time.Now().Add(-30*time.Second).Truncate(time.Second).UTC(), webPod("staging", "web-s", "u-s", "c"))
	admin, viewer := e.as("admin"), e.as("viewer")
	td := mutationOf(t, admin, "tag-divergence")
	wd := mutationOf(t, admin, "workload-divergence")
	if td.State != "open" || !slices.Contains(listedIDs(t, viewer, "?state=open"), td.ID) {
		t.Fatalf("fresh tag-divergence %+v", td)
	}
	later := time.Now().Add(30 * 24 * time.Hour).UTC().Format(time.RFC3339)

	// Refusals name the problem; viewers declare nothing.
	for _, tc := range []struct{ body, says string }{
		{`{"scope":"team=\"a\"","reason":"x"}`, `unknown label "team"`},
		{`{"scope":"cluster=~\"[\"","reason":"x"}`, "scope: "},
		{`{"scope":"cluster","reason":"x"}`, "scope: "},
		{`{"scope":"","reason":"x"}`, "scope: empty"},
		{`{"scope":"cluster=\"dev\"","reason":""}`, "reason is required"},
		{`{"scope":"cluster=\"dev\"","reason":"x","expiresAt":"2001-01-01T00:00:00Z"}`, "in the future"},
	} {
		wantProblem(t, admin.send("POST", "/api/v1/rules", tc.body), http.StatusBadRequest, tc.says)
	}
	want(t, viewer.send("POST", "/api/v1/rules", `{"scope":"cluster=\"dev\"","reason":"x"}`), http.StatusForbidden)

	// The rule: the tag-divergence is expected and says why; the workload-divergence of
	// the same tag stays open (mixed code in one revision is a bug whatever the tag).
	res := admin.send("POST", "/api/v1/rules", `{"scope":"reference=\"nginx:1.25\"","reason":"moves nightly","expiresAt":"`+later+`"}`)
	want(t, res, http.StatusCreated)
	var rule ruleJSON
	res.decode(t, &rule)
	if !rule.Active || rule.Scope != `reference="docker.io/library/nginx:1.25"` || rule.ExpiresAt == nil || res.header.Get("Location") != fmt.Sprintf("/api/v1/rules/%d", rule.ID) {
		t.Fatalf("declared %+v, Location %q", rule, res.header.Get("Location"))
	}
	got := mutationByID(t, viewer, td.ID)
	if got.State != "expected" || got.Rule == nil || got.Rule.ID != rule.ID || got.Rule.Reason != "moves nightly" || got.Acknowledgement != nil {
		t.Fatalf("tag-divergence under the rule %+v", got)
	}
	open := listedIDs(t, viewer, "?state=open")
	if slices.Contains(open, td.ID) || !slices.Contains(open, wd.ID) {
		t.Fatalf("state=open lists %v (tag-divergence %d, workload-divergence %d)", open, td.ID, wd.ID)
	}
	var l struct{ Items []stateJSON }
	res = viewer.get("/api/v1/mutations?state=expected&kind=tag-divergence")
	want(t, res, http.StatusOK)
	res.decode(t, &l)
	if len(l.Items) != 1 || l.Items[0].ID != td.ID || l.Items[0].Rule == nil || l.Items[0].Rule.Scope != rule.Scope {
		t.Fatalf("state=expected: %s", res.body)
	}
	if ids := listedIDs(t, viewer, "?state=unresolved"); !slices.Contains(ids, td.ID) || !slices.Contains(ids, wd.ID) {
		t.Fatalf("state=unresolved lists %v", ids)
	}

	// A scope acknowledgement covers the prod workload-divergence; the tag-divergence
	// spans clusters, so it is not inside cluster="prod".
	wantProblem(t, viewer.send("POST", "/api/v1/acknowledgements", `{"scope":"cluster=\"prod\"","reason":"x","until":"changed"}`),
		http.StatusBadRequest, "until must be time")
	res = admin.send("POST", "/api/v1/acknowledgements", `{"scope":"cluster=\"prod\"","reason":"prod freeze","until":"time","expiresAt":"`+later+`"}`)
	want(t, res, http.StatusCreated)
	var scoped ackJSON
	res.decode(t, &scoped)
	if scoped.Status != store.AckActive || scoped.Mutation != nil || scoped.Scope == nil || *scoped.Scope != `cluster="prod"` {
		t.Fatalf("scope acknowledgement %+v", scoped)
	}
	if got := mutationByID(t, viewer, wd.ID); got.State != "acknowledged" || got.Acknowledgement == nil || got.Acknowledgement.ID != scoped.ID {
		t.Fatalf("workload-divergence under the scope %+v", got)
	}
	if got := mutationByID(t, viewer, td.ID); got.State != "expected" {
		t.Fatalf("tag-divergence after the scope %q", got.State)
	}

	// What matches nothing: a rule and a scope of a cluster that does not exist.
	res = admin.send("POST", "/api/v1/rules", `{"scope":"cluster=\"nowhere\"","reason":"gone"}`)
	want(t, res, http.StatusCreated)
	var stale ruleJSON
	res.decode(t, &stale)
	res = admin.send("POST", "/api/v1/acknowledgements", `{"scope":"cluster=\"nowhere\"","reason":"gone","until":"time","expiresAt":"`+later+`"}`)
	want(t, res, http.StatusCreated)
	var staleAck ackJSON
	res.decode(t, &staleAck)
	want(t, viewer.get("/api/v1/acknowledgements/unmatched"), http.StatusForbidden)
	res = admin.get("/api/v1/acknowledgements/unmatched")
	want(t, res, http.StatusOK)
	var un unmatchedJSON
	res.decode(t, &un)
	if len(un.Rules) != 1 || un.Rules[0].ID != stale.ID || len(un.Acknowledgements) != 1 || un.Acknowledgements[0].ID != staleAck.ID {
		t.Fatalf("unmatched: %s", res.body)
	}

	// Revoked, the rule ends and the tag-divergence is open again.
	res = admin.send("POST", fmt.Sprintf("/api/v1/rules/%d/revoke", rule.ID), "")
	want(t, res, http.StatusOK)
	res.decode(t, &rule)
	if rule.Active || rule.EndReason != "revoked" || rule.EndedAt == nil || rule.EndedBy == "" {
		t.Fatalf("revoked %+v", rule)
	}
	if got := mutationByID(t, viewer, td.ID); got.State != "open" || got.Rule != nil {
		t.Fatalf("after the rule's revocation %+v", got)
	}
	wantProblem(t, admin.send("POST", fmt.Sprintf("/api/v1/rules/%d/revoke", rule.ID), ""), http.StatusConflict, "ended")
	want(t, admin.send("POST", "/api/v1/rules/999999/revoke", ""), http.StatusNotFound)
	want(t, viewer.send("POST", fmt.Sprintf("/api/v1/rules/%d/revoke", stale.ID), ""), http.StatusForbidden)

	var rules struct {
		Items      []ruleJSON
		NextCursor *string
	}
	res = viewer.get("/api/v1/rules")
	want(t, res, http.StatusOK)
	res.decode(t, &rules)
	if len(rules.Items) != 2 || rules.Items[0].ID != stale.ID || rules.NextCursor == nil {
		t.Fatalf("rules: %s", res.body)
	}
	res = viewer.get("/api/v1/rules?live=true")
	want(t, res, http.StatusOK)
	res.decode(t, &rules)
	if len(rules.Items) != 1 || rules.Items[0].ID != stale.ID {
		t.Fatalf("live rules: %s", res.body)
	}
	res = viewer.get(fmt.Sprintf("/api/v1/rules/%d", rule.ID))
	want(t, res, http.StatusOK)
	want(t, viewer.get("/api/v1/rules/999999"), http.StatusNotFound)

	acts := auditActions(t, admin, "rule.")
	if !slices.Contains(acts, "rule.create") || !slices.Contains(acts, "rule.revoke") {
		t.Errorf("audit rule. lists %v", acts)
	}
}
