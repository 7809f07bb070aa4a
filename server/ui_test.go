package server

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
)

// uiPage is a rendered page.
type uiPage struct {
	status int
	header http.Header
	body   []byte
	doc    *goquery.Document
}

// page gets path as who ("" for nobody) and parses the HTML.
func (e *testEnv) page(who, path string) uiPage {
	e.t.Helper()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	if who != "" {
		secret := e.tokens[who]
		if who == "env-admin" {
			secret = testAdminToken
		}
		req.Header.Set("Authorization", "Bearer "+secret)
	}
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, req)
	p := uiPage{status: rec.Code, header: rec.Header(), body: rec.Body.Bytes()}
	doc, err := goquery.NewDocumentFromReader(bytes.NewReader(p.body))
	if err != nil {
		e.t.Fatalf("parse %s: %v", path, err)
	}
	p.doc = doc
	return p
}

// want fails unless the page has status and is HTML without inline script.
func (p uiPage) want(t testing.TB, status int) uiPage {
	t.Helper()
	if p.status != status {
		t.Fatalf("status %d, want %d: %s", p.status, status, p.body)
	}
	if ct := p.header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
	p.doc.Find("script").Each(func(_ int, s *goquery.Selection) {
		if _, ok := s.Attr("src"); !ok || strings.TrimSpace(s.Text()) != "" {
			h, _ := goquery.OuterHtml(s)
			t.Errorf("inline script: %s", h)
		}
	})
	if len(p.body) > 100<<10 {
		t.Errorf("page of %d bytes, over 100 KB", len(p.body))
	}
	return p
}

// all returns the selection of a data-testid.
func (p uiPage) all(testid string) *goquery.Selection {
	return p.doc.Find(`[data-testid="` + testid + `"]`)
}

// one returns the single element of a data-testid.
func (p uiPage) one(t testing.TB, testid string) *goquery.Selection {
	t.Helper()
	s := p.all(testid)
	if s.Length() != 1 {
		t.Fatalf("%d elements %q, want 1", s.Length(), testid)
	}
	return s
}

func TestUIRequiresAuthentication(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	// A browser without a session is sent to sign in (ui_session_test.go tests that).
	p := e.page("", "/")
	if p.status != http.StatusSeeOther || p.header.Get("Location") != "/signin?next=%2F" {
		t.Errorf("unauthenticated: %d to %q, want 303 to the sign-in page", p.status, p.header.Get("Location"))
	}
	if p.all("overview-summary").Length() != 0 || p.all("no-clusters").Length() != 0 {
		t.Error("an unauthenticated request saw the overview")
	}
	// A bearer token that does not work is refused.
	e.page("expired", "/").want(t, http.StatusUnauthorized).one(t, "error-detail")
	// The assets hold no data: no session needed.
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, httptest.NewRequest("GET", "/static/style.css", nil))
	if rec.Code != http.StatusOK {
		t.Errorf("stylesheet: %d", rec.Code)
	}
}

func TestUIOverviewEmpty(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	p := e.page("viewer", "/").want(t, http.StatusOK)
	if !strings.Contains(p.one(t, "no-clusters").Text(), "deploy/rbac.yaml") {
		t.Error("the no-cluster state does not say how to apply the RBAC")
	}
	p.one(t, "no-events")
	if p.all("nav-admin").Length() != 0 {
		t.Error("a viewer sees the Admin link")
	}
	if p.one(t, "viewer").Text() != "token:viewer" {
		t.Errorf("viewer %q", p.one(t, "viewer").Text())
	}
	if e.page("admin", "/").want(t, http.StatusOK).all("nav-admin").Length() != 1 {
		t.Error("an admin misses the Admin link")
	}
}

func TestUIOverview(t *testing.T) {
	t.Parallel()
	e, _ := newUIFleet(t)
	p := e.page("viewer", "/").want(t, http.StatusOK)
	rows := p.all("cluster-row")
	if rows.Length() != 3 {
		t.Fatalf("%d cluster rows", rows.Length())
	}
	states := map[string]string{}
	rows.Each(func(_ int, s *goquery.Selection) {
		name, _ := s.Attr("data-cluster")
		states[name] = s.Find(`[data-testid="state"]`).Text()
	})
	if states["prod"] != "ok" || states["staging"] != "ok" || states["old"] != "stale" {
		t.Errorf("states %v", states)
	}
	stale := p.doc.Find(`[data-cluster="old"] [data-testid="stale-warning"]`)
	if !strings.Contains(stale.Text(), "no successful scan for") {
		t.Errorf("stale warning %q", stale.Text())
	}
	kinds := map[string]string{}
	p.all("open-kind").Each(func(_ int, s *goquery.Selection) {
		k, _ := s.Attr("data-kind")
		kinds[k] = s.Text()
	})
	if !strings.HasPrefix(kinds["workload-divergence"], "1 ") {
		t.Errorf("open kinds %v", kinds)
	}
	what := map[string]int{}
	p.all("event").Each(func(_ int, s *goquery.Selection) {
		w, _ := s.Attr("data-what")
		what[w]++
	})
	if what["tag moved"] != 1 || what["opened"] < 1 {
		t.Errorf("events %v", what)
	}
	if p.doc.Find(`[data-testid="event"] [data-testid="digest-chip"]`).Length() < 2 {
		t.Error("events show no digests")
	}
}

// newUIFleet is an env with three clusters: prod, where a tag moved under a Deployment
// (a hostile pod name among its pods), staging, and old, whose only scan is long past.
func newUIFleet(t *testing.T) (*testEnv, *fleet) {
	t.Helper()
	e := newEnv(t, nil)
	f := &fleet{t: t, e: e, id: map[string]int64{}}
	for _, name := range []string{"prod", "staging", "old"} {
		want(t, e.as("admin").send("POST", "/api/v1/clusters", clusterBody(name, testKubeconfig("", ""), "")), http.StatusCreated)
		c, err := e.st.ClusterStatusByName(context.Background(), name)
		if err != nil {
			t.Fatal(err)
		}
		f.id[name] = c.ID
	}
	now := time.Now()
	t0 := now.Add(-3 * time.Minute).Truncate(time.Second).UTC()
	t1 := t0.Add(time.Minute)
	f.scan("old", now.Add(-3*time.Hour), webPod("old", "web-o", "u-o", "a"))
	f.scan("prod", t0, webPod("prod", "web-a", "u-a", "a"), webPod("prod", hostilePod, "u-h", "a"))
	f.scan("staging", t0, webPod("staging", "web-s", "u-s", "a"))
	f.scan("prod", t1, webPod("prod", "web-a", "u-a", "a"), webPod("prod", hostilePod, "u-h", "a"), webPod("prod", "web-c", "u-c", "b"))
	return e, f
}

// hostilePod is a pod name that is markup.
const hostilePod = `"><script>alert(1)</script>`
