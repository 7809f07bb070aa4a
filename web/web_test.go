package web

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/a-h/templ"
)

// render renders c and parses the HTML.
func render(t *testing.T, c templ.Component) *goquery.Document {
	t.Helper()
	var buf bytes.Buffer
	if err := c.Render(context.Background(), &buf); err != nil {
		t.Fatal(err)
	}
	doc, err := goquery.NewDocumentFromReader(&buf)
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

// one returns the single match of sel, failing otherwise.
func one(t *testing.T, s *goquery.Selection, sel string) *goquery.Selection {
	t.Helper()
	m := s.Find(sel)
	if m.Length() != 1 {
		t.Fatalf("%d matches of %s, want 1", m.Length(), sel)
	}
	return m
}

func attr(s *goquery.Selection, name string) string {
	v, _ := s.Attr(name)
	return v
}

const dA = "sha256:6417ee1772180000000000000000000000000000000000000000000000000001"

func TestDigestChip(t *testing.T) {
	l := legendOf("sha256:00", dA)
	doc := render(t, DigestChip(dA, l))
	chip := one(t, doc.Selection, `[data-testid="digest-chip"]`)
	if attr(chip, "data-digest") != dA {
		t.Errorf("data-digest %q", attr(chip, "data-digest"))
	}
	letter := one(t, chip, `[data-testid="chip-letter"]`)
	if letter.Text() != "B" || !letter.HasClass(ChipColour(dA)) {
		t.Errorf("letter %q classes %q", letter.Text(), attr(letter, "class"))
	}
	link := one(t, chip, `[data-testid="chip-link"]`)
	if attr(link, "href") != "/digests/"+dA || attr(link, "title") != dA || !strings.HasSuffix(link.Text(), "6417ee177218") {
		t.Errorf("link href %q title %q text %q", attr(link, "href"), attr(link, "title"), link.Text())
	}
	btn := one(t, chip, `[data-testid="copy"]`)
	// Without data-copy, the script copies the chip's data-digest.
	if _, ok := btn.Attr("data-copy"); ok || attr(btn, "type") != "button" || attr(btn, "aria-label") == "" {
		t.Errorf("copy button %v", btn.Nodes[0].Attr)
	}
	if _, hidden := btn.Attr("hidden"); !hidden {
		t.Error("copy button shown without the script")
	}
}

func TestDigestChipCompact(t *testing.T) {
	doc := render(t, DigestChipCompact(dA, legendOf(dA)))
	chip := one(t, doc.Selection, `[data-testid="digest-chip"]`)
	if chip.Find(`[data-testid="copy"]`).Length() != 0 || attr(one(t, chip, `[data-testid="chip-link"]`), "title") != dA {
		t.Error("compact chip")
	}
	if one(t, chip, `[data-testid="chip-letter"]`).Text() != "A" {
		t.Error("letter")
	}
}

func TestCopyButton(t *testing.T) {
	btn := one(t, render(t, CopyButton(`a"<b>`, "copy it")).Selection, `[data-testid="copy"]`)
	if attr(btn, "data-copy") != `a"<b>` || attr(btn, "aria-label") != "copy it" {
		t.Error("copy button")
	}
}

func TestDigestChipHostile(t *testing.T) {
	raw := `"><script>alert(1)</script><img src=x onerror=alert(2)>`
	doc := render(t, DigestChip(raw, legendOf(raw)))
	if doc.Find("script, img").Length() != 0 {
		t.Fatal("markup of a digest became elements")
	}
	chip := one(t, doc.Selection, `[data-testid="digest-chip"]`)
	if attr(chip, "data-digest") != raw {
		t.Errorf("data-digest %q", attr(chip, "data-digest"))
	}
	// Not a digest: shown raw, with no link to a page that would refuse it.
	if chip.Find(`[data-testid="chip-link"]`).Length() != 0 {
		t.Error("a raw imageID is linked to a digest page")
	}
	if title := attr(one(t, chip, `[data-testid="chip-raw"]`), "title"); title != raw {
		t.Errorf("raw chip title %q", title)
	}
}

// TestDigestChipLinksOnlyDigests: an imageID kept raw (kind unknown) has no digest page,
// so neither the chip nor the plain text links it; a digest of each algorithm does.
func TestDigestChipLinksOnlyDigests(t *testing.T) {
	for _, tc := range []struct {
		d    string
		link bool
	}{
		{dA, true},
		{"sha512:" + strings.Repeat("ab", 64), true},
		{"containerd://sha256:6417ee177218", false},
		{"sha256:6417ee177218", false},
		{"quay.io/x/y:v1", false},
	} {
		for name, c := range map[string]templ.Component{
			"chip":    DigestChip(tc.d, legendOf(tc.d)),
			"compact": DigestChipCompact(tc.d, legendOf(tc.d)),
			"text":    DigestText(tc.d),
		} {
			doc := render(t, c)
			links := doc.Find(`a[href*="/digests/"]`).Length()
			if got := links == 1; got != tc.link || links > 1 {
				t.Errorf("%s %q: %d links to a digest page, want link=%v", name, tc.d, links, tc.link)
			}
			if !tc.link && !strings.Contains(doc.Text(), ShortDigest(tc.d)) {
				t.Errorf("%s %q: the value is not shown", name, tc.d)
			}
		}
	}
}

// testLetter is the i-th letter, as the store names them.
func testLetter(i int) string {
	s := ""
	for {
		s = string(rune('A'+i%26)) + s
		i = i/26 - 1
		if i < 0 {
			return s
		}
	}
}

// legendOf is a legend of one reference ("") that gives ds the letters A, B, … in order.
func legendOf(ds ...string) *Legend {
	l := NewLegend()
	for i, d := range ds {
		l.Set("", d, testLetter(i))
	}
	return l
}

// TestLegend: a digest reads the letter stored for it under each reference; a page of
// one reference, or where all its references agree, reads it without naming one.
func TestLegend(t *testing.T) {
	l := NewLegend()
	l.Set("nginx:1.25", "d1", "A")
	l.Set("nginx:1.25", "d2", "B")
	l.Set("nginx:latest", "d2", "C") // the same image under another tag
	l.Set("nginx:latest", "d3", "D")
	l.Set("app:v1", "d4", "") // no letter yet
	for _, tc := range []struct{ ref, d, want string }{
		{"nginx:1.25", "d1", "A"}, {"nginx:1.25", "d2", "B"}, {"nginx:latest", "d2", "C"},
		{"", "d1", "A"}, {"", "d2", ""}, {"", "d3", "D"}, {"app:v1", "d4", ""}, {"", "never", ""},
	} {
		if got := l.Of(tc.ref).Letter(tc.d); got != tc.want {
			t.Errorf("%q under %q = %q, want %q", tc.d, tc.ref, got, tc.want)
		}
	}
	if got := l.Digests(); strings.Join(got, " ") != "d1 d2 d3 d4" {
		t.Errorf("digests %q", got)
	}
	var nilLegend *Legend
	if nilLegend.Letter("a") != "" || nilLegend.Of("x").Letter("a") != "" {
		t.Error("nil legend")
	}
}

func TestChipColourStable(t *testing.T) {
	seen := map[string]bool{}
	for i := range 200 {
		d := fmt.Sprintf("sha256:%064x", i)
		c := ChipColour(d)
		if c != ChipColour(d) {
			t.Fatal("colour not stable")
		}
		seen[c] = true
	}
	if len(seen) != chipColours {
		t.Errorf("%d colours used, want %d", len(seen), chipColours)
	}
}

func TestRelTime(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		at   time.Time
		want string
	}{
		{now, "just now"},
		{now.Add(-42 * time.Second), "42 s ago"},
		{now.Add(-3 * time.Minute), "3 min ago"},
		{now.Add(-5 * time.Hour), "5 h ago"},
		{now.Add(-72 * time.Hour), "3 d ago"},
		{now.Add(2 * time.Minute), "in 2 min"},
	} {
		doc := render(t, RelTime(c.at, now))
		tm := one(t, doc.Selection, `[data-testid="reltime"]`)
		if tm.Text() != c.want || attr(tm, "title") != UTC(c.at) || attr(tm, "datetime") != c.at.UTC().Format(time.RFC3339) {
			t.Errorf("%v: text %q title %q", c.at, tm.Text(), attr(tm, "title"))
		}
	}
	if doc := render(t, RelTimePtr(nil, now)); doc.Find(`[data-testid="reltime"]`).Length() != 0 || !strings.Contains(doc.Text(), "—") {
		t.Error("missing time")
	}
}

