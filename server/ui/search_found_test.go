package ui

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"
)

// TestSearchMarksFoundPod checks that a pod found by search is marked on its workload's
// page: the search goes to the page with the pod-name prefix, and the page marks those
// pods (and only those), or says that none runs now.
func TestSearchMarksFoundPod(t *testing.T) {
	t.Parallel()
	e, _ := newUIFleet(t)
	// One pod's name: the one workload it belongs to, its pod marked.
	p := e.page("viewer", "/search?q=web-c")
	loc := p.header.Get("Location")
	if p.status != http.StatusSeeOther || loc != "/workloads/prod/shop/Deployment/web?pod=web-c#found" {
		t.Fatalf("search of a pod name: %d to %q", p.status, loc)
	}
	path, _, _ := strings.Cut(loc, "#") // a browser sends no fragment
	p = e.page("viewer", path).want(t, http.StatusOK)
	var found []string
	p.doc.Find(`[data-testid=pod-row][data-found=true]`).Each(func(_ int, s *goquery.Selection) {
		found = append(found, s.AttrOr("data-pod", ""))
	})
	if len(found) != 1 || found[0] != "web-c" {
		t.Errorf("marked pods %v, want web-c", found)
	}
	if id := p.doc.Find(`#found`).AttrOr("data-pod", ""); id != "web-c" {
		t.Errorf("#found is %q, want the web-c row", id)
	}
	if p.doc.Find(`[data-pod="web-c"] [data-testid=found-mark]`).Length() != 1 || p.all("found-mark").Length() != 1 {
		t.Error("the found pod's row lacks its mark, or others have one")
	}
	if !strings.Contains(p.one(t, "found-note").Text(), "1 pod row") {
		t.Errorf("found note %q", p.one(t, "found-note").Text())
	}

	// A prefix of pods in several workloads: each link marks them.
	p = e.page("viewer", "/search?q=web-").want(t, http.StatusOK)
	links := p.all("match-workload")
	if links.Length() != 3 {
		t.Fatalf("%d workloads for web-, want 3", links.Length())
	}
	links.Each(func(_ int, s *goquery.Selection) {
		if h := s.AttrOr("href", ""); !strings.HasSuffix(h, "?pod=web-#found") {
			t.Errorf("link %q does not mark the pods", h)
		}
	})
	// The workload's own name: nothing to mark.
	p = e.page("viewer", "/search?q=web").want(t, http.StatusOK)
	p.all("match-workload").Each(func(_ int, s *goquery.Selection) {
		if h := s.AttrOr("href", ""); strings.Contains(h, "pod=") {
			t.Errorf("a search of the workload's name marks pods: %q", h)
		}
	})
	// Gone since the search: said; a hostile prefix is text.
	p = e.page("viewer", "/workloads/prod/shop/Deployment/web?pod="+url.QueryEscape(`<b>gone`)).want(t, http.StatusOK)
	if p.all("found-mark").Length() != 0 || !strings.Contains(p.one(t, "found-note").Text(), "No pod of this workload") {
		t.Errorf("a prefix no pod has: %q", p.one(t, "found-note").Text())
	}
	if strings.Contains(string(p.body), "<b>gone") {
		t.Error("the prefix reached the page as markup")
	}
	// Without it, nothing is marked.
	if p = e.page("viewer", "/workloads/prod/shop/Deployment/web").want(t, http.StatusOK); p.all("found-note").Length()+p.all("found-mark").Length() != 0 {
		t.Error("a workload page not reached by search marks pods")
	}
}
