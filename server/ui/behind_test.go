package ui

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
)

// TestBehindTheTagPages: a workload that runs only a digest its tag moved away from is
// marked "behind the tag" on the workloads list (a mutant one shows its mutation
// instead), listed by the list's behind filter, counted on the overview, and its page
// says which digest it runs and where the tag points now.
func TestBehindTheTagPages(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	f := &fleet{t: t, e: e, id: map[string]int64{}}
	f.id["prod"] = e.addCluster("prod")
	f.id["staging"] = e.addCluster("staging")
	t0 := time.Now().Add(-10 * time.Minute).Truncate(time.Second).UTC()
	// staging runs a; prod runs a, then a pod of b beside it: the tag moved a→b, prod's
	// web is mixed (a mutation), staging's is behind.
	f.scan("staging", t0, webPod("staging", "web-s", "u-s", "a"))
	f.scan("prod", t0, webPod("prod", "web-a", "u-a", "a"))
	f.scan("prod", t0.Add(time.Minute), webPod("prod", "web-a", "u-a", "a"), webPod("prod", "web-b", "u-b", "b"))

	states := func(path string) map[string]string {
		t.Helper()
		out := map[string]string{}
		e.page("viewer", path).want(t, http.StatusOK).all("workload-row").Each(func(_ int, row *goquery.Selection) {
			cluster := strings.SplitN(row.Find("td.name a").First().Text(), "/", 2)[0]
			out[cluster] = row.Find(`[data-testid="state"]`).Text()
		})
		return out
	}
	if got := states("/workloads"); got["prod"] != "mutant" || got["staging"] != "behind the tag" || len(got) != 2 {
		t.Errorf("workload states: %v", got)
	}
	if got := states("/workloads?behind=true"); got["staging"] != "behind the tag" || len(got) != 1 {
		t.Errorf("behind filter: %v", got)
	}
	e.page("viewer", "/workloads?behind=true&mutant=true").want(t, http.StatusBadRequest)

	total := e.page("viewer", "/").want(t, http.StatusOK).one(t, "behind-total")
	if total.AttrOr("data-count", "") != "1" || total.AttrOr("href", "") != "/workloads?behind=true" {
		t.Errorf("overview's behind count: %s %q", total.AttrOr("data-count", ""), total.AttrOr("href", ""))
	}

	p := e.page("viewer", "/workloads/staging/shop/Deployment/web").want(t, http.StatusOK)
	if s := p.all("state").First().Text(); s != "behind the tag" {
		t.Errorf("staging's web page says %q", s)
	}
	ref := p.one(t, "behind-ref")
	if ref.AttrOr("data-ref", "") != "docker.io/library/nginx:1.25" {
		t.Errorf("behind reference %q", ref.AttrOr("data-ref", ""))
	}
	if tag := p.one(t, "behind-tag"); tag.AttrOr("data-digest", "") != digestOf("b") {
		t.Errorf("the tag points to %q, want b", tag.AttrOr("data-digest", ""))
	}
	if where := strings.Join(strings.Fields(p.one(t, "behind-where").Text()), " "); where != "; it runs in prod" {
		t.Errorf("where the tag's digest runs: %q", where)
	}
	// Punctuation follows its word, as the sentence is read (a newline in the template
	// once put a space before each).
	if text := strings.Join(strings.Fields(ref.Text()), " "); strings.Contains(text, " ;") || strings.Contains(text, " .") || strings.Contains(text, " ,") {
		t.Errorf("the behind note reads %q", text)
	}
	if chips := ref.Find(`[data-testid="chip-link"]`); chips.First().AttrOr("title", "") != digestOf("a") {
		t.Errorf("staging's web runs %q, want a", chips.First().AttrOr("title", ""))
	}
	if n := e.page("viewer", "/workloads/prod/shop/Deployment/web").want(t, http.StatusOK).all("behind").Length(); n != 0 {
		t.Errorf("prod's web runs the tag's digest too, yet its page says it is behind")
	}
}
