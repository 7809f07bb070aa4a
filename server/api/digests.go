package api

import (
	"context"
	"net/http"
	"strings"

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
	// The digests that imageIDs are parsed into (imageref), or a prefix of a sha256 one
	// that the UI's search would take.
	if !imageref.ValidDigest(d) {
		if d, err = a.digestOfPrefix(r.Context(), d); err != nil {
			return err
		}
	}
	// Pages of 100, as every list's.
	p, err := request.DigestHistoryPage(q, d, request.DefaultLimit)
	if err != nil {
		return err
	}
	if err := request.DigestRunningPage(q, d, &p); err != nil {
		return err
	}
	p.Refs = true
	p.Scope = scopeOf(r.Context())
	return a.cachedRead(w, r, func(ctx context.Context) (any, store.Sightings, error) {
		use, next, err := request.DigestUses(ctx, a.st, d, p)
		if err != nil {
			return nil, nil, err
		}
		return request.ToDigestJSON(d, use, next), use.Sightings, nil
	})
}

// digestOfPrefix resolves a unique prefix of a digest seen running (at least 6 hex
// digits, sha256: or not), as the UI's search does: the one digest it begins, or a 404
// when none does, or a 400 naming a few when several do.
func (a *API) digestOfPrefix(ctx context.Context, prefix string) (string, error) {
	t := request.ParseSearchTerm(prefix)
	if t.DigestPrefix == "" || prefix != strings.ToLower(prefix) {
		return "", request.BadRequest("digest must be sha256:, sha384: or sha512: and its 64, 96 or 128 lowercase hex digits, or at least 6 of a sha256 digest's, not %q", request.Clip(prefix, 80))
	}
	res, err := a.st.Search(ctx, t.DigestPrefix, "", "", "", "", scopeOf(ctx))
	if err != nil {
		return "", request.About(err, "digests beginning %s", t.DigestPrefix)
	}
	switch n := len(res.Digests); {
	case n == 0:
		return "", request.Errorf(http.StatusNotFound, "no digest seen begins with %s", t.DigestPrefix)
	case n > 1:
		more := ""
		if n >= store.SearchLimit {
			more = " and more"
		}
		return "", request.BadRequest("%s begins %d digests%s (%s, …): give more of it", t.DigestPrefix, n, more, strings.Join(res.Digests[:min(n, 3)], ", "))
	}
	return res.Digests[0], nil
}
