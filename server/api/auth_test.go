package api

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tagdrift/tagdrift/server/access"
	"github.com/tagdrift/tagdrift/store"
)

// matrixRoute is one route with a request that reaches its handler.
type matrixRoute struct {
	pattern string // as routed: "METHOD /path"
	method  string
	path    string
	body    string
	admin   bool // only admins may
}

func matrixRoutes() []matrixRoute {
	digest := "sha256:" + strings.Repeat("ab", 32)
	return []matrixRoute{
		{"GET /api/v1/openapi.json", "GET", "/api/v1/openapi.json", "", false},
		{"GET /api/v1/clusters", "GET", "/api/v1/clusters", "", false},
		{"POST /api/v1/clusters", "POST", "/api/v1/clusters", clusterBody("matrix", testKubeconfig("", ""), ""), true},
		{"GET /api/v1/clusters/{name}", "GET", "/api/v1/clusters/prod", "", false},
		{"PATCH /api/v1/clusters/{name}", "PATCH", "/api/v1/clusters/prod", `{"annotate":"on"}`, true},
		{"DELETE /api/v1/clusters/{name}", "DELETE", "/api/v1/clusters/absent", "", true},
		{"POST /api/v1/clusters/{name}/scans", "POST", "/api/v1/clusters/prod/scans", "", true},
		{"GET /api/v1/groups", "GET", "/api/v1/groups", "", false},
		{"POST /api/v1/groups", "POST", "/api/v1/groups", `{"name":"matrix"}`, true},
		{"PATCH /api/v1/groups/{name}", "PATCH", "/api/v1/groups/absent", `{"name":"other"}`, true},
		{"DELETE /api/v1/groups/{name}", "DELETE", "/api/v1/groups/absent", "", true},
		{"GET /api/v1/scans", "GET", "/api/v1/scans", "", false},
		{"GET /api/v1/scans/{id}", "GET", "/api/v1/scans/1", "", false},
		{"GET /api/v1/workloads", "GET", "/api/v1/workloads?mutant=true", "", false},
		{"GET /api/v1/mutations", "GET", "/api/v1/mutations?state=all", "", false},
		{"GET /api/v1/mutations/{id}", "GET", "/api/v1/mutations/1", "", false},
		{"GET /api/v1/images/timeline", "GET", "/api/v1/images/timeline?ref=nginx", "", false},
		{"GET /api/v1/digests/{digest}", "GET", "/api/v1/digests/" + digest, "", false},
		{"GET /api/v1/audit", "GET", "/api/v1/audit", "", true},
		{"GET /api/v1/tokens", "GET", "/api/v1/tokens", "", true},
		{"POST /api/v1/tokens", "POST", "/api/v1/tokens", `{"name":"matrix","role":"viewer"}`, true},
		{"DELETE /api/v1/tokens/{id}", "DELETE", "/api/v1/tokens/999999", "", true},
		{"PUT /api/v1/tokens/{id}/scope", "PUT", "/api/v1/tokens/999999/scope", `{"groups":[]}`, true},
		{"PUT /api/v1/users/{name}/scope", "PUT", "/api/v1/users/absent/scope", `{"groups":["default"]}`, true},
		{"PUT /api/v1/tokens/{id}/grants", "PUT", "/api/v1/tokens/999999/grants", `{"grants":[{"role":"viewer"}]}`, true},
		{"PUT /api/v1/users/{name}/grants", "PUT", "/api/v1/users/absent/grants", `{"grants":[{"role":"viewer","groups":["default"]}]}`, true},
		{"GET /api/v1/notifications/channels", "GET", "/api/v1/notifications/channels", "", true},
		{"POST /api/v1/notifications/channels", "POST", "/api/v1/notifications/channels", `{"name":"matrix","kind":"slack"}`, true},
		{"GET /api/v1/notifications/channels/{id}", "GET", "/api/v1/notifications/channels/999999", "", true},
		{"PATCH /api/v1/notifications/channels/{id}", "PATCH", "/api/v1/notifications/channels/999999", `{"enabled":false}`, true},
		{"DELETE /api/v1/notifications/channels/{id}", "DELETE", "/api/v1/notifications/channels/999999", "", true},
		{"POST /api/v1/notifications/channels/{id}/test", "POST", "/api/v1/notifications/channels/999999/test", "", true},
		{"GET /api/v1/notifications/channels/{id}/deliveries", "GET", "/api/v1/notifications/channels/999999/deliveries", "", true},
		{"GET /api/v1/notifications/routes", "GET", "/api/v1/notifications/routes", "", true},
		{"POST /api/v1/notifications/routes", "POST", "/api/v1/notifications/routes", `{"channelId":999999}`, true},
		{"GET /api/v1/notifications/routes/{id}", "GET", "/api/v1/notifications/routes/999999", "", true},
		{"PATCH /api/v1/notifications/routes/{id}", "PATCH", "/api/v1/notifications/routes/999999", `{"enabled":false}`, true},
		{"DELETE /api/v1/notifications/routes/{id}", "DELETE", "/api/v1/notifications/routes/999999", "", true},
		{"GET /api/v1/rules", "GET", "/api/v1/rules?live=true", "", false},
		{"GET /api/v1/rules/{id}", "GET", "/api/v1/rules/999999", "", false},
		{"POST /api/v1/rules", "POST", "/api/v1/rules", `{"scope":"cluster=\"nowhere\"","reason":"matrix"}`, true},
		{"POST /api/v1/rules/{id}/revoke", "POST", "/api/v1/rules/999999/revoke", "", true},
		{"GET /api/v1/acknowledgements", "GET", "/api/v1/acknowledgements?status=active", "", false},
		{"GET /api/v1/acknowledgements/{id}", "GET", "/api/v1/acknowledgements/999999", "", false},
		{"POST /api/v1/acknowledgements", "POST", "/api/v1/acknowledgements", `{"mutation":999999,"reason":"matrix","until":"changed"}`, false},
		{"GET /api/v1/acknowledgements/unmatched", "GET", "/api/v1/acknowledgements/unmatched", "", true},
		{"POST /api/v1/acknowledgements/{id}/approve", "POST", "/api/v1/acknowledgements/999999/approve", "", true},
		{"POST /api/v1/acknowledgements/{id}/deny", "POST", "/api/v1/acknowledgements/999999/deny", "", true},
		// A viewer reaches the handler, which answers 404 before it asks whose it is.
		{"POST /api/v1/acknowledgements/{id}/revoke", "POST", "/api/v1/acknowledgements/999999/revoke", "", false},
	}
}

