// Package browsertest drives Debian's Chromium, headless, through real pages for tests:
// it records console errors, exceptions, failed requests and CSP violations as
// problems, runs axe-core on each page and saves screenshots at laptop and phone width,
// light and dark. The end-to-end tests and the demo's test share it.
package browsertest

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// ciRequired reports whether a missing dependency must fail rather than skip.
func ciRequired() bool { return os.Getenv("CI") == "true" }

// chromiumPath is the Chromium to drive: $CHROMIUM, else Debian's (hack/test-deps.sh
// installs it).
func chromiumPath() string {
	if p := os.Getenv("CHROMIUM"); p != "" {
		return p
	}
	return "/usr/bin/chromium"
}

// AxeScript is axe-core's browser build: $TAGDRIFT_AXE_JS, or where hack/test-deps.sh
// installs it with npm.
func AxeScript(t *testing.T) string {
	t.Helper()
	path := os.Getenv("TAGDRIFT_AXE_JS")
	if path == "" {
		home, _ := os.UserHomeDir()
		path = filepath.Join(home, ".cache", "tagdrift", "axe", "node_modules", "axe-core", "axe.min.js")
	}
	b, err := os.ReadFile(path)
	if err != nil {
		if ciRequired() {
			t.Fatalf("axe-core: %v (hack/test-deps.sh installs it)", err)
		}
		t.Skipf("axe-core: %v: run hack/test-deps.sh", err)
	}
	return string(b)
}

// Browser is one Chromium tab with its own profile, recording what went wrong.
type Browser struct {
	t    *testing.T
	Ctx  context.Context
	Base string
	axe  string
	shot string // screenshot directory

	mu       sync.Mutex
	problems []string
}

// New starts Chromium for t, showing pages of base (a URL with no trailing slash);
// axe is axe-core's script (AxeScript). It skips t where there is no Chromium, or
// fails it under CI=true.
func New(t *testing.T, base, axe string) *Browser {
	t.Helper()
	if _, err := os.Stat(chromiumPath()); err != nil {
		if ciRequired() {
			t.Fatalf("chromium: %v (hack/test-deps.sh installs it)", err)
		}
		t.Skipf("chromium: %v", err)
	}
	// The profile is removed once Chromium is stopped, tried again for a while: a
	// Chromium helper may still write into it as the browser exits, which made
	// t.TempDir's removal fail the test now and then.
	profile, err := os.MkdirTemp("", "browsertest-profile-")
	if err != nil {
		t.Fatal(err)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath()),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(1280, 900),
	}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelC := chromedp.NewContext(actx)
	ctx, cancelT := context.WithTimeout(ctx, 8*time.Minute)
	t.Cleanup(func() {
		cancelT()
		cancelC()
		cancelA()
		for i := 0; os.RemoveAll(profile) != nil && i < 20; i++ {
			time.Sleep(100 * time.Millisecond)
		}
	})
	dir := os.Getenv("TAGDRIFT_SCREENSHOTS")
	if dir == "" {
		dir = filepath.Join("testdata", "screenshots")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	b := &Browser{t: t, Ctx: ctx, Base: base, axe: axe, shot: dir}
	chromedp.ListenTarget(ctx, func(ev any) {
		switch ev := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			if ev.Type == runtime.APITypeError || ev.Type == runtime.APITypeAssert || ev.Type == runtime.APITypeWarning {
				var args []string
				for _, a := range ev.Args {
					args = append(args, string(a.Value)+a.Description)
				}
				b.problem("console %s: %s", ev.Type, strings.Join(args, " "))
			}
		case *runtime.EventExceptionThrown:
			b.problem("exception: %s", ev.ExceptionDetails.Error())
		case *cdplog.EventEntryAdded:
			// CSP violations, failed resources and other browser complaints.
			if ev.Entry.Level == cdplog.LevelError || ev.Entry.Level == cdplog.LevelWarning {
				b.problem("log %s %s: %s %s", ev.Entry.Level, ev.Entry.Source, ev.Entry.Text, ev.Entry.URL)
			}
		case *network.EventLoadingFailed:
			b.problem("request failed: %s %s", ev.ErrorText, ev.BlockedReason)
		case *network.EventResponseReceived:
			if ev.Response.Status >= 400 {
				b.problem("HTTP %d: %s", ev.Response.Status, ev.Response.URL)
			}
		}
	})
	if err := chromedp.Run(ctx, network.Enable(), cdplog.Enable(), runtime.Enable()); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return b
}

func (b *Browser) problem(format string, args ...any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.problems = append(b.problems, fmt.Sprintf(format, args...))
}

// Clean fails the test for every problem recorded since the last call.
func (b *Browser) Clean(where string) {
	b.t.Helper()
	b.mu.Lock()
	ps := b.problems
	b.problems = nil
	b.mu.Unlock()
	for _, p := range ps {
		b.t.Errorf("%s: %s", where, p)
	}
}

// Run runs actions, failing the test with where when they fail.
func (b *Browser) Run(where string, actions ...chromedp.Action) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.Ctx, 90*time.Second)
	defer cancel()
	if err := chromedp.Run(ctx, actions...); err != nil {
		b.t.Fatalf("%s: %v", where, err)
	}
}

