package ui

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/tagdrift/tagdrift/scanner/imageref"
	"github.com/tagdrift/tagdrift/server/request"
	"github.com/tagdrift/tagdrift/store"
	"github.com/tagdrift/tagdrift/web"
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
	// A browser without a session is sent to sign in (signin_test.go tests that).
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
	if !strings.Contains(p.one(t, "no-clusters").Text(), "kubectl apply -k deploy/scanned-cluster") {
		t.Error("the no-cluster state does not say how to apply the RBAC")
	}
	p.one(t, "no-events")
	if p.all("nav-admin").Length() != 0 {
		t.Error("a viewer sees the Admin link")
	}
	if !tokenActor(p.one(t, "viewer").Text(), "viewer") {
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
		e.addCluster(name)
		c, err := e.st.ClusterStatusByName(context.Background(), name, store.Scope{})
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

// hostileImageID is an imageID that is markup; it parses as kind unknown.
const hostileImageID = `<img src=x onerror=alert(3)>"'`

func TestUIPages(t *testing.T) {
	t.Parallel()
	e, f := newUIFleet(t)
	// A pod whose runtime reported an imageID of markup, in another workload.
	odd := webPod("staging", "odd-1", "u-odd", "a")
	odd.Workload.Name, odd.Controller.Name, odd.Controller.UID = "odd", "odd-1", "rs-odd"
	id, _ := imageref.ParseImageID(hostileImageID)
	odd.Containers[0].ID = &id
	odd.Runtime = "containerd://1.7.20"
	f.scan("staging", time.Now().Add(-time.Minute).UTC(), webPod("staging", "web-s", "u-s", "a"), odd)

	t.Run("clusters", func(t *testing.T) {
		p := e.page("viewer", "/clusters").want(t, http.StatusOK)
		if p.all("cluster-row").Length() != 3 {
			t.Errorf("%d cluster rows", p.all("cluster-row").Length())
		}
		p.one(t, "cluster-actions")
		p = e.page("viewer", "/clusters/prod").want(t, http.StatusOK)
		if p.one(t, "cluster-name").Text() != "prod" || p.all("scan").Length() != 2 {
			t.Errorf("cluster page: %d scans", p.all("scan").Length())
		}
		e.page("viewer", "/clusters/nope").want(t, http.StatusNotFound)
	})
	t.Run("workloads", func(t *testing.T) {
		p := e.page("viewer", "/workloads").want(t, http.StatusOK)
		if p.all("workload-row").Length() != 4 {
			t.Errorf("%d workload rows", p.all("workload-row").Length())
		}
		p = e.page("viewer", "/workloads?mutant=true").want(t, http.StatusOK)
		if rows := p.all("workload-row"); rows.Length() != 1 || rows.Find(`[data-testid="state"]`).Text() != "mutant" {
			t.Errorf("mutant rows %d", rows.Length())
		}
		p = e.page("viewer", "/workloads?cluster=prod&ref=nginx:1.25&sort=name&order=desc").want(t, http.StatusOK)
		if p.all("workload-row").Length() != 1 {
			t.Errorf("filtered rows %d", p.all("workload-row").Length())
		}
		if p.doc.Find(`select[name=cluster] option[selected]`).AttrOr("value", "") != "prod" {
			t.Error("the cluster filter is not kept")
		}
		if e.page("viewer", "/workloads?ref=docker.io/library/redis:7").want(t, http.StatusOK).all("no-workloads").Length() != 1 {
			t.Error("an unknown reference lists workloads")
		}
		if p.one(t, "sort-name").AttrOr("data-sort", "") != "descending" {
			t.Error("the sort in effect is not marked")
		}
		e.page("viewer", "/workloads?sort=bogus").want(t, http.StatusBadRequest)
		// Sorted on the server: names descending across every cluster.
		p = e.page("viewer", "/workloads?sort=name&order=desc").want(t, http.StatusOK)
		var names []string
		p.all("workload-row").Each(func(_ int, s *goquery.Selection) { names = append(names, s.AttrOr("data-name", "")) })
		if len(names) != 4 || !slices.IsSortedFunc(names, func(a, b string) int { return strings.Compare(b, a) }) {
			t.Errorf("by name, descending: %v", names)
		}
	})
	t.Run("workload", func(t *testing.T) {
		p := e.page("viewer", "/workloads/prod/shop/Deployment/web").want(t, http.StatusOK)
		rows := p.all("pod-row")
		if rows.Length() != 3 {
			t.Fatalf("%d pod rows", rows.Length())
		}
		odd := p.doc.Find(`[data-testid="pod-row"][data-odd="true"]`)
		if odd.Length() != 1 || odd.AttrOr("data-pod", "") != "web-c" {
			t.Fatalf("odd rows %d", odd.Length())
		}
		if got := odd.Find(`[data-testid="odd-mark"]`).Text(); !strings.Contains(got, "differs from 2 of 3") {
			t.Errorf("odd mark %q", got)
		}
		if got := p.one(t, "fix-ref").Text(); got != "nginx:1.25@"+digestOf("a") {
			t.Errorf("fix %q", got)
		}
		// Both ways out, as suggestions: the tag last moved to b, which 1 of the 3 pods
		// runs; roll forward with the restart line, or pin a, which most pods run.
		advice := p.one(t, "advice")
		if advice.HasClass("fix") {
			t.Error("the advice is styled as a success")
		}
		tagNow := p.one(t, "tag-now")
		if tagNow.Find(`[data-testid="chip-link"]`).AttrOr("title", "") != digestOf("b") || !strings.Contains(tagNow.Text(), "1 of 3 pods run it") {
			t.Errorf("tag now: %q", tagNow.Text())
		}
		if got := p.one(t, "restart-command").Text(); got != "kubectl -n shop rollout restart deployment/web" {
			t.Errorf("restart command %q", got)
		}
		p.one(t, "advice-forward")
		if !strings.Contains(p.one(t, "advice-pin").Text(), "2 of 3") {
			t.Errorf("pin advice %q", p.one(t, "advice-pin").Text())
		}
		if p.doc.Find(`[data-pod="`+strings.ReplaceAll(hostilePod, `"`, `\"`)+`"]`).Length() != 1 {
			t.Error("the hostile pod's row is missing")
		}
		if p.doc.Find("main script").Length() != 0 || strings.Contains(string(p.body), "<script>alert") {
			t.Error("a pod name became markup")
		}
		if p.all("open-mutations").Find(`[data-testid="mutation-row"]`).Length() != 1 {
			t.Error("open mutation missing")
		}
		if p.all("past-mutations").Find(`[data-kind="tag-moved"]`).Length() != 1 {
			t.Error("tag-moved event missing")
		}
		letters := map[string]string{}
		p.doc.Find(`[data-testid="pod-row"] [data-testid="digest-chip"]`).Each(func(_ int, s *goquery.Selection) {
			letters[s.AttrOr("data-digest", "")] = s.Find(`[data-testid="chip-letter"]`).Text()
		})
		if letters[digestOf("a")] == letters[digestOf("b")] || len(letters) != 2 {
			t.Errorf("letters %v", letters)
		}
		e.page("viewer", "/workloads/prod/shop/Deployment/nope").want(t, http.StatusNotFound)

		p = e.page("viewer", "/workloads/staging/shop/Deployment/odd").want(t, http.StatusOK)
		if got := p.one(t, "image-id").Text(); got != hostileImageID {
			t.Errorf("raw imageID %q", got)
		}
		if p.doc.Find("main img").Length() != 0 {
			t.Error("an imageID became markup")
		}
		// Kept raw (kind unknown): no digest page would take it, so it is not linked.
		chip := p.doc.Find(`[data-testid="pod-row"] [data-testid="digest-chip"]`)
		if chip.Find(`a`).Length() != 0 || chip.Find(`[data-testid="chip-raw"]`).AttrOr("title", "") != hostileImageID {
			t.Errorf("the unknown imageID's chip: %d links, raw title %q", chip.Find(`a`).Length(), chip.Find(`[data-testid="chip-raw"]`).AttrOr("title", ""))
		}
		if p.doc.Find(`a[href*="/digests/"]`).Length() != 0 {
			t.Error("the workload page links an unknown imageID to a digest page")
		}
	})
	t.Run("timeline", func(t *testing.T) {
		p := e.page("viewer", "/images?ref=nginx:1.25").want(t, http.StatusOK)
		if p.one(t, "timeline-ref").Text() != "docker.io/library/nginx:1.25" {
			t.Error("reference not normalized")
		}
		if !strings.Contains(p.one(t, "chart-zone").Text(), "UTC") {
			t.Error("the timeline's axis names no time zone")
		}
		svg := p.one(t, "timeline-svg")
		if svg.AttrOr("role", "") != "img" || svg.Find("title#chart-title").Length() != 1 || svg.Find("desc").Length() != 1 {
			t.Error("the chart lacks role, title or description")
		}
		if p.all("lane").Length() < 2 || bars(p) < 3 || p.all("move-mark").Length() != 1 {
			t.Errorf("lanes %d bars %d marks %d", p.all("lane").Length(), bars(p), p.all("move-mark").Length())
		}
		if p.all("timeline-row").Length() != p.all("lane").Length() || p.all("move").Length() != 1 {
			t.Error("the table does not hold the chart's facts")
		}
		// Pods now apart from pods ever, never more now than ever.
		p.all("timeline-pods").Each(func(_ int, cell *goquery.Selection) {
			var now, ever int
			if n, err := fmt.Sscanf(strings.TrimSpace(cell.Text()), "%d / %d", &now, &ever); n != 2 || err != nil || now > ever || ever == 0 {
				t.Errorf("pods now / ever cell %q", cell.Text())
			}
		})
		if p.one(t, "range-all").AttrOr("aria-current", "") != "page" {
			t.Error("range all not current")
		}
		// When each cluster ran each digest, as a table: one row for each bar.
		chart := map[string]bool{}
		p.all("lane").Each(func(_ int, lane *goquery.Selection) {
			_, digest, _ := strings.Cut(lane.Find("text").Text(), " ") // after the letter
			lane.Find("path title").Each(func(_ int, title *goquery.Selection) {
				cluster, _, _ := strings.Cut(title.Text(), ":")
				chart[digest+" in "+cluster] = true
			})
		})
		spans := e.page("viewer", p.one(t, "spans-link").Find("a").AttrOr("href", "")).want(t, http.StatusOK)
		table := map[string]bool{}
		spans.all("span-row").Each(func(_ int, row *goquery.Selection) {
			table[web.ShortDigest(row.AttrOr("data-digest", ""))+" in "+row.AttrOr("data-cluster", "")] = true
		})
		if len(chart) < 3 || !maps.Equal(chart, table) || spans.all("span-row").Length() != len(chart) {
			t.Errorf("the table of spans holds %v, the chart %v", table, chart)
		}
		if spans.one(t, "spans-ref").Text() != "docker.io/library/nginx:1.25" || spans.all("next-page").Length() != 0 {
			t.Error("spans page: reference not normalized, or a next page of a few rows")
		}
		for _, bad := range []string{"page=0", "page=2", "page=x"} {
			e.page("viewer", "/images/clusters?ref=nginx:1.25&"+bad).want(t, http.StatusBadRequest)
		}
		e.page("viewer", "/images/clusters?ref=redis").want(t, http.StatusOK).one(t, "no-spans")
		e.page("viewer", "/images/clusters").want(t, http.StatusBadRequest)
		p = e.page("viewer", "/images?ref=docker.io/library/nginx:1.25&range=24h").want(t, http.StatusOK)
		if p.one(t, "range-24h").AttrOr("aria-current", "") != "page" {
			t.Error("range 24h not current")
		}
		e.page("viewer", "/images?ref=nginx:1.25&range=1y").want(t, http.StatusBadRequest)
		e.page("viewer", "/images").want(t, http.StatusBadRequest)
		e.page("viewer", "/images?ref=redis").want(t, http.StatusOK).one(t, "no-timeline")
	})
	t.Run("digest", func(t *testing.T) {
		p := e.page("viewer", "/digests/"+digestOf("a")).want(t, http.StatusOK)
		if p.all("running").Find(`[data-testid="place"]`).Length() < 3 || p.all("ref-link").Text() != "docker.io/library/nginx:1.25" {
			t.Errorf("digest page: %d running", p.all("running").Find(`[data-testid="place"]`).Length())
		}
		// prod's web runs it in two pods: one row of them.
		if got := p.all("running").Find(`[data-testid="place-pods"]`).Text(); got != "2 pods" {
			t.Errorf("prod/shop/web's pods: %q", got)
		}
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("GET", "/digests/"+digestOf("a")+"?format=csv", nil)
		req.Header.Set("Authorization", "Bearer "+e.tokens["viewer"])
		e.h.ServeHTTP(rec, req)
		rows, err := csv.NewReader(rec.Body).ReadAll()
		if err != nil || rec.Code != 200 || len(rows) < 4 || rows[0][0] != "digest" || rec.Header().Get("Content-Type") != "text/csv; charset=utf-8" {
			t.Errorf("csv: %d %v %v", rec.Code, err, rows)
		}
		rec = httptest.NewRecorder()
		req = httptest.NewRequest("GET", "/digests/"+digestOf("a")+"?format=json", nil)
		req.Header.Set("Authorization", "Bearer "+e.tokens["viewer"])
		e.h.ServeHTTP(rec, req)
		var dj request.DigestJSON
		if err := json.Unmarshal(rec.Body.Bytes(), &dj); err != nil || dj.Digest != digestOf("a") || len(dj.Running) < 3 {
			t.Errorf("json: %v %s", err, rec.Body)
		}
		e.page("viewer", "/digests/sha256:nothex").want(t, http.StatusBadRequest)
	})
	t.Run("mutations", func(t *testing.T) {
		p := e.page("viewer", "/mutations").want(t, http.StatusOK)
		if p.all("mutation-row").Length() != 1 {
			t.Errorf("%d open rows", p.all("mutation-row").Length())
		}
		p = e.page("viewer", "/mutations?state=all&kind=tag-moved&ref=nginx:1.25&since=24h&cluster=prod").want(t, http.StatusOK)
		if rows := p.all("mutation-row"); rows.Length() != 1 || rows.AttrOr("data-kind", "") != "tag-moved" {
			t.Errorf("%d tag-moved rows", rows.Length())
		}
		if p.all("mutation-row").Find(`[data-testid="timeline-link"]`).Length() != 1 {
			t.Error("no timeline link")
		}
		e.page("viewer", "/mutations?kind=nope").want(t, http.StatusBadRequest)
	})
	t.Run("search", func(t *testing.T) {
		for q, loc := range map[string]string{
			digestOf("b")[7:19]: "/digests/" + digestOf("b"),
			"nginx:1.25":        "/images?ref=docker.io%2Flibrary%2Fnginx%3A1.25",
			"web-c":             "/workloads/prod/shop/Deployment/web?pod=web-c#found",
			// Spellings people type: part of a reference, a pod-name prefix, a namespace,
			// the beginning of a cluster's name.
			"library/nginx:1.25": "/images?ref=docker.io%2Flibrary%2Fnginx%3A1.25",
			"odd-":               "/workloads/staging/shop/Deployment/odd?pod=odd-#found",
			"sho":                "/workloads?namespace=shop",
			"stag":               "/clusters/staging",
		} {
			rec := httptest.NewRecorder()
			req := httptest.NewRequest("GET", "/search?q="+url.QueryEscape(q), nil)
			req.Header.Set("Authorization", "Bearer "+e.tokens["viewer"])
			e.h.ServeHTTP(rec, req)
			if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != loc {
				t.Errorf("search %q: %d %q, want %q", q, rec.Code, rec.Header().Get("Location"), loc)
			}
		}
		p := e.page("viewer", "/search?q=web").want(t, http.StatusOK)
		if p.all("match-workloads").Find("li").Length() != 3 {
			t.Errorf("workloads named web: %d", p.all("match-workloads").Find("li").Length())
		}
		e.page("viewer", "/search?q=nothing-here").want(t, http.StatusOK).one(t, "no-matches")
		// A slip of the keyboard: nothing matches, the nearest reference is offered.
		p = e.page("viewer", "/search?q=ngnix:1.25").want(t, http.StatusOK)
		p.one(t, "no-matches")
		if got := p.one(t, "suggestions").Find("a").First().Text(); got != "docker.io/library/nginx:1.25" {
			t.Errorf("suggestion %q", got)
		}
		if e.page("viewer", "/search?q="+url.QueryEscape(hostilePod)).want(t, http.StatusSeeOther).status != http.StatusSeeOther {
			t.Error("hostile pod name")
		}
	})
	t.Run("not found", func(t *testing.T) {
		e.page("viewer", "/no/such/page").want(t, http.StatusNotFound).one(t, "error-detail")
	})
}

func TestUIFailedScan(t *testing.T) {
	t.Parallel()
	e, f := newUIFleet(t)
	ctx := context.Background()
	id, err := e.st.StartScan(ctx, f.id["staging"], time.Now().Add(-time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	why := store.ScanError{Class: "unauthorized", Message: `list pods: the credentials are not accepted <b>`}
	if err := e.st.EndScan(ctx, id, store.ScanFailed, why, time.Now()); err != nil {
		t.Fatal(err)
	}
	p := e.page("viewer", "/").want(t, http.StatusOK)
	row := p.doc.Find(`[data-cluster="staging"]`)
	if got := row.Find(`[data-testid="state"]`).Text(); got != "failed" {
		t.Errorf("state %q", got)
	}
	if got := row.Find(`[data-testid="scan-error"]`).Text(); !strings.Contains(got, "unauthorized") || !strings.Contains(got, "<b>") {
		t.Errorf("error %q", got)
	}
	p = e.page("viewer", "/clusters/staging").want(t, http.StatusOK)
	if got := p.one(t, "last-error").Text(); !strings.Contains(got, "unauthorized") || !strings.Contains(got, "expired") {
		t.Errorf("last error %q", got)
	}
	if got := p.doc.Find(`[data-testid="scan"][data-status="failed"] [data-testid="scan-error"]`).Text(); !strings.Contains(got, "unauthorized") {
		t.Errorf("scan row error %q", got)
	}
}

// bars counts the timeline chart's bars: the coloured rectangles of its lanes.
func bars(p uiPage) int {
	return p.doc.Find(`[data-testid="lane"] path[class^="cl"]`).Length()
}

// TestClusterScansPaged pages a cluster's scans, 50 a page, as the API does: older
// scans are reached from its page, not left out.
func TestClusterScansPaged(t *testing.T) {
	t.Parallel()
	e, f := newUIFleet(t)
	ctx := context.Background()
	var ids []int64 // newest last
	for i := range 60 {
		id, err := e.st.StartScan(ctx, f.id["staging"], time.Now().Add(time.Duration(i-120)*time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		if err := e.st.EndScan(ctx, id, store.ScanFailed, store.ScanError{Class: "timeout", Message: "slow"}, time.Now()); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	p := e.page("viewer", "/clusters/staging").want(t, http.StatusOK)
	if n := p.all("scan").Length(); n != 50 {
		t.Fatalf("first page: %d scans, want 50", n)
	}
	if p.all("scans-newest").Length() != 0 {
		t.Error("the first page links to the newest")
	}
	older := p.one(t, "scans-older").AttrOr("href", "")
	p = e.page("viewer", older).want(t, http.StatusOK)
	var got []string
	p.all("scan").Each(func(_ int, s *goquery.Selection) { got = append(got, strings.TrimSpace(s.Find("td").First().Text())) })
	// The scans older than the page before: every one of the 60 but the newest 50 and
	// the fleet's own scans, oldest last.
	if len(got) == 0 || got[0] != fmt.Sprint(ids[len(ids)-51]) {
		t.Errorf("second page begins %v, want scan %d", got, ids[len(ids)-51])
	}
	if p.all("scans-newest").Length() != 1 {
		t.Error("the second page does not lead back to the newest")
	}
	e.page("viewer", "/clusters/staging?before=x").want(t, http.StatusBadRequest)
}
