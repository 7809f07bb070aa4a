package web

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
)

// TestChartTicks: the axis labels any span, from a tag that ran a minute to ten years,
// with round ticks whose labels never overlap and never leave the chart.
func TestChartTicks(t *testing.T) {
	to := time.Date(2026, 12, 2, 5, 13, 0, 0, time.UTC)
	for _, span := range []time.Duration{40 * time.Second, 3 * time.Minute, 20 * time.Minute, 2 * time.Hour,
		24 * time.Hour, 7 * 24 * time.Hour, 30 * 24 * time.Hour, 90 * 24 * time.Hour, 365 * 24 * time.Hour, 10 * 365 * 24 * time.Hour} {
		t.Run(span.String(), func(t *testing.T) {
			from := to.Add(-span)
			c := NewChart([]TimelineDigest{{Digest: dA, Spans: []TimelineSpan{{Cluster: "a", FirstSeen: from, LastSeen: to, Pods: 1}}}}, nil, from, to)
			if len(c.Ticks) < 3 {
				t.Fatalf("%d ticks: %v", len(c.Ticks), c.Ticks)
			}
			for i, tk := range c.Ticks {
				w := float64(len(tk.Label)) * charWidth
				if tk.X-w/2 < 0 || tk.X+w/2 > float64(c.Width) {
					t.Errorf("tick %q at %v leaves the chart", tk.Label, tk.X)
				}
				if i > 0 {
					p := c.Ticks[i-1]
					if tk.X-p.X < (w+float64(len(p.Label))*charWidth)/2 {
						t.Errorf("ticks %q and %q overlap", p.Label, tk.Label)
					}
					if tk.Label == p.Label {
						t.Errorf("two ticks say %q", tk.Label)
					}
				}
			}
		})
	}
	// The 24 h preset: hours, the date on the first label and where the day changes.
	c := NewChart(nil, nil, to.Add(-24*time.Hour), to)
	var labels []string
	for _, tk := range c.Ticks {
		labels = append(labels, tk.Label)
	}
	if len(labels) < 4 || labels[0] != "Dec 1 06:00" || labels[1] != "09:00" {
		t.Errorf("24 h ticks %q", labels)
	}
}

// TestChartShortBar: a tag that ran for a minute in a range of a year is still a visible
// bar.
func TestChartShortBar(t *testing.T) {
	to := time.Date(2026, 12, 2, 5, 13, 0, 0, time.UTC)
	at := to.Add(-100 * 24 * time.Hour)
	c := NewChart([]TimelineDigest{{Digest: dA, Spans: []TimelineSpan{{Cluster: "a", FirstSeen: at, LastSeen: at.Add(time.Minute), Pods: 1}}}}, nil, to.Add(-365*24*time.Hour), to)
	if b := c.Lanes[0].Bars[0]; b.W < minBarWidth || b.H < 1 {
		t.Errorf("bar %+v", b)
	}
}

// TestChartRunningBarReachesNow: a digest first and last seen by the latest scan, a few
// seconds ago, that still runs is a bar to the chart's end (now), not a sliver; one that
// stopped ends where it was last seen.
func TestChartRunningBarReachesNow(t *testing.T) {
	to := time.Date(2026, 12, 2, 5, 13, 0, 0, time.UTC)
	seen := to.Add(-5 * time.Second)
	span := func(running bool) TimelineDigest {
		return TimelineDigest{Digest: dA, Spans: []TimelineSpan{{Cluster: "a", FirstSeen: seen.Add(-10 * time.Second), LastSeen: seen, Pods: 1, Running: running}}}
	}
	running := NewChart([]TimelineDigest{span(true)}, nil, to.Add(-time.Minute), to).Lanes[0].Bars[0]
	if end := running.X + running.W; end != float64(chartWidth-10) {
		t.Errorf("a running digest's bar ends at %.1f, want the chart's end %d", end, chartWidth-10)
	}
	stopped := NewChart([]TimelineDigest{span(false)}, nil, to.Add(-time.Minute), to).Lanes[0].Bars[0]
	if end := stopped.X + stopped.W; end >= running.X+running.W-10 {
		t.Errorf("a stopped digest's bar ends at %.1f, as late as a running one's", end)
	}
}

