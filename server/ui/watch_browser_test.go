package ui

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/tagdrift/tagdrift/internal/browsertest"
	"github.com/tagdrift/tagdrift/store"
	"github.com/tagdrift/tagdrift/web"
)

// TestWatchStateBrowser shows, in Chromium, how each cluster is watched on the clusters
// list and on each cluster's page: live with the time from its last change to its
// detection, resyncing, stale since minutes, polling with a note that holds markup,
// and polled; with names as long as they may be. Each page is audited (axe-core, no
// console error, nothing wider than a phone's screen) and saved at 1280 px and 390 px,
// light and dark (browsertest.Screenshots; docs/watches.md shows some).
func TestWatchStateBrowser(t *testing.T) {
	axe := browsertest.AxeScript(t)
	e := newUIEnv(t, nil)
	e.addUser("root", store.RoleAdmin)
	ctx := context.Background()
	long := func(prefix string) string { return prefix + strings.Repeat("x", 63-len(prefix)) }
	group := "payments-" + strings.Repeat("settlement", 5) + "-eu1"
	now := time.Now()
	at := func(d time.Duration) *time.Time { t := now.Add(d); return &t }
	clusters := []struct {
		name   string
		mode   string
		report *store.WatchReport
		state  string // as the page says it
		detail string // a text the cluster's page must hold
	}{
		{long("live-eu-west-1-production-payments-"), store.ScanModeWatch,
			&store.WatchReport{State: store.WatchLive, LastChange: at(-40 * time.Second), LastDetected: at(-40*time.Second + 1170*time.Millisecond)},
			"watched: live", " s ago, detected in 1.2 s)"},
		{long("resyncing-us-east-2-checkout-"), store.ScanModeWatch, &store.WatchReport{State: store.WatchResyncing},
			"watched: resyncing", ""},
		{long("stale-ap-south-1-ledger-"), store.ScanModeWatch, &store.WatchReport{State: store.WatchStale, StaleSince: at(-7 * time.Minute)},
			"watched: stale", "its watch has been broken for 7 min"},
		{long("polling-sa-east-1-"), store.ScanModeWatch, &store.WatchReport{State: store.WatchPolling,
			Note: `unreachable: dial tcp: lookup <script>alert(1)</script>api.` + strings.Repeat("very-long-internal-host-name.", 4) +
				`example.com: no such host; the cluster is polled at its interval`},
			"watched: polling", "<script>alert(1)</script>"},
		{long("polled-eu-central-1-"), store.ScanModePoll, nil, "polled", ""},
	}
	for i, c := range clusters {
		id := addCluster(t, e.st, c.name)
		mode, g := c.mode, group
		if i%2 == 1 {
			g = "default"
		}
		if _, err := e.st.UpdateCluster(ctx, c.name, store.ClusterChange{ScanMode: &mode, Group: &g}, store.Audit{Actor: "test"}); err != nil {
			t.Fatal(err)
		}
		if c.report == nil {
			continue
		}
		if ok, err := e.st.AcquireWatch(ctx, id, "replica-1", time.Hour); !ok || err != nil {
			t.Fatal(ok, err)
		}
		if err := e.st.ReportWatch(ctx, id, "replica-1", *c.report); err != nil {
			t.Fatal(err)
		}
	}
	// The UI's clock is set when the environment is made: bring it to now, after the
	// clusters were added and their watches reported.
	e.clock.Add(time.Since(e.clock.Now()) + time.Second)
	srv := httptest.NewServer(e.h)
	defer srv.Close()
	b := browsertest.New(t, srv.URL, axe)
	b.SignIn("root", testPassword)

	// narrow fails the test when the page is wider than a phone's screen.
	narrow := func(where string) {
		t.Helper()
		var wide bool
		b.Run("phone width "+where, emulation.SetDeviceMetricsOverride(390, 844, 1, true),
			chromedp.Evaluate(`document.documentElement.scrollWidth > window.innerWidth`, &wide),
			emulation.SetDeviceMetricsOverride(1280, 900, 1, false))
		if wide {
			t.Errorf("%s: wider than a 390 px screen", where)
		}
	}

	b.Open("/clusters", `[data-testid=cluster-row]`)
	var states []string
	b.Run("list states", chromedp.Evaluate(`[...document.querySelectorAll('[data-testid=cluster-row]')].map(r => {
		const w = r.querySelector('[data-testid=watch-state]'); return w ? w.textContent.trim() : 'polled'})`, &states))
	for _, c := range clusters {
		found := false
		for _, s := range states {
			found = found || s == c.state
		}
		if !found {
			t.Errorf("the clusters list shows no %q: %v", c.state, states)
		}
	}
	if got := b.Text(`[data-testid=watch-detected]`); got != "(last change detected in 1.2 s)" {
		t.Errorf("the clusters list's detection time: %q", got)
	}
	if got := b.Text(`[data-testid=cluster-row] [data-testid=stale-warning]`); strings.Contains(got, "interval") {
		t.Errorf("a stale watch's warning names the scan interval: %q", got)
	}
	narrow("clusters")
	b.Page("watch-clusters")

	for _, c := range clusters {
		b.Open(web.ClusterURL(c.name), `[data-testid=watch-state]`)
		if got := b.Text(`[data-testid=watch-state]`); got != c.state {
			t.Errorf("%s: the page says %q, want %q", c.name, got, c.state)
		}
		var sub string
		b.Run("the page's text", chromedp.Evaluate(`document.querySelector('main').innerText`, &sub))
		if c.detail != "" && !strings.Contains(sub, c.detail) {
			t.Errorf("%s: the page does not say %q: %s", c.name, c.detail, sub)
		}
		if n := b.Count(`main script`); n != 0 {
			t.Errorf("%s: the note's markup became %d script elements", c.name, n)
		}
		narrow(c.name)
		b.Page("watch-" + strings.SplitN(c.name, "-", 2)[0])
	}
}
