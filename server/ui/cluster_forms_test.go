package ui

import (
	"bytes"
	"context"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/tagdrift/tagdrift/store"
)

// twoContexts is testKubeconfig with a second context, "d", and no current context.
func twoContexts() string {
	kc := strings.Replace(testKubeconfig("", ""), "current-context: c\n", "", 1)
	return kc + "- name: d\n  context:\n    cluster: k\n    user: u\n"
}

// upload posts the add-cluster form as a browser does, with the kubeconfig as a file.
func (b *browser) upload(fields url.Values, file string) authPage {
	b.e.t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for k, vs := range fields {
		for _, v := range vs {
			mw.WriteField(k, v)
		}
	}
	fw, _ := mw.CreateFormFile("file", "config")
	fw.Write([]byte(file))
	mw.Close()
	req := httptest.NewRequest(http.MethodPost, "/clusters", &body)
	req.Host = "tagdrift.example"
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	if b.cookie != nil {
		req.AddCookie(b.cookie)
	}
	rec := httptest.NewRecorder()
	b.e.h.ServeHTTP(rec, req)
	doc, err := goquery.NewDocumentFromReader(bytes.NewReader(rec.Body.Bytes()))
	if err != nil {
		b.e.t.Fatal(err)
	}
	return authPage{status: rec.Code, header: rec.Header(), body: rec.Body.String(), doc: doc}
}

func TestAddClusterForm(t *testing.T) {
	t.Parallel()
	e := newUIEnv(t, nil)
	e.addUser("root", store.RoleAdmin)
	b := e.browser()
	b.signIn("root")
	ctx := context.Background()
	none := func() {
		t.Helper()
		if cs, _ := e.st.ClusterStatuses(ctx, store.Scope{}); len(cs) != 0 {
			t.Fatalf("a refused form stored clusters: %+v", cs)
		}
	}

	p := b.get("/clusters")
	wantStatus(t, p, http.StatusOK)
	if _, open := p.find("[data-testid=cluster-add]").Attr("open"); !open || p.find("[data-testid=no-clusters]").Length() != 1 {
		t.Error("with no cluster, the add form is not open under the empty state")
	}

	// Nothing given.
	p = b.post("/clusters", url.Values{"kubeconfig": {""}, "interval": {"5m"}})
	wantStatus(t, p, http.StatusUnprocessableEntity)
	if p.text("[data-testid=error-kubeconfig]") == "" {
		t.Error("no message next to the kubeconfig")
	}
	// Several contexts and none chosen: the form offers them, keeping what was typed.
	p = b.post("/clusters", url.Values{"kubeconfig": {twoContexts()}, "interval": {"1m"}, "enabled": {"true"}})
	wantStatus(t, p, http.StatusUnprocessableEntity)
	var offered []string
	p.find("select#context option").Each(func(_ int, s *goquery.Selection) { offered = append(offered, s.AttrOr("value", "")) })
	if strings.Join(offered, ",") != "c,d" || !strings.Contains(p.text("[data-testid=error-context]"), "2 contexts") {
		t.Errorf("contexts offered %v, message %q", offered, p.text("[data-testid=error-context]"))
	}
	if p.text("textarea#kubeconfig") != strings.TrimSpace(twoContexts()) || p.find("input#interval").AttrOr("value", "") != "1m" {
		t.Error("the form lost what was typed")
	}
	none()
	// A refused field: the vetting message next to the kubeconfig, naming the field.
	bad := testKubeconfig("", "    tokenFile: /etc/shadow")
	p = b.post("/clusters", url.Values{"kubeconfig": {bad}, "context": {"c"}})
	wantStatus(t, p, http.StatusUnprocessableEntity)
	if msg := p.text("[data-testid=error-kubeconfig]"); !strings.Contains(msg, "users[u].user") {
		t.Errorf("vetting message %q does not name the field", msg)
	}
	// An unknown context: next to the context.
	p = b.post("/clusters", url.Values{"kubeconfig": {twoContexts()}, "context": {"zz"}})
	wantStatus(t, p, http.StatusUnprocessableEntity)
	if msg := p.text("[data-testid=error-context]"); !strings.Contains(msg, "contexts[zz]") {
		t.Errorf("unknown context message %q", msg)
	}
	// Bad settings, each next to its field.
	p = b.post("/clusters", url.Values{"kubeconfig": {testKubeconfig("", "")}, "name": {"Bad Name"}, "interval": {"1s"}, "annotate": {"loud"}})
	wantStatus(t, p, http.StatusUnprocessableEntity)
	for _, id := range []string{"name", "interval", "annotate"} {
		if p.text("[data-testid=error-"+id+"]") == "" {
			t.Errorf("no message next to %s", id)
		}
	}
	none()

	// Uploaded, the file wins; the context chosen; named after it.
	p = b.upload(url.Values{"kubeconfig": {"ignored"}, "context": {"d"}, "interval": {"90s"}, "annotate": {"off"}, "enabled": {"true"}}, twoContexts())
	if p.status != http.StatusSeeOther || p.header.Get("Location") != "/clusters/d" {
		t.Fatalf("upload: %d %q %s", p.status, p.header.Get("Location"), p.text("[data-testid=main]"))
	}
	c, err := e.st.ClusterStatusByName(ctx, "d", store.Scope{})
	if err != nil || c.Context != "d" || c.ScanInterval.String() != "1m30s" || !c.Enabled || c.Server != "https://127.0.0.1:1" {
		t.Fatalf("stored %+v, %v", c, err)
	}
	// A taken name is refused next to the name.
	p = b.post("/clusters", url.Values{"kubeconfig": {twoContexts()}, "context": {"d"}})
	wantStatus(t, p, http.StatusUnprocessableEntity)
	if !strings.Contains(p.text("[data-testid=error-name]"), "exists") {
		t.Errorf("taken name: %q", p.text("[data-testid=error-name]"))
	}
	evs, _ := e.st.FindAuditEvents(ctx, store.AuditFilter{Action: "cluster.create", Limit: 5})
	if len(evs) != 1 || evs[0].Actor != "user:root" || evs[0].Target != "d" {
		t.Errorf("audit %+v", evs)
	}
	// Secrets never come back on the page.
	p = b.get("/clusters/d")
	if strings.Contains(p.body, "kube-secret-token-value") {
		t.Error("the cluster page shows the token")
	}
}

