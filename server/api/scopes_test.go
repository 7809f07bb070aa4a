package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"

	"github.com/tagdrift/tagdrift/scanner/imageref"
	"github.com/tagdrift/tagdrift/scanner/inventory"
	"github.com/tagdrift/tagdrift/store"
)

// scopedPod is a pod of Deployment workload in namespace ns running nginx:1.25 at a
// digest.
func scopedPod(cluster, ns, workload, pod, letter string) inventory.Pod {
	ref := imageref.ParseRef("nginx:1.25")
	id, _ := imageref.ParseImageID("docker.io/library/nginx@" + digestOf(letter))
	return inventory.Pod{
		Cluster: cluster, Namespace: ns, Name: pod, UID: types.UID(cluster + "/" + pod), Node: "n1", Arch: "amd64",
		Workload:   inventory.Workload{Kind: "Deployment", Name: workload},
		Controller: inventory.Controller{Kind: "ReplicaSet", Name: workload + "-1", UID: types.UID("rs-" + cluster + workload), Revision: "1"},
		Containers: []inventory.Container{{Name: "app", Type: inventory.Regular, Ref: &ref, ID: &id}},
	}
}

// scopedWorld is two cluster groups where the tag nginx:1.25 moves in both: beta-us
// (team-b) runs billing-api in ns-beta on digests c then d, then alpha-eu (team-a)
// runs shop-web in ns-alpha on a then b (lettered C and D across all clusters, A and
// B in team-a's scope); each Deployment runs both digests (mutant) and a
// second workload stays on the first (behind its tag). Beta also has a route, a rule
// and an acknowledgement of its own. It returns the env and beta's objects' ids.
type scopedWorld struct {
	e                                 *testEnv
	betaScan, betaMutation, betaRoute int64
	betaRule, betaAck, channel        int64
	// secrets of the tokens scoped to team-a
	viewerA, adminA string
}

func newScopedWorld(t *testing.T) *scopedWorld {
	t.Helper()
	ctx := context.Background()
	e := newEnv(t, nil)
	admin := e.as("admin")
	for _, g := range []string{"team-a", "team-b"} {
		want(t, admin.send("POST", "/api/v1/groups", `{"name":"`+g+`"}`), http.StatusCreated)
	}
	f := &fleet{t: t, e: e, id: map[string]int64{}}
	for name, group := range map[string]string{"alpha-eu": "team-a", "beta-us": "team-b"} {
		want(t, admin.send("POST", "/api/v1/clusters", clusterBody(name, testKubeconfig("", ""), `,"group":"`+group+`"`)), http.StatusCreated)
		c, err := e.st.ClusterStatusByName(ctx, name, store.Scope{})
		if err != nil {
			t.Fatal(err)
		}
		f.id[name] = c.ID
	}
	t0 := time.Now().Add(-3 * time.Minute).Truncate(time.Second).UTC()
	// Beta first: its digests take the letters A and B across all clusters, alpha's C
	// and D, which team-a must never see (its own are its A and B).
	for _, c := range []struct{ cluster, ns, wl, quiet, first, second string }{
		{"beta-us", "ns-beta", "billing-api", "billing-old", "c", "d"},
		{"alpha-eu", "ns-alpha", "shop-web", "shop-old", "a", "b"},
	} {
		f.scan(c.cluster, t0, scopedPod(c.cluster, c.ns, c.wl, c.wl+"-p1", c.first), scopedPod(c.cluster, c.ns, c.quiet, c.quiet+"-p1", c.first))
		f.scan(c.cluster, t0.Add(time.Minute), scopedPod(c.cluster, c.ns, c.wl, c.wl+"-p1", c.first),
			scopedPod(c.cluster, c.ns, c.wl, c.wl+"-p2", c.second), scopedPod(c.cluster, c.ns, c.quiet, c.quiet+"-p1", c.first))
	}
	w := &scopedWorld{e: e}
	scans, err := e.st.ListScans(ctx, store.ScanFilter{Cluster: "beta-us", Limit: 1})
	if err != nil || len(scans) != 1 {
		t.Fatalf("beta's scans: %v, %v", scans, err)
	}
	w.betaScan = scans[0].ID
	ms, err := e.st.ListMutations(ctx, store.MutationFilter{State: store.StateUnresolved, Group: "team-b", Kind: "workload-divergence", Limit: 10})
	if err != nil || len(ms) == 0 {
		t.Fatalf("beta's mutations: %v, %v", ms, err)
	}
	w.betaMutation = ms[0].ID
	ch, err := e.st.CreateChannel(ctx, store.Audit{Actor: "cli:test"}, store.NewChannel{Name: "hook", Kind: store.ChannelSlack,
		Secret: []byte("https://hooks.example/x"), Enabled: true})
	if err != nil {
		t.Fatal(err)
	}
	w.channel = ch.ID
	var rt routeJSON
	res := admin.send("POST", "/api/v1/notifications/routes", fmt.Sprintf(`{"channelId":%d,"clusterGroup":"team-b","matchers":"cluster=\"beta-us\""}`, ch.ID))
	want(t, res, http.StatusCreated)
	res.decode(t, &rt)
	w.betaRoute = rt.ID
	rule, err := e.st.CreateRule(ctx, store.Audit{Actor: "cli:test"}, store.NewRule{Scope: `group="team-b", workload="Deployment/billing-old"`, Reason: "beta"})
	if err != nil {
		t.Fatal(err)
	}
	w.betaRule = rule.ID
	until := time.Now().Add(time.Hour)
	ack, err := e.st.CreateAck(ctx, store.Audit{Actor: "cli:test"}, store.NewAck{MutationID: w.betaMutation, Reason: "beta knows", Until: "time", ExpiresAt: &until})
	if err != nil {
		t.Fatal(err)
	}
	w.betaAck = ack.ID
	// The scoped tokens: a viewer and an admin of team-a.
	for _, nt := range []store.NewToken{{Name: "viewer-a", Role: store.RoleViewer}, {Name: "admin-a", Role: store.RoleAdmin}} {
		tok, secret, err := e.st.CreateToken(ctx, nt, store.Audit{Actor: "cli:test"})
		if err != nil {
			t.Fatal(err)
		}
		want(t, admin.send("PUT", fmt.Sprintf("/api/v1/tokens/%d/scope", tok.ID), `{"groups":["team-a"]}`), http.StatusOK)
		e.tokens[nt.Name] = secret
	}
	w.viewerA, w.adminA = e.tokens["viewer-a"], e.tokens["admin-a"]
	return w
}

