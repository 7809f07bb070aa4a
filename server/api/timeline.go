package api

import (
	"context"
	"net/http"
	"time"

	"github.com/tagdrift/tagdrift/server/request"
	"github.com/tagdrift/tagdrift/store"
)

// timelineJSON is which digests a reference ran, oldest first.
type timelineJSON struct {
	Ref     string               `json:"ref"`
	Digests []timelineDigestJSON `json:"digests"`
}

type timelineDigestJSON struct {
	Digest    string    `json:"digest"`
	FirstSeen time.Time `json:"firstSeen"`
	LastSeen  time.Time `json:"lastSeen"`
	Running   bool      `json:"running"`
	// Clusters and Pods count ever, ClustersNow and PodsNow now; a deleted cluster
	// counts in neither.
	Clusters    []string `json:"clusters"`
	Pods        int      `json:"pods"`
	ClustersNow []string `json:"clustersNow"`
	PodsNow     int      `json:"podsNow"`
}

func (a *API) timeline(w http.ResponseWriter, r *http.Request) error {
	q, err := request.Parse(r.URL.RawQuery, "ref")
	if err != nil {
		return err
	}
	ref, err := request.TimelineRef(q.Get("ref"))
	if err != nil {
		return err
	}
	return a.cachedRead(w, r, func(ctx context.Context) (any, store.Sightings, error) {
		ds, seen, err := a.st.Timeline(ctx, ref)
		if err != nil {
			return nil, nil, request.About(err, "timeline of %s", ref)
		}
		out := timelineJSON{Ref: ref, Digests: make([]timelineDigestJSON, len(ds))}
		for i, d := range ds {
			out.Digests[i] = timelineDigestJSON{
				Digest: d.Digest, FirstSeen: request.UTC(d.FirstSeen), LastSeen: request.UTC(d.LastSeen),
				Running: d.Running, Clusters: orEmpty(d.Clusters), Pods: d.Pods,
				ClustersNow: orEmpty(d.ClustersNow), PodsNow: d.PodsNow,
			}
		}
		return out, seen, nil
	})
}

// orEmpty answers [] for nil: a list in the API is never null.
func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