func TestClusterPageForms(t *testing.T) {
	t.Parallel()
	e := newUIEnv(t, nil)
	e.addUser("root", store.RoleAdmin)
	e.addUser("vic", store.RoleViewer)
	b := e.browser()
	b.signIn("root")
	ctx := context.Background()
	p := b.post("/clusters", url.Values{"kubeconfig": {testKubeconfig("", "")}, "name": {"prod"}, "interval": {"5m"}})
	wantStatus(t, p, http.StatusSeeOther)

	p = b.get("/clusters/prod")
	wantStatus(t, p, http.StatusOK)
	if p.text("[data-testid=cluster-name]") != "prod" || p.find("[data-testid=no-scans]").Length() != 1 {
		t.Errorf("cluster page: %s", p.body)
	}
	// Added without "enabled": scan now is refused, saying why.
	p = b.post("/clusters/prod/scans", nil)
	wantStatus(t, p, http.StatusConflict)
	if !strings.Contains(p.text("[data-testid=scan-now-error]"), "disabled") {
		t.Errorf("scan of a disabled cluster: %q", p.text("[data-testid=scan-now-error]"))
	}
	// Edit: refused next to the field, then saved.
	p = b.post("/clusters/prod", url.Values{"interval": {"soon"}, "annotate": {"on"}, "enabled": {"true"}})
	wantStatus(t, p, http.StatusUnprocessableEntity)
	if p.text("[data-testid=error-interval]") == "" || p.find("input#interval").AttrOr("value", "") != "soon" {
		t.Error("the refused interval is not shown next to its field")
	}
	p = b.post("/clusters/prod", url.Values{"interval": {"2m"}, "annotate": {"on"}, "enabled": {"true"}})
	if p.status != http.StatusSeeOther || p.header.Get("Location") != "/clusters/prod" {
		t.Fatalf("edit: %d %q", p.status, p.header.Get("Location"))
	}
	c, _ := e.st.ClusterStatusByName(ctx, "prod", store.Scope{})
	if c.ScanInterval.String() != "2m0s" || c.Annotate != "on" || !c.Enabled {
		t.Errorf("after edit: %+v", c.Cluster)
	}
	// Its group: refused when malformed, then moved; the clusters list names groups
	// once there is more than the default one.
	if b.get("/clusters").find("th:contains(Group)").Length() != 0 {
		t.Error("a single group's list has a group column")
	}
	p = b.post("/clusters/prod", url.Values{"group": {"Team A"}, "interval": {"2m"}, "annotate": {"on"}, "enabled": {"true"}})
	wantStatus(t, p, http.StatusUnprocessableEntity)
	if p.text("[data-testid=error-group]") == "" {
		t.Error("the refused group is not shown next to its field")
	}
	wantStatus(t, b.post("/clusters/prod", url.Values{"group": {"team-a"}, "interval": {"2m"}, "annotate": {"on"}, "enabled": {"true"}}), http.StatusSeeOther)
	if c, _ = e.st.ClusterStatusByName(ctx, "prod", store.Scope{}); c.Group != "team-a" {
		t.Errorf("group after edit %q", c.Group)
	}
	if got := b.get("/clusters").text("[data-testid=cluster-row] [data-testid=cluster-group]"); got != "team-a" {
		t.Errorf("the clusters list's group %q", got)
	}
	if got := b.get("/clusters/prod").text("[data-testid=cluster-group]"); got != "team-a" {
		t.Errorf("the cluster page's group %q", got)
	}

	// Scan now: followed on the cluster's page, which reloads while it is queued.
	p = b.post("/clusters/prod/scans", nil)
	wantStatus(t, p, http.StatusSeeOther)
	loc := p.header.Get("Location")
	if !strings.HasPrefix(loc, "/clusters/prod?scan=") {
		t.Fatalf("scan now to %q", loc)
	}
	p = b.get(loc)
	wantStatus(t, p, http.StatusOK)
	if st := p.find("[data-testid=scan-status]").AttrOr("data-state", ""); st != "queued" {
		t.Errorf("followed scan state %q", st)
	}
	if p.find(`meta[http-equiv=refresh]`).Length() != 1 {
		t.Error("a queued scan's page does not reload")
	}
	if p.find("[data-testid=scan][data-status=queued]").Length() != 1 {
		t.Error("the queued scan is not listed")
	}
	wantStatus(t, b.get("/clusters/prod?scan=999999"), http.StatusNotFound)
	wantStatus(t, b.get("/clusters/prod?scan=x"), http.StatusBadRequest)

	// A viewer sees the page without the controls, and is refused the actions.
	vb := e.browser()
	vb.signIn("vic")
	p = vb.get("/clusters/prod")
	wantStatus(t, p, http.StatusOK)
	for _, id := range []string{"scan-now", "cluster-edit", "cluster-delete"} {
		if p.find("[data-testid="+id+"]").Length() != 0 {
			t.Errorf("a viewer sees %s", id)
		}
	}
	if p = vb.get("/clusters"); p.find("[data-testid=cluster-add]").Length() != 0 {
		t.Error("a viewer sees the add form")
	}
	for path, form := range map[string]url.Values{
		"/clusters":             {"kubeconfig": {testKubeconfig("", "")}, "name": {"sneaky"}},
		"/clusters/prod":        {"interval": {"10s"}, "annotate": {"off"}},
		"/clusters/prod/scans":  {},
		"/clusters/prod/delete": {"confirm": {"prod"}, "purge": {"true"}},
	} {
		wantStatus(t, vb.post(path, form), http.StatusForbidden)
	}
	wantStatus(t, vb.get("/clusters/prod/delete"), http.StatusForbidden)
	if c, err := e.st.ClusterStatusByName(ctx, "prod", store.Scope{}); err != nil || c.ScanInterval.String() != "2m0s" {
		t.Errorf("a viewer changed the cluster: %+v %v", c, err)
	}

	// Delete: the confirmation names the cluster and what purge removes; a wrong name
	// is refused.
	p = b.get("/clusters/prod/delete")
	wantStatus(t, p, http.StatusOK)
	if q := p.text("[data-testid=confirm-question]"); !strings.Contains(q, "prod") {
		t.Errorf("confirmation %q", q)
	}
	if d := p.text("[data-testid=confirm-details]"); !strings.Contains(d, "Purge also removes") {
		t.Errorf("details %q", d)
	}
	p = b.post("/clusters/prod/delete", url.Values{"confirm": {"prd"}})
	wantStatus(t, p, http.StatusUnprocessableEntity)
	if p.text("[data-testid=error-confirm]") == "" {
		t.Error("no message next to the confirmation")
	}
	p = b.post("/clusters/prod/delete", url.Values{"confirm": {"prod"}, "purge": {"true"}})
	if p.status != http.StatusSeeOther || p.header.Get("Location") != "/clusters" {
		t.Fatalf("delete: %d %q", p.status, p.header.Get("Location"))
	}
	if _, err := e.st.ClusterStatusByName(ctx, "prod", store.Scope{}); err == nil {
		t.Error("the cluster is still there")
	}
	evs, _ := e.st.FindAuditEvents(ctx, store.AuditFilter{Actor: "user:root", Target: "prod", Limit: 10})
	var actions []string
	for _, ev := range evs {
		actions = append(actions, ev.Action)
	}
	if strings.Join(actions, " ") != "cluster.delete scan.request cluster.update cluster.update cluster.create" {
		t.Errorf("audit of prod: %v", actions)
	}
	// Nothing changes on GET.
	for _, path := range []string{"/clusters/prod/scans", "/admin/tokens/1/revoke", "/admin/users/root/disable", "/signout"} {
		if p := b.get(path); p.status != http.StatusMethodNotAllowed && p.status != http.StatusNotFound {
			t.Errorf("GET %s: %d", path, p.status)
		}
	}
}

