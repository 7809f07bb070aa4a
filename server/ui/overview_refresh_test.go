package ui

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// chromium starts headless Chromium ($CHROMIUM, else Debian's /usr/bin/chromium) for a
// test, or skips it where there is none (hack/test-deps.sh installs it with BROWSER=1;
// under CI=true a missing one fails). problems collects console errors, exceptions and
// browser complaints (CSP violations among them).
func chromium(t *testing.T) (ctx context.Context, problems func() []string) {
	t.Helper()
	path := os.Getenv("CHROMIUM")
	if path == "" {
		path = "/usr/bin/chromium"
	}
	if _, err := os.Stat(path); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("chromium: %v (hack/test-deps.sh installs it)", err)
		}
		t.Skipf("chromium: %v", err)
	}
	// Not t.TempDir: Chromium may still write its profile for a moment after it is
	// told to quit, which fails TempDir's removal; this one is removed with retries.
	profile, err := os.MkdirTemp("", "tagdrift-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), chromedp.ExecPath(path),
		chromedp.Flag("headless", true), chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck, chromedp.Flag("disable-background-networking", true),
		chromedp.UserDataDir(profile), chromedp.WindowSize(1280, 900))
	ctx, cancelC := chromedp.NewContext(actx)
	ctx, cancelT := context.WithTimeout(ctx, 2*time.Minute)
	t.Cleanup(func() {
		cancelT()
		cancelC()
		cancelA()
		for range 40 {
			if os.RemoveAll(profile) == nil {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
	})
	var mu sync.Mutex
	var seen []string
	chromedp.ListenTarget(ctx, func(ev any) {
		var p string
		switch ev := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			if ev.Type == runtime.APITypeError || ev.Type == runtime.APITypeWarning {
				p = "console " + string(ev.Type)
			}
		case *runtime.EventExceptionThrown:
			p = "exception: " + ev.ExceptionDetails.Error()
		case *cdplog.EventEntryAdded:
			if ev.Entry.Level == cdplog.LevelError || ev.Entry.Level == cdplog.LevelWarning {
				p = "log " + ev.Entry.Text + " " + ev.Entry.URL
			}
		}
		if p != "" {
			mu.Lock()
			seen = append(seen, p)
			mu.Unlock()
		}
	})
	if err := chromedp.Run(ctx, cdplog.Enable(), runtime.Enable()); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx, func() []string {
		mu.Lock()
		defer mu.Unlock()
		out := seen
		seen = nil
		return out
	}
}