// betaNames are what must never reach team-a: beta's cluster, group, workloads,
// namespace, pods and digests, whole or as a prefix a search would show.
var betaNames = []string{"beta-us", "team-b", "billing-api", "billing-old", "ns-beta", strings.Repeat("c", 12), strings.Repeat("d", 12)}

// TestScopedAPI is the proof of scoped access through the API: a viewer scoped to
// team-a walks every GET route of the OpenAPI document, with beta's real names and ids
// in the path and in every filter, and sees nothing of beta (no cluster name,
// workload, namespace, digest or count of it in any body) while seeing alpha; beta's
// objects are 404, the admin routes 403. The same walk runs as an unscoped viewer
// first, so that each answer is in the cache before team-a asks. An admin scoped to
// team-a cannot read or change beta's clusters or routes, nor add a cluster or route
// to team-b, and can for team-a.
func TestScopedAPI(t *testing.T) {
	t.Parallel()
	w := newScopedWorld(t)
	e := w.e
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(openAPIDoc, &doc); err != nil {
		t.Fatal(err)
	}
	// The path parameters of beta's objects, by path.
	ids := map[string]string{
		"/api/v1/clusters/{name}":                        "beta-us",
		"/api/v1/scans/{id}":                             fmt.Sprint(w.betaScan),
		"/api/v1/mutations/{id}":                         fmt.Sprint(w.betaMutation),
		"/api/v1/digests/{digest}":                       digestOf("c"),
		"/api/v1/notifications/channels/{id}":            fmt.Sprint(w.channel),
		"/api/v1/notifications/channels/{id}/deliveries": fmt.Sprint(w.channel),
		"/api/v1/notifications/routes/{id}":              fmt.Sprint(w.betaRoute),
		"/api/v1/rules/{id}":                             fmt.Sprint(w.betaRule),
		"/api/v1/acknowledgements/{id}":                  fmt.Sprint(w.betaAck),
	}
	// Objects that do not exist, for the same paths.
	absent := map[string]string{}
	for path := range ids {
		absent[path] = "999999"
	}
	absent["/api/v1/clusters/{name}"] = "zz-none"
	absent["/api/v1/digests/{digest}"] = digestOf("f")
	// Filters naming beta, for every list that takes them.
	filters := []string{"", "cluster=beta-us", "group=team-b", "namespace=ns-beta", "ref=nginx:1.25", "workload=Deployment/billing-api",
		"state=all", "mutant=true", "behind=true", "mutation=" + fmt.Sprint(w.betaMutation), "target=beta-us", "status=active"}
	var walked []string
	for path, ops := range doc.Paths {
		if _, ok := ops["get"]; !ok {
			continue
		}
		concrete := path
		if strings.Contains(path, "{") {
			v, ok := ids[path]
			if !ok {
				t.Errorf("no beta object for %s: add one to the proof", path)
				continue
			}
			concrete = path[:strings.Index(path, "{")] + url.PathEscape(v) + path[strings.Index(path, "}")+1:]
		}
		queries := []string{""}
		switch {
		case path == "/api/v1/images/timeline":
			queries = []string{"ref=nginx:1.25", "ref=" + url.QueryEscape("docker.io/library/nginx:1.25"), "ref=nginx"}
		case path == "/api/v1/digests/{digest}":
			// Beta's digest, and prefixes of it and of both groups' digests.
			queries = []string{""}
			walked = append(walked, "digest prefixes")
			for _, p := range []string{"cccccccc", "sha256:cccccccc", "sha256:"} {
				for _, who := range []string{"viewer", "viewer-a"} {
					res := e.call(apiRequest{method: "GET", path: "/api/v1/digests/" + url.PathEscape(p), token: e.tokens[who]})
					if who == "viewer-a" {
						w.noBeta(t, "GET /api/v1/digests/"+p, res)
						if p != "sha256:" && res.status != http.StatusNotFound {
							t.Errorf("beta's digest prefix %s as team-a: %d, want 404", p, res.status)
						}
					}
				}
			}
		case !strings.Contains(path, "{"):
			queries = filters
		}
		for _, q := range queries {
			target := concrete
			if q != "" {
				target += "?" + q
			}
			documented := q == "" || documentedQuery(ops["get"], q)
			// The unscoped viewer first: its answers fill the cache.
			e.call(apiRequest{method: "GET", path: target, token: e.tokens["viewer"], undocumented: !documented})
			for _, who := range []string{"viewer-a", "admin-a"} {
				res := e.call(apiRequest{method: "GET", path: target, token: e.tokens[who], undocumented: !documented})
				if v, ok := ids[path]; ok {
					// Beta's object answers as one that does not exist: the same status
					// and body, but for the name or id asked for, which it may repeat.
					none := absent[path]
					ghostPath := path[:strings.Index(path, "{")] + url.PathEscape(none) + path[strings.Index(path, "}")+1:]
					ghost := e.call(apiRequest{method: "GET", path: ghostPath, token: e.tokens[who]})
					if res.status != ghost.status || string(res.body) != strings.ReplaceAll(string(ghost.body), none, v) {
						t.Errorf("%s GET %s: %d %s; an object that does not exist: %d %s", who, target, res.status, res.body, ghost.status, ghost.body)
					}
					if res.status == http.StatusOK && !strings.HasPrefix(path, "/api/v1/digests/") {
						t.Errorf("%s GET %s: 200", who, target)
					}
					continue // the same as nothing, the name asked for aside
				}
				w.noBeta(t, who+" GET "+target, res)
				if res.status == http.StatusOK && q == "" && path == "/api/v1/clusters" && !strings.Contains(string(res.body), "alpha-eu") {
					t.Errorf("team-a does not see its own cluster: %s", res.body)
				}
			}
			walked = append(walked, target)
		}
	}
	if len(walked) < 60 {
		t.Errorf("walked only %d requests", len(walked))
	}
	// Team-a sees its own: workloads, mutations, its digest.
	for path, wantText := range map[string]string{
		"/api/v1/workloads":                      "shop-web",
		"/api/v1/mutations?state=all":            "alpha-eu",
		"/api/v1/digests/" + digestOf("a"):       "shop-web",
		"/api/v1/scans":                          "alpha-eu",
		"/api/v1/groups":                         "team-a",
		"/api/v1/images/timeline?ref=nginx:1.25": strings.Repeat("b", 64),
	} {
		res := e.call(apiRequest{method: "GET", path: path, token: w.viewerA})
		if res.status != http.StatusOK || !strings.Contains(string(res.body), wantText) {
			t.Errorf("team-a GET %s: %d, want %q in %s", path, res.status, wantText, res.body)
		}
	}
	// Team-a's digests are its A and B in every answer that letters them; every
	// cluster's reader sees the letters given across all clusters, C and D.
	for _, c := range []struct{ path, a, b, all string }{
		{"/api/v1/digests/" + digestOf("a"), `"ref":"docker.io/library/nginx:1.25","letter":"A"`, `"pod":"shop-web-p1"`, `"ref":"docker.io/library/nginx:1.25","letter":"C"`},
		{"/api/v1/images/timeline?ref=nginx:1.25", `"digest":"` + digestOf("a") + `","letter":"A"`, `"digest":"` + digestOf("b") + `","letter":"B"`,
			`"digest":"` + digestOf("a") + `","letter":"C"`},
		{"/api/v1/workloads?cluster=alpha-eu", `"digest":"` + digestOf("a") + `","kind":"repo","letter":"A"`,
			`"digest":"` + digestOf("b") + `","kind":"repo","letter":"B"`, `"digest":"` + digestOf("a") + `","kind":"repo","letter":"C"`},
		{"/api/v1/mutations?cluster=alpha-eu&kind=workload-divergence", `"letters":["A","B"]`, `"letters":["A","B"]`, `"letters":["C","D"]`},
	} {
		res := e.call(apiRequest{method: "GET", path: c.path, token: w.viewerA})
		if body := string(res.body); res.status != http.StatusOK || !strings.Contains(body, c.a) || !strings.Contains(body, c.b) {
			t.Errorf("team-a GET %s: %d, want %s and %s in %s", c.path, res.status, c.a, c.b, body)
		}
		res = e.call(apiRequest{method: "GET", path: c.path, token: e.tokens["viewer"]})
		if body := string(res.body); res.status != http.StatusOK || !strings.Contains(body, c.all) {
			t.Errorf("every cluster's viewer GET %s: %d, want %s in %s", c.path, res.status, c.all, body)
		}
	}
	// The admin routes of global settings: 403 for team-a's admin.
	for _, path := range []string{"/api/v1/tokens", "/api/v1/notifications/channels", "/api/v1/acknowledgements/unmatched"} {
		if res := e.call(apiRequest{method: "GET", path: path, token: w.adminA}); res.status != http.StatusForbidden {
			t.Errorf("team-a's admin GET %s: %d, want 403", path, res.status)
		}
	}
	// The token list says each token's scope.
	res0 := e.as("admin").get("/api/v1/tokens")
	want(t, res0, http.StatusOK)
	if !strings.Contains(string(res0.body), `"name":"viewer-a"`) || !strings.Contains(string(res0.body), `"scope":{"all":false,"groups":["team-a"]}`) {
		t.Errorf("the token list does not show viewer-a's scope: %s", res0.body)
	}
	// Its audit trail: alpha's entries only.
	res := e.call(apiRequest{method: "GET", path: "/api/v1/audit", token: w.adminA})
	want(t, res, http.StatusOK)
	if !strings.Contains(string(res.body), "alpha-eu") {
		t.Errorf("team-a's audit trail misses alpha-eu: %s", res.body)
	}
}

