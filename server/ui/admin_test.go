package ui

import (
	"context"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/tagdrift/tagdrift/store"
)

// TestViewersGetNoAdmin checks that a viewer sees no admin control and that the server
// refuses every admin action anyway, changing nothing.
func TestViewersGetNoAdmin(t *testing.T) {
	t.Parallel()
	e := newUIEnv(t, nil)
	e.addUser("root", store.RoleAdmin)
	e.addUser("vic", store.RoleViewer)
	b := e.browser()
	b.signIn("vic")
	p := b.get("/")
	wantStatus(t, p, http.StatusOK)
	if p.find("[data-testid=nav-admin]").Length() != 0 {
		t.Error("a viewer sees the Admin link")
	}
	for _, path := range []string{"/admin/tokens", "/admin/users", "/admin/audit", "/admin/users/root/delete"} {
		wantStatus(t, b.get(path), http.StatusForbidden)
	}
	for path, form := range map[string]url.Values{
		"/admin/tokens":             {"name": {"sneaky"}, "role": {"admin"}, "expires": {"never"}},
		"/admin/tokens/1/revoke":    {},
		"/admin/users":              {"name": {"mallory"}, "role": {"admin"}, "password": {"long enough password"}},
		"/admin/users/vic/role":     {"role": {"admin"}},
		"/admin/users/root/disable": {},
		"/admin/users/root/delete":  {},
	} {
		wantStatus(t, b.post(path, form), http.StatusForbidden)
	}
	ctx := context.Background()
	if toks, _ := e.st.Tokens(ctx, 0, 10); len(toks) != 0 {
		t.Errorf("a viewer made tokens: %+v", toks)
	}
	users, _ := e.st.Users(ctx)
	if len(users) != 2 || users[1].Role != store.RoleViewer || users[0].DisabledAt != nil {
		t.Errorf("a viewer changed users: %+v", users)
	}
	if evs, _ := e.st.FindAuditEvents(ctx, store.AuditFilter{Actor: "user:vic", Action: "token.", Limit: 10}); len(evs) != 0 {
		t.Errorf("audited viewer changes: %+v", evs)
	}
}

func TestTokensPage(t *testing.T) {
	t.Parallel()
	e := newUIEnv(t, nil)
	e.addUser("root", store.RoleAdmin)
	b := e.browser()
	b.signIn("root")
	ctx := context.Background()

	p := b.get("/admin/tokens")
	wantStatus(t, p, http.StatusOK)
	if p.find("[data-testid=no-tokens]").Length() != 1 || p.find("[data-testid=nav-admin]").Length() != 1 {
		t.Error("no empty state or no Admin link")
	}
	// Refused: next to the field, 422, nothing made.
	p = b.post("/admin/tokens", url.Values{"name": {""}, "role": {"root"}, "expires": {"forever"}})
	wantStatus(t, p, http.StatusUnprocessableEntity)
	for _, id := range []string{"token-name", "token-role", "token-expires"} {
		if p.text("[data-testid=error-"+id+"]") == "" {
			t.Errorf("no message next to %s", id)
		}
	}
	// Made: the secret is on this answer only, and works.
	p = b.post("/admin/tokens", url.Values{"name": {"grafana"}, "role": {"viewer"}, "expires": {"30d"}})
	wantStatus(t, p, http.StatusOK)
	if cc := p.header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("the secret's page is cacheable: %q", cc)
	}
	secret := p.text("[data-testid=token-secret]")
	tok, err := e.st.TokenBySecret(ctx, secret, time.Now())
	if err != nil || tok.Name != "grafana" || tok.Role != store.RoleViewer || tok.CreatedBy != "user:root" || tok.ExpiresAt == nil {
		t.Fatalf("the shown secret %q: %+v, %v", secret, tok, err)
	}
	if d := tok.ExpiresAt.Sub(e.clock.Now()); d != 30*24*time.Hour {
		t.Errorf("expires in %s", d)
	}
	p = b.get("/admin/tokens")
	if strings.Contains(p.body, secret) || p.find("[data-testid=token-created]").Length() != 0 {
		t.Error("the secret is shown again")
	}
	row := p.find("[data-testid=token-row][data-token=grafana]")
	if row.Length() != 1 || strings.TrimSpace(row.Find("[data-testid=state]").Text()) != "active" {
		t.Fatalf("token row: %s", p.body)
	}
	action, _ := row.Find("form").Attr("action")
	p = b.post(action, nil)
	if p.status != http.StatusSeeOther || p.header.Get("Location") != "/admin/tokens" {
		t.Fatalf("revoke: %d %q", p.status, p.header.Get("Location"))
	}
	if _, err := e.st.TokenBySecret(ctx, secret, time.Now()); err == nil {
		t.Error("a revoked token works")
	}
	p = b.get("/admin/tokens")
	if got := p.text("[data-testid=token-row][data-token=grafana] [data-testid=state]"); got != "revoked" {
		t.Errorf("state %q after revoking", got)
	}
	wantStatus(t, b.post(action, nil), http.StatusNotFound)
	evs, _ := e.st.FindAuditEvents(ctx, store.AuditFilter{Action: "token.", Limit: 10})
	if len(evs) != 2 || evs[0].Actor != "user:root" || evs[0].Action != "token.revoke" || evs[1].Action != "token.create" {
		t.Errorf("audit: %+v", evs)
	}
}

