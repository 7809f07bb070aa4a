package web

import (
	"fmt"
	"math"
	"slices"
	"strings"
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
	Letter              string // its stored letter under the reference
	FirstSeen, LastSeen time.Time
	Running             bool
	Pods                int // ever, by live clusters
	PodsNow             int
	Spans               []TimelineSpan
}

// SpansView is the page that lists, for a reference, when each cluster ran each
// digest: the facts of the chart's bars, a page at a time.
type SpansView struct {
	Ref    string // normalized
	Query  string // as asked
	Spans  []SpanRow
	Legend *Legend
	Page   int // from 1
	Pages  int
	Total  int // spans of every page
}

// SpanRow is one cluster running one digest: one bar of the chart.
type SpanRow struct {
	Digest string
	TimelineSpan
}

// SpansPerPage is how many rows a page of SpansView holds: a tag with 30 digests in 50
// clusters has 1,500.
const SpansPerPage = 100

// SpansURL is the page of a reference's spans, from 1.
func SpansURL(ref string, page int) string {
	if page <= 1 {
		return WithQuery("/images/clusters", "ref", ref)
	}
	return WithQuery("/images/clusters", "ref", ref, "page", fmt.Sprint(page))
}

// NewSpansView is page (from 1) of the spans of a reference's digests, oldest digest
// first, each digest's by cluster; ok is false for a page past the last. Every digest
// gets the letter the timeline gives it.
func NewSpansView(ref, query string, ds []TimelineDigest, page int) (v SpansView, ok bool) {
	v = SpansView{Ref: ref, Query: query, Legend: NewLegend(), Total: SpanCount(ds), Page: page}
	v.Pages = max(1, (v.Total+SpansPerPage-1)/SpansPerPage)
	if page < 1 || page > v.Pages {
		return v, false
	}
	from, to := (page-1)*SpansPerPage, page*SpansPerPage
	i := 0
	for _, d := range ds {
		v.Legend.Set(ref, d.Digest, d.Letter)
		for _, s := range d.Spans {
			if i >= from && i < to {
				v.Spans = append(v.Spans, SpanRow{Digest: d.Digest, TimelineSpan: s})
			}
			i++
		}
	}
	return v, true
}

// Summary says how many rows there are, in what order, and which page this is.
func (v SpansView) Summary() string {
	s := Plural(v.Total, "row", "rows") + ", oldest digest first, by cluster"
	if v.Pages > 1 {
		s += fmt.Sprintf("; page %d of %d", v.Page, v.Pages)
	}
	return s
}

// SpanCount is how many spans the digests have: the rows of their SpansView.
func SpanCount(ds []TimelineDigest) int {
	n := 0
	for _, d := range ds {
		n += len(d.Spans)
	}
	return n
}

// Clusters names the clusters that ran it.
func (d TimelineDigest) Clusters() []string {
	out := make([]string, len(d.Spans))
	for i, s := range d.Spans {
		out[i] = s.Cluster
	}
	return out
}

// ClustersNow names the clusters that run it now, and Earlier those that ran it
// before but run it no more.
func (d TimelineDigest) ClustersNow() (now, earlier []string) {
	for _, s := range d.Spans {
		if s.Running {
			now = append(now, s.Cluster)
		} else {
			earlier = append(earlier, s.Cluster)
		}
	}
	return now, earlier
}

// TimelineSpan is one cluster running one digest.
type TimelineSpan struct {
	Cluster             string
	FirstSeen, LastSeen time.Time
	Pods                int // ever
	PodsNow             int
	Running             bool
	merged              bool // stands for several clusters
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
	Fills         []Fill
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
	Fill       string // the id of the cluster's patterned fill (Chart.Fills); "" for the plain colour
	Title      string
}

// LaneBackgrounds is the background of every lane's plot as one path: one element, not
// one a lane.
func (c Chart) LaneBackgrounds() string {
	var b strings.Builder
	w := c.Width - c.LabelWidth - 10
	for _, l := range c.Lanes {
		fmt.Fprintf(&b, "M%d %sh%dv%sh-%dz", c.LabelWidth, f1(l.Y), w, f1(l.H), w)
	}
	return b.String()
}

// Path is the bar as SVG path data, x and width in whole units (a unit is about a
// pixel at laptop width): shorter than a rect's four attributes, and a busy tag's chart
// has hundreds of bars.
func (b Bar) Path() string {
	x, w := math.Round(b.X), math.Max(math.Round(b.W), minBarWidth)
	return fmt.Sprintf("M%s %sh%sv%sh-%sz", f1(x), f1(b.Y), f1(w), f1(b.H), f1(w))
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
	Fill            string // the id of its patterned fill in Chart.Fills, "" for none
}

// Fill is a pattern over a cluster's colour, defined once in the chart and used by each
// of its bars (so that a patterned bar is one element, not two).
type Fill struct {
	ID, Colour, Pattern string
}

// Bar titles give times to the minute, with the year only when the chart spans more
// than one (the chart of a busy tag holds hundreds of titles).
const (
	shortTime     = "Jan 2 15:04"
	shortTimeYear = "2006-01-02 15:04"
)