// TestScopedAdmin checks an admin scoped to team-a: beta's clusters and routes do not
// exist for it (404), team-b is not a group it may use (403, or unknown to a route),
// and it manages alpha's clusters and team-a's routes; its routes keep its scope.
func TestScopedAdmin(t *testing.T) {
	t.Parallel()
	w := newScopedWorld(t)
	e := w.e
	ctx := context.Background()
	as := func(method, path, body string) response {
		t.Helper()
		return e.call(apiRequest{method: method, path: path, token: w.adminA, body: body})
	}
	for _, c := range []struct{ method, path, body string }{
		{"PATCH", "/api/v1/clusters/beta-us", `{"enabled":false}`},
		{"DELETE", "/api/v1/clusters/beta-us", ""},
		{"POST", "/api/v1/clusters/beta-us/scans", ""},
		{"PATCH", fmt.Sprintf("/api/v1/notifications/routes/%d", w.betaRoute), `{"enabled":false}`},
		{"DELETE", fmt.Sprintf("/api/v1/notifications/routes/%d", w.betaRoute), ""},
	} {
		res := as(c.method, c.path, c.body)
		if res.status != http.StatusNotFound {
			t.Errorf("team-a's admin %s %s: %d, want 404: %s", c.method, c.path, res.status, res.body)
		}
		// It may repeat the name asked for, as for one that does not exist.
		res.body = []byte(strings.ReplaceAll(string(res.body), `\"beta-us\"`, `\"x\"`))
		w.noBeta(t, c.method+" "+c.path, res)
	}
	if c, err := e.st.ClusterStatusByName(ctx, "beta-us", store.Scope{}); err != nil || !c.Enabled {
		t.Errorf("beta-us after team-a's attempts: %+v, %v", c, err)
	}
	if rt, err := e.st.Route(ctx, w.betaRoute, store.Scope{}); err != nil || !rt.Enabled {
		t.Errorf("beta's route after team-a's attempts: %+v, %v", rt, err)
	}
	// Adding or moving a cluster into team-b, or into the default group: 403.
	for _, c := range []struct{ method, path, body string }{
		{"POST", "/api/v1/clusters", clusterBody("gamma", testKubeconfig("", ""), `,"group":"team-b"`)},
		{"POST", "/api/v1/clusters", clusterBody("gamma", testKubeconfig("", ""), ``)},
		{"POST", "/api/v1/clusters", clusterBody("gamma", testKubeconfig("", ""), `,"group":"no-such-group"`)},
		{"PATCH", "/api/v1/clusters/alpha-eu", `{"group":"team-b"}`},
		{"POST", "/api/v1/groups", `{"name":"team-c"}`},
		{"PUT", "/api/v1/users/nobody/scope", `{"groups":[]}`},
		{"POST", "/api/v1/tokens", `{"name":"x","role":"viewer"}`},
	} {
		if res := as(c.method, c.path, c.body); res.status != http.StatusForbidden {
			t.Errorf("team-a's admin %s %s %s: %d, want 403: %s", c.method, c.path, c.body, res.status, res.body)
		}
	}
	// A route of team-b, or of every cluster: refused.
	if res := as("POST", "/api/v1/notifications/routes", fmt.Sprintf(`{"channelId":%d,"clusterGroup":"team-b"}`, w.channel)); res.status != http.StatusBadRequest {
		t.Errorf("a route of team-b: %d, want 400 (no such group): %s", res.status, res.body)
	}
	if res := as("POST", "/api/v1/notifications/routes", fmt.Sprintf(`{"channelId":%d}`, w.channel)); res.status != http.StatusForbidden {
		t.Errorf("a route of every cluster: %d, want 403: %s", res.status, res.body)
	}
	// Its own: a cluster and a route of team-a, changed and deleted.
	want(t, as("POST", "/api/v1/clusters", clusterBody("gamma", testKubeconfig("", ""), `,"group":"team-a"`)), http.StatusCreated)
	want(t, as("PATCH", "/api/v1/clusters/gamma", `{"scanInterval":"10m"}`), http.StatusOK)
	want(t, as("DELETE", "/api/v1/clusters/gamma", ""), http.StatusNoContent)
	res := as("POST", "/api/v1/notifications/routes", fmt.Sprintf(`{"channelId":%d,"clusterGroup":"team-a"}`, w.channel))
	want(t, res, http.StatusCreated)
	var rt routeJSON
	res.decode(t, &rt)
	stored, err := e.st.Route(ctx, rt.ID, store.Scope{})
	if err != nil || !stored.Scope.Limited || len(stored.Scope.GroupIDs) != 1 {
		t.Fatalf("team-a's route keeps its scope: %+v, %v", stored.Scope, err)
	}
	// A global admin moving it to team-b keeps its scope: it then delivers nothing.
	want(t, e.as("admin").send("PATCH", fmt.Sprintf("/api/v1/notifications/routes/%d", rt.ID), `{"clusterGroup":"team-b"}`), http.StatusOK)
	if stored, _ := e.st.Route(ctx, rt.ID, store.Scope{}); !stored.Scope.Limited || stored.ClusterGroup != "team-b" {
		t.Errorf("after a global admin's change: %+v", stored)
	}
	var list struct{ Items []routeJSON }
	res = as("GET", "/api/v1/notifications/routes", "")
	want(t, res, http.StatusOK)
	res.decode(t, &list)
	if len(list.Items) != 0 {
		t.Errorf("team-a's admin lists routes of team-b: %s", res.body)
	}
}

