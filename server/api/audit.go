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
	limit, c, err := request.UnfilteredPage(r, "audit")
	if err != nil {
		return err
	}
	events, err := a.st.AuditEvents(r.Context(), c.ID, limit+1)
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
	return request.Respond(w, http.StatusOK, request.Page(items, limit, func(last auditJSON) request.Cursor {
		return request.Cursor{List: "audit", ID: last.ID}
	}))
}
