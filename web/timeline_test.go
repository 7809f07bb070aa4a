package web

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"
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
		if i >= 5 && (len(l.Bars) != 1 || l.Bars[0].Colour != ManyClusters) {
			t.Errorf("lane %d of 50 clusters: %d bars", i, len(l.Bars))
		}
	}
	// 9 clusters and the merged bar in the legend, once.
	if len(c.Clusters) != 10 || c.Clusters[9].Colour != ManyClusters {
		t.Errorf("legend %v", c.Clusters)
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
