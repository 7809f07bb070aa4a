//go:build screenshots

package ui

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/tagdrift/tagdrift/store"
)

// TestGrantsScreenshots saves the users page with grants (a long cluster group name
// among them) and every grants form open, at 1280 and 390 px, light and dark, as PNGs
// in TAGDRIFT_UI_SCREENSHOTS (go test -tags screenshots -run TestGrantsScreenshots).
func TestGrantsScreenshots(t *testing.T) {
	dir := os.Getenv("TAGDRIFT_UI_SCREENSHOTS")
	if dir == "" {
		t.Fatal("set TAGDRIFT_UI_SCREENSHOTS to the directory the screenshots go to")
	}
	e := newEnv(t, nil)
	ctx := context.Background()
	a := store.Audit{Actor: "cli:test"}
	long := "payments-settlement-reconciliation-eu-west-1-production"
	for _, g := range []string{"team-a", long} {
		if _, err := e.st.CreateGroup(ctx, g, a); err != nil {
			t.Fatal(err)
		}
	}
	hash := "$argon2id$v=19$m=65536,t=1,p=4$c2FsdA$aGFzaA"
	for name, grants := range map[string][]store.NamedGrant{
		"mia":                     {{Role: store.RoleViewer}, {Role: store.RoleAdmin, Groups: []string{"team-a"}}},
		"long.grants@example.com": {{Role: store.RoleAdmin, Groups: []string{long, "team-a"}}, {Role: store.RoleViewer}},
		"vic":                     {{Role: store.RoleViewer, Groups: []string{long}}},
	} {
		if _, err := e.st.AddUser(ctx, store.NewUser{Name: name, Role: store.RoleViewer, PasswordHash: hash}, a); err != nil {
			t.Fatal(err)
		}
		if _, err := e.st.SetUserGrants(ctx, name, grants, a); err != nil {
			t.Fatal(err)
		}
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Header.Set("Authorization", "Bearer "+e.tokens["admin"])
		e.h.ServeHTTP(w, r)
	}))
	defer srv.Close()
	bctx, _ := chromium(t)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, v := range []struct {
		width int
		dark  bool
	}{{1280, false}, {390, false}, {1280, true}, {390, true}} {
		scheme := "light"
		if v.dark {
			scheme = "dark"
		}
		var png []byte
		if err := chromedp.Run(bctx,
			emulation.SetDeviceMetricsOverride(int64(v.width), 900, 1, v.width < 600),
			emulation.SetEmulatedMedia().WithFeatures([]*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}}),
			chromedp.Navigate(srv.URL+"/admin/users"),
			chromedp.Evaluate(`document.querySelectorAll("details[data-testid=user-grants-edit]").forEach(d => d.open = true)`, nil),
			chromedp.FullScreenshot(&png, 100),
		); err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(dir, fmt.Sprintf("grants-%d-%s.png", v.width, scheme))
		if err := os.WriteFile(out, png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("screenshots in %s", dir)
}
