package ui

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tagdrift/tagdrift/internal/oidctest"
	"github.com/tagdrift/tagdrift/server/request"
	"github.com/tagdrift/tagdrift/store"
)

// TestSSOGrantsCombine signs in, through a real OpenID provider, a user whose groups map
// to viewer on every cluster (readers) and admin on team-a (team-a-ops): the grants
// combine. She reads team-b's cluster and mutations, cannot change team-b's cluster
// (403: she can see it; no settings form is offered), and changes team-a's. With one
// role and one scope (the highest role wins), she would be an admin of team-a who sees
// nothing of team-b.
func TestSSOGrantsCombine(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	idp := oidctest.Start(t)
	idp.AddUser(oidctest.User{Subject: "sub-mia", Login: "mia", Email: "mia@example.com", Groups: []string{"readers", "team-a-ops", "marketing"}})
	e := newSSOEnvRoles(t, idp, map[string]string{"readers": store.RoleViewer, "team-a-ops": store.RoleAdmin},
		map[string][]string{"team-a-ops": {"team-a"}}, nil)
	v, err := request.Vetter{}.Vet(testKubeconfig("", ""), "")
	if err != nil {
		t.Fatal(err)
	}
	f := &fleet{t: t, e: e.testEnv, id: map[string]int64{}}
	for name, group := range map[string]string{"alpha-eu": "team-a", "beta-us": "team-b"} {
		c, err := e.st.RegisterCluster(ctx, store.NewCluster{Name: name, Server: v.Server, Context: v.Context, Credentials: v.Sealed,
			ScanInterval: request.DefaultScanInterval, Annotate: "off", Enabled: true, Group: group}, store.Audit{Actor: "cli:test"})
		if err != nil {
			t.Fatal(err)
		}
		f.id[name] = c.ID
	}
	t0 := time.Now().Add(-3 * time.Minute).Truncate(time.Second).UTC()
	for _, c := range []struct{ cluster, ns, wl, first, second string }{
		{"alpha-eu", "ns-alpha", "shop-web", "a", "b"},
		{"beta-us", "ns-beta", "billing-api", "c", "d"},
	} {
		f.scan(c.cluster, t0, scopedUIPod(c.cluster, c.ns, c.wl, c.wl+"-p1", c.first))
		f.scan(c.cluster, t0.Add(time.Minute), scopedUIPod(c.cluster, c.ns, c.wl, c.wl+"-p1", c.first), scopedUIPod(c.cluster, c.ns, c.wl, c.wl+"-p2", c.second))
	}

	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	read := func(res *http.Response, err error) (int, string) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		if err != nil {
			t.Fatal(err)
		}
		return res.StatusCode, string(b)
	}
	get := func(path string) (int, string) { t.Helper(); return read(c.Get(e.srv.URL + path)) }
	post := func(path string, form url.Values) (int, string) {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, e.srv.URL+path, strings.NewReader(form.Encode()))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Sec-Fetch-Site", "same-origin")
		cc := *c
		cc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		return read(cc.Do(req))
	}

	res, err := c.Get(e.srv.URL + "/signin/sso")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	res, err = c.PostForm(e.idp.URL+"/login", url.Values{"id": {res.Request.URL.Query().Get("authRequestID")}, "login": {"mia"}, "do": {"allow"}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.Request.URL.String() != e.srv.URL+"/" || res.StatusCode != http.StatusOK {
		t.Fatalf("sign-in ended at %s (%d)", res.Request.URL, res.StatusCode)
	}
	u, err := e.st.UserByName(ctx, "mia")
	if err != nil {
		t.Fatal(err)
	}
	if u.Role != store.RoleAdmin || u.Grants.ReadScope().Limited || !u.Grants.AdminScope().Limited {
		t.Errorf("mia's grants: %+v; want to read every cluster and administer team-a's", u.Grants)
	}

	// She reads team-b.
	if code, body := get("/clusters"); code != http.StatusOK || !strings.Contains(body, "beta-us") || !strings.Contains(body, "alpha-eu") {
		t.Errorf("clusters: %d, beta-us listed %t, alpha-eu %t", code, strings.Contains(body, "beta-us"), strings.Contains(body, "alpha-eu"))
	}
	if code, body := get("/mutations?cluster=beta-us&state=all"); code != http.StatusOK || !strings.Contains(body, "billing-api") {
		t.Errorf("beta's mutations: %d, billing-api shown %t", code, strings.Contains(body, "billing-api"))
	}
	code, body := get("/clusters/beta-us")
	if code != http.StatusOK || strings.Contains(body, `data-testid="cluster-edit"`) || strings.Contains(body, "/clusters/beta-us/delete") {
		t.Errorf("beta's page: %d, settings form offered %t", code, strings.Contains(body, `data-testid="cluster-edit"`))
	}
	if code, body := get("/clusters/alpha-eu"); code != http.StatusOK || !strings.Contains(body, `data-testid="cluster-edit"`) {
		t.Errorf("alpha's page: %d, settings form offered %t", code, strings.Contains(body, `data-testid="cluster-edit"`))
	}
	// She changes team-a's cluster, not team-b's: 403, since she can see it.
	edit := url.Values{"interval": {"10m"}, "annotate": {"off"}, "enabled": {"false"}, "mode": {"poll"}}
	if code, _ := post("/clusters/beta-us", edit); code != http.StatusForbidden {
		t.Errorf("mia edits beta-us: %d, want 403", code)
	}
	for _, path := range []string{"/clusters/beta-us/scans", "/clusters/beta-us/delete"} {
		if code, _ := post(path, url.Values{"confirm": {"beta-us"}}); code != http.StatusForbidden {
			t.Errorf("mia posts %s: %d, want 403", path, code)
		}
	}
	if code, _ := get("/clusters/beta-us/delete"); code != http.StatusForbidden {
		t.Errorf("mia's delete page of beta-us: %d, want 403", code)
	}
	if code, _ := post("/clusters/zz-none", edit); code != http.StatusNotFound {
		t.Errorf("mia edits a cluster that does not exist: %d, want 404", code)
	}
	if code, _ := post("/clusters/alpha-eu", edit); code != http.StatusSeeOther {
		t.Errorf("mia edits alpha-eu: %d, want 303", code)
	}
	for name, enabled := range map[string]bool{"beta-us": true, "alpha-eu": false} {
		if cs, err := e.st.ClusterStatusByName(ctx, name, store.Scope{}); err != nil || cs.Enabled != enabled {
			t.Errorf("%s after mia's edits: enabled %t, %v; want %t", name, cs.Enabled, err, enabled)
		}
	}
}
