package web

import (
	"strconv"
	"time"
)

// Acknowledgements and declared-mutable tag rules (issue 27) as the pages show them.

// AckRow is an acknowledgement, or a request for one.
type AckRow struct {
	ID int64
	// MutationID is the mutation it acknowledges; 0 for one of a scope.
	MutationID int64
	// Mutation names what it acknowledges when MutationID is set and the mutation is
	// still stored; nil otherwise.
	Mutation *MutationRow
	Scope    string
	Reason   string
	Ticket   string
	// Until is how it ends: time, resolved or changed.
	Until       string
	ExpiresAt   *time.Time
	Status      string // requested, active, denied or ended (the store's)
	RequestedBy string
	RequestedAt time.Time
	DecidedBy   string
	DecidedAt   *time.Time
	EndedAt     *time.Time
	EndReason   string // expired, revoked, resolved or changed
	EndedBy     string
}

// State is the word the lists show: requested, active, denied, or how it ended
// (expired, revoked, resolved, changed). An active one whose time has come but that
// the expiry job has not ended yet is expired already.
func (a AckRow) State(now time.Time) string {
	switch a.Status {
	case "ended":
		if a.EndReason != "" {
			return a.EndReason
		}
		return "ended"
	case "active", "requested":
		if a.ExpiresAt != nil && !now.Before(*a.ExpiresAt) {
			return "expired"
		}
	}
	return a.Status
}

// Live reports whether it is requested or active at now: what can still be approved,
// denied or revoked.
func (a AckRow) Live(now time.Time) bool {
	s := a.State(now)
	return s == "requested" || s == "active"
}

// Ends says how it ends, in words: "until resolved", "until it changes", "until <time>",
// each "or at <time>" when it also has a time.
func (a AckRow) Ends() string {
	switch a.Until {
	case "resolved":
		return "until resolved" + orAt(a.ExpiresAt)
	case "changed":
		return "until it changes" + orAt(a.ExpiresAt)
	}
	if a.ExpiresAt == nil {
		return "no end"
	}
	return "until " + Stamp(*a.ExpiresAt)
}

func orAt(t *time.Time) string {
	if t == nil {
		return ""
	}
	return ", at the latest " + Stamp(*t)
}

// Stamp is a time as the forms take it back: UTC, to the minute.
func Stamp(t time.Time) string { return t.UTC().Format("2006-01-02 15:04") + " UTC" }

// MutationURL is a mutation's page.
func MutationURL(id int64) string { return "/mutations/" + strconv.FormatInt(id, 10) }

// AckURL is the action action ("approve", "deny", "revoke") on acknowledgement id.
func AckURL(id int64, action string) string {
	return "/acknowledgements/" + strconv.FormatInt(id, 10) + "/" + action
}

// RuleURL is the action action ("revoke") on rule id.
func RuleURL(id int64, action string) string {
	return "/acknowledgements/rules/" + strconv.FormatInt(id, 10) + "/" + action
}

// RuleRow is a declared-mutable tag rule.
type RuleRow struct {
	ID        int64
	Scope     string
	Reason    string
	ExpiresAt *time.Time
	CreatedBy string
	CreatedAt time.Time
	EndedAt   *time.Time
	EndReason string
	EndedBy   string
}

// State is active, expired or revoked at now.
func (r RuleRow) State(now time.Time) string {
	switch {
	case r.EndedAt != nil && r.EndReason != "":
		return r.EndReason
	case r.EndedAt != nil:
		return "ended"
	case r.ExpiresAt != nil && !now.Before(*r.ExpiresAt):
		return "expired"
	}
	return "active"
}

// Ack list filters: what the acknowledgements page shows.
const (
	AckFilterCurrent   = "current"   // requests, active acknowledgements, rules in force
	AckFilterRequested = "requested" // requests waiting for an admin
	AckFilterHistory   = "history"   // denied, expired, revoked, ended; rules ended
	AckFilterAll       = "all"
)

// AckFilters are the filters in the order the page offers them.
var AckFilters = []string{AckFilterCurrent, AckFilterRequested, AckFilterHistory, AckFilterAll}

// RuleForm is the form that declares a rule, as typed, with its refusals.
type RuleForm struct {
	Scope, Reason, Expires            string
	ScopeError, ReasonError, ExpError string
}

// RuleScopeExample is the scope the rule form shows as an example.
const RuleScopeExample = `reference=~"registry.example.com/team-a/.*:nightly", cluster=~"dev-.*"`

// AcksView is the acknowledgements and rules page.
type AcksView struct {
	Filter string
	Admin  bool
	// Requested are the requests waiting for an admin; Acks the others the filter
	// shows, newest first.
	Requested []AckRow
	Acks      []AckRow
	Rules     []RuleRow
	// Unmatched are the rules and acknowledgements in force that match nothing
	// unresolved any more: candidates to revoke.
	UnmatchedRules []RuleRow
	UnmatchedAcks  []AckRow
	Form           RuleForm
	// Flash says what the last action did, from the redirect's query.
	Flash string
	Now   time.Time
}

// URL is the page with filter f.
func (v AcksView) URL(f string) string {
	if f == AckFilterCurrent {
		f = ""
	}
	return WithQuery("/acknowledgements", "status", f)
}

// AckForm is the form that acknowledges a mutation, as typed, with its refusals.
type AckForm struct {
	Reason, Ticket, Until, Expires                 string
	ReasonError, TicketError, UntilError, ExpError string
}

// AckUntils are the ends the form offers: value and label.
var AckUntils = [][2]string{
	{"time", "until a time"},
	{"resolved", "until resolved"},
	{"changed", "until it changes (a new digest joins it)"},
}

// MutationView is a mutation's page: what it is, why it is not open when it is not,
// its acknowledgements and the form that acknowledges it.
type MutationView struct {
	Mutation MutationRow
	// Rule is the rule that makes it expected; Ack the acknowledgement that covers
	// it (nil for none).
	Rule *RuleRow
	Ack  *AckRow
	// Acks are its acknowledgements and requests, newest first.
	Acks []AckRow
	// Ackable says it can be acknowledged: a condition not resolved, not expected.
	Ackable bool
	Admin   bool
	// MaxDays is how far ahead a viewer may ask.
	MaxDays int
	Form    AckForm
	Legend  *Legend
	Now     time.Time
}

// PendingRequest is a request for this mutation that waits for an admin, if any.
func (v MutationView) PendingRequest() *AckRow {
	for i, a := range v.Acks {
		if a.State(v.Now) == "requested" {
			return &v.Acks[i]
		}
	}
	return nil
}