// TestAuthorizationMatrix sends every API route with every kind of credentials and
// checks the status: 401 without a valid token, 403 for a viewer on an admin route, and
// otherwise the handler's own answer (never 401 or 403).
func TestAuthorizationMatrix(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	want(t, e.as("admin").send("POST", "/api/v1/clusters", clusterBody("prod", testKubeconfig("", ""), "")), http.StatusCreated)

	routes := matrixRoutes()
	var covered []string
	for _, r := range routes {
		covered = append(covered, r.pattern)
	}
	for _, r := range apiRoutes(t) {
		if !slices.Contains(covered, r) {
			t.Errorf("route %s is missing from the matrix", r)
		}
	}

	type who struct {
		name   string
		header string // the Authorization header; "" for none
		admin  bool
		valid  bool
	}
	whos := []who{
		{"no token", "", false, false},
		{"bad token", "Bearer tdt_" + strings.Repeat("x", 43), false, false},
		{"not bearer", "Basic YWRtaW46YWRtaW4=", false, false},
		{"empty bearer", "Bearer ", false, false},
		{"expired", "Bearer " + e.tokens["expired"], false, false},
		{"revoked", "Bearer " + e.tokens["revoked"], false, false},
		{"viewer", "Bearer " + e.tokens["viewer"], false, true},
		{"admin", "Bearer " + e.tokens["admin"], true, true},
		{"TAGDRIFT_ADMIN_TOKEN", "Bearer " + testAdminToken, true, true},
	}
	for _, r := range routes {
		for _, w := range whos {
			t.Run(r.pattern+"/"+w.name, func(t *testing.T) {
				req := e.newRequest(apiRequest{method: r.method, path: r.path, body: r.body})
				if w.header != "" {
					req.Header.Set("Authorization", w.header)
				}
				res := serve(e, req)
				switch {
				case !w.valid:
					if res.status != http.StatusUnauthorized {
						t.Fatalf("status %d, want 401: %s", res.status, res.body)
					}
					if !strings.HasPrefix(res.header.Get("WWW-Authenticate"), "Bearer") {
						t.Errorf("WWW-Authenticate %q", res.header.Get("WWW-Authenticate"))
					}
					res.problem(t)
				case r.admin && !w.admin:
					if res.status != http.StatusForbidden {
						t.Fatalf("status %d, want 403: %s", res.status, res.body)
					}
					res.problem(t)
				default:
					if res.status == http.StatusUnauthorized || res.status == http.StatusForbidden || res.status >= 500 {
						t.Fatalf("status %d for an allowed request: %s", res.status, res.body)
					}
				}
				e.validate(apiRequest{method: r.method, path: r.path, body: r.body}, res)
			})
		}
	}

	// A request outside the routes needs a token too, and then is a problem 404.
	res := e.call(apiRequest{method: "GET", path: "/api/v1/nope", undocumented: true})
	want(t, res, http.StatusUnauthorized)
	res = e.call(apiRequest{method: "GET", path: "/api/v1/nope", token: e.tokens["viewer"], undocumented: true})
	want(t, res, http.StatusNotFound)
	res.problem(t)
	res = e.call(apiRequest{method: "PUT", path: "/api/v1/clusters", token: e.tokens["viewer"], undocumented: true})
	want(t, res, http.StatusMethodNotAllowed)
	res.problem(t)

	// The last use of a token is recorded.
	toks, err := e.st.Tokens(context.Background(), 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, tok := range toks {
		if (tok.Name == "viewer" || tok.Name == "admin") && tok.LastUsedAt == nil {
			t.Errorf("token %s: last use not recorded", tok.Name)
		}
		if (tok.Name == "expired" || tok.Name == "revoked") && tok.LastUsedAt != nil {
			t.Errorf("token %s: used", tok.Name)
		}
	}
}

// serve runs a prepared request.
func serve(e *testEnv, req *http.Request) response {
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, req)
	return response{status: rec.Code, header: rec.Header(), body: rec.Body.Bytes()}
}