// noBeta fails when res shows anything of beta.
func (w *scopedWorld) noBeta(t *testing.T, what string, res response) {
	t.Helper()
	body := string(res.body)
	for _, s := range betaNames {
		if strings.Contains(body, s) {
			t.Errorf("%s shows %q of team-b: %d %s", what, s, res.status, clip(body))
		}
	}
	// Team-a's letters are its own: A and B, never a letter that hints at beta's two.
	for _, l := range lettersIn(body) {
		if l != "" && l != "A" && l != "B" {
			t.Errorf("%s shows the letter %q: %d %s", what, l, res.status, clip(body))
		}
	}
}

// letterFields match the digests' letters of an answer: "letter" fields and
// "letters" lists.
var (
	letterField  = regexp.MustCompile(`"letter":"([^"]*)"`)
	lettersField = regexp.MustCompile(`"letters":\[([^\]]*)\]`)
)

// lettersIn are the digests' letters an answer's body shows.
func lettersIn(body string) []string {
	var out []string
	for _, m := range letterField.FindAllStringSubmatch(body, -1) {
		out = append(out, m[1])
	}
	for _, m := range lettersField.FindAllStringSubmatch(body, -1) {
		for _, l := range strings.Split(m[1], ",") {
			out = append(out, strings.Trim(l, `"`))
		}
	}
	return out
}

