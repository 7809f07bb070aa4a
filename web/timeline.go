package web

import (
	"fmt"
	"slices"
	"time"
)

// TimelineView is a reference's image timeline: which digests it meant, where and
// when, and when the tag moved.
type TimelineView struct {
	Ref     string // normalized
	Query   string // as asked
	Range   string // one of Ranges()
	Digests []TimelineDigest
	Moves   []TagMove
	Legend  *Legend
	Chart   Chart
}

// TimelineDigest is one digest the reference ran.
type TimelineDigest struct {
	Digest              string
	FirstSeen, LastSeen time.Time
	Running             bool
	Pods                int
	Spans               []TimelineSpan
}

// Clusters names the clusters that ran it.
func (d TimelineDigest) Clusters() []string {
	out := make([]string, len(d.Spans))
	for i, s := range d.Spans {
		out[i] = s.Cluster
	}
	return out
}

// TimelineSpan is one cluster running one digest.
type TimelineSpan struct {
	Cluster             string
	FirstSeen, LastSeen time.Time
	Pods                int
	Running             bool
}

// TagMove is a moment the tag moved from one digest to another.
type TagMove struct {
	At       time.Time
	From, To string
	Cluster  string
}

// Chart is the timeline's SVG, laid out: every coordinate is computed here, the
// component only draws.
type Chart struct {
	Width, Height int
	LabelWidth    int
	Lanes         []Lane
	Ticks         []Tick
	Marks         []Mark
	Clusters      []ClusterSwatch
	From, To      time.Time
	// Hidden counts the digests that ran only outside the range.
	Hidden int
}

// Lane is one digest's row.
type Lane struct {
	Digest string
	Y, H   float64
	Bars   []Bar
}

// Bar is one cluster running the lane's digest.
type Bar struct {
	X, Y, W, H float64
	Colour     string // CSS class of the cluster's colour
	Pattern    string // a pattern id overlaid for the cluster, "" for none
	Title      string
}

// Tick is a time label on the axis.
type Tick struct {
	X     float64
	Label string
}

// Mark is a moment the tag moved, in the lane of the digest it moved to.
type Mark struct {
	X, Y1, Y2 float64
	Title     string
}

// ClusterSwatch is a cluster's colour and pattern in the legend.
type ClusterSwatch struct {
	Name            string
	Colour, Pattern string
}

// shortTime is how bar titles give times.
const shortTime = "2006-01-02 15:04"

// Chart layout, in SVG user units (the SVG scales to its box's width).
const (
	chartWidth  = 1160
	labelWidth  = 130
	axisHeight  = 22
	laneMin     = 18 // a lane is never thinner than a line of its label
	laneMax     = 40
	subRowMax   = 5
	minBarWidth = 2
	tickSpacing = 110 // at least this far apart, so that labels never overlap
)

// clusterColours and clusterPatterns combine into the clusters' swatches: 8 colours, then
// the same colours hatched, dotted and cross-hatched.
const clusterColours = 8

// clusterPatterns returns the pattern ids overlaid on bars, the first none.
func clusterPatterns() []string { return []string{"", "pat-hatch", "pat-dots", "pat-cross"} }

// Swatch is the colour and pattern of the i-th cluster.
func Swatch(i int) (colour, pattern string) {
	p := clusterPatterns()
	return fmt.Sprintf("cl%d", i%clusterColours), p[(i/clusterColours)%len(p)]
}