func TestState(t *testing.T) {
	for _, w := range []string{"ok", "mutant", "stale", "failed"} {
		s := one(t, render(t, State(w)).Selection, `[data-testid="state"]`)
		if s.Text() != w || !s.HasClass("state-"+w) {
			t.Errorf("state %q: %q %q", w, s.Text(), attr(s, "class"))
		}
	}
}

func TestFormats(t *testing.T) {
	for in, want := range map[int]string{0: "0", 999: "999", 5120: "5,120", 1234567: "1,234,567", -1000: "-1,000"} {
		if got := Count(in); got != want {
			t.Errorf("Count(%d) = %q", in, got)
		}
	}
	for in, want := range map[time.Duration]string{400 * time.Millisecond: "400 ms", 7*time.Millisecond + 900*time.Microsecond: "7 ms", 0: "0 ms", 1400 * time.Millisecond: "1.4 s", 12 * time.Second: "12 s", 184 * time.Second: "3 min 4 s", -1: "—"} {
		if got := Took(in); got != want {
			t.Errorf("Took(%v) = %q", in, got)
		}
	}
	if got := Path("/workloads", "prod", `a/b"<>`, "x y"); got != "/workloads/prod/a%2Fb%22%3C%3E/x%20y" {
		t.Errorf("Path: %q", got)
	}
	if got := WithQuery("/images", "ref", "nginx:1.25&x=<y>", "empty", ""); got != "/images?ref=nginx%3A1.25%26x%3D%3Cy%3E" {
		t.Errorf("WithQuery: %q", got)
	}
	if ShortDigest(dA) != "6417ee177218" || ShortDigest("abc") != "abc" {
		t.Error("ShortDigest")
	}
}

