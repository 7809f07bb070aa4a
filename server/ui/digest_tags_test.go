package ui

import (
	"net/http"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"
)

// TestDigestPageTagsAndMutations checks that a digest's page says whether it is what
// its tag points to now, and links the mutations and tag moves involving it: in the
// fleet, nginx:1.25 moved from a to b in prod.
func TestDigestPageTagsAndMutations(t *testing.T) {
	t.Parallel()
	e, _ := newUIFleet(t)
	const ref = "docker.io/library/nginx:1.25"
	verdict := func(p uiPage) (current, text string) {
		t.Helper()
		s := p.one(t, "tag-target")
		if r, _ := s.Attr("data-ref"); r != ref {
			t.Errorf("tag target of %q, want %s", r, ref)
		}
		current, _ = s.Attr("data-current")
		return current, strings.Join(strings.Fields(s.Text()), " ")
	}
	kinds := func(p uiPage) map[string]int {
		out := map[string]int{}
		p.all("digest-mutations").Find(`[data-testid=mutation-row]`).Each(func(_ int, s *goquery.Selection) {
			k, _ := s.Attr("data-kind")
			out[k]++
		})
		return out
	}

	// b: where the tag points, moved there from a; its move and the divergences.
	p := e.page("viewer", "/digests/"+digestOf("b")).want(t, http.StatusOK)
	cur, text := verdict(p)
	if cur != "true" || !strings.Contains(text, "the tag's current target") || !strings.Contains(text, "moved here from") {
		t.Errorf("b: current %q, %q", cur, text)
	}
	if chip := p.one(t, "tag-target").Find(`[data-testid=chip-link]`).AttrOr("title", ""); chip != digestOf("a") {
		t.Errorf("b moved here from %q, want a", chip)
	}
	k := kinds(p)
	if k["tag-moved"] != 1 || k["workload-divergence"] != 1 {
		t.Errorf("b's mutations %v, want its move and the workload's divergence", k)
	}
	p.all("digest-mutations").Find(`[data-testid=mutation-row]`).Each(func(_ int, s *goquery.Selection) {
		if s.Find(`[data-testid=chip-link][title="`+digestOf("b")+`"]`).Length() == 0 {
			t.Errorf("a listed mutation does not involve b: %s", s.Text())
		}
	})
	if href := p.one(t, "ref-mutations").AttrOr("href", ""); href != "/mutations?ref=docker.io%2Flibrary%2Fnginx%3A1.25&state=all" {
		t.Errorf("all mutations link %q", href)
	}

	// a: the tag moved on from it, to b.
	p = e.page("viewer", "/digests/"+digestOf("a")).want(t, http.StatusOK)
	cur, text = verdict(p)
	if cur != "false" || !strings.Contains(text, "not the tag's current target") || !strings.Contains(text, "moved on to") {
		t.Errorf("a: current %q, %q", cur, text)
	}
	if chip := p.one(t, "tag-target").Find(`[data-testid=chip-link]`).AttrOr("title", ""); chip != digestOf("b") {
		t.Errorf("a's tag moved on to %q, want b", chip)
	}
	if kinds(p)["tag-moved"] != 1 {
		t.Errorf("a's mutations %v lack the move away from it", kinds(p))
	}

	// A digest never seen: no tag, no mutation, said plainly.
	p = e.page("viewer", "/digests/"+digestOf("f")).want(t, http.StatusOK)
	if p.all("tag-target").Length() != 0 {
		t.Error("a digest never seen has tag targets")
	}
	p.one(t, "no-digest-mutations")
}
