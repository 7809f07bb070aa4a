package api

import (
	"context"
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/tagdrift/tagdrift/scanner/imageref"
	"github.com/tagdrift/tagdrift/server/request"
	"github.com/tagdrift/tagdrift/store"
)

func (a *API) digest(w http.ResponseWriter, r *http.Request) error {
	q, err := request.Parse(r.URL.RawQuery, "limit", "cursor", "runningCursor")
	if err != nil {
		return err
	}
	d := chi.URLParam(r, "digest")
	// The digests that imageIDs are parsed into (imageref), and no others.
	if !imageref.ValidDigest(d) {
		return request.BadRequest("digest must be sha256:, sha384: or sha512: and its 64, 96 or 128 lowercase hex digits, not %q", request.Clip(d, 80))
	}
	// Pages of 100, as every list's.
	p, err := request.DigestHistoryPage(q, d, request.DefaultLimit)
	if err != nil {
		return err
	}
	if err := request.DigestRunningPage(q, d, &p); err != nil {
		return err
	}
	return a.cachedRead(w, r, func(ctx context.Context) (any, store.Sightings, error) {
		use, next, err := request.DigestUses(ctx, a.st, d, p)
		if err != nil {
			return nil, nil, err
		}
		return request.ToDigestJSON(d, use, next), use.Sightings, nil
	})
}
