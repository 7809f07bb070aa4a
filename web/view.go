// Package web holds tagdrift's web UI: templ components, the page layout, CSS and
// JavaScript (embedded). It renders the view structs it is given and never queries;
// server/ui builds them.
package web

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/a-h/templ"

	"github.com/tagdrift/tagdrift/scanner/imageref"
)

// Nav items of the top bar.
const (
	NavOverview  = "overview"
	NavWorkloads = "workloads"
	NavMutations = "mutations"
	NavClusters  = "clusters"
	NavAcks      = "acknowledgements"
	NavAdmin     = "admin"
)

// Roles, as the store names them.
const (
	RoleAdmin  = "admin"
	RoleViewer = "viewer"
)

// Viewer is who looks at the page.
type Viewer struct {
	Name string // as the audit trail names them
	Role string // RoleAdmin or RoleViewer
}

// IsAdmin reports whether the viewer may see admin controls (the server refuses the
// actions anyway).
func (v Viewer) IsAdmin() bool { return v.Role == RoleAdmin }

// Meta is what the layout needs of every page.
type Meta struct {
	Title  string
	Nav    string // the current top-bar item, one of the Nav constants; "" for none
	Viewer Viewer
	// Nonce is the request's Content-Security-Policy nonce, set on every script tag.
	Nonce string
	// CSS and JS are the content-hashed asset URLs (Assets.URL).
	CSS, JS string
	// Search is the search box's value.
	Search string
	// Now is the request's time, from which relative times are told.
	Now time.Time
	// SignOut, when not empty, is the action of a sign-out form in the top bar.
	SignOut string
	// Refresh, when positive, reloads the page after this many seconds (a scan being
	// followed), which works without JavaScript.
	Refresh int
}