func clip(s string) string {
	if len(s) > 400 {
		return s[:400] + "…"
	}
	return s
}

// documentedQuery reports whether the operation op documents every parameter of the
// query q.
func documentedQuery(op json.RawMessage, q string) bool {
	var o struct {
		Parameters []struct {
			Name string `json:"name"`
			Ref  string `json:"$ref"`
		} `json:"parameters"`
	}
	if json.Unmarshal(op, &o) != nil {
		return false
	}
	vals, _ := url.ParseQuery(q)
	for k := range vals {
		if !slices.ContainsFunc(o.Parameters, func(p struct {
			Name string `json:"name"`
			Ref  string `json:"$ref"`
		}) bool {
			return p.Name == k || strings.HasSuffix(p.Ref, "/"+k)
		}) {
			return false
		}
	}
	return true
}

// TestScopedAcknowledgement checks that team-a's viewer cannot acknowledge beta's
// mutation (404, as one that does not exist) nor acknowledge by matchers (403), and
// can acknowledge alpha's.
func TestScopedAcknowledgement(t *testing.T) {
	t.Parallel()
	w := newScopedWorld(t)
	e := w.e
	ctx := context.Background()
	body := func(id int64) string {
		return fmt.Sprintf(`{"mutation":%d,"reason":"known","until":"changed"}`, id)
	}
	res := e.call(apiRequest{method: "POST", path: "/api/v1/acknowledgements", token: w.viewerA, body: body(w.betaMutation)})
	ghost := e.call(apiRequest{method: "POST", path: "/api/v1/acknowledgements", token: w.viewerA, body: body(999999)})
	if res.status != http.StatusNotFound || ghost.status != http.StatusNotFound {
		t.Errorf("acknowledging beta's mutation: %d %s; a mutation that does not exist: %d", res.status, res.body, ghost.status)
	}
	res = e.call(apiRequest{method: "POST", path: "/api/v1/acknowledgements", token: w.viewerA,
		body: `{"scope":"cluster=\"beta-us\"","reason":"x","until":"time","expiresAt":"` + time.Now().Add(time.Hour).UTC().Format(time.RFC3339) + `"}`})
	if res.status != http.StatusForbidden {
		t.Errorf("acknowledging by matchers as team-a: %d %s", res.status, res.body)
	}
	ms, err := e.st.ListMutations(ctx, store.MutationFilter{State: store.StateOpen, Group: "team-a", Limit: 1})
	if err != nil || len(ms) == 0 {
		t.Fatalf("alpha's open mutations: %v, %v", ms, err)
	}
	want(t, e.call(apiRequest{method: "POST", path: "/api/v1/acknowledgements", token: w.viewerA, body: body(ms[0].ID)}), http.StatusCreated)
}