func TestPage(t *testing.T) {
	content := templ.ComponentFunc(func(_ context.Context, w io.Writer) error {
		_, err := io.WriteString(w, `<p data-testid="content">hi</p>`)
		return err
	})
	m := Meta{Title: `<b>x</b>`, Nav: NavWorkloads, Viewer: Viewer{Name: "ann", Role: RoleViewer}, Nonce: "n0nce", CSS: "/static/style.abc.css", JS: "/static/app.abc.js", Search: `"><i>`}
	doc := render(t, Page(m, content))
	if got := doc.Find("title").Text(); got != "<b>x</b> · tagdrift" {
		t.Errorf("title %q", got)
	}
	one(t, doc.Selection, `[data-testid="content"]`)
	if doc.Find(`[data-testid="nav-admin"]`).Length() != 0 {
		t.Error("a viewer sees the Admin link")
	}
	if attr(one(t, doc.Selection, `[data-testid="nav-workloads"]`), "aria-current") != "page" {
		t.Error("current nav item not marked")
	}
	if attr(one(t, doc.Selection, `[data-testid="nav-overview"]`), "aria-current") != "" {
		t.Error("other nav item marked")
	}
	search := one(t, doc.Selection, `[data-testid="search"]`)
	if attr(search, "action") != "/search" || attr(one(t, search, "input[name=q]"), "value") != `"><i>` || one(t, search, "label").Length() != 1 {
		t.Error("search box")
	}
	if doc.Find("i").Length() != 0 {
		t.Error("search value became markup")
	}
	script := one(t, doc.Selection, "script")
	if attr(script, "nonce") != "n0nce" || attr(script, "src") != m.JS {
		t.Errorf("script %v", script.Nodes[0].Attr)
	}
	if attr(one(t, doc.Selection, `link[rel=stylesheet]`), "href") != m.CSS {
		t.Error("stylesheet")
	}
	m.Viewer.Role = RoleAdmin
	if render(t, Page(m, content)).Find(`[data-testid="nav-admin"]`).Length() != 1 {
		t.Error("an admin misses the Admin link")
	}
}