func TestUsersPage(t *testing.T) {
	t.Parallel()
	e := newUIEnv(t, nil)
	e.addUser("root", store.RoleAdmin)
	b := e.browser()
	b.signIn("root")
	ctx := context.Background()

	p := b.post("/admin/users", url.Values{"name": {"bad name"}, "role": {"viewer"}, "password": {"short"}})
	wantStatus(t, p, http.StatusUnprocessableEntity)
	if p.text("[data-testid=error-user-name]") == "" || p.text("[data-testid=error-user-password]") == "" {
		t.Errorf("no messages next to the fields: %s", p.body)
	}
	if strings.Contains(p.body, "short\"") {
		t.Error("the password is echoed")
	}
	p = b.post("/admin/users", url.Values{"name": {"dana"}, "role": {"viewer"}, "password": {"a long enough password"}})
	if p.status != http.StatusSeeOther || p.header.Get("Location") != "/admin/users" {
		t.Fatalf("add: %d %s", p.status, p.body)
	}
	p = b.post("/admin/users", url.Values{"name": {"dana"}, "role": {"admin"}, "password": {"a long enough password"}})
	wantStatus(t, p, http.StatusUnprocessableEntity)
	if !strings.Contains(p.text("[data-testid=error-user-name]"), "exists") {
		t.Errorf("a taken name: %q", p.text("[data-testid=error-user-name]"))
	}
	// dana signs in with the password set.
	db := e.browser()
	if pp := db.post("/signin", url.Values{"name": {"dana"}, "password": {"a long enough password"}}); pp.status != http.StatusSeeOther {
		t.Fatalf("dana cannot sign in: %d", pp.status)
	}

	p = b.get("/admin/users")
	if p.find("[data-testid=user-row]").Length() != 2 || !strings.Contains(p.text("[data-testid=user-row][data-user=root]"), "(you)") {
		t.Errorf("users list: %s", p.body)
	}
	// The last admin is refused, with the reason on the page.
	p = b.post("/admin/users/root/role", url.Values{"role": {"viewer"}})
	wantStatus(t, p, http.StatusUnprocessableEntity)
	if !strings.Contains(p.text("[data-testid=users-error]"), "last enabled admin") {
		t.Errorf("refusal: %q", p.text("[data-testid=users-error]"))
	}
	wantStatus(t, b.post("/admin/users/dana/role", url.Values{"role": {"admin"}}), http.StatusSeeOther)
	wantStatus(t, b.post("/admin/users/dana/disable", nil), http.StatusSeeOther)
	// Disabling ended dana's session.
	if pp := db.get("/"); pp.status != http.StatusSeeOther {
		t.Errorf("a disabled user's session still works: %d", pp.status)
	}
	p = b.get("/admin/users")
	if got := p.text("[data-testid=user-row][data-user=dana] [data-testid=state]"); got != "disabled" {
		t.Errorf("dana's state %q", got)
	}
	wantStatus(t, b.post("/admin/users/dana/enable", nil), http.StatusSeeOther)
	// Delete asks first, naming the user; then deletes.
	p = b.get("/admin/users/dana/delete")
	wantStatus(t, p, http.StatusOK)
	if !strings.Contains(p.text("[data-testid=confirm-question]"), "dana") {
		t.Errorf("confirmation: %q", p.text("[data-testid=confirm-question]"))
	}
	wantStatus(t, b.post("/admin/users/dana/delete", nil), http.StatusSeeOther)
	if _, err := e.st.UserByName(ctx, "dana"); err == nil {
		t.Error("dana was not deleted")
	}
	wantStatus(t, b.get("/admin/users/dana/delete"), http.StatusNotFound)
	wantStatus(t, b.get("/admin/users/nobody%2F..%2Froot/delete"), http.StatusNotFound)

	// The audit trail shows each change by root's name, and filters.
	p = b.get("/admin/audit?actor=user:root&action=user.")
	wantStatus(t, p, http.StatusOK)
	var actions []string
	p.find("[data-testid=audit-row]").Each(func(_ int, s *goquery.Selection) {
		a, _ := s.Attr("data-action")
		actions = append(actions, a)
	})
	want := "user.delete user.enable user.disable user.role user.add user.signin"
	if strings.Join(actions, " ") != want {
		t.Errorf("audit of root's user changes: %v, want %s", actions, want)
	}
	p = b.get("/admin/audit?target=dana&action=user.signin")
	if n := p.find("[data-testid=audit-row]").Length(); n != 1 {
		t.Errorf("dana's sign-ins: %d", n)
	}
	// A reader sees where from without the ephemeral port, and the detail as lines.
	p = b.get("/admin/audit?target=dana&action=user.role")
	row := p.find("[data-testid=audit-row]")
	from := row.Find("td").Eq(5)
	if title, _ := from.Attr("title"); title == "" {
		t.Error("the recorded address is not kept in the cell's title")
	} else if host, _, err := net.SplitHostPort(title); err != nil || from.Text() != host {
		t.Errorf("from %q, recorded %q", from.Text(), title)
	}
	if lines := row.Find("td.audit-detail .kv"); lines.Length() == 0 || strings.Contains(lines.Text(), "{") {
		t.Errorf("detail lines %q", lines.Text())
	}
	p = b.get("/admin/audit?since=yesterday")
	wantStatus(t, p, http.StatusUnprocessableEntity)
	if p.text("[data-testid=error-since]") == "" {
		t.Error("no message for a bad since")
	}
	p = b.get("/admin/audit?until=2000-01-01")
	if p.find("[data-testid=no-audit]").Length() != 1 {
		t.Error("no empty state for an empty filter")
	}
	// A parameter the page does not take, one given twice, and text the database would
	// refuse are the client's mistakes, said as such.
	for _, bad := range []string{"actr=user:root", "actor=a&actor=b", "actor=%00", "target=%ff", "before=x"} {
		wantStatus(t, b.get("/admin/audit?"+bad), http.StatusBadRequest)
	}
}