// clock is a settable test clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// TestRateLimit checks that each token has its own bucket: past the burst a token gets
// 429 with Retry-After, others are unaffected, and time refills it.
func TestRateLimit(t *testing.T) {
	t.Parallel()
	clk := &clock{now: time.Now()}
	e := newEnv(t, func(c *testConfig) { c.RateLimit = 0.5; c.RateBurst = 2; c.Now = clk.Now })
	viewer := e.as("viewer")
	want(t, viewer.get("/api/v1/clusters"), http.StatusOK)
	want(t, viewer.get("/api/v1/clusters"), http.StatusOK)
	res := viewer.get("/api/v1/clusters")
	want(t, res, http.StatusTooManyRequests)
	if ra := res.header.Get("Retry-After"); ra != "2" {
		t.Errorf("Retry-After %q, want 2 (one request at 0.5/s)", ra)
	}
	res.problem(t)

	// Other tokens have their own buckets, the admin token too.
	want(t, e.as("admin").get("/api/v1/clusters"), http.StatusOK)
	envAdmin := e.as("env-admin")
	want(t, envAdmin.get("/api/v1/clusters"), http.StatusOK)
	want(t, envAdmin.get("/api/v1/clusters"), http.StatusOK)
	want(t, envAdmin.get("/api/v1/clusters"), http.StatusTooManyRequests)

	clk.advance(2 * time.Second)
	want(t, viewer.get("/api/v1/clusters"), http.StatusOK)
	want(t, viewer.get("/api/v1/clusters"), http.StatusTooManyRequests)
}

// TestBadTokensLimitedPerAddress checks the limit before authentication: past a burst
// of unknown tokens an address gets 429 with Retry-After without the database being
// asked (it answers so with the database closed), a valid token from it still passes
// and gives its attempt back, other addresses are unaffected, and time refills it.
func TestBadTokensLimitedPerAddress(t *testing.T) {
	t.Parallel()
	clk := &clock{now: time.Now()}
	const burst = 20
	e := newEnv(t, func(c *testConfig) { c.Now = clk.Now; c.FailedAuthBurst = burst })
	const flood = "192.0.2.7:4000"
	bad := func(addr string) response {
		return e.call(apiRequest{method: "GET", path: "/api/v1/clusters", token: "tdt_unknown", remoteAddr: addr})
	}
	for i := range burst {
		if i == burst/2 {
			// A success in the middle is not a failure: it leaves the count as it was.
			want(t, e.call(apiRequest{method: "GET", path: "/api/v1/clusters", token: e.tokens["viewer"], remoteAddr: flood}), http.StatusOK)
		}
		want(t, bad(flood), http.StatusUnauthorized)
	}
	res := bad(flood)
	want(t, res, http.StatusTooManyRequests)
	if ra := res.header.Get("Retry-After"); ra != "1" {
		t.Errorf("Retry-After %q, want 1", ra)
	}
	res.problem(t)
	want(t, bad("192.0.2.8:4000"), http.StatusUnauthorized)

	// Refused before any database work: with the database gone the answer is the same.
	e.st.Close()
	want(t, bad(flood), http.StatusTooManyRequests)
	// A /64 is one address: another host of it shares the bucket.
	want(t, bad("[2001:db8::1]:1"), http.StatusInternalServerError)
	clk.advance(time.Second)
	if res := bad(flood); res.status == http.StatusTooManyRequests {
		t.Errorf("after a second: %s, want the database asked again", res)
	}
}