func TestErrorPage(t *testing.T) {
	doc := render(t, ErrorPage(404, "Not found", `cluster "<x>" not found`, "hint"))
	if one(t, doc.Selection, `[data-testid="error-detail"]`).Text() != `cluster "<x>" not found` {
		t.Error("detail")
	}
	one(t, doc.Selection, `[data-testid="error-hint"]`)
}

func TestAssets(t *testing.T) {
	a := NewAssets()
	for _, name := range []string{"style.css", "app.js"} {
		u := a.URL(name)
		if u == AssetsPrefix+name || !strings.HasPrefix(u, AssetsPrefix) {
			t.Fatalf("URL(%s) = %s: not hashed", name, u)
		}
		rec := httptest.NewRecorder()
		a.ServeHTTP(rec, httptest.NewRequest("GET", u, nil))
		if rec.Code != 200 || !strings.Contains(rec.Header().Get("Cache-Control"), "immutable") || rec.Body.Len() == 0 {
			t.Errorf("%s: %d %q", u, rec.Code, rec.Header().Get("Cache-Control"))
		}
		etag := rec.Header().Get("ETag")
		rec = httptest.NewRecorder()
		req := httptest.NewRequest("GET", AssetsPrefix+name, nil)
		req.Header.Set("If-None-Match", etag)
		a.ServeHTTP(rec, req)
		if rec.Code != http.StatusNotModified || rec.Header().Get("Cache-Control") != "no-cache" {
			t.Errorf("%s revalidated: %d %q", name, rec.Code, rec.Header().Get("Cache-Control"))
		}
	}
	rec := httptest.NewRecorder()
	a.ServeHTTP(rec, httptest.NewRequest("GET", AssetsPrefix+"nope.js", nil))
	if rec.Code != http.StatusNotFound {
		t.Errorf("missing asset: %d", rec.Code)
	}
	if ct := func() string {
		rec := httptest.NewRecorder()
		a.ServeHTTP(rec, httptest.NewRequest("GET", a.URL("style.css"), nil))
		return rec.Header().Get("Content-Type")
	}(); ct != "text/css; charset=utf-8" {
		t.Errorf("css content type %q", ct)
	}
}

// TestWorkloadsSortLinks checks that the column links sort the list on the server (the
// sort and its order in the URL, from the first page), that the sort in effect links to
// its reverse and says so, and that the next page keeps the filters and the sort.
func TestWorkloadsSortLinks(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	v := WorkloadsView{
		Filter: WorkloadFilter{Cluster: "prod", Ref: "nginx:1.25", Sort: "name", Desc: true, Cursor: "c1"},
		Rows:   []WorkloadRow{{Cluster: "prod", Namespace: "shop", Kind: "Deployment", Name: "web", Changed: now.Add(-time.Hour)}},
		Next:   "c2", Legend: NewLegend(), Now: now,
	}
	doc := render(t, Workloads(v))
	query := func(sel string) url.Values {
		t.Helper()
		u, err := url.Parse(attr(one(t, doc.Selection, sel), "href"))
		if err != nil || u.Path != "/workloads" {
			t.Fatalf("%s: href %q", sel, attr(one(t, doc.Selection, sel), "href"))
		}
		return u.Query()
	}
	for key, want := range map[string]string{
		"name":      "sort=name",               // in effect, descending: the next click ascends
		"namespace": "sort=namespace",          // another column: ascending
		"changed":   "order=desc&sort=changed", // the last change: newest first
		"ref":       "sort=ref",
		"mutant":    "sort=mutant",
		"cluster":   "", // the default sort
	} {
		q := query(`[data-testid="sort-` + key + `"]`)
		if q.Get("cluster") != "prod" || q.Get("ref") != "nginx:1.25" || q.Has("cursor") {
			t.Errorf("sort by %s: %v (the filters kept, the first page)", key, q)
		}
		q.Del("cluster")
		q.Del("ref")
		if q.Encode() != want {
			t.Errorf("sort by %s: %q, want %q", key, q.Encode(), want)
		}
	}
	if s := attr(one(t, doc.Selection, `[data-testid="sort-name"]`), "data-sort"); s != "descending" {
		t.Errorf("the sort in effect is %q", s)
	}
	if s := attr(one(t, doc.Selection, `[data-testid="sort-kind"]`), "data-sort"); s != "none" {
		t.Errorf("another column is %q", s)
	}
	next := query(`[data-testid="next-page"]`)
	if next.Get("sort") != "name" || next.Get("order") != "desc" || next.Get("cursor") != "c2" || next.Get("cluster") != "prod" {
		t.Errorf("next page: %v", next)
	}
	first := query(`[data-testid="first-page"]`)
	if first.Get("sort") != "name" || first.Get("order") != "desc" || first.Has("cursor") {
		t.Errorf("first page: %v", first)
	}
}