// TestClusterWatchMode switches a cluster to scan mode watch from its settings: its
// page and the clusters list say how it is watched (polled with the reason while no
// replica holds its watch, live, stale since, with the time from the last change to
// its detection), and a stale watch makes the cluster stale.
// TestAddClusterScanMode chooses the scan mode where a cluster is added: the form offers
// poll (chosen) and watch, a mode it does not know is refused next to its field, and
// the mode chosen is the cluster's.
func TestAddClusterScanMode(t *testing.T) {
	t.Parallel()
	e := newUIEnv(t, nil)
	e.addUser("root", store.RoleAdmin)
	b := e.browser()
	b.signIn("root")
	ctx := context.Background()

	p := b.get("/clusters")
	var offered []string
	p.find("[data-testid=cluster-form] select#mode option").Each(func(_ int, s *goquery.Selection) {
		offered = append(offered, s.AttrOr("value", ""))
	})
	if strings.Join(offered, ",") != "poll,watch" || p.find("[data-testid=cluster-form] select#mode option[selected]").AttrOr("value", "") != "poll" {
		t.Errorf("the add form offers %v, chosen %q; want poll chosen, and watch", offered,
			p.find("[data-testid=cluster-form] select#mode option[selected]").AttrOr("value", ""))
	}

	p = b.post("/clusters", url.Values{"kubeconfig": {testKubeconfig("", "")}, "name": {"refused"}, "interval": {"5m"}, "mode": {"push"}})
	wantStatus(t, p, http.StatusUnprocessableEntity)
	if msg := p.text("[data-testid=error-mode]"); msg != "Choose poll or watch." {
		t.Errorf("the message next to the mode: %q", msg)
	}
	if p.find("select#mode").AttrOr("aria-invalid", "") != "true" || p.find("select#mode").AttrOr("aria-describedby", "") != "mode-hint mode-error" {
		t.Errorf("the refused select: aria-invalid %q, aria-describedby %q", p.find("select#mode").AttrOr("aria-invalid", ""),
			p.find("select#mode").AttrOr("aria-describedby", ""))
	}
	if cs, _ := e.st.ClusterStatuses(ctx, store.Scope{}); len(cs) != 0 {
		t.Fatalf("a refused mode stored clusters: %+v", cs)
	}

	for _, c := range []struct{ name, mode, want, state string }{
		{"watched", "watch", store.ScanModeWatch, "watched: polling"}, // no replica holds its watch here
		{"polled", "poll", store.ScanModePoll, "polled"},
		{"unsaid", "", store.ScanModePoll, "polled"},
	} {
		form := url.Values{"kubeconfig": {testKubeconfig("", "")}, "name": {c.name}, "interval": {"5m"}, "enabled": {"true"}}
		if c.mode != "" {
			form.Set("mode", c.mode)
		}
		wantStatus(t, b.post("/clusters", form), http.StatusSeeOther)
		got, err := e.st.ClusterStatusByName(ctx, c.name, store.Scope{})
		if err != nil || got.ScanMode != c.want {
			t.Errorf("%s: stored scan mode %q, %v; want %q", c.name, got.ScanMode, err, c.want)
		}
		p := b.get("/clusters/" + c.name)
		if s := p.text("[data-testid=watch-state]"); s != c.state {
			t.Errorf("%s: its page says %q, want %q", c.name, s, c.state)
		}
		if sel := p.find("select#mode option[selected]").AttrOr("value", ""); sel != c.want {
			t.Errorf("%s: its settings show mode %q", c.name, sel)
		}
	}
}

