package ui

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"

	"github.com/tagdrift/tagdrift/store"
)

// TestAdminIndex checks that /admin is a page (not a redirect) that links every admin
// page with its counts, that viewers are refused it, and that a signed-out visitor
// sees no navigation.
func TestAdminIndex(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	ctx := context.Background()
	// Empty data: every line is there, counted zero.
	p := e.page("admin", "/admin").want(t, http.StatusOK)
	want := map[string]string{
		"users": "/admin/users", "tokens": "/admin/tokens", "clusters": "/clusters", "groups": "/clusters",
		"channels": "/admin/notifications", "routes": "/admin/notifications/routes", "acks": "/acknowledgements", "audit": "/admin/audit",
	}
	sections := func(p uiPage) map[string]string {
		counts := map[string]string{}
		p.all("admin-section").Each(func(_ int, s *goquery.Selection) {
			id, _ := s.Attr("data-section")
			href, _ := s.Find(`[data-testid=admin-link]`).Attr("href")
			if href != want[id] {
				t.Errorf("section %q links %q, want %q", id, href, want[id])
			}
			counts[id] = strings.TrimSpace(s.Find(`[data-testid=admin-counts]`).Text())
		})
		if len(counts) != len(want) {
			t.Errorf("sections %v, want %d", counts, len(want))
		}
		return counts
	}
	c := sections(p)
	if c["clusters"] != "0 clusters" || c["channels"] != "0 channels" || c["routes"] != "0 routes" {
		t.Errorf("empty counts %v", c)
	}
	if p.doc.Find(`[data-testid=nav-admin][aria-current=page]`).Length() != 1 {
		t.Error("the Admin navigation item is not current")
	}

	// Some of everything: the counts follow.
	e.addCluster("prod")
	e.addCluster(`"><script>alert(1)</script>`)
	if _, err := e.st.CreateChannel(ctx, store.Audit{Actor: "test"}, store.NewChannel{Name: "ops", Kind: "webhook", Config: json.RawMessage(`{"url":"https://x.example/h"}`), Enabled: false}); err != nil {
		t.Fatal(err)
	}
	p = e.page("admin", "/admin").want(t, http.StatusOK)
	c = sections(p)
	// Tokens of newEnv: admin and viewer live, one expired, one revoked.
	if c["tokens"] != "2 live tokens, 1 with the admin role, 2 revoked or expired" {
		t.Errorf("tokens %q", c["tokens"])
	}
	if c["clusters"] != "2 clusters" || c["channels"] != "1 channel, 1 disabled" || !strings.HasPrefix(c["groups"], "1 group") {
		t.Errorf("counts %v", c)
	}
	if !strings.Contains(c["audit"], "newest: channel.create") && !strings.Contains(c["audit"], "newest: cluster.create") {
		t.Errorf("audit %q names no newest event", c["audit"])
	}
	if strings.Contains(string(p.body), "<script>alert") {
		t.Error("a hostile cluster name reached the page as markup")
	}

	// A viewer is refused it, and sees no Admin link.
	e.page("viewer", "/admin").want(t, http.StatusForbidden)
	// Signed out: the redirect to sign in, and a page no one can use shows no navigation.
	if p := e.page("", "/admin"); p.status != http.StatusSeeOther || !strings.HasPrefix(p.header.Get("Location"), "/signin?next=%2Fadmin") {
		t.Errorf("signed out, /admin answers %d to %q", p.status, p.header.Get("Location"))
	}
	for _, path := range []string{"/signin", "/nope"} {
		p := e.page("", path)
		if n := p.doc.Find(`[data-testid=nav], [data-testid=search], [data-testid=sign-out]`).Length(); n != 0 {
			t.Errorf("signed out, %s shows %d navigation elements", path, n)
		}
		if p.all("brand").Length() != 1 {
			t.Errorf("signed out, %s lacks the brand", path)
		}
	}
	// Signed in, the 404 page keeps the navigation.
	if e.page("viewer", "/nope").all("nav").Length() != 1 {
		t.Error("signed in, the not-found page lost its navigation")
	}
}
