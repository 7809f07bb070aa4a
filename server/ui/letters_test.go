package ui

import (
	"encoding/csv"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
)

// TestDigestLettersSameOnEveryPage: a digest has the letter its reference gave it when
// first run, on every page that shows it, whatever order the page meets digests in.
// zulu ran c first (A); the tag then moved to a (B), which alpha runs: the workloads
// list meets a first (alpha sorts first) and a digest page shows one digest, yet a is B
// on both, as on the overview, the workload page, the timeline and the mutations.
func TestDigestLettersSameOnEveryPage(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	f := &fleet{t: t, e: e, id: map[string]int64{}}
	f.id["zulu"] = e.addCluster("zulu")
	f.id["alpha"] = e.addCluster("alpha")
	t0 := time.Now().Add(-10 * time.Minute).Truncate(time.Second).UTC()
	f.scan("zulu", t0, webPod("zulu", "web-z", "u-z", "c"))
	f.scan("alpha", t0.Add(time.Minute), webPod("alpha", "web-a", "u-a", "a"))
	want := map[string]string{digestOf("c"): "A", digestOf("a"): "B"}
	for _, path := range []string{
		"/", "/workloads", "/workloads/alpha/shop/Deployment/web", "/workloads/zulu/shop/Deployment/web",
		"/images?ref=nginx:1.25", "/digests/" + digestOf("a"), "/digests/" + digestOf("c"), "/mutations?state=all",
	} {
		p := e.page("viewer", path).want(t, http.StatusOK)
		seen := map[string]bool{}
		p.all("digest-chip").Each(func(_ int, chip *goquery.Selection) {
			d := chip.Find(`[data-testid="chip-link"]`).AttrOr("title", "")
			letter := chip.Find(`[data-testid="chip-letter"]`).Text()
			if letter != want[d] {
				t.Errorf("%s: %s lettered %q, want %q", path, d, letter, want[d])
			}
			seen[d] = true
		})
		// zulu runs c, behind the tag, which moved to a: its page shows a too.
		if !seen[digestOf("a")] && path != "/digests/"+digestOf("c") {
			t.Errorf("%s shows no chip of a: the test proves nothing there", path)
		}
	}
	// The digest's CSV names its letter under its reference.
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("GET", "/digests/"+digestOf("a")+"?format=csv", nil)
	req.Header.Set("Authorization", "Bearer "+e.tokens["viewer"])
	e.h.ServeHTTP(rec, req)
	rows, err := csv.NewReader(rec.Body).ReadAll()
	if err != nil || len(rows) != 2 || rows[0][1] != "ref" || rows[0][2] != "letter" ||
		rows[1][1] != "docker.io/library/nginx:1.25" || rows[1][2] != "B" {
		t.Errorf("csv of a: %q, %v", rows, err)
	}
}