func TestClusterWatchMode(t *testing.T) {
	t.Parallel()
	e := newUIEnv(t, nil)
	e.addUser("root", store.RoleAdmin)
	b := e.browser()
	b.signIn("root")
	ctx := context.Background()
	wantStatus(t, b.post("/clusters", url.Values{"kubeconfig": {testKubeconfig("", "")}, "name": {"prod"}, "interval": {"5m"},
		"enabled": {"true"}}), http.StatusSeeOther)
	if got := b.get("/clusters/prod").text("[data-testid=watch-state]"); got != "polled" {
		t.Errorf("a polled cluster's page says %q", got)
	}
	wantStatus(t, b.post("/clusters/prod", url.Values{"interval": {"5m"}, "annotate": {"off"}, "enabled": {"true"}, "mode": {"push"}}),
		http.StatusUnprocessableEntity)
	wantStatus(t, b.post("/clusters/prod", url.Values{"interval": {"5m"}, "annotate": {"off"}, "enabled": {"true"}, "mode": {"watch"}}),
		http.StatusSeeOther)
	c, err := e.st.ClusterStatusByName(ctx, "prod", store.Scope{})
	if err != nil || c.ScanMode != store.ScanModeWatch {
		t.Fatalf("after the edit: %+v %v", c.Cluster, err)
	}
	p := b.get("/clusters/prod")
	if got := p.text("[data-testid=watch-state]"); got != "watched: polling" || !strings.Contains(p.text("[data-testid=watch-note]"), "no replica") {
		t.Errorf("no replica watches it: %q, note %q", got, p.text("[data-testid=watch-note]"))
	}
	if p.find("select#mode option[selected]").AttrOr("value", "") != "watch" {
		t.Error("the settings do not show the mode")
	}
	if ok, err := e.st.AcquireWatch(ctx, c.ID, "r1", time.Minute); !ok || err != nil {
		t.Fatal(ok, err)
	}
	changed, detected := time.Now().Add(-2*time.Second), time.Now().Add(-800*time.Millisecond)
	if err := e.st.ReportWatch(ctx, c.ID, "r1", store.WatchReport{State: store.WatchLive, LastChange: &changed, LastDetected: &detected}); err != nil {
		t.Fatal(err)
	}
	p = b.get("/clusters/prod")
	if got := p.text("[data-testid=watch-state]"); got != "watched: live" || !strings.Contains(p.text(".sub"), "detected in 1.2 s)") {
		t.Errorf("a live watch: %q / %q", got, p.text(".sub"))
	}
	since := time.Now().Add(-3 * time.Minute)
	if err := e.st.ReportWatch(ctx, c.ID, "r1", store.WatchReport{State: store.WatchStale, StaleSince: &since}); err != nil {
		t.Fatal(err)
	}
	p = b.get("/clusters/prod")
	if !strings.Contains(p.text("[data-testid=stale-warning]"), "its watch has been broken for") {
		t.Errorf("a stale watch's warning: %q", p.text("[data-testid=stale-warning]"))
	}
	if got := b.get("/clusters").text("[data-testid=cluster-row] [data-testid=watch-state]"); got != "watched: stale" {
		t.Errorf("the clusters list says %q", got)
	}
}
