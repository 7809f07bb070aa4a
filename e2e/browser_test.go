package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tagdrift/tagdrift/internal/browsertest"
	"github.com/tagdrift/tagdrift/internal/kubeenv"
	"github.com/tagdrift/tagdrift/server/access/password"
	"github.com/tagdrift/tagdrift/store"
)

// The browser tests drive Debian's Chromium, headless, through the real pages of a
// running `tagdrift serve`: they fail on any console error, failed request or CSP
// violation, and on any serious or critical axe-core finding. Screenshots of every page,
// at laptop and phone width, light and dark, go to $TAGDRIFT_SCREENSHOTS (default
// e2e/testdata/screenshots, not committed); docs/screenshots holds the README's.

// TestBrowser walks the UI as an on-call engineer would, on a real apiserver: sign in,
// add the cluster from its kubeconfig, scan now and watch it finish, find the mutant
// workload and its odd digest, follow to the timeline, the table of its bars and the
// digest, search a digest prefix, sign out; then a viewer sees no admin control.
func TestBrowser(t *testing.T) {
	axe := browsertest.AxeScript(t)
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

	b := browsertest.New(t, s.url, axe)

	// Signed out, every page leads to the sign-in form.
	b.Open("/", `[data-testid=signin-form]`)
	if loc := b.Location(); !strings.HasPrefix(loc, "/signin") {
		t.Errorf("signed out, / shows %s", loc)
	}
	if n := b.Count(`[data-testid=nav], [data-testid=search]`); n != 0 {
		t.Errorf("signed out, the sign-in page shows %d navigation elements", n)
	}
	b.Page("signin")
	b.SignIn("oncall", adminPW)
	b.Page("overview-empty")

	// Add gamma from its kubeconfig, pasted.
	b.Open("/clusters", `[data-testid=cluster-form]`)
	b.Page("clusters-empty")
	b.Run("add cluster",
		chromedp.SetValue(`#kubeconfig`, string(kc), chromedp.ByQuery),
		chromedp.Click(`[data-testid=cluster-submit]`, chromedp.ByQuery),
		chromedp.WaitVisible(`[data-testid=scan-now]`, chromedp.ByQuery),
	)
	if got := b.Text(`[data-testid=cluster-name]`); got != "gamma" {
		t.Fatalf("after adding, the page of %q", got)
	}
	// Scan now, and see it go to succeeded (the page reloads itself).
	b.Run("scan now", chromedp.Click(`[data-testid=scan-now]`, chromedp.ByQuery), chromedp.WaitVisible(`[data-testid=scan-status]`, chromedp.ByQuery))
	states := map[string]bool{}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		var state string
		ctx, cancel := context.WithTimeout(b.Ctx, 10*time.Second)
		err := chromedp.Run(ctx, chromedp.Evaluate(`(document.querySelector('[data-testid=scan-status]') || {dataset: {}}).dataset.state || ''`, &state))
		cancel()
		if err == nil && state != "" {
			states[state] = true
			if state == "succeeded" || state == "failed" || state == "aborted" {
				if state != "succeeded" {
					t.Fatalf("the scan ended %s: %s", state, b.Text(`[data-testid=scan-status]`))
				}
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the scan did not finish in 2 minutes; states seen %v", states)
		}
		chromedp.Run(b.Ctx, chromedp.Sleep(300*time.Millisecond)) // a poll interval, not a wait for a result
	}
	b.Run("settle", chromedp.WaitVisible(`[data-testid=scans]`, chromedp.ByQuery))
	if b.Count(`meta[http-equiv=refresh]`) != 0 {
		t.Error("a finished scan's page still reloads")
	}
	b.Page("cluster")

	b.Open("/", `[data-testid=overview-summary]`)
	b.Page("overview")

	// The mutant workload, its odd pod marked.
	b.Open("/workloads?cluster=gamma&namespace=ui&mutant=true", `[data-testid=workload-row]`)
	if n := b.Count(`[data-testid=workload-row]`); n != 1 {
		t.Errorf("%d mutant workloads in gamma/ui, want 1", n)
	}
	b.Page("workloads")
	b.Run("open workload", chromedp.Click(`[data-testid=workload-row][data-name="shop-7d9f"] a`, chromedp.ByQuery), chromedp.WaitVisible(`[data-testid=pods]`, chromedp.ByQuery))
	var odd []string
	b.Run("odd pods", chromedp.Evaluate(`[...document.querySelectorAll('[data-testid=pod-row][data-odd=true]')].map(r => r.dataset.pod)`, &odd))
	if len(odd) != 1 || odd[0] != "shop-7d9f-xyz" || b.Count(`[data-testid=odd-mark]`) != 1 {
		t.Errorf("odd pods %v, marks %d; want shop-7d9f-xyz marked", odd, b.Count(`[data-testid=odd-mark]`))
	}
	b.Page("workload")

	// Its timeline, then the odd digest's page.
	b.Run("timeline", chromedp.Click(`[data-testid=timeline-link]`, chromedp.ByQuery), chromedp.WaitVisible(`[data-testid=timeline-chart]`, chromedp.ByQuery))
	if n := b.Count(`[data-testid=lane]`); n != 2 {
		t.Errorf("timeline lanes %d, want 2", n)
	}
	b.Page("timeline")
	// The chart's bars as a table, and on to the odd digest from there.
	b.Run("timeline clusters", chromedp.Click(`[data-testid=spans-link] a`, chromedp.ByQuery), chromedp.WaitVisible(`[data-testid=spans-table]`, chromedp.ByQuery))
	if n := b.Count(`[data-testid=span-row]`); n != 2 {
		t.Errorf("timeline clusters: %d rows, want one for each digest in the one cluster", n)
	}
	b.Page("timeline-clusters")
	b.Run("digest", chromedp.Click(fmt.Sprintf(`[data-testid=digest-chip] [data-testid=chip-link][title=%q]`, digestB), chromedp.ByQuery),
		chromedp.WaitVisible(`[data-testid=full-digest]`, chromedp.ByQuery))
	if got := b.Text(`[data-testid=full-digest]`); !strings.Contains(got, digestB) {
		t.Errorf("digest page of %q, want %s", got, digestB)
	}
	// Both digests came in the first scan: tagdrift saw no move, and says so.
	if got := b.Text(`[data-testid=tag-target] [data-testid=tag-verdict]`); got != "tagdrift never saw this tag move." {
		t.Errorf("the odd digest's page says %q of its tag", got)
	}
	b.Page("digest")

	// Search by the 12 hex characters the pages show.
	b.Open("/", `[data-testid=search]`)
	b.Run("search", chromedp.SendKeys(`#q`, strings.TrimPrefix(digestA, "sha256:")[:12]+"\n", chromedp.ByQuery),
		chromedp.WaitVisible(`[data-testid=full-digest]`, chromedp.ByQuery))
	if got := b.Text(`[data-testid=full-digest]`); !strings.Contains(got, digestA) {
		t.Errorf("search by prefix led to %q, want %s", got, digestA)
	}
	b.Clean("search")

	b.Open("/mutations", `[data-testid=mutation-row]`)
	b.Page("mutations")
	b.Open("/admin", `[data-testid=admin-index]`)
	if n := b.Count(`[data-testid=admin-section]`); n != 8 {
		t.Errorf("the admin index has %d lines, want 8", n)
	}
	b.Page("admin")
	b.Open("/admin/tokens", `[data-testid=token-form]`)
	b.Page("admin-tokens")
	b.Open("/admin/users", `[data-testid=users]`)
	b.Page("admin-users")
	b.Open("/admin/audit", `[data-testid=audit]`)
	if b.Count(`[data-testid=audit-row][data-action="cluster.create"]`) != 1 {
		t.Error("the audit trail lacks the cluster added")
	}
	b.Page("admin-audit")

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
	b.Open("/admin/notifications/routes", `[data-testid=route-row]`)
	b.Page("admin-routes")
	b.Run("edit a route", chromedp.Click(`[data-testid=route-edit]`, chromedp.ByQuery),
		chromedp.WaitVisible(`[data-testid=route-edit-form]`, chromedp.ByQuery))
	b.Page("admin-route")
	b.Run("save a route", chromedp.SetValue(`#route-repeat`, "4h", chromedp.ByQuery),
		chromedp.Click(`[data-testid=route-save]`, chromedp.ByQuery), chromedp.WaitVisible(`[data-testid=routes]`, chromedp.ByQuery))
	if got, err := st.Route(ctx, rt.ID, store.Scope{}); err != nil || got.RepeatInterval != 4*time.Hour || !got.Enabled || got.Matchers != `cluster="gamma"` {
		t.Errorf("route saved in the browser: %+v, %v", got, err)
	}
	b.Clean("routes")

	// Sign out: back to the form, which says so, and the pages are closed again.
	b.Run("sign out", chromedp.Click(`[data-testid=sign-out]`, chromedp.ByQuery), chromedp.WaitVisible(`[data-testid=signin-form]`, chromedp.ByQuery))
	if got := b.Text(`[data-testid=signed-out]`); got != "You are signed out." {
		t.Errorf("after signing out the page says %q", got)
	}
	b.Page("signed-out")
	b.Open("/clusters/gamma", `[data-testid=signin-form]`)
	b.Clean("sign out")

	// A viewer sees no admin control.
	b.SignIn("watcher", viewerPW)
	if b.Count(`[data-testid=nav-admin]`) != 0 {
		t.Error("a viewer sees the Admin link")
	}
	b.Open("/clusters/gamma", `[data-testid=cluster-name]`)
	for _, sel := range []string{`[data-testid=scan-now]`, `[data-testid=cluster-edit]`, `[data-testid=cluster-delete]`} {
		if b.Count(sel) != 0 {
			t.Errorf("a viewer sees %s", sel)
		}
	}
	b.Page("cluster-viewer")
	b.Open("/clusters", `[data-testid=clusters]`)
	if b.Count(`[data-testid=cluster-add]`) != 0 {
		t.Error("a viewer sees the add form")
	}
	b.Clean("viewer")

	// The viewer asks to acknowledge the mutant workload's divergence: a request, which
	// changes no count until an admin approves it.
	open0, acked0 := overviewCounts(t, b)
	if open0 == 0 {
		t.Fatal("no open mutation on the overview")
	}
	b.Open("/mutations", `[data-testid=acknowledge-link]`)
	b.Run("acknowledge", chromedp.Click(`[data-testid=acknowledge-link]`, chromedp.ByQuery),
		chromedp.WaitVisible(`[data-testid=ack-form]`, chromedp.ByQuery),
		chromedp.SendKeys(`#ack-reason`, "canary of the new build, rolled back tomorrow", chromedp.ByQuery),
		chromedp.Click(`[data-testid=until-resolved]`, chromedp.ByQuery),
		chromedp.Click(`[data-testid=ack-submit]`, chromedp.ByQuery),
		chromedp.WaitVisible(`[data-testid=pending-request]`, chromedp.ByQuery))
	b.Page("mutation-requested")
	if o, a := overviewCounts(t, b); o != open0 || a != acked0 {
		t.Errorf("after the request: %d open, %d acknowledged; want %d, %d", o, a, open0, acked0)
	}
	b.Run("sign out viewer", chromedp.Click(`[data-testid=sign-out]`, chromedp.ByQuery), chromedp.WaitVisible(`[data-testid=signin-form]`, chromedp.ByQuery))

	// The admin approves it on the acknowledgements page: one open fewer, one more
	// acknowledged, and the mutation's page says who and why.
	b.SignIn("oncall", adminPW)
	b.Open("/acknowledgements?status=requested", `[data-testid=ack-approve]`)
	b.Page("acknowledgements")
	b.Run("approve", chromedp.Click(`[data-testid=ack-approve]`, chromedp.ByQuery),
		chromedp.WaitVisible(`[data-testid=flash]`, chromedp.ByQuery))
	b.Clean("approve")
	if o, a := overviewCounts(t, b); o != open0-1 || a != acked0+1 {
		t.Errorf("after the approval: %d open, %d acknowledged; want %d, %d", o, a, open0-1, acked0+1)
	}
	b.Open("/mutations?state=acknowledged", `[data-testid=mutation-row]`)
	b.Run("acknowledged mutation", chromedp.Click(`[data-testid=mutation-row] [data-testid=mutation-link]`, chromedp.ByQuery),
		chromedp.WaitVisible(`[data-testid=acknowledged-by]`, chromedp.ByQuery))
	if who := b.Text(`[data-testid=ack-who]`); !strings.Contains(who, "watcher") {
		t.Errorf("acknowledged by %q, want the viewer who asked", who)
	}
	b.Page("mutation-acknowledged")
}

// overviewCounts opens the overview and reads its open and acknowledged counts.
func overviewCounts(t *testing.T, b *browsertest.Browser) (open, acknowledged int) {
	t.Helper()
	b.Open("/", `[data-testid=open-total]`)
	var o, a string
	var ok bool
	b.Run("overview counts",
		chromedp.AttributeValue(`[data-testid=open-total]`, "data-count", &o, &ok, chromedp.ByQuery),
		chromedp.AttributeValue(`[data-testid=acknowledged-total]`, "data-count", &a, &ok, chromedp.ByQuery))
	if _, err := fmt.Sscan(o+" "+a, &open, &acknowledged); err != nil {
		t.Fatalf("overview counts %q %q: %v", o, a, err)
	}
	return open, acknowledged
}