// TestUserScopeForm checks the users page's scope form: an admin of every cluster
// scopes dana to a cluster group and back; an unknown group is refused on the page;
// dana, signed in, sees only that group's clusters; a scoped admin gets no Admin page.
func TestUserScopeForm(t *testing.T) {
	t.Parallel()
	e := newUIEnv(t, nil)
	ctx := context.Background()
	e.addUser("root", store.RoleAdmin)
	e.addUser("dana", store.RoleAdmin)
	for _, name := range []string{"eu-1", "us-1"} {
		addCluster(t, e.st, name)
	}
	for _, g := range []string{"eu", "us"} {
		if _, err := e.st.CreateGroup(ctx, g, store.Audit{Actor: "cli:test"}); err != nil {
			t.Fatal(err)
		}
	}
	for name, g := range map[string]string{"eu-1": "eu", "us-1": "us"} {
		if _, err := e.st.UpdateCluster(ctx, name, store.ClusterChange{Group: &g}, store.Audit{Actor: "cli:test"}); err != nil {
			t.Fatal(err)
		}
	}
	b := e.browser()
	b.signIn("root")
	wantStatus(t, b.post("/admin/users/dana/scope", url.Values{"groups": {"eu"}}), http.StatusSeeOther)
	p := b.get("/admin/users")
	if got := p.find("[data-testid=user-row][data-user=dana] [data-testid=user-grant-admin]").AttrOr("value", "?"); got != "eu" {
		t.Errorf("dana's admin grant field: %q", got)
	}
	if got := p.text("[data-testid=user-row][data-user=dana] [data-testid=user-grants-text]"); got != "admin on eu" {
		t.Errorf("dana's grants: %q", got)
	}
	p = b.post("/admin/users/dana/scope", url.Values{"groups": {"nope"}})
	wantStatus(t, p, http.StatusUnprocessableEntity)
	if !strings.Contains(p.text("[data-testid=users-error]"), "cluster groups") {
		t.Errorf("unknown group: %q", p.text("[data-testid=users-error]"))
	}
	db := e.browser()
	db.signIn("dana")
	p = db.get("/clusters")
	wantStatus(t, p, http.StatusOK)
	if !strings.Contains(p.body, "eu-1") || strings.Contains(p.body, "us-1") {
		t.Errorf("dana, scoped to eu, lists: %s", p.body)
	}
	wantStatus(t, db.get("/clusters/us-1"), http.StatusNotFound)
	wantStatus(t, db.get("/admin/users"), http.StatusForbidden)
	// Back to every cluster: the field empty.
	wantStatus(t, b.post("/admin/users/dana/scope", url.Values{"groups": {""}}), http.StatusSeeOther)
	if u, _ := e.st.UserByName(ctx, "dana"); u.Grants.ReadScope().Limited {
		t.Errorf("dana's grants after clearing: %+v", u.Grants)
	}
	if p := db.get("/clusters"); !strings.Contains(p.body, "us-1") {
		t.Errorf("dana, unscoped again, does not list us-1")
	}
	// Grants that combine: admin on eu, viewer on every cluster.
	wantStatus(t, b.post("/admin/users/dana/grants", url.Values{"admin": {"eu"}, "viewer": {"*"}}), http.StatusSeeOther)
	p = b.get("/admin/users")
	if got := p.text("[data-testid=user-row][data-user=dana] [data-testid=user-grants-text]"); got != "admin on eu; viewer on all clusters" {
		t.Errorf("dana's grants: %q", got)
	}
	if got := p.find("[data-testid=user-row][data-user=dana] [data-testid=user-grant-viewer]").AttrOr("value", "?"); got != "*" {
		t.Errorf("dana's viewer grant field: %q", got)
	}
	if u, _ := e.st.UserByName(ctx, "dana"); u.Role != store.RoleAdmin || u.Grants.ReadScope().Limited || !u.Grants.AdminScope().Limited {
		t.Errorf("dana's grants: %+v", u.Grants)
	}
	for _, form := range []url.Values{{"admin": {""}, "viewer": {""}}, {"admin": {"nope"}}, {"viewer": {"Bad_Name"}}} {
		p := b.post("/admin/users/dana/grants", form)
		wantStatus(t, p, http.StatusUnprocessableEntity)
		if !strings.Contains(p.text("[data-testid=users-error]"), "cluster groups") {
			t.Errorf("grants %v: %q", form, p.text("[data-testid=users-error]"))
		}
	}
}
