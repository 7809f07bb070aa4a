package ui

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"k8s.io/apimachinery/pkg/types"

	"github.com/tagdrift/tagdrift/scanner/imageref"
	"github.com/tagdrift/tagdrift/scanner/inventory"
	"github.com/tagdrift/tagdrift/server/request"
	"github.com/tagdrift/tagdrift/store"
)

// scopedUIPod is a pod of Deployment workload in ns running nginx:1.25 at a digest.
func scopedUIPod(cluster, ns, workload, pod, letter string) inventory.Pod {
	ref := imageref.ParseRef("nginx:1.25")
	id, _ := imageref.ParseImageID("docker.io/library/nginx@" + digestOf(letter))
	return inventory.Pod{
		Cluster: cluster, Namespace: ns, Name: pod, UID: types.UID(cluster + "/" + pod), Node: "n1", Arch: "amd64",
		Workload:   inventory.Workload{Kind: "Deployment", Name: workload},
		Controller: inventory.Controller{Kind: "ReplicaSet", Name: workload + "-1", UID: types.UID("rs-" + cluster + workload), Revision: "1"},
		Containers: []inventory.Container{{Name: "app", Type: inventory.Regular, Ref: &ref, ID: &id}},
	}
}

// betaUINames are what must never reach team-a's pages.
var betaUINames = []string{"beta-us", "team-b", "billing-api", "billing-old", "ns-beta", strings.Repeat("c", 12), strings.Repeat("d", 12)}

// get is path as the bearer secret gives it, with its body.
func (e *testEnv) get(secret, path string) (int, string) {
	req := httptest.NewRequest(http.MethodGet, path, nil)
	req.Header.Set("Authorization", "Bearer "+secret)
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, req)
	return rec.Code, rec.Body.String()
}

