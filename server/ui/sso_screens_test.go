//go:build screenshots

package ui

import (
	"context"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/tagdrift/tagdrift/server/access/sso"
	"github.com/tagdrift/tagdrift/store"
)

// TestSSOScreenshots saves the sign-in pages of sign-in through a provider (the page
// with the provider's button and the local form, with the button alone, a refusal) at
// laptop and phone widths, light and dark, in $TAGDRIFT_UI_SCREENSHOTS:
// TAGDRIFT_UI_SCREENSHOTS=dir go test -tags screenshots -run TestSSOScreenshots ./server/ui/
func TestSSOScreenshots(t *testing.T) {
	dir := os.Getenv("TAGDRIFT_UI_SCREENSHOTS")
	if dir == "" {
		t.Fatal("set TAGDRIFT_UI_SCREENSHOTS to the directory the screenshots go to")
	}
	e := newSSOEnv(t, nil, nil)
	off := newSSOEnv(t, nil, func(c *testConfig) { c.NoLocalSignIn = true })
	// Sign nora in (no mapped group) to see the refusal, and ada for the users list.
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	providerLogin := func(login string) string {
		res, err := c.Get(e.srv.URL + "/signin/sso")
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		id := res.Request.URL.Query().Get("authRequestID")
		res, err = c.PostForm(e.idp.URL+"/login", url.Values{"id": {id}, "login": {login}, "do": {"allow"}})
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.Request.URL.String()
	}
	if got := providerLogin("ada"); got != e.srv.URL+"/" {
		t.Fatalf("ada's sign-in ended at %s", got)
	}
	if _, err := e.st.AddUser(context.Background(), store.NewUser{Name: "root", Role: store.RoleAdmin,
		PasswordHash: "$argon2id$v=19$m=65536,t=1,p=4$c2FsdA$aGFzaA"}, store.Audit{Actor: "cli:test"}); err != nil {
		t.Fatal(err)
	}
	asAdmin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Header.Set("Authorization", "Bearer "+e.tokens["admin"])
		e.h.ServeHTTP(w, r)
	}))
	defer asAdmin.Close()
	pages := map[string]string{
		"users-sso":       asAdmin.URL + "/admin/users",
		"signin-sso":      e.srv.URL + "/signin",
		"signin-sso-only": off.srv.URL + "/signin",
		"signin-denied":   e.srv.URL + sso.CallbackPath + "?error=access_denied&state=x",
		"signin-state":    e.srv.URL + sso.CallbackPath + "?code=x&state=x",
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, u := range pages {
		for _, v := range []struct {
			suffix        string
			width, height int
			dark          bool
		}{{"laptop", 1280, 800, false}, {"phone", 390, 844, false}, {"laptop-dark", 1280, 800, true}, {"phone-dark", 390, 844, true}} {
			out := filepath.Join(dir, name+"-"+v.suffix+".png")
			args := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
				"--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
				"--user-data-dir=" + t.TempDir(), "--screenshot=" + out, fmt.Sprintf("--window-size=%d,%d", v.width, v.height)}
			if v.dark {
				args = append(args, "--force-dark-mode", "--blink-settings=preferredColorScheme=0")
			}
			path := os.Getenv("CHROMIUM")
			if path == "" {
				path = "/usr/bin/chromium"
			}
			if b, err := exec.CommandContext(context.Background(), path, append(args, u)...).CombinedOutput(); err != nil {
				t.Fatalf("chromium %s: %v: %s", u, err, b)
			}
		}
	}
	t.Logf("screenshots in %s", dir)
}
