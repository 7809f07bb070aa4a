package main

import (
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/tagdrift/tagdrift/internal/browsertest"
)

// checkDemoInBrowser walks the pages a newcomer reads on the demo's own data, in
// Chromium: a tag moved in east (one pod there still on the old digest), west all on
// the old digest. It checks each page that once misled: one letter for one digest on
// every page; a divergence shown as a set and the tag's move as "from … to …"; both ways
// out on the mutant workload, with the digest the tag points to now; west's workload
// behind the tag, and where the newer digest runs; pods now and ever on the timeline;
// each spelling of the README's search landing where it should. moved is the digest
// the tag moved to (the API's tag-moved event).
func checkDemoInBrowser(t *testing.T, base, password, moved string) {
	t.Helper()
	b := browsertest.New(t, base, browsertest.AxeScript(t))
	b.SignIn("admin", password)
	letters := map[string]string{} // digest → letter, across every page
	seen := func(page string) {
		t.Helper()
		var chips []struct{ Digest, Letter string }
		b.Run("letters on "+page, chromedp.Evaluate(`[...document.querySelectorAll('[data-testid=digest-chip]')].
			filter(c => c.querySelector('[data-testid=chip-link]')).
			map(c => ({digest: c.querySelector('[data-testid=chip-link]').title, letter: c.querySelector('[data-testid=chip-letter]').textContent.trim()}))`, &chips))
		for _, c := range chips {
			if l, ok := letters[c.Digest]; ok && l != c.Letter {
				t.Errorf("%s: digest %s is %q, elsewhere %q", page, c.Digest, c.Letter, l)
			}
			letters[c.Digest] = c.Letter
		}
	}

	b.Open("/", `[data-testid=overview-summary]`)
	if n := b.Count(`[data-testid=behind-total][data-count="1"]`); n != 1 {
		t.Errorf("the overview does not count one workload behind the tag")
	}
	seen("overview")
	b.Page("demo-overview")

	// The mutations: the divergence is a set, the move goes from the old digest to moved.
	b.Open("/mutations?state=all", `[data-testid=mutation-row]`)
	seen("mutations")
	var moves []struct{ From, To, Text string }
	b.Run("moves", chromedp.Evaluate(`[...document.querySelectorAll('[data-testid=digest-move]')].map(m => {
		const l = m.querySelectorAll('[data-testid=chip-link]');
		return {from: l[0].title, to: l[1].title, text: m.textContent.replace(/\s+/g, ' ').trim()};
	})`, &moves))
	if len(moves) == 0 || moves[0].To != moved || !strings.HasPrefix(moves[0].Text, "from ") || !strings.Contains(moves[0].Text, " to ") {
		t.Errorf("the tag's move reads %+v, want from the old digest to %s", moves, moved)
	}
	if n := b.Count(`[data-testid=mutation-row][data-kind="workload-divergence"] [data-testid=digest-set] [data-testid=chip-link]`); n != 2 {
		t.Errorf("the divergence shows %d digests as a set, want 2", n)
	}
	if n := b.Count(`[data-testid=mutation-row][data-kind="workload-divergence"] [data-testid=digest-move]`); n != 0 {
		t.Error("the divergence is drawn as a move")
	}
	b.Page("demo-mutations")

	// East's mutant workload: both ways out, and what the tag points to now.
	b.Open("/workloads?cluster=east&mutant=true", `[data-testid=workload-row]`)
	seen("workloads")
	b.Run("east's workload", chromedp.Click(`[data-testid=workload-row] a`, chromedp.ByQuery),
		chromedp.WaitVisible(`[data-testid=advice]`, chromedp.ByQuery))
	seen("east's workload")
	if got := b.Text(`[data-testid=restart-command]`); !strings.Contains(got, "kubectl") || !strings.Contains(got, "rollout restart") || !strings.Contains(got, "deployment/web") {
		t.Errorf("roll forward says %q, want a kubectl rollout restart of deployment/web", got)
	}
	if got := b.Text(`[data-testid=fix-ref]`); !strings.Contains(got, "tagdrift-demo/app:stable@sha256:") {
		t.Errorf("pin says %q, want the reference pinned to a digest", got)
	}
	if n := b.Count(fmt.Sprintf(`[data-testid=tag-now] [data-testid=chip-link][title=%q]`, moved)); n != 1 {
		t.Errorf("the advice does not say the tag points to %s now: %q", moved, b.Text(`[data-testid=tag-now]`))
	}
	var pods []string
	b.Run("east's pods", chromedp.Evaluate(`[...document.querySelectorAll('[data-testid=pod-row]')].map(r => r.dataset.pod)`, &pods))
	b.Page("demo-workload")

	// West's workload is behind the tag, which runs in east.
	b.Open("/workloads?behind=true", `[data-testid=workload-row]`)
	if n := b.Count(`[data-testid=workload-row]`); n != 1 {
		t.Errorf("%d workloads behind the tag, want west's", n)
	}
	seen("workloads behind")
	b.Page("demo-behind")
	b.Run("west's workload", chromedp.Click(`[data-testid=workload-row] a`, chromedp.ByQuery),
		chromedp.WaitVisible(`[data-testid=behind]`, chromedp.ByQuery))
	seen("west's workload")
	if n := b.Count(fmt.Sprintf(`[data-testid=behind-tag][data-digest=%q]`, moved)); n != 1 {
		t.Errorf("west's page does not say its tag moved to %s", moved)
	}
	if got := b.Text(`[data-testid=behind-where]`); !strings.Contains(got, "east") {
		t.Errorf("west's page says the newer digest runs %q, want east", got)
	}
	b.Page("demo-west")

	// The timeline counts pods running now beside every pod ever seen.
	b.Run("timeline", chromedp.Click(`[data-testid=timeline-link]`, chromedp.ByQuery),
		chromedp.WaitVisible(`[data-testid=timeline-chart]`, chromedp.ByQuery))
	seen("timeline")
	var counts []string
	b.Run("pods now and ever", chromedp.Evaluate(`[...document.querySelectorAll('[data-testid=timeline-pods]')].map(c => c.textContent.replace(/\s+/g, ' ').trim())`, &counts))
	if len(counts) == 0 {
		t.Error("the timeline shows no pod counts")
	}
	for _, c := range counts {
		var now, ever int
		if _, err := fmt.Sscanf(c, "%d / %d", &now, &ever); err != nil || now > ever {
			t.Errorf("the timeline's pods read %q, want now / ever", c)
		}
	}
	b.Page("demo-timeline")

	// The digest the tag moved to: the same letter as on every other page.
	b.Open("/digests/"+url.PathEscape(moved), `[data-testid=full-digest]`)
	seen("digest")
	b.Page("demo-digest")

	// Each spelling a newcomer types finds something, and the right kind of thing.
	if len(pods) == 0 {
		t.Fatal("east's workload page lists no pods")
	}
	for _, s := range []struct{ q, where, sel string }{
		{"tagdrift-demo/app:stable", "/images", `[data-testid=timeline-chart]`},
		{"app:stable", "/images", `[data-testid=timeline-chart]`},
		{"tagdrift-demo", "", `[data-testid=match-refs], [data-testid=timeline-chart]`},
		{"east", "", `[data-testid=match-clusters], [data-testid=cluster-name]`},
		{"demo", "", `[data-testid=match-namespaces], [data-testid=workloads]`},
		{pods[0][:len(pods[0])-2], "/workloads/", `[data-testid=found-mark]`},
	} {
		b.Open("/", `[data-testid=search]`)
		b.Run("search "+s.q, chromedp.SendKeys(`#q`, s.q+"\n", chromedp.ByQuery),
			chromedp.WaitVisible(`main`, chromedp.ByQuery))
		b.Run("search "+s.q+" lands", chromedp.WaitReady(s.sel, chromedp.ByQuery))
		if b.Count(`[data-testid=search-message], [data-testid=no-matches]`) != 0 {
			t.Errorf("search %q: %s", s.q, b.Text(`main`))
		}
		if loc := b.Location(); !strings.HasPrefix(loc, s.where) {
			t.Errorf("search %q led to %s, want %s…", s.q, loc, s.where)
		}
		b.Clean("search " + s.q)
	}
}