// Chart layout, in SVG user units (the SVG scales to its box's width).
const (
	chartWidth  = 1160
	labelWidth  = 130
	axisHeight  = 22
	laneMin     = 18 // a lane is never thinner than a line of its label
	laneMax     = 40
	subRowMax   = 5
	minBarWidth = 3   // a scan's worth of running is still visible
	tickSpacing = 110 // at least this far apart, so that labels never overlap
	// maxLaneBars is how many clusters a lane draws one bar each for; a digest that ran
	// in more is one bar of all of them (the table under the chart names them), so that
	// 50 clusters stay readable and the page small.
	maxLaneBars = 12
	// charWidth is the width of a character of the chart's 11-unit monospace face.
	charWidth = 6.8
)

// ManyClusters is the CSS class of a bar that stands for more than maxLaneBars clusters.
const ManyClusters = "cl-many"

// ClusterKey is the CSS class of a cluster's swatch in the legend: a neutral ink that
// no digest uses, as colour means digests only (UI.md). A bar takes its lane's digest
// colour (ChipColour), its cluster's pattern over it, and names its cluster in its
// title; the table below the chart names them all.
const ClusterKey = "cl-key"

// clusterPatterns returns the pattern ids overlaid on bars, the first none.
func clusterPatterns() []string { return []string{"", "pat-hatch", "pat-dots", "pat-cross"} }

// Swatch is the colour and pattern of the i-th cluster's key: the neutral ink and a
// pattern, the patterns taken in turn.
func Swatch(i int) (colour, pattern string) {
	p := clusterPatterns()
	return ClusterKey, p[i%len(p)]
}