// Open loads path and waits for sel.
func (b *Browser) Open(path, sel string) {
	b.t.Helper()
	b.Run("open "+path, chromedp.Navigate(b.Base+path), chromedp.WaitVisible(sel, chromedp.ByQuery))
}

// Text is the trimmed text of the first element sel matches.
func (b *Browser) Text(sel string) string {
	b.t.Helper()
	var s string
	b.Run("text of "+sel, chromedp.Text(sel, &s, chromedp.ByQuery, chromedp.NodeVisible))
	return strings.TrimSpace(s)
}

// Count is how many elements sel matches.
func (b *Browser) Count(sel string) int {
	b.t.Helper()
	var n int
	b.Run("count "+sel, chromedp.Evaluate(fmt.Sprintf(`document.querySelectorAll(%q).length`, sel), &n))
	return n
}

// Location is the path of the page shown.
func (b *Browser) Location() string {
	b.t.Helper()
	var u string
	b.Run("location", chromedp.Location(&u))
	return strings.TrimPrefix(u, b.Base)
}

// Audit runs axe-core on the page and fails the test for each serious or critical
// violation. The script is evaluated through DevTools, which the page's CSP does not
// govern; nothing is fetched.
func (b *Browser) Audit(name string) {
	b.t.Helper()
	var loaded bool
	b.Run("load axe", chromedp.Evaluate(b.axe+";typeof axe === 'object'", &loaded))
	if !loaded {
		b.t.Fatal("axe-core did not load")
	}
	var res []struct {
		ID, Impact, Help string
		Nodes            []struct{ Target []any }
	}
	b.Run("axe "+name, chromedp.Evaluate(`axe.run(document, {resultTypes: ['violations']}).then(r => r.violations.filter(v => v.impact === 'serious' || v.impact === 'critical').map(v => ({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 5).map(n => ({target: n.target}))})))`,
		&res, func(p *runtime.EvaluateParams) *runtime.EvaluateParams { return p.WithAwaitPromise(true) }))
	for _, v := range res {
		tj, _ := json.Marshal(v.Nodes)
		b.t.Errorf("axe on %s: %s %s (%s) at %s", name, v.Impact, v.ID, v.Help, tj)
	}
}

// Screenshots saves the page at 1280 px and phone width, light and dark, and puts the
// viewport back.
func (b *Browser) Screenshots(name string) {
	b.t.Helper()
	for _, size := range []struct {
		w, h   int64
		mobile bool
		label  string
	}{{1280, 900, false, "1280"}, {390, 844, true, "phone"}} {
		for _, scheme := range []string{"light", "dark"} {
			var png []byte
			b.Run("screenshot "+name,
				emulation.SetDeviceMetricsOverride(size.w, size.h, 1, size.mobile),
				emulation.SetEmulatedMedia().WithFeatures([]*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}}),
				chromedp.FullScreenshot(&png, 100),
			)
			path := filepath.Join(b.shot, fmt.Sprintf("%s-%s-%s.png", name, size.label, scheme))
			if err := os.WriteFile(path, png, 0o644); err != nil {
				b.t.Fatal(err)
			}
		}
	}
	b.Run("reset viewport", emulation.SetDeviceMetricsOverride(1280, 900, 1, false),
		emulation.SetEmulatedMedia().WithFeatures([]*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: "light"}}))
}

// Page checks the page now shown: no problem, no serious accessibility finding, and
// saves its screenshots.
func (b *Browser) Page(name string) {
	b.t.Helper()
	b.Headings(name)
	b.Audit(name)
	b.Screenshots(name)
	b.Clean(name)
}

// Headings fails the test when a page's heading is not larger than every section
// heading under it, as the workload page's monospace name once was (.mono's size
// outranked h1's).
func (b *Browser) Headings(name string) {
	b.t.Helper()
	var sizes struct{ H1, H2 float64 }
	b.Run("heading sizes of "+name, chromedp.Evaluate(`(() => {
		const px = el => parseFloat(getComputedStyle(el).fontSize);
		const h1 = [...document.querySelectorAll('main h1')].map(px);
		const h2 = [...document.querySelectorAll('main h2')].map(px);
		return {h1: h1.length ? Math.min(...h1) : 0, h2: h2.length ? Math.max(...h2) : 0};
	})()`, &sizes))
	if sizes.H1 != 0 && sizes.H1 <= sizes.H2 {
		b.t.Errorf("%s: the page heading is %.1f px, a section heading %.1f px", name, sizes.H1, sizes.H2)
	}
}

// SignIn signs in through the form.
func (b *Browser) SignIn(name, pw string) {
	b.t.Helper()
	b.Open("/", `[data-testid=signin-form]`)
	b.Run("sign in as "+name,
		chromedp.SendKeys(`#name`, name, chromedp.ByQuery),
		chromedp.SendKeys(`#password`, pw, chromedp.ByQuery),
		chromedp.Click(`[data-testid=signin-submit]`, chromedp.ByQuery),
		chromedp.WaitVisible(`[data-testid=sign-out]`, chromedp.ByQuery),
	)
}