// TestChartManyClusters: a tag with 30 digests over a year in 50 clusters stays
// readable (lanes no thinner than a label line, at most maxLaneBars bars a lane) and its
// chart small.
func TestChartManyClusters(t *testing.T) {
	to := time.Date(2026, 12, 2, 5, 13, 0, 0, time.UTC)
	from := to.Add(-365 * 24 * time.Hour)
	var ds []TimelineDigest
	var moves []TagMove
	for g := range 30 {
		d := TimelineDigest{Digest: fmt.Sprintf("sha256:%064x", g)}
		first := from.Add(time.Duration(g) * 12 * 24 * time.Hour)
		for c := range 50 {
			if g < 5 && c > 8 {
				break // a few digests ran in few clusters
			}
			d.Spans = append(d.Spans, TimelineSpan{Cluster: "cluster-" + strconv.Itoa(c), FirstSeen: first.Add(time.Duration(c) * time.Hour), LastSeen: first.Add(20 * 24 * time.Hour), Pods: 1 + c%7})
		}
		ds = append(ds, d)
		if g > 0 {
			moves = append(moves, TagMove{At: first, From: ds[g-1].Digest, To: d.Digest, Cluster: "cluster-0"})
		}
	}
	c := NewChart(ds, moves, from, to)
	if len(c.Lanes) != 30 || len(c.Marks) != 29 {
		t.Fatalf("%d lanes, %d marks", len(c.Lanes), len(c.Marks))
	}
	for i, l := range c.Lanes {
		if l.H < laneMin || len(l.Bars) > maxLaneBars {
			t.Errorf("lane %d: height %v, %d bars", i, l.H, len(l.Bars))
		}
		if i < 5 && len(l.Bars) != 9 {
			t.Errorf("lane %d of 9 clusters: %d bars", i, len(l.Bars))
		}
		// Colour means digests only: a cluster's bar takes its lane's digest colour
		// (its pattern, if any, over it), never a colour of its own.
		for _, b := range l.Bars {
			if i < 5 && (b.Colour != ChipColour(l.Digest) || (b.Fill != "" && !strings.HasPrefix(b.Fill, "f-"+ChipColour(l.Digest)+"-"))) {
				t.Errorf("lane %d (%s): bar coloured %q, fill %q", i, ChipColour(l.Digest), b.Colour, b.Fill)
			}
		}
		if i >= 5 && (len(l.Bars) != 1 || l.Bars[0].Colour != ManyClusters) {
			t.Errorf("lane %d of 50 clusters: %d bars", i, len(l.Bars))
		}
	}
	// 9 clusters and the merged bar in the legend, once, keyed in neutral ink.
	if len(c.Clusters) != 10 || c.Clusters[9].Colour != ManyClusters {
		t.Errorf("legend %v", c.Clusters)
	}
	for _, s := range c.Clusters[:9] {
		if s.Colour != ClusterKey {
			t.Errorf("cluster %s keyed %q", s.Name, s.Colour)
		}
	}
	for _, f := range c.Fills {
		if strings.HasPrefix(f.Colour, "cl") && f.Colour != ClusterKey && f.Colour != ManyClusters {
			t.Errorf("fill %s coloured %q", f.ID, f.Colour)
		}
	}
	doc := render(t, TimelineChart(c, NewLegend(), "ghcr.io/acme/api:prod"))
	if n := doc.Find(`[data-testid="lane"]`).Length(); n != 30 {
		t.Errorf("%d lanes drawn", n)
	}
	if title := doc.Find(`[data-testid="lane"]`).Last().Find(`path[fill="url(#f-many)"] title`).Text(); title != "50 clusters: 2026-11-15 05:13 to 2026-12-05 05:13, 197 pods" {
		t.Errorf("merged bar title %q", title)
	}
	var buf bytes.Buffer
	if err := TimelineChart(c, NewLegend(), "ghcr.io/acme/api:prod").Render(context.Background(), &buf); err != nil {
		t.Fatal(err)
	}
	if buf.Len() > 40<<10 {
		t.Errorf("chart of 30 digests in 50 clusters: %d bytes", buf.Len())
	}
}