// TestScopedPages is the proof of scoped access through the web UI: two cluster
// groups where nginx:1.25 moves in both (beta-us in team-b on digests c then d, then
// alpha-eu in team-a on a then b); a viewer scoped to team-a follows every link of
// every page it reaches from the overview and the lists, downloads included, and
// sees nothing of beta in any of them, not even a letter that hints at beta's
// digests (team-a's are its A and B, C and D across all clusters); beta's cluster, workload, mutation and digest
// pages, and searches for beta's names, answer as for things that do not exist. The
// unscoped viewer sees both.
func TestScopedPages(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t, nil)
	v, err := request.Vetter{}.Vet(testKubeconfig("", ""), "")
	if err != nil {
		t.Fatal(err)
	}
	f := &fleet{t: t, e: e, id: map[string]int64{}}
	for name, group := range map[string]string{"alpha-eu": "team-a", "beta-us": "team-b"} {
		c, err := e.st.RegisterCluster(ctx, store.NewCluster{Name: name, Server: v.Server, Context: v.Context, Credentials: v.Sealed,
			ScanInterval: request.DefaultScanInterval, Annotate: "off", Enabled: true, Group: group}, store.Audit{Actor: "cli:test"})
		if err != nil {
			t.Fatal(err)
		}
		f.id[name] = c.ID
	}
	t0 := time.Now().Add(-3 * time.Minute).Truncate(time.Second).UTC()
	// Beta first: its digests take the letters A and B across all clusters, alpha's C
	// and D, which team-a must never see (its own are its A and B).
	for _, c := range []struct{ cluster, ns, wl, quiet, first, second string }{
		{"beta-us", "ns-beta", "billing-api", "billing-old", "c", "d"},
		{"alpha-eu", "ns-alpha", "shop-web", "shop-old", "a", "b"},
	} {
		f.scan(c.cluster, t0, scopedUIPod(c.cluster, c.ns, c.wl, c.wl+"-p1", c.first), scopedUIPod(c.cluster, c.ns, c.quiet, c.quiet+"-p1", c.first))
		f.scan(c.cluster, t0.Add(time.Minute), scopedUIPod(c.cluster, c.ns, c.wl, c.wl+"-p1", c.first),
			scopedUIPod(c.cluster, c.ns, c.wl, c.wl+"-p2", c.second), scopedUIPod(c.cluster, c.ns, c.quiet, c.quiet+"-p1", c.first))
	}
	ms, err := e.st.ListMutations(ctx, store.MutationFilter{State: store.StateAll, Group: "team-b", Limit: 1})
	if err != nil || len(ms) == 0 {
		t.Fatalf("beta's mutations: %v, %v", ms, err)
	}
	betaMutation := ms[0].ID
	tok, secret, err := e.st.CreateToken(ctx, store.NewToken{Name: "viewer-a", Role: store.RoleViewer}, store.Audit{Actor: "cli:test"})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.st.SetTokenScope(ctx, tok.ID, []string{"team-a"}, store.Audit{Actor: "cli:test"}); err != nil {
		t.Fatal(err)
	}
	viewer := e.tokens["viewer"]

	leaks := func(what, body string) {
		t.Helper()
		for _, s := range betaUINames {
			if strings.Contains(body, s) {
				i := strings.Index(body, s)
				t.Errorf("%s shows %q of team-b: …%s…", what, s, body[max(0, i-150):min(len(body), i+150)])
			}
		}
		for _, l := range lettersOn(body) {
			if l != "" && l != "A" && l != "B" {
				t.Errorf("%s shows the letter %q", what, l)
			}
		}
	}

	// Beta's pages answer as pages of things that do not exist, but for the name asked.
	for _, c := range []struct{ path, value, none string }{
		{"/clusters/beta-us", "beta-us", "zz-none"},
		{"/workloads/beta-us/ns-beta/Deployment/billing-api", "beta-us/ns-beta/Deployment/billing-api", "zz-none/zz-ns/Deployment/zz-wl"},
		{fmt.Sprintf("/mutations/%d", betaMutation), fmt.Sprint(betaMutation), "999999"},
		{"/digests/" + digestOf("c"), digestOf("c"), digestOf("f")},
		{"/digests/" + digestOf("c") + "?format=json", digestOf("c"), digestOf("f")},
		{"/digests/" + digestOf("c") + "?format=csv", digestOf("c"), digestOf("f")},
		{"/search?q=beta", "beta", "zzzz"},
		{"/search?q=billing", "billing", "zzzz"},
		{"/search?q=ns-beta", "ns-beta", "zz-zz"},
		{"/search?q=cccccccc", "cccccccc", "ffffffff"},
		{"/search?q=sha256:cccccccc", "cccccccc", "ffffffff"},
		{"/workloads?cluster=beta-us", "beta-us", "zz-none"},
		{"/mutations?cluster=beta-us&state=all", "beta-us", "zz-none"},
	} {
		if code, body := e.get(viewer, c.path); code == http.StatusOK && !strings.Contains(body, "beta-us") &&
			!strings.HasPrefix(c.path, "/search") && !strings.HasPrefix(c.path, "/digests") {
			t.Errorf("the unscoped viewer does not see beta at %s", c.path)
		}
		code, body := e.get(secret, c.path)
		ghostCode, ghost := e.get(secret, strings.Replace(c.path, c.value, c.none, 1))
		// The page repeats what was asked (its title, the search box, its links back):
		// the same as the ghost's, with the name asked for.
		want := strings.ReplaceAll(ghost, c.none, c.value)
		if len(c.none) > 12 {
			want = strings.ReplaceAll(want, strings.TrimPrefix(c.none, "sha256:")[:12], strings.TrimPrefix(c.value, "sha256:")[:12])
		}
		body, want = nonce.ReplaceAllString(body, ""), nonce.ReplaceAllString(want, "")
		if code != ghostCode || body != want {
			i := 0
			for i < min(len(body), len(want)) && body[i] == want[i] {
				i++
			}
			t.Errorf("team-a GET %s: %d; a thing that does not exist: %d; the pages differ at %d:\n%s\n---\n%s", c.path, code, ghostCode, i,
				body[max(0, i-200):min(len(body), i+200)], want[max(0, i-200):min(len(want), i+200)])
		}
	}

	// Every link team-a can follow, from its lists.
	seen := map[string]bool{}
	queue := []string{"/", "/clusters", "/workloads", "/workloads?mutant=true", "/workloads?behind=true", "/mutations?state=all",
		"/images?ref=nginx:1.25", "/acknowledgements", "/search?q=nginx", "/search?q=sha256:", "/search?q=s"}
	for len(queue) > 0 && len(seen) < 400 {
		path := queue[0]
		queue = queue[1:]
		if seen[path] {
			continue
		}
		seen[path] = true
		code, body := e.get(secret, path)
		if code >= 500 {
			t.Errorf("team-a GET %s: %d", path, code)
		}
		leaks("team-a GET "+path, body)
		if !strings.Contains(body, "<html") {
			continue
		}
		doc, err := goquery.NewDocumentFromReader(strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		doc.Find("a[href]").Each(func(_ int, s *goquery.Selection) {
			href, _ := s.Attr("href")
			u, err := url.Parse(href)
			if err != nil || u.Host != "" || !strings.HasPrefix(u.Path, "/") || strings.HasPrefix(u.Path, "/assets") ||
				strings.HasPrefix(u.Path, "/signout") || strings.HasPrefix(u.Path, "/admin") {
				return
			}
			if !seen[u.RequestURI()] {
				queue = append(queue, u.RequestURI())
			}
		})
	}
	if len(seen) < 30 {
		t.Errorf("team-a reached only %d pages: %v", len(seen), seen)
	}
	for _, must := range []string{"/clusters/alpha-eu", "/workloads/alpha-eu/ns-alpha/Deployment/shop-web", "/digests/" + digestOf("a")} {
		if !seen[must] {
			t.Errorf("team-a never reached %s", must)
		}
	}
	// Team-a's digest a is its A on every page and download that letters it; every
	// cluster's viewer sees it as C, its letter across all clusters.
	for _, c := range []struct{ path, scoped, all string }{
		{"/digests/" + digestOf("a"), `data-testid="chip-letter" aria-hidden="true">A<`, `data-testid="chip-letter" aria-hidden="true">C<`},
		{"/digests/" + digestOf("a") + "?format=json", `"letter":"A"`, `"letter":"C"`},
		{"/digests/" + digestOf("a") + "?format=csv", digestOf("a") + ",docker.io/library/nginx:1.25,A,", digestOf("a") + ",docker.io/library/nginx:1.25,C,"},
		{"/images?ref=nginx:1.25", ">A " + strings.Repeat("a", 12) + "<", ">C " + strings.Repeat("a", 12) + "<"},
		{"/workloads/alpha-eu/ns-alpha/Deployment/shop-web", "digest A " + `</span>` + strings.Repeat("a", 12), "digest C " + `</span>` + strings.Repeat("a", 12)},
		{"/workloads?cluster=alpha-eu", "digest A " + `</span>` + strings.Repeat("a", 12), "digest C " + `</span>` + strings.Repeat("a", 12)},
		{"/mutations?cluster=alpha-eu&state=all", "digest A " + `</span>` + strings.Repeat("a", 12), "digest C " + `</span>` + strings.Repeat("a", 12)},
	} {
		if code, body := e.get(secret, c.path); code != http.StatusOK || !strings.Contains(body, c.scoped) {
			t.Errorf("team-a GET %s: %d, want %q", c.path, code, c.scoped)
		}
		if code, body := e.get(viewer, c.path); code != http.StatusOK || !strings.Contains(body, c.all) {
			t.Errorf("every cluster's viewer GET %s: %d, want %q", c.path, code, c.all)
		}
	}
	// The admin pages are global settings: 403 for a scoped role.
	if code, _ := e.get(secret, "/admin/"); code != http.StatusForbidden {
		t.Errorf("team-a GET /admin/: %d", code)
	}
}

// letterPatterns match the digests' letters of a page or a download: a digest chip's
// letter, the timeline's lanes, JSON "letter" fields and the CSV's letter column.
var letterPatterns = []*regexp.Regexp{
	regexp.MustCompile(`data-testid="chip-letter"[^>]*>([^<]*)<`),
	regexp.MustCompile(`<text x="4" y="[^"]*">(\S*) [0-9a-f]{12}<`),
	regexp.MustCompile(`"letter":"([^"]*)"`),
	regexp.MustCompile(`(?m)^sha256:[0-9a-f]{64},[^,]*,([^,]*),`),
}

// lettersOn are the digests' letters a page or a download shows.
func lettersOn(body string) []string {
	var out []string
	for _, re := range letterPatterns {
		for _, m := range re.FindAllStringSubmatch(body, -1) {
			out = append(out, m[1])
		}
	}
	return out
}

// nonce matches the parts of a page that change at every request, and a digest chip's
// colour, which follows from the digest itself.
var nonce = regexp.MustCompile(`nonce="[^"]*"|name="csrf[^"]*" value="[^"]*"|chip-c[0-9]+`)