// ShortDigest is the first 12 hex characters of a digest (sha256:… or bare hex), as
// pages show it; other strings are clipped to 12 characters.
func ShortDigest(d string) string {
	h := strings.TrimPrefix(d, "sha256:")
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

// chipColours is how many colours digest chips use (chip-c0 … chip-c9 in the CSS).
const chipColours = 10

// ChipColour is the CSS class of a digest's colour: a hash of the digest picks one of
// ten, so the same digest has the same colour on every page.
func ChipColour(d string) string {
	sum := sha256.Sum256([]byte(d))
	return "chip-c" + strconv.Itoa(int(binary.BigEndian.Uint32(sum[:4])%chipColours))
}

// Legend holds the letters of the digests a page shows, as the store keeps them: one
// letter per digest of a reference (A for the first digest the reference ran, then B …),
// so that colour is never the only cue and B means the same image on every page. A
// page of one reference reads them with Letter; a page of several with Of(ref).Letter.
type Legend struct {
	ref     string
	letters map[[2]string]string // by reference and digest
	// byDigest is a digest's letter when every reference the page shows it under
	// gives it the same one, "" when they differ.
	byDigest map[string]string
	order    *[]string
}

// NewLegend returns an empty legend.
func NewLegend() *Legend {
	return &Legend{letters: map[[2]string]string{}, byDigest: map[string]string{}, order: new([]string)}
}

// Set records d's letter under ref (nothing for an empty letter: one not given yet).
func (l *Legend) Set(ref, d, letter string) {
	if d == "" {
		return
	}
	if _, ok := l.byDigest[d]; !ok {
		*l.order = append(*l.order, d)
		l.byDigest[d] = letter
	} else if l.byDigest[d] != letter {
		l.byDigest[d] = ""
	}
	if letter != "" {
		l.letters[[2]string{ref, d}] = letter
	}
}

// Of is the legend as the digests of ref read it.
func (l *Legend) Of(ref string) *Legend {
	if l == nil {
		return nil
	}
	o := *l
	o.ref = ref
	return &o
}

// Letter is d's letter under the legend's reference; with none (or not found under
// it), the letter every reference on the page gives d; "" when unknown.
func (l *Legend) Letter(d string) string {
	if l == nil {
		return ""
	}
	if s, ok := l.letters[[2]string{l.ref, d}]; ok {
		return s
	}
	return l.byDigest[d]
}

// Digests are the digests in the order they were set.
func (l *Legend) Digests() []string {
	if l == nil {
		return nil
	}
	return *l.order
}

// Ago tells how long before now t was: "just now", "42 s ago", "3 min ago", "5 h ago",
// "2 d ago"; a time after now is "in 3 min".
func Ago(t, now time.Time) string {
	d := now.Sub(t)
	suffix := " ago"
	prefix := ""
	if d < 0 {
		d, suffix, prefix = -d, "", "in "
	}
	switch {
	case d < time.Second:
		return "just now"
	case d < time.Minute:
		return prefix + strconv.Itoa(int(d/time.Second)) + " s" + suffix
	case d < time.Hour:
		return prefix + strconv.Itoa(int(d/time.Minute)) + " min" + suffix
	case d < 48*time.Hour:
		return prefix + strconv.Itoa(int(d/time.Hour)) + " h" + suffix
	default:
		return prefix + strconv.Itoa(int(d/(24*time.Hour))) + " d" + suffix
	}
}

// UTC is the absolute time as titles show it.
func UTC(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") }

// Took formats a duration as pages show it: "7 ms", "1.4 s", "12 s", "3 min 4 s",
// "5 h 2 min", "3 d 4 h".
// Under a second it counts milliseconds: most scans take less, and "0.0 s" said nothing.
func Took(d time.Duration) string {
	switch {
	case d < 0:
		return "—"
	case d < time.Second:
		return fmt.Sprintf("%d ms", d.Milliseconds())
	case d < 10*time.Second:
		return fmt.Sprintf("%.1f s", d.Seconds())
	case d < time.Minute:
		return fmt.Sprintf("%d s", int(d.Seconds()))
	case d < time.Hour:
		if d%time.Minute < time.Second {
			return fmt.Sprintf("%d min", int(d/time.Minute))
		}
		return fmt.Sprintf("%d min %d s", int(d/time.Minute), int(d%time.Minute/time.Second))
	case d < 48*time.Hour:
		if d%time.Hour < time.Minute {
			return fmt.Sprintf("%d h", int(d/time.Hour))
		}
		return fmt.Sprintf("%d h %d min", int(d/time.Hour), int(d%time.Hour/time.Minute))
	default:
		const day = 24 * time.Hour
		if d%day < time.Hour {
			return fmt.Sprintf("%d d", int(d/day))
		}
		return fmt.Sprintf("%d d %d h", int(d/day), int(d%day/time.Hour))
	}
}

// Count formats an integer with thousands separators: 5,120.
func Count(n int) string {
	s := strconv.Itoa(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// Plural is "1 pod", "3 pods".
func Plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return Count(n) + " " + many
}

// Path joins escaped path segments onto a root: Path("/workloads", "prod", "a/b") is
// /workloads/prod/a%2Fb.
func Path(root string, segments ...string) string {
	var b strings.Builder
	b.WriteString(root)
	for _, s := range segments {
		b.WriteByte('/')
		b.WriteString(url.PathEscape(s))
	}
	return b.String()
}

// WithQuery is path with the query of the non-empty pairs (name, value, name, value…).
func WithQuery(path string, pairs ...string) string {
	v := url.Values{}
	for i := 0; i+1 < len(pairs); i += 2 {
		if pairs[i+1] != "" {
			v.Add(pairs[i], pairs[i+1])
		}
	}
	if len(v) == 0 {
		return path
	}
	return path + "?" + v.Encode()
}

// HasDigestPage reports whether d has a digest page: an algorithm and its hex digits.
// An imageID of a form tagdrift does not know is kept raw and has none (the page would
// refuse it).
func HasDigestPage(d string) bool { return imageref.ValidDigest(d) }

// DigestURL is the digest page of d.
func DigestURL(d string) string { return Path("/digests", d) }

// TimelineURL is the image timeline of a reference.
func TimelineURL(ref string) string { return WithQuery("/images", "ref", ref) }

// WorkloadURL is a workload's page.
func WorkloadURL(cluster, namespace, kind, name string) string {
	return Path("/workloads", cluster, namespace, kind, name)
}

// ClusterURL is a cluster's page.
func ClusterURL(name string) string { return Path("/clusters", name) }

// breakAfter are the characters after which a long name may wrap: the parts of
// references, paths and DNS names. A hyphen is one already.
const breakAfter = "/.:@_="

// breakMin is how long a name is before it gets break opportunities: short ones never
// wrap, and most names are short, so most pages carry none. breakPart is the shortest
// part a break leaves before and after it: a list of 50 workloads carries hundreds of
// names, and a <wbr> after every "com/" and "3." was 4 KB of it.
const (
	breakMin  = 24
	breakPart = 8
)

// Wrap is a long name (a pod, a namespace, a reference) as escaped text that may wrap
// after /, ., :, @, _ and = (with <wbr>) rather than mid-word; CSS breaks a part that is
// still wider than its cell.
func Wrap(s string) templ.Component {
	return templ.ComponentFunc(func(_ context.Context, w io.Writer) error {
		_, err := io.WriteString(w, wrapHTML(s))
		return err
	})
}

func wrapHTML(s string) string {
	if len(s) < breakMin {
		return templ.EscapeString(s)
	}
	var b strings.Builder
	start := 0
	for i := 0; i < len(s); i++ {
		if strings.IndexByte(breakAfter, s[i]) >= 0 && i+1-start >= breakPart && len(s)-i-1 >= breakPart/2 {
			b.WriteString(templ.EscapeString(s[start : i+1]))
			b.WriteString("<wbr>")
			start = i + 1
		}
	}
	b.WriteString(templ.EscapeString(s[start:]))
	return b.String()
}
