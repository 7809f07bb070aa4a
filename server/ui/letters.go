package ui

import (
	"context"

	"github.com/tagdrift/tagdrift/server/request"
	"github.com/tagdrift/tagdrift/store"
	"github.com/tagdrift/tagdrift/web"
)

// letters sets the letters of the digests of rows (each under its reference), as the
// reader's scope sees them (store.Letters), in l, in one read.
func (u *UI) letters(ctx context.Context, l *web.Legend, rows []web.MutationRow) error {
	var keys []store.RefDigest
	for _, m := range rows {
		for _, d := range m.Digests {
			keys = append(keys, store.RefDigest{Ref: m.Ref, Digest: d})
		}
	}
	letters, err := u.st.Letters(ctx, keys, scopeOf(ctx))
	if err != nil {
		return request.About(err, "letters of %d digests", len(keys))
	}
	for _, k := range keys {
		l.Set(k.Ref, k.Digest, letters[k])
	}
	return nil
}
