package ui

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/tagdrift/tagdrift/store"
)

// TestTokenOwnersInUI: a token made on the tokens page acts for the user who made it;
// the users page counts it; a token made with it acts for the same user; deleting the
// user revokes both, so neither opens a page any more.
func TestTokenOwnersInUI(t *testing.T) {
	t.Parallel()
	e := newUIEnv(t, nil)
	e.addUser("root", store.RoleAdmin)
	e.addUser("dana", store.RoleAdmin)
	dana := e.browser()
	dana.signIn("dana")
	p := dana.post("/admin/tokens", url.Values{"name": {"deploy"}, "role": {"admin"}, "expires": {"never"}})
	wantStatus(t, p, http.StatusOK)
	secret := p.text("[data-testid=token-secret]")
	bearer := func(secret, method, path string, form url.Values) authPage {
		b := e.browser()
		return b.do(method, path, form, map[string]string{"Authorization": "Bearer " + secret})
	}
	wantStatus(t, bearer(secret, "GET", "/", nil), http.StatusOK)
	// A token made with dana's token is dana's too.
	p = bearer(secret, "POST", "/admin/tokens", url.Values{"name": {"child"}, "role": {"viewer"}, "expires": {"never"}})
	wantStatus(t, p, http.StatusOK)
	child := p.text("[data-testid=token-secret]")

	root := e.browser()
	root.signIn("root")
	p = root.get("/admin/users")
	if got := strings.TrimSpace(p.find("[data-testid=user-row][data-user=dana] [data-testid=user-tokens]").Text()); got != "2" {
		t.Errorf("dana's token count %q, want 2", got)
	}
	wantStatus(t, root.post("/admin/users/dana/delete", url.Values{"confirm": {"dana"}}), http.StatusSeeOther)
	for _, s := range []string{secret, child} {
		if p := bearer(s, "GET", "/", nil); p.status != http.StatusUnauthorized {
			t.Errorf("a deleted user's token opens a page: %d", p.status)
		}
	}
}