// end is where a span's bar ends on a chart that ends at to: a digest that still runs
// runs until now, not until the last scan saw it (a tag that has just moved would
// otherwise show its new digest as a sliver).
func (s TimelineSpan) end(to time.Time) time.Time {
	if s.Running && to.After(s.LastSeen) {
		return to
	}
	return s.LastSeen
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
	fills := map[string]bool{} // the ids in c.Fills
	for i, n := range names {
		col, pat := Swatch(i)
		swatch[n] = ClusterSwatch{Name: n, Colour: col, Pattern: pat}
		if pat != "" {
			swatch[n] = ClusterSwatch{Name: n, Colour: col, Pattern: pat, Fill: "k-" + pat}
		}
	}
	layout := shortTime
	if from.UTC().Year() != to.UTC().Year() {
		layout = shortTimeYear
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
			if !s.end(to).Before(from) && !s.FirstSeen.After(to) {
				in = append(in, s)
			}
		}
		if len(in) == 0 {
			c.Hidden++
			continue
		}
		if len(in) > maxLaneBars {
			in = []TimelineSpan{merged(in)}
		}
		h := min(max(float64(len(in))*subRowMax+4, laneMin), laneMax)
		row := (h - 4) / float64(len(in))
		lane := Lane{Digest: d.Digest, Y: y, H: h}
		for i, s := range in {
			x1, x2 := xOf(s.FirstSeen), xOf(s.end(to))
			w := max(x2-x1, minBarWidth)
			if x1+w > float64(chartWidth-10) {
				x1 = float64(chartWidth-10) - w
			}
			// Thin where few pods ran it, full where many.
			bh := max(row*(0.45+0.55*float64(s.Pods)/float64(maxPods)), 1)
			key := s.Cluster
			if s.merged {
				key = ManyClusters
			}
			sw, ok := swatch[key]
			if !ok {
				sw = ClusterSwatch{Name: fmt.Sprintf("more than %d clusters: one bar (the table names them)", maxLaneBars), Colour: ManyClusters, Pattern: "pat-hatch", Fill: "f-many"}
				swatch[key] = sw
				names = append(names, key)
			}
			used[key] = true
			running := ""
			if s.Running {
				running = ", running"
			}
			// The lane's digest colour under the cluster's pattern; the bar of many
			// clusters keeps its neutral hatch.
			colour, fill := sw.Colour, sw.Fill
			if !s.merged {
				colour = ChipColour(d.Digest)
				if sw.Pattern != "" {
					fill = "f-" + colour + "-" + sw.Pattern
					if !fills[fill] {
						fills[fill] = true
						c.Fills = append(c.Fills, Fill{ID: fill, Colour: colour, Pattern: sw.Pattern})
					}
				} else {
					fill = ""
				}
			}
			lane.Bars = append(lane.Bars, Bar{
				X: round1(x1), Y: round1(y + 2 + float64(i)*row + (row-bh)/2), W: round1(w), H: round1(bh),
				Colour: colour, Fill: fill,
				Title: fmt.Sprintf("%s: %s to %s, %s%s", s.Cluster, s.FirstSeen.UTC().Format(layout), s.LastSeen.UTC().Format(layout), Plural(s.Pods, "pod", "pods"), running),
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
			sw := swatch[n]
			c.Clusters = append(c.Clusters, sw)
			if sw.Fill != "" && !fills[sw.Fill] {
				fills[sw.Fill] = true
				c.Fills = append(c.Fills, Fill{ID: sw.Fill, Colour: sw.Colour, Pattern: sw.Pattern})
			}
		}
	}
	return c
}

func round1(f float64) float64 { return math.Round(f*10) / 10 }

// merged is one span standing for several clusters'.
func merged(in []TimelineSpan) TimelineSpan {
	m := TimelineSpan{Cluster: fmt.Sprintf("%d clusters", len(in)), merged: true, FirstSeen: in[0].FirstSeen, LastSeen: in[0].LastSeen}
	for _, s := range in {
		if s.FirstSeen.Before(m.FirstSeen) {
			m.FirstSeen = s.FirstSeen
		}
		if s.LastSeen.After(m.LastSeen) {
			m.LastSeen = s.LastSeen
		}
		m.Pods += s.Pods
		m.PodsNow += s.PodsNow
		m.Running = m.Running || s.Running
	}
	return m
}

// tickStep is a distance between axis ticks: a duration, or a number of months.
type tickStep struct {
	d      time.Duration
	months int
}

// approx is the step's length, months counted as 30.44 days.
func (s tickStep) approx() time.Duration {
	if s.months > 0 {
		return time.Duration(s.months) * 730 * time.Hour
	}
	return s.d
}

// tickSteps are the round steps an axis may use, shortest first: seconds for a tag that
// ran a minute, hours for the 24 h preset, months for a year.
func tickSteps() []tickStep {
	var out []tickStep
	for _, d := range []time.Duration{time.Second, 5 * time.Second, 15 * time.Second, 30 * time.Second,
		time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute, 15 * time.Minute, 30 * time.Minute,
		time.Hour, 2 * time.Hour, 3 * time.Hour, 6 * time.Hour, 12 * time.Hour, 24 * time.Hour, 48 * time.Hour,
		7 * 24 * time.Hour, 14 * 24 * time.Hour} {
		out = append(out, tickStep{d: d})
	}
	for _, m := range []int{1, 2, 3, 6, 12, 24, 60, 120} {
		out = append(out, tickStep{months: m})
	}
	return out
}

// ticks picks round times, as many as fit tickSpacing apart, labelled as briefly as
// their step allows (the date only where it changes); a label that would overlap its
// neighbour or leave the chart is dropped.
func ticks(from, to time.Time, xOf func(time.Time) float64, plot float64) []Tick {
	from, to = from.UTC(), to.UTC()
	most := max(int(plot/tickSpacing), 2)
	span := to.Sub(from)
	steps := tickSteps()
	step := steps[len(steps)-1]
	for _, s := range steps {
		if span/s.approx() <= time.Duration(most) {
			step = s
			break
		}
	}
	var t time.Time
	next := func(t time.Time) time.Time { return t.Add(step.d) }
	switch {
	case step.months > 0:
		t = time.Date(from.Year(), from.Month(), 1, 0, 0, 0, 0, time.UTC)
		for (int(t.Month())-1)%min(step.months, 12) != 0 {
			t = t.AddDate(0, -1, 0)
		}
		next = func(t time.Time) time.Time { return t.AddDate(0, step.months, 0) }
	case step.d == 7*24*time.Hour || step.d == 14*24*time.Hour:
		t = time.Date(from.Year(), from.Month(), from.Day(), 0, 0, 0, 0, time.UTC)
		for t.Weekday() != time.Monday {
			t = t.AddDate(0, 0, -1)
		}
	case step.d >= 24*time.Hour:
		t = time.Date(from.Year(), from.Month(), from.Day(), 0, 0, 0, 0, time.UTC)
	default:
		t = from.Truncate(step.d) // whole multiples of the step since midnight UTC
	}
	var out []Tick
	lastX, lastW := -1e9, 0.0
	var prev time.Time
	for ; !t.After(to); t = next(t) {
		if t.Before(from) {
			continue
		}
		label := tickLabel(t, prev, step)
		x, w := xOf(t), float64(len(label))*charWidth
		if x-w/2 < 0 || x+w/2 > chartWidth || x-lastX < max(tickSpacing, (w+lastW)/2+8) {
			continue
		}
		out = append(out, Tick{X: round1(x), Label: label})
		lastX, lastW, prev = x, w, t
	}
	return out
}

// tickLabel names t as briefly as the step allows, with the date or year where it
// differs from the previous label's (prev is zero for the first).
func tickLabel(t, prev time.Time, step tickStep) string {
	newDay := prev.IsZero() || t.YearDay() != prev.YearDay() || t.Year() != prev.Year()
	newYear := prev.IsZero() || t.Year() != prev.Year()
	switch {
	case step.months >= 12:
		return t.Format("2006")
	case step.months > 0:
		if newYear {
			return t.Format("Jan 2006")
		}
		return t.Format("Jan")
	case step.d >= 24*time.Hour:
		if newYear && !prev.IsZero() {
			return t.Format("Jan 2 2006")
		}
		return t.Format("Jan 2")
	case step.d < time.Minute:
		if newDay {
			return t.Format("Jan 2 15:04:05")
		}
		return t.Format("15:04:05")
	default:
		if newDay {
			return t.Format("Jan 2 15:04")
		}
		return t.Format("15:04")
	}
}