// TestOverviewRefreshesItself checks, in Chromium, that the overview fetches its data
// again while its tab is visible (a cluster added after the page loaded appears, the
// page is not reloaded), not while it is hidden, says how old its data is, and says so
// when a refresh fails or the session ended, under the page's strict CSP.
func TestOverviewRefreshesItself(t *testing.T) {
	t.Parallel()
	ctx, problems := chromium(t)
	e := newEnv(t, func(c *testConfig) { c.OverviewRefresh = time.Second })
	e.addCluster("first")
	var fail, signedOut atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if fail.Load() && r.URL.Path == "/" {
			http.Error(w, "down for a moment", http.StatusInternalServerError)
			return
		}
		if !signedOut.Load() {
			r.Header.Set("Authorization", "Bearer "+e.tokens["viewer"])
		}
		e.h.ServeHTTP(w, r)
	}))
	defer srv.Close()
	run := func(what string, actions ...chromedp.Action) {
		t.Helper()
		if err := chromedp.Run(ctx, actions...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	eval := func(js string) (out string) {
		t.Helper()
		run(js, chromedp.Evaluate(js, &out))
		return out
	}
	state := `((document.querySelector('[data-testid=updated]') || {dataset: {}}).dataset.state || '')`
	text := `((document.querySelector('[data-testid=updated]') || {}).textContent || '')`
	// waitFor polls js until it is "true": the page's own timer is what is awaited.
	waitFor := func(what, js string, within time.Duration) {
		t.Helper()
		deadline := time.Now().Add(within)
		for {
			if eval(js) == "true" {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within %s; the line says %q", what, within, eval(text))
			}
			run("poll", chromedp.Sleep(200*time.Millisecond))
		}
	}
	run("open the overview", chromedp.Navigate(srv.URL+"/"), chromedp.WaitVisible(`[data-testid=updated]`, chromedp.ByQuery))
	first := eval(`document.querySelector('[data-testid=data-time]').getAttribute('datetime')`)
	eval(`String(window.loadedOnce = "yes")`)
	waitFor("the line says the age", `String(`+state+` === 'fresh')`, 5*time.Second)
	if got := eval(text); !regexp.MustCompile(`^\s*Data as of \d\d:\d\d:\d\d UTC; fetched \d+ s ago, again every 1 s while this tab is visible\.\s*$`).MatchString(got) {
		t.Errorf("the line says %q", got)
	}

	// A cluster registered after the page loaded appears without a reload.
	e.addCluster("second")
	waitFor("the new cluster shows", `String(!!document.querySelector('[data-testid=cluster-row][data-cluster=second]'))`, 10*time.Second)
	if eval(`String(window.loadedOnce)`) != "yes" {
		t.Error("the page reloaded instead of refreshing its content")
	}
	if eval(`document.querySelector('[data-testid=data-time]').getAttribute('datetime')`) < first {
		t.Error("the data's time went back")
	}
	if p := problems(); len(p) > 0 {
		t.Errorf("problems in the browser: %q", p)
	}

	// Hidden, the tab fetches nothing; visible again, it catches up at once.
	eval(`Object.defineProperty(document, 'visibilityState', {get: () => 'hidden', configurable: true}); document.dispatchEvent(new Event('visibilitychange')); 'ok'`)
	e.addCluster("third")
	run("hidden for a while", chromedp.Sleep(3*time.Second))
	if eval(`String(!!document.querySelector('[data-cluster=third]'))`) != "false" {
		t.Error("a hidden tab refreshed")
	}
	eval(`Object.defineProperty(document, 'visibilityState', {get: () => 'visible', configurable: true}); document.dispatchEvent(new Event('visibilitychange')); 'ok'`)
	waitFor("visible again, the new cluster shows", `String(!!document.querySelector('[data-cluster=third]'))`, 5*time.Second)

	// A failed refresh says so, and how old the data shown is; the next one recovers.
	fail.Store(true)
	waitFor("a failure is said", `String(`+state+` === 'failed')`, 10*time.Second)
	if got := eval(text); !strings.Contains(got, "HTTP 500") || !strings.Contains(got, "fetched") {
		t.Errorf("after a failed refresh the line says %q", got)
	}
	fail.Store(false)
	waitFor("a refresh after the failure", `String(`+state+` === 'fresh')`, 10*time.Second)

	// The session ended: the page says to sign in again, and stops fetching.
	signedOut.Store(true)
	waitFor("the ended session is said", `String(`+text+`.includes('Your session ended'))`, 10*time.Second)
	problems() // the failures above were logged by the browser, as they should be
}

// TestOverviewSaysTimeOfData checks the overview's line on its data, as served: the
// server's time of reading, the refresh interval app.js reads, and, for a browser
// without JavaScript, the advice to reload.
func TestOverviewSaysTimeOfData(t *testing.T) {
	t.Parallel()
	at := time.Now().UTC().Truncate(time.Second)
	e := newEnv(t, func(c *testConfig) { c.Now = func() time.Time { return at } })
	p := e.page("viewer", "/").want(t, http.StatusOK)
	line := p.one(t, "updated")
	if line.AttrOr("data-refresh", "") != "30" {
		t.Errorf("refresh every %q s, want the default 30", line.AttrOr("data-refresh", ""))
	}
	tm := p.one(t, "data-time")
	if tm.AttrOr("datetime", "") != at.Format(time.RFC3339) || strings.TrimSpace(tm.Text()) != at.Format("15:04:05")+" UTC" {
		t.Errorf("data time %q %q", tm.AttrOr("datetime", ""), tm.Text())
	}
	if got := strings.Join(strings.Fields(line.Text()), " "); got != "Data as of "+at.Format("15:04:05")+" UTC; reload the page for newer." {
		t.Errorf("without JavaScript the line says %q", got)
	}
	// Only the overview refreshes itself.
	if e.page("viewer", "/clusters").want(t, http.StatusOK).doc.Find("[data-refresh]").Length() != 0 {
		t.Error("the clusters page refreshes itself")
	}
}
