package api

import (
	"net/http"
	"time"

	"github.com/tagdrift/tagdrift/server/request"
)

// auditJSON is one audit event.
type auditJSON struct {
	ID         int64          `json:"id"`
	At         time.Time      `json:"at"`
	Actor      string         `json:"actor"`
	Action     string         `json:"action"`
	Target     string         `json:"target"`
	Detail     map[string]any `json:"detail"`
	RemoteAddr string         `json:"remoteAddr"`
}

func (a *API) listAudit(w http.ResponseWriter, r *http.Request) error {
	q, err := request.Parse(r.URL.RawQuery, "limit", "cursor", "actor", "action", "target", "since", "until")
	if err != nil {
		return err
	}
	f, limit, err := request.AuditFilter(q, a.now())
	if err != nil {
		return err
	}
	f.Scope = adminScopeOf(r.Context()) // the audit trail is an admin's: of the clusters it administers
	events, err := a.st.FindAuditEvents(r.Context(), f)
	if err != nil {
		return request.About(err, "list audit events")
	}
	items := make([]auditJSON, len(events))
	for i, e := range events {
		detail := e.Detail
		if detail == nil {
			detail = map[string]any{}
		}
		items[i] = auditJSON{ID: e.ID, At: request.UTC(e.At), Actor: e.Actor, Action: e.Action, Target: e.Target, Detail: detail, RemoteAddr: e.RemoteAddr}
	}
	filter := request.FilterKey("actor", f.Actor, "action", f.Action, "target", f.Target, "since", q.Get("since"), "until", q.Get("until"))
	return request.Respond(w, http.StatusOK, request.Page(items, limit, func(last auditJSON) request.Cursor {
		return request.Cursor{List: "audit", Filter: filter, ID: last.ID}
	}))
}
