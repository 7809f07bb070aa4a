package notify

import (
	"fmt"
	"strings"

	"github.com/tagdrift/tagdrift/scanner/attention"
)

// The plain-text face of a payload, shared by the channels that show people text
// (Slack, email, Alertmanager's annotations, PagerDuty's summary), so that they say the
// same thing.

// Title is one line saying what happened: the event, the kind, the reference and where.
func Title(p Payload) string {
	m := p.Mutation
	var what string
	switch p.Type {
	case MutationOpened:
		what = "Mutation opened"
		switch p.Reason {
		case ReasonAcknowledgementEnded:
			what = "Mutation open again (acknowledgement ended)"
		case ReasonRepeat:
			what = "Mutation still open (reminder)"
		}
	case MutationChanged:
		what = "Mutation changed"
	case MutationAcknowledged:
		what = "Mutation acknowledged"
		if a := p.Acknowledgement; a != nil && a.Actor != "" {
			what += " by " + a.Actor
		}
	case MutationResolved:
		what = "Mutation resolved"
		switch p.Reason {
		case "":
		case ReasonExpected:
			what = "Mutation expected (a rule declares its tag mutable)"
		default:
			what += " (" + string(p.Reason) + ")"
		}
	case EventRecorded:
		what = "Event recorded"
	default:
		what = string(p.Type)
	}
	s := fmt.Sprintf("%s: %s of %s", what, m.Kind, m.Ref)
	if w := Where(m); w != "" {
		s += " in " + w
	}
	return s
}

// Where names the mutation's place as far as it has one: cluster/namespace/Kind/name
// and the container, or less for a tag-divergence across several.
func Where(m PayloadMutation) string {
	var parts []string
	for _, s := range []string{m.Cluster, m.Namespace} {
		if s != "" {
			parts = append(parts, s)
		}
	}
	if m.Workload.Name != "" {
		parts = append(parts, m.Workload.Kind+"/"+m.Workload.Name)
	}
	w := strings.Join(parts, "/")
	if m.Container != "" {
		if w != "" {
			w += " "
		}
		w += "container " + m.Container
	}
	return w
}

// StatusLines say, in words, why the mutation is in the state the event leaves it in,
// where the title alone does not: who acknowledged it, why and until when (with the
// ticket); that an acknowledgement ended while it is still there; that a rule now
// declares it expected. None for the other events.
func StatusLines(p Payload) []string {
	switch {
	case p.Type == MutationAcknowledged && p.Acknowledgement != nil:
		a := p.Acknowledgement
		lines := []string{AckSummary(a)}
		if a.ApprovedBy != "" && a.ApprovedBy != a.Actor {
			lines = append(lines, "approved by "+a.ApprovedBy)
		}
		if a.Scope != "" {
			lines = append(lines, "acknowledged with everything in "+a.Scope)
		}
		if a.Ticket != "" {
			lines = append(lines, "ticket: "+a.Ticket)
		}
		return append(lines, "Nothing more is sent about it until the acknowledgement ends or it resolves.")
	case p.Type == MutationAcknowledged:
		return []string{"acknowledged"}
	case p.Type == MutationOpened && p.Reason == ReasonAcknowledgementEnded:
		return []string{"Its acknowledgement ended (expired, revoked, or a digest joined) while it is still there: it needs attention again."}
	case p.Type == MutationOpened && p.Reason == ReasonRepeat:
		return []string{"Still open since " + p.Mutation.DetectedAt.UTC().Format("2006-01-02 15:04 UTC") +
			": a reminder, sent while nobody acknowledges it and it does not resolve."}
	case p.Type == MutationResolved && p.Reason == ReasonExpected:
		return []string{"A rule now declares its tag mutable: it is expected, no longer open, and no longer sent."}
	}
	return nil
}

// AckSummary is an acknowledgement in one line: "acknowledged by alice until it
// resolves: known rollout".
func AckSummary(a *Acknowledgement) string {
	s := "acknowledged"
	if a.Actor != "" {
		s += " by " + a.Actor
	}
	s += " " + UntilText(a)
	if a.Reason != "" {
		s += ": " + a.Reason
	}
	return s
}

// UntilText says when an acknowledgement ends: "until 2026-12-06 10:00 UTC", "until
// it resolves", "until it changes", the latter two with their time when they have one.
func UntilText(a *Acknowledgement) string {
	var at string
	if a.ExpiresAt != nil {
		at = a.ExpiresAt.UTC().Format("2006-01-02 15:04 UTC")
	}
	var s string
	switch a.Until {
	case attention.UntilResolved:
		s = "until it resolves"
	case attention.UntilChanged:
		s = "until it changes"
	default:
		if at == "" {
			return "until revoked"
		}
		return "until " + at
	}
	if at != "" {
		s += ", " + at + " at the latest"
	}
	return s
}