// TestRanges: the presets are one list, shortest first; the timeline adds all.
func TestRanges(t *testing.T) {
	since := SinceRanges()
	if !slices.Equal(since, []string{"24h", "7d", "30d", "90d"}) {
		t.Fatalf("SinceRanges() = %v", since)
	}
	if r := Ranges(); !slices.Equal(r, append(slices.Clone(since), "all")) {
		t.Fatalf("Ranges() = %v", r)
	}
	for i := 1; i < len(since); i++ {
		if RangeDuration(since[i]) <= RangeDuration(since[i-1]) {
			t.Errorf("%s is not longer than %s", since[i], since[i-1])
		}
	}
	if RangeDuration("7d") != 7*24*time.Hour || RangeDuration("all") != 0 || RangeDuration("1y") != 0 {
		t.Error("durations")
	}
}

// TestMutationDigests: an event reads "from A to B" in its order; a divergence is a set,
// with neither arrow nor direction.
func TestMutationDigests(t *testing.T) {
	a, b := dA, "sha256:"+strings.Repeat("b", 64)
	l := legendOf(a, b)
	moved := render(t, MutationDigests(MutationRow{Kind: "tag-moved", Digests: []string{b, a}}, l))
	move := one(t, moved.Selection, `[data-testid="digest-move"]`)
	got := move.Text()
	from, fromB, to, toA := strings.Index(got, "from "), strings.Index(got, ShortDigest(b)), strings.Index(got, " to "), strings.Index(got, ShortDigest(a))
	if from != 0 || !(from < fromB && fromB < to && to < toA) {
		t.Errorf("tag-moved reads %q", got)
	}
	for _, kind := range []string{"workload-divergence", "tag-divergence", "pin-mismatch"} {
		doc := render(t, MutationDigests(MutationRow{Kind: kind, Digests: []string{a, b}}, l))
		set := one(t, doc.Selection, `[data-testid="digest-set"]`)
		if txt := set.Text(); strings.Contains(txt, "→") || strings.Contains(txt, "from") || set.Find(`[data-testid="digest-chip"]`).Length() != 2 {
			t.Errorf("%s reads %q", kind, txt)
		}
	}
}

// TestLasted: how long a mutation was open, so far while open; nothing for an event.
func TestLasted(t *testing.T) {
	now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	resolved := now.Add(-time.Hour)
	for _, tc := range []struct {
		m    MutationRow
		want string
	}{
		{MutationRow{Kind: "tag-divergence", DetectedAt: now.Add(-3*24*time.Hour - 5*time.Hour)}, "3 d 5 h so far"},
		{MutationRow{Kind: "workload-divergence", DetectedAt: now.Add(-3 * time.Hour), ResolvedAt: &resolved}, "2 h"},
		{MutationRow{Kind: "tag-moved", DetectedAt: now.Add(-time.Hour), ResolvedAt: &resolved}, ""},
	} {
		if got := tc.m.Lasted(now); got != tc.want {
			t.Errorf("%s: Lasted = %q, want %q", tc.m.Kind, got, tc.want)
		}
	}
}
