package web

import (
	"strings"
	"testing"
	"time"
)

// TestWrap: a long name gets break opportunities after its separators and stays
// escaped; a short one is plain text.
func TestWrap(t *testing.T) {
	ref := "registry.eu-west-1.example.com:5000/platform/team/gateway-api:2026.12.01"
	doc := render(t, Wrap(ref))
	if got := doc.Text(); got != ref {
		t.Errorf("text %q", got)
	}
	// After parts of 8 characters at least, not before the last 4.
	if got, want := wrapHTML(ref), "registry.<wbr>eu-west-1.<wbr>example.<wbr>com:5000/<wbr>platform/<wbr>team/gateway-api:<wbr>2026.12.01"; got != want {
		t.Errorf("wrapped\n%s, want\n%s", got, want)
	}
	hostile := `"><script>alert(1)</script>` + strings.Repeat("/x", 20)
	doc = render(t, Wrap(hostile))
	if doc.Find("script").Length() != 0 || doc.Text() != hostile {
		t.Errorf("hostile name: %q", doc.Text())
	}
	if doc := render(t, Wrap("web-7d9-abc.x")); doc.Find("wbr").Length() != 0 {
		t.Error("a short name got <wbr>")
	}
}

// TestGroupPlaces: one row a workload's container, with its pods counted and their
// first and last seen; past the limit the rest are counted.
func TestGroupPlaces(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	row := func(w, pod string, h int) PlaceRow {
		return PlaceRow{Cluster: "c", Namespace: "n", Kind: "Deployment", Workload: w, Pod: pod, Container: "app",
			FirstSeen: t0.Add(time.Duration(h) * time.Hour), LastSeen: t0.Add(time.Duration(h+1) * time.Hour)}
	}
	rows := []PlaceRow{row("web", "web-a", 2), row("api", "api-a", 0), row("web", "web-b", 1), row("web", "web-a", 5), row("db", "db-0", 0)}
	got, more := GroupPlaces(rows, 2)
	if len(got) != 2 || more != 1 {
		t.Fatalf("%d rows, %d more", len(got), more)
	}
	if w := got[0]; w.Workload != "web" || w.Pods != 2 || !w.FirstSeen.Equal(t0.Add(time.Hour)) || !w.LastSeen.Equal(t0.Add(6*time.Hour)) {
		t.Errorf("web %+v", w)
	}
	doc := render(t, Digest(DigestView{Digest: dA, Legend: legendOf(dA), Running: got, RunningMore: more}, t0))
	if doc.Find(`[data-testid="running"] [data-testid="place-pods"]`).Text() != "2 pods" || doc.Find(`[data-testid="more-workloads"]`).Length() != 1 {
		t.Error("the grouped rows are not shown as such")
	}
}
