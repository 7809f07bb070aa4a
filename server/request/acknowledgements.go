package request

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/tagdrift/tagdrift/scanner/attention"
	"github.com/tagdrift/tagdrift/store"
)

// Limits of declared-mutable tag rules and acknowledgements (issue 27), for the API's
// bodies and the UI's forms alike.
const (
	// MaxReason bounds a reason, in characters.
	MaxReason = 1000
	// MaxScope bounds a scope, in bytes.
	MaxScope = 4 << 10
	// MaxTicket bounds a ticket link, in bytes.
	MaxTicket = 2000
	// DefaultAckMaxDuration is how far ahead a viewer may acknowledge by default
	// (--ack-max-duration): 90 days.
	DefaultAckMaxDuration = 90 * 24 * time.Hour
)

// CheckScope parses a scope as rules and acknowledgements take it
// (attention.ParseScope), naming the problem for the field scope.
func CheckScope(s string) error {
	_, err := normalScope(s)
	return err
}

// normalScope is s as it is stored: parsed and written back, so that what a rule or
// acknowledgement shows is what it matches (an equality on a reference normalized,
// nginx:nightly as docker.io/library/nginx:nightly), whichever client wrote it.
func normalScope(s string) (string, error) {
	if len(s) > MaxScope {
		return "", fieldError("scope", "scope longer than %d bytes", MaxScope)
	}
	scope, err := attention.ParseScope(s)
	if err != nil {
		return "", fieldError("scope", "%s (write it as Alertmanager matchers: cluster=~\"dev-.*\", reference=~\"registry.example.com/team-a/.*:nightly\")", err.Error())
	}
	return attention.FormatScope(scope), nil
}

// checkReason refuses an empty reason, one too long or with control characters other
// than line breaks.
func checkReason(reason string) error {
	if strings.TrimSpace(reason) == "" {
		return fieldError("reason", "say why: a reason is required")
	}
	if utf8.RuneCountInString(reason) > MaxReason || !utf8.ValidString(reason) ||
		strings.ContainsFunc(reason, func(r rune) bool { return unicode.IsControl(r) && r != '\n' && r != '\r' && r != '\t' }) {
		return fieldError("reason", "reason must be at most %d characters without control characters", MaxReason)
	}
	return nil
}

// checkExpiry refuses an end that is not in the future.
func checkExpiry(at *time.Time, now time.Time) error {
	if at != nil && !at.After(now) {
		return fieldError("expiresAt", "expiresAt must be in the future, not %s", at.UTC().Format(time.RFC3339))
	}
	return nil
}

// CheckRule checks a rule to declare: a scope that parses, a reason, an end in the
// future when there is one. The scope is kept normalized (normalScope).
func CheckRule(scope, reason string, expiresAt *time.Time, now time.Time) (store.NewRule, error) {
	scope, err := normalScope(scope)
	if err != nil {
		return store.NewRule{}, err
	}
	if err := checkReason(reason); err != nil {
		return store.NewRule{}, err
	}
	if err := checkExpiry(expiresAt, now); err != nil {
		return store.NewRule{}, err
	}
	return store.NewRule{Scope: scope, Reason: strings.TrimSpace(reason), ExpiresAt: UTCPtr(expiresAt)}, nil
}

// AckFields is an acknowledgement as a body or a form asks for it: of MutationID or
// of Scope, exactly one.
type AckFields struct {
	MutationID int64
	Scope      string
	Reason     string
	Ticket     string
	Until      string
	ExpiresAt  *time.Time
}

// AckAsker is who asks for an acknowledgement: an admin's is active at once and has
// no limit of time; a viewer's is a request, ending at most MaxAhead after now.
type AckAsker struct {
	Admin    bool
	MaxAhead time.Duration
}

// CheckAck checks an acknowledgement to record: of a mutation or of a scope (which
// parses, and ends at a time); a reason; a ticket that is an http(s) link when given;
// an end (time needs expiresAt; resolved and changed are of a mutation only) in the
// future; and, for a viewer, no later than MaxAhead from now.
func CheckAck(f AckFields, who AckAsker, now time.Time) (store.NewAck, error) {
	switch {
	case f.MutationID == 0 && f.Scope == "":
		return store.NewAck{}, fieldError("mutation", "acknowledge a mutation (mutation: its id) or a scope (scope: Alertmanager matchers)")
	case f.MutationID != 0 && f.Scope != "":
		return store.NewAck{}, fieldError("scope", "acknowledge a mutation or a scope, not both")
	case f.MutationID < 0:
		return store.NewAck{}, fieldError("mutation", "mutation must be a positive id, not %d", f.MutationID)
	}
	if f.Scope != "" {
		var err error
		if f.Scope, err = normalScope(f.Scope); err != nil {
			return store.NewAck{}, err
		}
	}
	if err := checkReason(f.Reason); err != nil {
		return store.NewAck{}, err
	}
	ticket := strings.TrimSpace(f.Ticket)
	if ticket != "" && (len(ticket) > MaxTicket || !httpLink(ticket)) {
		return store.NewAck{}, fieldError("ticket", "ticket must be an http or https link of at most %d bytes, not %q", MaxTicket, Clip(ticket, 80))
	}
	until := attention.Until(f.Until)
	names := make([]string, len(attention.Untils))
	for i, u := range attention.Untils {
		names[i] = string(u)
	}
	switch {
	case !slices.Contains(attention.Untils, until):
		return store.NewAck{}, fieldError("until", "until must be one of %s, not %q", strings.Join(names, ", "), Clip(f.Until, 40))
	case f.Scope != "" && until != attention.UntilTime:
		return store.NewAck{}, fieldError("until", "an acknowledgement of a scope ends at a time: until must be time, with expiresAt")
	case until == attention.UntilTime && f.ExpiresAt == nil:
		return store.NewAck{}, fieldError("expiresAt", "until time needs expiresAt, the time it ends")
	}
	if err := checkExpiry(f.ExpiresAt, now); err != nil {
		return store.NewAck{}, err
	}
	if !who.Admin && f.ExpiresAt != nil && f.ExpiresAt.Sub(now) > who.MaxAhead {
		return store.NewAck{}, fieldError("expiresAt", "a viewer may acknowledge at most %s ahead (until %s); ask an admin for longer",
			days(who.MaxAhead), now.Add(who.MaxAhead).UTC().Format(time.RFC3339))
	}
	return store.NewAck{
		MutationID: f.MutationID, Scope: f.Scope, Reason: strings.TrimSpace(f.Reason), Ticket: ticket,
		Until: until, ExpiresAt: UTCPtr(f.ExpiresAt), Approved: who.Admin,
	}, nil
}

// httpLink reports whether s is an absolute http(s) URL with a host and no user
// information.
func httpLink(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != "" && u.User == nil &&
		!strings.ContainsFunc(s, unicode.IsSpace)
}

// days renders a limit of whole days as days (90 days), others as a duration.
func days(d time.Duration) string {
	const day = 24 * time.Hour
	if d >= day && d%day == 0 {
		return fmt.Sprintf("%d days", d/day)
	}
	return FormatDuration(d)
}
