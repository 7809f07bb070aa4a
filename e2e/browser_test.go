package e2e

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
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tagdrift/tagdrift/internal/kubeenv"
	"github.com/tagdrift/tagdrift/server/access/password"
	"github.com/tagdrift/tagdrift/store"
)

// The browser tests drive Debian's Chromium, headless, through the real pages of a
// running `tagdrift serve`: they fail on any console error, failed request or CSP
// violation, and on any serious or critical axe-core finding. Screenshots of every page,
// at laptop and phone width, light and dark, go to $TAGDRIFT_SCREENSHOTS (default
// e2e/testdata/screenshots, not committed); docs/screenshots holds the README's.

// chromiumPath is Debian's Chromium (hack/test-deps.sh installs it).
const chromiumPath = "/usr/bin/chromium"

// axeScript is axe-core's browser build: $TAGDRIFT_AXE_JS, or where hack/test-deps.sh
// installs it with npm.
func axeScript(t *testing.T) string {
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

// browser is one Chromium tab with its own profile, recording what went wrong.
type browser struct {
	t    *testing.T
	ctx  context.Context
	base string
	axe  string
	shot string // screenshot directory

	mu       sync.Mutex
	problems []string
}

func newBrowser(t *testing.T, base, axe string) *browser {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		if ciRequired() {
			t.Fatalf("chromium: %v (hack/test-deps.sh installs it)", err)
		}
		t.Skipf("chromium: %v", err)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelC := chromedp.NewContext(actx)
	ctx, cancelT := context.WithTimeout(ctx, 8*time.Minute)
	t.Cleanup(func() { cancelT(); cancelC(); cancelA() })
	dir := os.Getenv("TAGDRIFT_SCREENSHOTS")
	if dir == "" {
		dir = filepath.Join("testdata", "screenshots")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	b := &browser{t: t, ctx: ctx, base: base, axe: axe, shot: dir}
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

func (b *browser) problem(format string, args ...any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.problems = append(b.problems, fmt.Sprintf(format, args...))
}

// clean fails the test for every problem recorded since the last call.
func (b *browser) clean(where string) {
	b.t.Helper()
	b.mu.Lock()
	ps := b.problems
	b.problems = nil
	b.mu.Unlock()
	for _, p := range ps {
		b.t.Errorf("%s: %s", where, p)
	}
}

func (b *browser) run(where string, actions ...chromedp.Action) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 90*time.Second)
	defer cancel()
	if err := chromedp.Run(ctx, actions...); err != nil {
		b.t.Fatalf("%s: %v", where, err)
	}
}

// open loads path and waits for sel.
func (b *browser) open(path, sel string) {
	b.t.Helper()
	b.run("open "+path, chromedp.Navigate(b.base+path), chromedp.WaitVisible(sel, chromedp.ByQuery))
}

// text is the trimmed text of the first element sel matches.
func (b *browser) text(sel string) string {
	b.t.Helper()
	var s string
	b.run("text of "+sel, chromedp.Text(sel, &s, chromedp.ByQuery, chromedp.NodeVisible))
	return strings.TrimSpace(s)
}

func (b *browser) count(sel string) int {
	b.t.Helper()
	var n int
	b.run("count "+sel, chromedp.Evaluate(fmt.Sprintf(`document.querySelectorAll(%q).length`, sel), &n))
	return n
}

func (b *browser) location() string {
	b.t.Helper()
	var u string
	b.run("location", chromedp.Location(&u))
	return strings.TrimPrefix(u, b.base)
}

// audit runs axe-core on the page and fails the test for each serious or critical
// violation. The script is evaluated through DevTools, which the page's CSP does not
// govern; nothing is fetched.
func (b *browser) audit(name string) {
	b.t.Helper()
	var loaded bool
	b.run("load axe", chromedp.Evaluate(b.axe+";typeof axe === 'object'", &loaded))
	if !loaded {
		b.t.Fatal("axe-core did not load")
	}
	var res []struct {
		ID, Impact, Help string
		Nodes            []struct{ Target []any }
	}
	b.run("axe "+name, chromedp.Evaluate(`axe.run(document, {resultTypes: ['violations']}).then(r => r.violations.filter(v => v.impact === 'serious' || v.impact === 'critical').map(v => ({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 5).map(n => ({target: n.target}))})))`,
		&res, func(p *runtime.EvaluateParams) *runtime.EvaluateParams { return p.WithAwaitPromise(true) }))
	for _, v := range res {
		tj, _ := json.Marshal(v.Nodes)
		b.t.Errorf("axe on %s: %s %s (%s) at %s", name, v.Impact, v.ID, v.Help, tj)
	}
}

// screenshots saves the page at 1280 px and phone width, light and dark, and puts the
// viewport back.
func (b *browser) screenshots(name string) {
	b.t.Helper()
	for _, size := range []struct {
		w, h   int64
		mobile bool
		label  string
	}{{1280, 900, false, "1280"}, {390, 844, true, "phone"}} {
		for _, scheme := range []string{"light", "dark"} {
			var png []byte
			b.run("screenshot "+name,
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
	b.run("reset viewport", emulation.SetDeviceMetricsOverride(1280, 900, 1, false),
		emulation.SetEmulatedMedia().WithFeatures([]*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: "light"}}))
}

// page checks the page now shown: no problem, no serious accessibility finding, and
// saves its screenshots.
func (b *browser) page(name string) {
	b.t.Helper()
	b.headings(name)
	b.audit(name)
	b.screenshots(name)
	b.clean(name)
}

// headings fails the test when a page's heading is not larger than every section
// heading under it, as the workload page's monospace name once was (.mono's size
// outranked h1's).
func (b *browser) headings(name string) {
	b.t.Helper()
	var sizes struct{ H1, H2 float64 }
	b.run("heading sizes of "+name, chromedp.Evaluate(`(() => {
		const px = el => parseFloat(getComputedStyle(el).fontSize);
		const h1 = [...document.querySelectorAll('main h1')].map(px);
		const h2 = [...document.querySelectorAll('main h2')].map(px);
		return {h1: h1.length ? Math.min(...h1) : 0, h2: h2.length ? Math.max(...h2) : 0};
	})()`, &sizes))
	if sizes.H1 != 0 && sizes.H1 <= sizes.H2 {
		b.t.Errorf("%s: the page heading is %.1f px, a section heading %.1f px", name, sizes.H1, sizes.H2)
	}
}

// signIn signs in through the form.
func (b *browser) signIn(name, pw string) {
	b.t.Helper()
	b.open("/", `[data-testid=signin-form]`)
	b.run("sign in as "+name,
		chromedp.SendKeys(`#name`, name, chromedp.ByQuery),
		chromedp.SendKeys(`#password`, pw, chromedp.ByQuery),
		chromedp.Click(`[data-testid=signin-submit]`, chromedp.ByQuery),
		chromedp.WaitVisible(`[data-testid=sign-out]`, chromedp.ByQuery),
	)
}

// TestBrowser walks the UI as an on-call engineer would, on a real apiserver: sign in,
// add the cluster from its kubeconfig, scan now and watch it finish, find the mutant
// workload and its odd digest, follow to the timeline, the table of its bars and the
// digest, search a digest prefix, sign out; then a viewer sees no admin control.
func TestBrowser(t *testing.T) {
	axe := axeScript(t)
	ctx := context.Background()
	db := newDatabase(t)
	key := newKeyText()
	env := []string{"TAGDRIFT_DATABASE_URL=" + db.URL, "TAGDRIFT_ENCRYPTION_KEY=" + key}
	s := startServe(t, env, "--allow-cluster-network", "127.0.0.0/8")
	st := openStore(t, db.URL, key)
	const adminPW, viewerPW = "browser-admin-password", "browser-viewer-password"
	for name, role := range map[string]string{"oncall": store.RoleAdmin, "watcher": store.RoleViewer} {
		pw := adminPW
		if role == store.RoleViewer {
			pw = viewerPW
		}
		hash, err := password.Hash(pw)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.AddUser(ctx, store.NewUser{Name: name, Role: role, PasswordHash: hash}, store.Audit{Actor: "cli:e2e"}); err != nil {
			t.Fatal(err)
		}
	}

	// In gamma's namespace ui: a ReplicaSet revision of three pods, one on another
	// digest of its tag, and a bare pod whose imageID holds markup.
	gamma := setup.env.Cluster("gamma")
	const ns = "ui"
	if err := gamma.Namespace(ctx, ns); err != nil {
		t.Fatal(err)
	}
	yes := true
	rs := &metav1.OwnerReference{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "shop-7d9f", UID: "00000000-0000-0000-0000-0000000000b1", Controller: &yes}
	digestA, digestB := apiDigestOf("5"), apiDigestOf("d")
	pods := map[string]string{
		"shop-7d9f-abc": "registry.example.com/shop@" + digestA,
		"shop-7d9f-def": "registry.example.com/shop@" + digestA,
		"shop-7d9f-xyz": "registry.example.com/shop@" + digestB,
		"hostile":       `registry.example.com/x@sha256:"><script>alert(1)</script><img src=x onerror=alert(2)>`,
	}
	for name, imageID := range pods {
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.example.com/shop:prod"}}},
		}
		if name == "hostile" {
			pod.Spec.Containers[0].Image = "registry.example.com/hostile:1"
		}
		if name != "hostile" {
			pod.Labels = map[string]string{"pod-template-hash": "7d9f"}
			pod.OwnerReferences = []metav1.OwnerReference{*rs}
		}
		if _, err := gamma.Admin.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := gamma.SetContainerStatuses(ctx, ns, name, kubeenv.PodStatus{
			Containers: []kubeenv.ContainerStatus{{Name: "app", ImageID: imageID}}}); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		zero := int64(0)
		for name := range pods {
			err := gamma.Admin.CoreV1().Pods(ns).Delete(context.Background(), name, metav1.DeleteOptions{GracePeriodSeconds: &zero})
			if err != nil && !apierrors.IsNotFound(err) {
				t.Errorf("delete pod %s: %v", name, err)
			}
		}
	})
	kcPath := filepath.Join(t.TempDir(), "kubeconfig")
	if err := kubeenv.WriteKubeconfig(kcPath, "gamma", gamma.Context("gamma", gamma.AdminToken)); err != nil {
		t.Fatal(err)
	}
	kc, err := os.ReadFile(kcPath)
	if err != nil {
		t.Fatal(err)
	}

	b := newBrowser(t, s.url, axe)

	// Signed out, every page leads to the sign-in form.
	b.open("/", `[data-testid=signin-form]`)
	if loc := b.location(); !strings.HasPrefix(loc, "/signin") {
		t.Errorf("signed out, / shows %s", loc)
	}
	if n := b.count(`[data-testid=nav], [data-testid=search]`); n != 0 {
		t.Errorf("signed out, the sign-in page shows %d navigation elements", n)
	}
	b.page("signin")
	b.signIn("oncall", adminPW)
	b.page("overview-empty")

	// Add gamma from its kubeconfig, pasted.
	b.open("/clusters", `[data-testid=cluster-form]`)
	b.page("clusters-empty")
	b.run("add cluster",
		chromedp.SetValue(`#kubeconfig`, string(kc), chromedp.ByQuery),
		chromedp.Click(`[data-testid=cluster-submit]`, chromedp.ByQuery),
		chromedp.WaitVisible(`[data-testid=scan-now]`, chromedp.ByQuery),
	)
	if got := b.text(`[data-testid=cluster-name]`); got != "gamma" {
		t.Fatalf("after adding, the page of %q", got)
	}
	// Scan now, and see it go to succeeded (the page reloads itself).
	b.run("scan now", chromedp.Click(`[data-testid=scan-now]`, chromedp.ByQuery), chromedp.WaitVisible(`[data-testid=scan-status]`, chromedp.ByQuery))
	states := map[string]bool{}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		var state string
		ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
		err := chromedp.Run(ctx, chromedp.Evaluate(`(document.querySelector('[data-testid=scan-status]') || {dataset: {}}).dataset.state || ''`, &state))
		cancel()
		if err == nil && state != "" {
			states[state] = true
			if state == "succeeded" || state == "failed" || state == "aborted" {
				if state != "succeeded" {
					t.Fatalf("the scan ended %s: %s", state, b.text(`[data-testid=scan-status]`))
				}
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the scan did not finish in 2 minutes; states seen %v", states)
		}
		chromedp.Run(b.ctx, chromedp.Sleep(300*time.Millisecond)) // a poll interval, not a wait for a result
	}
	b.run("settle", chromedp.WaitVisible(`[data-testid=scans]`, chromedp.ByQuery))
	if b.count(`meta[http-equiv=refresh]`) != 0 {
		t.Error("a finished scan's page still reloads")
	}
	b.page("cluster")

	b.open("/", `[data-testid=overview-summary]`)
	b.page("overview")

	// The mutant workload, its odd pod marked.
	b.open("/workloads?cluster=gamma&namespace=ui&mutant=true", `[data-testid=workload-row]`)
	if n := b.count(`[data-testid=workload-row]`); n != 1 {
		t.Errorf("%d mutant workloads in gamma/ui, want 1", n)
	}
	b.page("workloads")
	b.run("open workload", chromedp.Click(`[data-testid=workload-row][data-name="shop-7d9f"] a`, chromedp.ByQuery), chromedp.WaitVisible(`[data-testid=pods]`, chromedp.ByQuery))
	var odd []string
	b.run("odd pods", chromedp.Evaluate(`[...document.querySelectorAll('[data-testid=pod-row][data-odd=true]')].map(r => r.dataset.pod)`, &odd))
	if len(odd) != 1 || odd[0] != "shop-7d9f-xyz" || b.count(`[data-testid=odd-mark]`) != 1 {
		t.Errorf("odd pods %v, marks %d; want shop-7d9f-xyz marked", odd, b.count(`[data-testid=odd-mark]`))
	}
	b.page("workload")

	// Its timeline, then the odd digest's page.
	b.run("timeline", chromedp.Click(`[data-testid=timeline-link]`, chromedp.ByQuery), chromedp.WaitVisible(`[data-testid=timeline-chart]`, chromedp.ByQuery))
	if n := b.count(`[data-testid=lane]`); n != 2 {
		t.Errorf("timeline lanes %d, want 2", n)
	}
	b.page("timeline")
	// The chart's bars as a table, and on to the odd digest from there.
	b.run("timeline clusters", chromedp.Click(`[data-testid=spans-link] a`, chromedp.ByQuery), chromedp.WaitVisible(`[data-testid=spans-table]`, chromedp.ByQuery))
	if n := b.count(`[data-testid=span-row]`); n != 2 {
		t.Errorf("timeline clusters: %d rows, want one for each digest in the one cluster", n)
	}
	b.page("timeline-clusters")
	b.run("digest", chromedp.Click(fmt.Sprintf(`[data-testid=digest-chip] [data-testid=chip-link][title=%q]`, digestB), chromedp.ByQuery),
		chromedp.WaitVisible(`[data-testid=full-digest]`, chromedp.ByQuery))
	if got := b.text(`[data-testid=full-digest]`); !strings.Contains(got, digestB) {
		t.Errorf("digest page of %q, want %s", got, digestB)
	}
	// Both digests came in the first scan: tagdrift saw no move, and says so.
	if got := b.text(`[data-testid=tag-target] [data-testid=tag-verdict]`); got != "tagdrift never saw this tag move." {
		t.Errorf("the odd digest's page says %q of its tag", got)
	}
	b.page("digest")

	// Search by the 12 hex characters the pages show.
	b.open("/", `[data-testid=search]`)
	b.run("search", chromedp.SendKeys(`#q`, strings.TrimPrefix(digestA, "sha256:")[:12]+"\n", chromedp.ByQuery),
		chromedp.WaitVisible(`[data-testid=full-digest]`, chromedp.ByQuery))
	if got := b.text(`[data-testid=full-digest]`); !strings.Contains(got, digestA) {
		t.Errorf("search by prefix led to %q, want %s", got, digestA)
	}
	b.clean("search")

	b.open("/mutations", `[data-testid=mutation-row]`)
	b.page("mutations")
	b.open("/admin", `[data-testid=admin-index]`)
	if n := b.count(`[data-testid=admin-section]`); n != 8 {
		t.Errorf("the admin index has %d lines, want 8", n)
	}
	b.page("admin")
	b.open("/admin/tokens", `[data-testid=token-form]`)
	b.page("admin-tokens")
	b.open("/admin/users", `[data-testid=users]`)
	b.page("admin-users")
	b.open("/admin/audit", `[data-testid=audit]`)
	if b.count(`[data-testid=audit-row][data-action="cluster.create"]`) != 1 {
		t.Error("the audit trail lacks the cluster added")
	}
	b.page("admin-audit")

	// The notification routes: the list, and one route's edit form, saved in the browser.
	ch, err := st.CreateChannel(ctx, store.Audit{Actor: "cli:e2e"}, store.NewChannel{Name: "#platform-alerts", Kind: store.ChannelSlack,
		Secret: []byte("https://hooks.slack.com/services/T0/B0/X"), Enabled: true})
	if err != nil {
		t.Fatal(err)
	}
	rt, err := st.CreateRoute(ctx, store.Audit{Actor: "cli:e2e"}, store.Route{ChannelID: ch.ID, Matchers: `cluster="gamma"`, GroupWait: 30 * time.Second, Enabled: true})
	if err != nil {
		t.Fatal(err)
	}
	b.open("/admin/notifications/routes", `[data-testid=route-row]`)
	b.page("admin-routes")
	b.run("edit a route", chromedp.Click(`[data-testid=route-edit]`, chromedp.ByQuery),
		chromedp.WaitVisible(`[data-testid=route-edit-form]`, chromedp.ByQuery))
	b.page("admin-route")
	b.run("save a route", chromedp.SetValue(`#route-repeat`, "4h", chromedp.ByQuery),
		chromedp.Click(`[data-testid=route-save]`, chromedp.ByQuery), chromedp.WaitVisible(`[data-testid=routes]`, chromedp.ByQuery))
	if got, err := st.Route(ctx, rt.ID); err != nil || got.RepeatInterval != 4*time.Hour || !got.Enabled || got.Matchers != `cluster="gamma"` {
		t.Errorf("route saved in the browser: %+v, %v", got, err)
	}
	b.clean("routes")

	// Sign out: back to the form, which says so, and the pages are closed again.
	b.run("sign out", chromedp.Click(`[data-testid=sign-out]`, chromedp.ByQuery), chromedp.WaitVisible(`[data-testid=signin-form]`, chromedp.ByQuery))
	if got := b.text(`[data-testid=signed-out]`); got != "You are signed out." {
		t.Errorf("after signing out the page says %q", got)
	}
	b.page("signed-out")
	b.open("/clusters/gamma", `[data-testid=signin-form]`)
	b.clean("sign out")

	// A viewer sees no admin control.
	b.signIn("watcher", viewerPW)
	if b.count(`[data-testid=nav-admin]`) != 0 {
		t.Error("a viewer sees the Admin link")
	}
	b.open("/clusters/gamma", `[data-testid=cluster-name]`)
	for _, sel := range []string{`[data-testid=scan-now]`, `[data-testid=cluster-edit]`, `[data-testid=cluster-delete]`} {
		if b.count(sel) != 0 {
			t.Errorf("a viewer sees %s", sel)
		}
	}
	b.page("cluster-viewer")
	b.open("/clusters", `[data-testid=clusters]`)
	if b.count(`[data-testid=cluster-add]`) != 0 {
		t.Error("a viewer sees the add form")
	}
	b.clean("viewer")

	// The viewer asks to acknowledge the mutant workload's divergence: a request, which
	// changes no count until an admin approves it.
	open0, acked0 := b.overviewCounts()
	if open0 == 0 {
		t.Fatal("no open mutation on the overview")
	}
	b.open("/mutations", `[data-testid=acknowledge-link]`)
	b.run("acknowledge", chromedp.Click(`[data-testid=acknowledge-link]`, chromedp.ByQuery),
		chromedp.WaitVisible(`[data-testid=ack-form]`, chromedp.ByQuery),
		chromedp.SendKeys(`#ack-reason`, "canary of the new build, rolled back tomorrow", chromedp.ByQuery),
		chromedp.Click(`[data-testid=until-resolved]`, chromedp.ByQuery),
		chromedp.Click(`[data-testid=ack-submit]`, chromedp.ByQuery),
		chromedp.WaitVisible(`[data-testid=pending-request]`, chromedp.ByQuery))
	b.page("mutation-requested")
	if o, a := b.overviewCounts(); o != open0 || a != acked0 {
		t.Errorf("after the request: %d open, %d acknowledged; want %d, %d", o, a, open0, acked0)
	}
	b.run("sign out viewer", chromedp.Click(`[data-testid=sign-out]`, chromedp.ByQuery), chromedp.WaitVisible(`[data-testid=signin-form]`, chromedp.ByQuery))

	// The admin approves it on the acknowledgements page: one open fewer, one more
	// acknowledged, and the mutation's page says who and why.
	b.signIn("oncall", adminPW)
	b.open("/acknowledgements?status=requested", `[data-testid=ack-approve]`)
	b.page("acknowledgements")
	b.run("approve", chromedp.Click(`[data-testid=ack-approve]`, chromedp.ByQuery),
		chromedp.WaitVisible(`[data-testid=flash]`, chromedp.ByQuery))
	b.clean("approve")
	if o, a := b.overviewCounts(); o != open0-1 || a != acked0+1 {
		t.Errorf("after the approval: %d open, %d acknowledged; want %d, %d", o, a, open0-1, acked0+1)
	}
	b.open("/mutations?state=acknowledged", `[data-testid=mutation-row]`)
	b.run("acknowledged mutation", chromedp.Click(`[data-testid=mutation-row] [data-testid=mutation-link]`, chromedp.ByQuery),
		chromedp.WaitVisible(`[data-testid=acknowledged-by]`, chromedp.ByQuery))
	if who := b.text(`[data-testid=ack-who]`); !strings.Contains(who, "watcher") {
		t.Errorf("acknowledged by %q, want the viewer who asked", who)
	}
	b.page("mutation-acknowledged")
}

// overviewCounts opens the overview and reads its open and acknowledged counts.
func (b *browser) overviewCounts() (open, acknowledged int) {
	b.t.Helper()
	b.open("/", `[data-testid=open-total]`)
	var o, a string
	var ok bool
	b.run("overview counts",
		chromedp.AttributeValue(`[data-testid=open-total]`, "data-count", &o, &ok, chromedp.ByQuery),
		chromedp.AttributeValue(`[data-testid=acknowledged-total]`, "data-count", &a, &ok, chromedp.ByQuery))
	if _, err := fmt.Sscan(o+" "+a, &open, &acknowledged); err != nil {
		b.t.Fatalf("overview counts %q %q: %v", o, a, err)
	}
	return open, acknowledged
}