// NewChart lays out the timeline of digests (oldest first) between from and to.
func NewChart(digests []TimelineDigest, moves []TagMove, from, to time.Time) Chart {
	c := Chart{Width: chartWidth, LabelWidth: labelWidth, From: from, To: to}
	if !to.After(from) {
		to = from.Add(time.Hour)
		c.To = to
	}
	span := to.Sub(from).Seconds()
	plot := float64(chartWidth - labelWidth - 10)
	xOf := func(t time.Time) float64 {
		if t.Before(from) {
			t = from
		}
		if t.After(to) {
			t = to
		}
		return float64(labelWidth) + t.Sub(from).Seconds()/span*plot
	}
	// Clusters in name order get their swatches.
	var names []string
	for _, d := range digests {
		for _, s := range d.Spans {
			if !slices.Contains(names, s.Cluster) {
				names = append(names, s.Cluster)
			}
		}
	}
	slices.Sort(names)
	swatch := map[string]ClusterSwatch{}
	for i, n := range names {
		col, pat := Swatch(i)
		swatch[n] = ClusterSwatch{Name: n, Colour: col, Pattern: pat}
	}
	maxPods := 1
	for _, d := range digests {
		for _, s := range d.Spans {
			maxPods = max(maxPods, s.Pods)
		}
	}
	used := map[string]bool{}
	y := float64(axisHeight)
	laneY := map[string]float64{}
	laneH := map[string]float64{}
	for _, d := range digests {
		var in []TimelineSpan
		for _, s := range d.Spans {
			if !s.LastSeen.Before(from) && !s.FirstSeen.After(to) {
				in = append(in, s)
			}
		}
		if len(in) == 0 {
			c.Hidden++
			continue
		}
		h := min(max(float64(len(in))*subRowMax+4, laneMin), laneMax)
		row := (h - 4) / float64(len(in))
		lane := Lane{Digest: d.Digest, Y: y, H: h}
		for i, s := range in {
			x1, x2 := xOf(s.FirstSeen), xOf(s.LastSeen)
			w := max(x2-x1, minBarWidth)
			if x1+w > float64(chartWidth-10) {
				x1 = float64(chartWidth-10) - w
			}
			// Thin where few pods ran it, full where many.
			bh := max(row*(0.45+0.55*float64(s.Pods)/float64(maxPods)), 1)
			sw := swatch[s.Cluster]
			used[s.Cluster] = true
			running := ""
			if s.Running {
				running = ", running"
			}
			lane.Bars = append(lane.Bars, Bar{
				X: round1(x1), Y: round1(y + 2 + float64(i)*row + (row-bh)/2), W: round1(w), H: round1(bh),
				Colour: sw.Colour, Pattern: sw.Pattern,
				Title: fmt.Sprintf("%s: %s to %s, %s%s", s.Cluster, s.FirstSeen.UTC().Format(shortTime), s.LastSeen.UTC().Format(shortTime), Plural(s.Pods, "pod", "pods"), running),
			})
		}
		laneY[d.Digest], laneH[d.Digest] = y, h
		c.Lanes = append(c.Lanes, lane)
		y += h + 2
	}
	c.Height = int(y) + 4
	for _, m := range moves {
		ly, ok := laneY[m.To]
		if !ok || m.At.Before(from) || m.At.After(to) {
			continue
		}
		c.Marks = append(c.Marks, Mark{
			X: round1(xOf(m.At)), Y1: round1(ly), Y2: round1(ly + laneH[m.To]),
			Title: fmt.Sprintf("tag moved at %s from %s to %s (first seen in %s)", UTC(m.At), ShortDigest(m.From), ShortDigest(m.To), m.Cluster),
		})
	}
	c.Ticks = ticks(from, to, xOf, plot)
	for _, n := range names {
		if used[n] {
			c.Clusters = append(c.Clusters, swatch[n])
		}
	}
	return c
}

func round1(f float64) float64 { return float64(int(f*10+0.5)) / 10 }

// ticks picks round times at least tickSpacing apart.
func ticks(from, to time.Time, xOf func(time.Time) float64, plot float64) []Tick {
	n := max(int(plot/tickSpacing), 1)
	step := to.Sub(from) / time.Duration(n)
	steps := []time.Duration{time.Minute, 5 * time.Minute, 15 * time.Minute, time.Hour, 3 * time.Hour, 6 * time.Hour,
		12 * time.Hour, 24 * time.Hour, 2 * 24 * time.Hour, 7 * 24 * time.Hour, 14 * 24 * time.Hour, 30 * 24 * time.Hour,
		60 * 24 * time.Hour, 91 * 24 * time.Hour, 182 * 24 * time.Hour, 365 * 24 * time.Hour}
	for _, s := range steps {
		if s >= step {
			step = s
			break
		}
	}
	layout := "Jan 2"
	switch {
	case step < 24*time.Hour:
		layout = "Jan 2 15:04"
	case step >= 60*24*time.Hour:
		layout = "Jan 2006"
	}
	var out []Tick
	t := from.UTC().Truncate(step)
	if step >= 24*time.Hour {
		t = time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	}
	lastX := -1e9
	for ; !t.After(to); t = t.Add(step) {
		if t.Before(from) {
			continue
		}
		x := xOf(t)
		if x-lastX < tickSpacing {
			continue
		}
		out = append(out, Tick{X: round1(x), Label: t.UTC().Format(layout)})
		lastX = x
	}
	return out
}