// DigestLines are the payload's digests as lines of text, as the kind means them: from
// → to, each digest with its places, or the pin and what runs; then what joined or
// left on a change. Places are capped as in the payload, "and N more" after them. The
// events it carries besides (Grouped) are GroupedLines'.
func DigestLines(p Payload) []string {
	var lines []string
	switch {
	case p.Change != nil:
		lines = append(lines, fmt.Sprintf("%s → %s", p.Change.From, p.Change.To))
		if len(p.Change.Places) > 0 {
			lines = append(lines, "on "+places(p.Change.Places, 0))
		}
	case p.Pin != nil:
		lines = append(lines, "pinned "+p.Pin.Pinned)
		for _, d := range p.Pin.Running {
			lines = append(lines, fmt.Sprintf("runs %s on %s", d.Digest, places(d.Places, d.MorePlaces)))
		}
	default:
		for _, d := range p.Digests {
			lines = append(lines, fmt.Sprintf("%s on %s", d.Digest, places(d.Places, d.MorePlaces)))
		}
	}
	if len(p.Added) > 0 {
		lines = append(lines, "joined: "+strings.Join(p.Added, ", "))
	}
	if len(p.Removed) > 0 {
		lines = append(lines, "left: "+strings.Join(p.Removed, ", "))
	}
	return lines
}

// GroupedLines are the other events a merged message carries (Grouped), as text: a
// line that counts them, then one line each (its Title), at most limit of them, then a
// line that counts by type those not listed, so that every event is named or counted.
// None for a message of one event.
func GroupedLines(p Payload, limit int) []string {
	if len(p.Grouped) == 0 {
		return nil
	}
	lines := []string{fmt.Sprintf("and %d more of this reference:", len(p.Grouped))}
	n := min(limit, len(p.Grouped))
	for _, g := range p.Grouped[:n] {
		lines = append(lines, GroupedTitle(g))
	}
	if rest := p.Grouped[n:]; len(rest) > 0 {
		lines = append(lines, MoreLine(rest))
	}
	return lines
}

// GroupedTitle is a grouped event's Title.
func GroupedTitle(g GroupedEvent) string {
	return Title(Payload{Type: g.Type, Reason: g.Reason, Mutation: g.Mutation, Acknowledgement: g.Acknowledgement})
}

// MoreLine counts events not listed, by type and kind in the order they first come:
// "and 979 more: 950 mutation.opened (workload-divergence), 29 mutation.resolved
// (workload-divergence); see tagdrift".
func MoreLine(rest []GroupedEvent) string {
	type what struct {
		typ  Type
		kind string
	}
	var order []what
	count := map[what]int{}
	for _, g := range rest {
		w := what{g.Type, string(g.Mutation.Kind)}
		if count[w] == 0 {
			order = append(order, w)
		}
		count[w]++
	}
	parts := make([]string, len(order))
	for i, w := range order {
		parts[i] = fmt.Sprintf("%d %s (%s)", count[w], w.typ, w.kind)
	}
	return fmt.Sprintf("and %d more: %s; see tagdrift", len(rest), strings.Join(parts, ", "))
}

// Subject is Title, and how many more events the message carries: the subject of an
// email, the header of a Slack message.
func Subject(p Payload) string {
	if len(p.Grouped) == 0 {
		return Title(p)
	}
	return fmt.Sprintf("%s, and %d more of this reference", Title(p), len(p.Grouped))
}

// places lists pods as cluster/namespace/pod (container), then "and N more".
func places(ps []Place, more int) string {
	names := make([]string, 0, len(ps)+1)
	for _, p := range ps {
		names = append(names, fmt.Sprintf("%s/%s/%s (%s)", p.Cluster, p.Namespace, p.Pod, p.Container))
	}
	if more > 0 {
		names = append(names, fmt.Sprintf("and %d more", more))
	}
	if len(names) == 0 {
		return "no pod now"
	}
	return strings.Join(names, ", ")
}

// textMaxGrouped is how many grouped events Text lists one a line, the rest counted:
// 2,000 lines of about 130 bytes keep an email near 300 KB, far under what mail
// servers take (Postfix's default limit is 10 MB).
const textMaxGrouped = 2000

// Text is the whole message as plain text: the subject, the status lines, the digest
// lines, the grouped events (at most 2,000 listed, the rest counted) and the links.
func Text(p Payload) string {
	var b strings.Builder
	b.WriteString(Subject(p))
	b.WriteString("\n\n")
	if status := StatusLines(p); len(status) > 0 {
		for _, l := range status {
			b.WriteString(l)
			b.WriteByte('\n')
		}
		b.WriteByte('\n')
	}
	for _, l := range append(DigestLines(p), GroupedLines(p, textMaxGrouped)...) {
		b.WriteString(l)
		b.WriteByte('\n')
	}
	fmt.Fprintf(&b, "\nUI: %s\nAPI: %s\n", p.Links.UI, p.Links.API)
	if len(p.Grouped) > 0 {
		fmt.Fprintf(&b, "All of %s: %s\n", p.Mutation.Ref, ReferenceLink(p))
	}
	return b.String()
}
