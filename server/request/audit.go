package request

import (
	"errors"
	"time"

	"github.com/tagdrift/tagdrift/store"
)

// AuditTime reads an audit filter's time: a date (UTC midnight), an RFC 3339 time, or
// a duration before now ("24h"); zero for "".
func AuditTime(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse("2006-01-02", s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(s); err == nil && d > 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, errors.New("use a date (2026-01-31), a time (2026-01-31T12:00:00Z) or a duration before now (24h)")
}

// AuditFilter reads the API's audit filters (actor, action or a family of actions
// ending in a dot, target, since, until), its limit and its cursor, which belongs to
// those filters.
func AuditFilter(q Query, now time.Time) (f store.AuditFilter, limit int, err error) {
	f = store.AuditFilter{Actor: q.Get("actor"), Action: q.Get("action"), Target: q.Get("target")}
	if f.Since, err = AuditTime(q.Get("since"), now); err != nil {
		return store.AuditFilter{}, 0, BadRequest("Query parameter since: %v, not %q", err, Clip(q.Get("since"), 80))
	}
	if f.Until, err = AuditTime(q.Get("until"), now); err != nil {
		return store.AuditFilter{}, 0, BadRequest("Query parameter until: %v, not %q", err, Clip(q.Get("until"), 80))
	}
	if limit, err = q.Limit(); err != nil {
		return store.AuditFilter{}, 0, err
	}
	c, err := q.Cursor("audit", FilterKey("actor", f.Actor, "action", f.Action, "target", f.Target,
		"since", q.Get("since"), "until", q.Get("until")))
	if err != nil {
		return store.AuditFilter{}, 0, err
	}
	f.BeforeID, f.Limit = c.ID, limit+1
	return f, limit, nil
}
