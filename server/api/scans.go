package api

import (
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/tagdrift/tagdrift/server/request"
	"github.com/tagdrift/tagdrift/store"
)

// scanJSON is a scan record. Times not reached yet are null.
type scanJSON struct {
	ID         int64      `json:"id"`
	Cluster    string     `json:"cluster"`
	Status     string     `json:"status"`
	QueuedAt   time.Time  `json:"queuedAt"`
	StartedAt  *time.Time `json:"startedAt"`
	FinishedAt *time.Time `json:"finishedAt"`
	Pods       int        `json:"pods"`
	Containers int        `json:"containers"`
	Opened     int        `json:"opened"`
	Closed     int        `json:"closed"`
	// ErrorClass and Error say why a scan failed, in tagdrift's words: never what the
	// cluster sent.
	ErrorClass string `json:"errorClass"`
	Error      string `json:"error"`
	// AnnotateWrites is how many writes the annotation step sent (null when it did not
	// run); AnnotateError why it failed ("" when it did not).
	AnnotateWrites *int   `json:"annotateWrites"`
	AnnotateError  string `json:"annotateError"`
	// Kind is poll (a listing) or watch (a snapshot of a watch's cache); Snapshots how
	// many unchanged watch snapshots the record stands for.
	Kind      string `json:"kind"`
	Snapshots int    `json:"snapshots"`
}

func toScanJSON(s store.ScanRecord) scanJSON {
	return scanJSON{
		ID: s.ID, Cluster: s.Cluster, Status: s.Status,
		QueuedAt: request.UTC(s.QueuedAt), StartedAt: request.UTCPtr(s.StartedAt), FinishedAt: request.UTCPtr(s.FinishedAt),
		Pods: s.Pods, Containers: s.Containers, Opened: s.Opened, Closed: s.Closed,
		ErrorClass: s.ErrorClass, Error: s.Error,
		AnnotateWrites: s.AnnotateWrites, AnnotateError: s.AnnotateError,
		Kind: s.Kind, Snapshots: s.Snapshots,
	}
}

func (a *API) listScans(w http.ResponseWriter, r *http.Request) error {
	q, err := request.Parse(r.URL.RawQuery, "cluster", "limit", "cursor")
	if err != nil {
		return err
	}
	limit, err := q.Limit()
	if err != nil {
		return err
	}
	f := store.ScanFilter{Cluster: q.Get("cluster"), Limit: limit + 1, Scope: scopeOf(r.Context())}
	filter := request.FilterKey("cluster", f.Cluster)
	c, err := q.Cursor("scans", filter)
	if err != nil {
		return err
	}
	f.BeforeID = c.ID
	scans, err := a.st.ListScans(r.Context(), f)
	if err != nil {
		return request.About(err, "list scans")
	}
	items := make([]scanJSON, len(scans))
	for i, s := range scans {
		items[i] = toScanJSON(s)
	}
	return request.Respond(w, http.StatusOK, request.Page(items, limit, func(last scanJSON) request.Cursor {
		return request.Cursor{List: "scans", Filter: filter, ID: last.ID}
	}))
}

func (a *API) getScan(w http.ResponseWriter, r *http.Request) error {
	if _, err := request.Parse(r.URL.RawQuery); err != nil {
		return err
	}
	id, err := request.PathID(chi.URLParam(r, "id"), "scan")
	if err != nil {
		return err
	}
	s, err := a.st.ScanRecordByID(r.Context(), id, scopeOf(r.Context()))
	if err != nil {
		return request.About(err, "scan %d", id)
	}
	return request.Respond(w, http.StatusOK, toScanJSON(s))
}
