package api

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tagdrift/tagdrift/store"
)

// TestGrantsAPI is the proof of grants that combine, through the API: a user given
// viewer on every cluster and admin on team-a (PUT /users/{name}/grants), through a
// token of theirs, reads team-b's clusters and mutations, cannot change team-b's
// cluster (403, since it can see it; a cluster it cannot read stays 404) nor manage
// team-b's routes, and changes team-a's cluster. The token is cut to its owner's
// grants at every request: narrowing the owner narrows it at once, and grants wider
// than the owner's are refused (409).
func TestGrantsAPI(t *testing.T) {
	t.Parallel()
	w := newScopedWorld(t)
	e := w.e
	ctx := context.Background()
	admin := e.as("admin")
	hash := "$argon2id$v=19$m=65536,t=1,p=4$c2FsdA$aGFzaA"
	mia, err := e.st.AddUser(ctx, store.NewUser{Name: "mia", Role: store.RoleViewer, PasswordHash: hash}, store.Audit{Actor: "cli:test"})
	if err != nil {
		t.Fatal(err)
	}
	res := admin.send("PUT", "/api/v1/users/mia/grants", `{"grants":[{"role":"viewer"},{"role":"admin","groups":["team-a"]}]}`)
	want(t, res, http.StatusOK)
	var got grantsJSON
	res.decode(t, &got)
	if fmt.Sprint(got.Grants) != "[{admin {false [team-a]}} {viewer {true []}}]" {
		t.Fatalf("mia's grants: %+v", got.Grants)
	}
	// Her token asks for admin on every cluster and gets hers: admin on team-a, viewer
	// on every cluster.
	tok, secret, err := e.st.CreateToken(ctx, store.NewToken{Name: "mia-ci", Role: store.RoleAdmin, OwnerID: mia.ID}, store.Audit{Actor: "user:mia"})
	if err != nil {
		t.Fatal(err)
	}
	if tok.Role != store.RoleAdmin || tok.Grants.ReadScope().Limited || !tok.Grants.AdminScope().Limited {
		t.Fatalf("mia's token starts with %+v", tok.Grants)
	}
	as := func(method, path, body string) response {
		t.Helper()
		return e.call(apiRequest{method: method, path: path, token: secret, body: body})
	}
	// She reads team-b.
	res = as("GET", "/api/v1/clusters", "")
	want(t, res, http.StatusOK)
	if !strings.Contains(string(res.body), `"beta-us"`) || !strings.Contains(string(res.body), `"alpha-eu"`) {
		t.Errorf("mia's clusters: %s", res.body)
	}
	want(t, as("GET", "/api/v1/clusters/beta-us", ""), http.StatusOK)
	want(t, as("GET", fmt.Sprintf("/api/v1/mutations/%d", w.betaMutation), ""), http.StatusOK)
	res = as("GET", "/api/v1/mutations?cluster=beta-us&state=all", "")
	want(t, res, http.StatusOK)
	if !strings.Contains(string(res.body), "billing-api") {
		t.Errorf("mia's mutations of beta-us: %s", res.body)
	}
	// She administers team-a only: 403 for team-b's cluster, which she sees; 404 for
	// one that does not exist and for team-b's routes, which only their admins see.
	for _, c := range []struct {
		method, path, body string
		status             int
	}{
		{"PATCH", "/api/v1/clusters/beta-us", `{"enabled":false}`, http.StatusForbidden},
		{"DELETE", "/api/v1/clusters/beta-us", "", http.StatusForbidden},
		{"POST", "/api/v1/clusters/beta-us/scans", "", http.StatusForbidden},
		{"PATCH", "/api/v1/clusters/alpha-eu", `{"group":"team-b"}`, http.StatusForbidden},
		{"POST", "/api/v1/clusters", clusterBody("gamma", testKubeconfig("", ""), `,"group":"team-b"`), http.StatusForbidden},
		{"PATCH", "/api/v1/clusters/zz-none", `{"enabled":false}`, http.StatusNotFound},
		{"PATCH", fmt.Sprintf("/api/v1/notifications/routes/%d", w.betaRoute), `{"enabled":false}`, http.StatusNotFound},
		{"POST", "/api/v1/groups", `{"name":"team-c"}`, http.StatusForbidden},
		{"PATCH", "/api/v1/clusters/alpha-eu", `{"scanInterval":"10m"}`, http.StatusOK},
	} {
		if res := as(c.method, c.path, c.body); res.status != c.status {
			t.Errorf("mia %s %s %s: %d, want %d: %s", c.method, c.path, c.body, res.status, c.status, res.body)
		}
	}
	if c, err := e.st.ClusterStatusByName(ctx, "beta-us", store.Scope{}); err != nil || !c.Enabled || c.Group != "team-b" {
		t.Errorf("beta-us after mia's attempts: %+v, %v", c, err)
	}
	if c, err := e.st.ClusterStatusByName(ctx, "alpha-eu", store.Scope{}); err != nil || c.ScanInterval.String() != "10m0s" || c.Group != "team-a" {
		t.Errorf("alpha-eu after mia's change: %+v, %v", c, err)
	}
	// She acknowledges team-a's mutation as an admin (active at once) and asks for
	// team-b's as a viewer does (requested).
	alpha, err := e.st.ListMutations(ctx, store.MutationFilter{State: store.StateUnresolved, Group: "team-a", Kind: "workload-divergence", Limit: 1})
	if err != nil || len(alpha) == 0 {
		t.Fatalf("alpha's mutations: %v, %v", alpha, err)
	}
	until := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	for id, status := range map[int64]string{alpha[0].ID: store.AckActive, w.betaMutation: store.AckRequested} {
		res := as("POST", "/api/v1/acknowledgements", fmt.Sprintf(`{"mutation":%d,"reason":"known","until":"time","expiresAt":%q}`, id, until))
		var k ackJSON
		if res.status == http.StatusCreated {
			res.decode(t, &k)
		}
		if res.status != http.StatusCreated || k.Status != status {
			t.Errorf("mia acknowledges mutation %d: %d %s; want 201 %s", id, res.status, res.body, status)
		}
	}
	// Her token's grants wider than hers: refused.
	if res := admin.send("PUT", fmt.Sprintf("/api/v1/tokens/%d/grants", tok.ID), `{"grants":[{"role":"admin"}]}`); res.status != http.StatusConflict {
		t.Errorf("a token's grants wider than its owner's: %d, want 409: %s", res.status, res.body)
	}
	// Mia narrowed to team-a alone: her token, whose own grants still read every
	// cluster, reads team-a only at its next request.
	want(t, admin.send("PUT", "/api/v1/users/mia/grants", `{"grants":[{"role":"admin","groups":["team-a"]}]}`), http.StatusOK)
	if sc, err := e.st.TokenScope(ctx, tok.ID); err != nil || sc.Limited {
		t.Fatalf("the token's own grants: %+v, %v; want every cluster still", sc, err)
	}
	want(t, as("GET", "/api/v1/clusters/beta-us", ""), http.StatusNotFound)
	want(t, as("PATCH", "/api/v1/clusters/beta-us", `{"enabled":false}`), http.StatusNotFound)
	res = as("GET", "/api/v1/clusters", "")
	want(t, res, http.StatusOK)
	if strings.Contains(string(res.body), "beta-us") || !strings.Contains(string(res.body), "alpha-eu") {
		t.Errorf("mia's token after her narrowing lists: %s", res.body)
	}
	// The audit trail says who got what.
	evs, err := e.st.FindAuditEvents(ctx, store.AuditFilter{Action: store.ActionUserGrants, Target: "mia", Limit: 10})
	if err != nil || len(evs) != 2 || fmt.Sprint(evs[1].Detail["to"]) != "[admin on team-a viewer on all clusters]" {
		t.Errorf("mia's grants audited: %+v, %v", evs, err)
	}
	// Bad grants: no grant, an unknown role or group.
	for body, status := range map[string]int{
		`{"grants":[]}`:                                    http.StatusBadRequest,
		`{"grants":[{"role":"owner"}]}`:                    http.StatusBadRequest,
		`{"grants":[{"role":"viewer","groups":["nope"]}]}`: http.StatusNotFound,
	} {
		if res := admin.send("PUT", "/api/v1/users/mia/grants", body); res.status != status {
			t.Errorf("PUT grants %s: %d, want %d: %s", body, res.status, status, res.body)
		}
	}
}