// TestSpansPages: the table of a tag with 30 digests in up to 50 clusters comes in
// pages of SpansPerPage rows, each under 100 KB, every span on exactly one page, with
// links to the pages beside it.
func TestSpansPages(t *testing.T) {
	now := time.Date(2026, 12, 2, 5, 13, 0, 0, time.UTC)
	var ds []TimelineDigest
	for g := range 30 {
		d := TimelineDigest{Digest: fmt.Sprintf("sha256:%064x", g)}
		for c := range 50 - g {
			d.Spans = append(d.Spans, TimelineSpan{Cluster: `"><b>cluster-` + strconv.Itoa(c), FirstSeen: now.Add(-time.Duration(30-g) * 24 * time.Hour), LastSeen: now, Pods: c})
		}
		ds = append(ds, d)
	}
	total := SpanCount(ds) // 50+49+…+21
	if total != 1065 {
		t.Fatalf("%d spans", total)
	}
	pages := (total + SpansPerPage - 1) / SpansPerPage
	legend := NewLegend()
	for i := range ds {
		ds[i].Letter = testLetter(i)
		legend.Set("ghcr.io/acme/api:prod", ds[i].Digest, ds[i].Letter)
	}
	seen := map[string]int{}
	for page := 1; page <= pages; page++ {
		v, ok := NewSpansView("ghcr.io/acme/api:prod", "", ds, page)
		if !ok || v.Pages != pages || v.Total != total {
			t.Fatalf("page %d: ok %v, %d pages, %d in all", page, ok, v.Pages, v.Total)
		}
		var buf bytes.Buffer
		if err := TimelineSpans(v, now).Render(context.Background(), &buf); err != nil {
			t.Fatal(err)
		}
		if buf.Len() > 100<<10 {
			t.Errorf("page %d: %d bytes", page, buf.Len())
		}
		doc := render(t, TimelineSpans(v, now))
		rows := doc.Find(`[data-testid="span-row"]`)
		if want := min(SpansPerPage, total-(page-1)*SpansPerPage); rows.Length() != want {
			t.Errorf("page %d: %d rows, want %d", page, rows.Length(), want)
		}
		rows.Each(func(_ int, r *goquery.Selection) {
			seen[r.AttrOr("data-digest", "")+" "+r.AttrOr("data-cluster", "")]++
		})
		if doc.Find("b").Length() != 0 {
			t.Errorf("page %d: a cluster name became markup", page)
		}
		prev, next := doc.Find(`[data-testid="prev-page"]`), doc.Find(`[data-testid="next-page"]`)
		if (prev.Length() == 1) != (page > 1) || (next.Length() == 1) != (page < pages) {
			t.Errorf("page %d: %d previous and %d next links", page, prev.Length(), next.Length())
		}
		if page < pages && next.AttrOr("href", "") != "/images/clusters?page="+strconv.Itoa(page+1)+"&ref=ghcr.io%2Facme%2Fapi%3Aprod" {
			t.Errorf("page %d: next %q", page, next.AttrOr("href", ""))
		}
		// A digest keeps the letter the timeline gives it, whatever page shows it.
		rows.Each(func(_ int, r *goquery.Selection) {
			d := r.AttrOr("data-digest", "")
			if got, want := r.Find(`[data-testid="chip-letter"]`).Text(), legend.Letter(d); got != want {
				t.Errorf("page %d: %s lettered %q, want %q", page, d, got, want)
			}
		})
	}
	if len(seen) != total {
		t.Errorf("%d distinct spans on the pages, want %d", len(seen), total)
	}
	for k, n := range seen {
		if n != 1 {
			t.Errorf("%s on %d pages", k, n)
		}
	}
	for _, page := range []int{0, pages + 1} {
		if _, ok := NewSpansView("r", "", ds, page); ok {
			t.Errorf("page %d accepted", page)
		}
	}
	if v, ok := NewSpansView("r", "", nil, 1); !ok || v.Pages != 1 || render(t, TimelineSpans(v, now)).Find(`[data-testid="no-spans"]`).Length() != 1 {
		t.Error("no spans: not one empty page")
	}
}
