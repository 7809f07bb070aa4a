package sso

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tagdrift/tagdrift/store"
)

func testProvider(t *testing.T, now func() time.Time, keys ...[]byte) *Provider {
	t.Helper()
	if len(keys) == 0 {
		keys = [][]byte{bytes.Repeat([]byte{1}, 32)}
	}
	p, err := New(Config{Issuer: "https://idp.example.com", ClientID: "c", ClientSecret: "s",
		RedirectURL: "https://t.example.com" + CallbackPath, Roles: map[string]string{"ops": store.RoleAdmin, "devs": store.RoleViewer},
		FlowKeys: keys, PlainCookie: true, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRole(t *testing.T) {
	p := testProvider(t, nil)
	for _, tc := range []struct {
		groups  []string
		role    string
		matched []string
	}{
		{nil, "", nil},
		{[]string{"marketing"}, "", nil},
		{[]string{"devs"}, store.RoleViewer, []string{"devs"}},
		{[]string{"devs", "ops", "x"}, store.RoleAdmin, []string{"devs", "ops"}},
		{[]string{"ops", "devs", "ops"}, store.RoleAdmin, []string{"devs", "ops"}},
		{[]string{"OPS"}, "", nil}, // group names are exact
	} {
		role, matched := p.Role(tc.groups)
		if role != tc.role || !slices.Equal(matched, tc.matched) {
			t.Errorf("Role(%q) = %q, %q; want %q, %q", tc.groups, role, matched, tc.role, tc.matched)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	ok := Config{Issuer: "https://idp.example.com", ClientID: "c", ClientSecret: "s", RedirectURL: "https://t.example.com/cb",
		Roles: map[string]string{"ops": "admin"}, FlowKeys: [][]byte{make([]byte, 32)}}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, change := range map[string]func(*Config){
		"issuer":   func(c *Config) { c.Issuer = "idp.example.com" },
		"client":   func(c *Config) { c.ClientID = "" },
		"secret":   func(c *Config) { c.ClientSecret = "" },
		"redirect": func(c *Config) { c.RedirectURL = "/cb" },
		"no roles": func(c *Config) { c.Roles = nil },
		"role":     func(c *Config) { c.Roles = map[string]string{"ops": "owner"} },
		"group":    func(c *Config) { c.Roles = map[string]string{"": "admin"} },
		"keys":     func(c *Config) { c.FlowKeys = nil },
	} {
		c := ok
		change(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("%s: accepted %+v", name, c)
		}
	}
}

// TestFlowCookie checks the flow cookie: it opens with the key that sealed it and
// with an older key of the ring, not with another key, not when changed, not after
// its 10 minutes, and not under another cookie name.
func TestFlowCookie(t *testing.T) {
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	oldKey, newKey := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)
	sealer := testProvider(t, clock, oldKey)
	rec := httptest.NewRecorder()
	want := flow{State: "st", Nonce: "no", Verifier: "ve", Next: "/clusters", Expires: now.Add(flowLifetime)}
	if err := sealer.setFlow(rec, want); err != nil {
		t.Fatal(err)
	}
	cookie := rec.Result().Cookies()[0]
	if cookie.Name != "tagdrift_sso" || !cookie.HttpOnly || cookie.SameSite != http.SameSiteLaxMode || cookie.MaxAge != 600 ||
		strings.Contains(cookie.Value, "st") {
		t.Fatalf("flow cookie %+v", cookie)
	}
	req := func(c *http.Cookie) *http.Request {
		r := httptest.NewRequest("GET", CallbackPath, nil)
		r.AddCookie(c)
		return r
	}
	// Rotated: the new key seals, the old one still opens.
	rotated := testProvider(t, clock, newKey, oldKey)
	if got, err := rotated.readFlow(req(cookie)); err != nil || got != want {
		t.Fatalf("after rotation: %+v, %v", got, err)
	}
	if _, err := testProvider(t, clock, newKey).readFlow(req(cookie)); err == nil {
		t.Error("opened with another key")
	}
	tampered := *cookie
	b := []byte(tampered.Value)
	b[len(b)/2] ^= 1
	tampered.Value = string(b)
	if _, err := sealer.readFlow(req(&tampered)); err == nil {
		t.Error("a changed cookie opened")
	}
	if _, err := sealer.readFlow(httptest.NewRequest("GET", CallbackPath, nil)); err == nil {
		t.Error("no cookie: no error")
	}
	now = now.Add(flowLifetime)
	if _, err := sealer.readFlow(req(cookie)); err == nil || !strings.Contains(err.Error(), "ago") {
		t.Errorf("expired flow: %v", err)
	}
	now = now.Add(-flowLifetime)
	// Sealed for the Secure cookie's name, it does not open as the plain one.
	secure, err := New(Config{Issuer: "https://idp.example.com", ClientID: "c", ClientSecret: "s", RedirectURL: "https://t.example.com/cb",
		Roles: map[string]string{"ops": "admin"}, FlowKeys: [][]byte{oldKey}, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	rec = httptest.NewRecorder()
	secure.setFlow(rec, want)
	sc := rec.Result().Cookies()[0]
	if sc.Name != "__Host-tagdrift_sso" || !sc.Secure || sc.Path != "/" {
		t.Fatalf("secure flow cookie %+v", sc)
	}
	sc.Name = "tagdrift_sso"
	if _, err := sealer.readFlow(req(sc)); err == nil {
		t.Error("a cookie sealed under another name opened")
	}
}

// TestFinishRefusesBeforeAsking checks the answers refused without reaching the
// provider: its error (denied or other), no flow cookie, another state, no code.
func TestFinishRefusesBeforeAsking(t *testing.T) {
	now := time.Now()
	p := testProvider(t, func() time.Time { return now })
	rec := httptest.NewRecorder()
	if err := p.setFlow(rec, flow{State: "good", Nonce: "n", Verifier: "v", Expires: now.Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	cookie := rec.Result().Cookies()[0]
	for _, tc := range []struct {
		query  string
		cookie bool
		want   Kind
	}{
		{"error=access_denied&state=good", true, Denied},
		{"error=server_error&error_description=boom&state=good", true, ProviderRefused},
		{"code=c&state=good", false, State},
		{"code=c&state=bad", true, State},
		{"code=c", true, State},
		{"state=good", true, ProviderRefused},
	} {
		r := httptest.NewRequest("GET", CallbackPath+"?"+tc.query, nil)
		if tc.cookie {
			r.AddCookie(cookie)
		}
		w := httptest.NewRecorder()
		_, _, err := p.Finish(context.Background(), w, r)
		if KindOf(err) != tc.want {
			t.Errorf("%s (cookie %t): %v, want %s", tc.query, tc.cookie, err, tc.want)
		}
		if c := w.Result().Cookies(); len(c) != 1 || c[0].MaxAge >= 0 {
			t.Errorf("%s: the flow cookie was not cleared: %+v", tc.query, c)
		}
	}
}

func TestGroupsClaim(t *testing.T) {
	p := testProvider(t, nil)
	for _, tc := range []struct {
		claims string
		groups []string
		kind   Kind
	}{
		{`{"groups":["ops","x"]}`, []string{"ops", "x"}, 0},
		{`{"groups":"ops"}`, []string{"ops"}, 0},
		{`{}`, nil, 0},
		{`{"groups":[1,2]}`, nil, BadToken},
		{`{"_claim_names":{"groups":"src1"},"_claim_sources":{"src1":{"endpoint":"https://graph.microsoft.com/v1.0/users/x/getMemberObjects"}}}`, nil, GroupsOverflow},
	} {
		var claims map[string]json.RawMessage
		if err := json.Unmarshal([]byte(tc.claims), &claims); err != nil {
			t.Fatal(err)
		}
		id, err := p.identityFromClaims("sub", claims)
		if KindOf(err) != tc.kind || !slices.Equal(id.Groups, tc.groups) {
			t.Errorf("%s: %+v, %v; want groups %q, kind %s", tc.claims, id, err, tc.groups, tc.kind)
		}
	}
}

func TestIdentityName(t *testing.T) {
	p := testProvider(t, nil)
	for claims, want := range map[string]string{ // claims → name
		`{"preferred_username":"ada","email":"ada@example.com"}`: "ada",
		`{"email":"ada@example.com"}`:                            "ada@example.com",
		`{}`:                                                     "sub-1",
		`{"preferred_username":"a/b","email":"ada@example.com"}`:    "ada@example.com",
		`{"preferred_username":"two words"}`:                        "sub-1",
		`{"preferred_username":"` + strings.Repeat("x", 129) + `"}`: "sub-1",
		`{"preferred_username":"ctl\u0007"}`:                        "sub-1",
	} {
		var c map[string]json.RawMessage
		if err := json.Unmarshal([]byte(claims), &c); err != nil {
			t.Fatal(err)
		}
		id, err := p.identityFromClaims("sub-1", c)
		if err != nil || id.Name != want {
			t.Errorf("%s: name %q, %v; want %q", claims, id.Name, err, want)
		}
	}
}

// TestGrants checks the grants a sign-in gets from the role mappings: every mapping of
// the user's groups, on every cluster or on its cluster groups, none lost to a higher
// role (viewer on every cluster stays beside admin on eu); the store combines them.
func TestGrants(t *testing.T) {
	p, err := New(Config{Issuer: "https://idp.example.com", ClientID: "c", ClientSecret: "s",
		RedirectURL: "https://t.example.com" + CallbackPath, FlowKeys: [][]byte{bytes.Repeat([]byte{1}, 32)},
		Roles:      map[string]string{"ops": store.RoleAdmin, "eu-ops": store.RoleAdmin, "us-ops": store.RoleAdmin, "devs": store.RoleViewer, "eu-devs": store.RoleViewer},
		RoleScopes: map[string][]string{"eu-ops": {"eu"}, "us-ops": {"us", "us-east"}, "eu-devs": {"eu"}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		groups []string
		want   string // the store's reading of the grants: role, read scope, admin scope
	}{
		{nil, "|none|none"},
		{[]string{"ops"}, "admin|all|all"},
		{[]string{"eu-ops"}, "admin|eu|eu"},
		{[]string{"eu-ops", "us-ops"}, "admin|eu,us,us-east|eu,us,us-east"},
		{[]string{"eu-ops", "ops"}, "admin|all|all"},
		{[]string{"eu-ops", "devs"}, "admin|all|eu"}, // viewer everywhere, admin on eu
		{[]string{"devs", "eu-ops", "marketing"}, "admin|all|eu"},
		{[]string{"eu-devs", "us-ops"}, "admin|eu,us,us-east|us,us-east"},
		{[]string{"eu-devs"}, "viewer|eu|none"},
		{[]string{"eu-devs", "devs"}, "viewer|all|none"},
	} {
		named := p.Grants(tc.groups)
		ids := map[string]int64{"eu": 1, "us": 2, "us-east": 3}
		var gs store.Grants
		for _, n := range named {
			g := store.Grant{Role: n.Role}
			if len(n.Groups) > 0 {
				g.Scope.Limited = true
				for _, cg := range n.Groups {
					g.Scope.GroupIDs = append(g.Scope.GroupIDs, ids[cg])
				}
			}
			gs = append(gs, g)
		}
		name := func(sc store.Scope) string {
			if !sc.Limited {
				return "all"
			}
			var out []string
			for _, cg := range []string{"eu", "us", "us-east"} {
				if sc.HasGroup(ids[cg]) {
					out = append(out, cg)
				}
			}
			if out == nil {
				return "none"
			}
			return strings.Join(out, ",")
		}
		if got := gs.Role() + "|" + name(gs.ReadScope()) + "|" + name(gs.AdminScope()); got != tc.want {
			t.Errorf("groups %q: grants %+v read as %s; want %s", tc.groups, named, got, tc.want)
		}
	}
	bad := Config{Issuer: "https://idp.example.com", ClientID: "c", ClientSecret: "s", RedirectURL: "https://t.example.com" + CallbackPath,
		FlowKeys: [][]byte{{1}}, Roles: map[string]string{"ops": store.RoleAdmin}, RoleScopes: map[string][]string{"devs": {"eu"}}}
	if err := bad.Validate(); err == nil {
		t.Error("a scope of a group without a role is valid")
	}
	bad.RoleScopes = map[string][]string{"ops": {"Not_A_Group"}}
	if err := bad.Validate(); err == nil {
		t.Error("a scope naming an invalid cluster group is valid")
	}
}
