package api

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/tagdrift/tagdrift/server/request"
	"github.com/tagdrift/tagdrift/store"
)

// timelineJSON is which digests a reference ran, oldest first.
type timelineJSON struct {
	Ref     string               `json:"ref"`
	Digests []timelineDigestJSON `json:"digests"`
	// Suggestions are, when the reference never ran, the known references that end as
	// it was written ("team/app:stable" normalized to docker.io/team/app:stable when the
	// one that runs is registry.example.com/team/app:stable).
	Suggestions []string `json:"suggestions,omitempty"`
}

// maxSuggestions bounds the references an empty timeline suggests.
const maxSuggestions = 5

type timelineDigestJSON struct {
	Digest string `json:"digest"`
	// Letter is the digest's letter under the reference: A for the first it ran, then B …
	Letter    string    `json:"letter"`
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
		ds, seen, err := a.st.Timeline(ctx, ref, scopeOf(ctx))
		if err != nil {
			return nil, nil, request.About(err, "timeline of %s", ref)
		}
		out := timelineJSON{Ref: ref, Digests: make([]timelineDigestJSON, len(ds))}
		for i, d := range ds {
			out.Digests[i] = timelineDigestJSON{
				Digest: d.Digest, Letter: d.Letter, FirstSeen: request.UTC(d.FirstSeen), LastSeen: request.UTC(d.LastSeen),
				Running: d.Running, Clusters: orEmpty(d.Clusters), Pods: d.Pods,
				ClustersNow: orEmpty(d.ClustersNow), PodsNow: d.PodsNow,
			}
		}
		if len(ds) == 0 {
			if out.Suggestions, err = a.refsEndingAs(ctx, q.Get("ref"), ref); err != nil {
				return nil, nil, err
			}
		}
		return out, seen, nil
	})
}

// refsEndingAs lists the known references, other than normalized, that hold written as
// whole path segments at their end or before their tag, at most maxSuggestions.
func (a *API) refsEndingAs(ctx context.Context, written, normalized string) ([]string, error) {
	t := request.ParseSearchTerm(strings.TrimSpace(written))
	if t.RefPart == "" {
		return nil, nil
	}
	res, err := a.st.Search(ctx, "", "", "", t.RefPart, "", scopeOf(ctx))
	if err != nil {
		return nil, request.About(err, "references ending as %s", request.Clip(written, 80))
	}
	var out []string
	for _, r := range res.Refs {
		if r != normalized && len(out) < maxSuggestions {
			out = append(out, r)
		}
	}
	return out, nil
}

// orEmpty answers [] for nil: a list in the API is never null.
func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