// TestBehindTrustedProxy: behind a trusted proxy, the failed token limit keys on the
// client X-Forwarded-For names, so one client failing again and again behind it does not
// lock out another behind the same proxy; a token recently seen valid passes even from
// the locked-out client, while one not seen yet is still refused before any look-up;
// the audit trail records the real client. From a peer that is not a trusted proxy, a
// forged X-Forwarded-For is ignored: changing it does not escape the limit, and the
// trail records the peer.
func TestBehindTrustedProxy(t *testing.T) {
	t.Parallel()
	clk := &clock{now: time.Now()}
	const burst = 5
	e := newEnv(t, func(c *testConfig) {
		c.Now = clk.Now
		c.FailedAuthBurst = burst
		c.TrustedProxies = access.NewTrustedProxies([]netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")})
	})
	const proxy = "10.0.0.2:40000"
	via := func(client, token string) response {
		return e.call(apiRequest{method: "GET", path: "/api/v1/clusters", token: token, remoteAddr: proxy,
			forwardedFor: "198.51.100.1, " + client + ", 10.0.0.9"})
	}
	// The viewer's token is seen valid once, from its own client.
	want(t, via("203.0.113.20", e.tokens["viewer"]), http.StatusOK)
	for range burst {
		want(t, via("203.0.113.66", "tdt_unknown"), http.StatusUnauthorized)
	}
	want(t, via("203.0.113.66", "tdt_unknown"), http.StatusTooManyRequests)

	// Another client behind the same proxy: not locked out, neither its good token nor
	// its bad one.
	want(t, via("203.0.113.77", e.tokens["admin"]), http.StatusOK)
	want(t, via("203.0.113.77", "tdt_unknown"), http.StatusUnauthorized)
	// The locked-out client itself: a token seen valid recently passes; one never seen
	// waits, as an unknown one does, so the limit still spares the database.
	want(t, via("203.0.113.66", e.tokens["viewer"]), http.StatusOK)
	want(t, via("203.0.113.66", e.tokens["expired"]), http.StatusTooManyRequests)

	// The audit trail records the client, not the proxy.
	res := e.call(apiRequest{method: "POST", path: "/api/v1/tokens", token: testAdminToken, remoteAddr: proxy,
		forwardedFor: "203.0.113.88", body: `{"name":"ci","role":"viewer"}`})
	want(t, res, http.StatusCreated)
	events, err := e.st.AuditEvents(context.Background(), 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 1 || events[0].Action != store.ActionTokenCreate || events[0].RemoteAddr != "203.0.113.88" {
		t.Errorf("audit behind the proxy: %+v, want the client 203.0.113.88", events)
	}

	// A peer that is not a trusted proxy forges a new client on every request: all of
	// them are its own address.
	const forger = "192.0.2.50:1234"
	for i := range burst {
		want(t, e.call(apiRequest{method: "GET", path: "/api/v1/clusters", token: "tdt_unknown", remoteAddr: forger,
			forwardedFor: fmt.Sprintf("198.51.100.%d", i+10)}), http.StatusUnauthorized)
	}
	want(t, e.call(apiRequest{method: "GET", path: "/api/v1/clusters", token: "tdt_unknown", remoteAddr: forger,
		forwardedFor: "198.51.100.200"}), http.StatusTooManyRequests)
	res = e.call(apiRequest{method: "POST", path: "/api/v1/tokens", token: testAdminToken, remoteAddr: forger,
		forwardedFor: "203.0.113.99", body: `{"name":"ci2","role":"viewer"}`})
	want(t, res, http.StatusCreated)
	if events, err = e.st.AuditEvents(context.Background(), 0, 1); err != nil {
		t.Fatal(err)
	}
	if len(events) != 1 || events[0].RemoteAddr != forger {
		t.Errorf("audit of a forged header: %+v, want the peer %s", events, forger)
	}
}
