package ui

import (
	"cmp"
	"context"
	"slices"
	"strings"

	"github.com/tagdrift/tagdrift/server/request"
	"github.com/tagdrift/tagdrift/store"
	"github.com/tagdrift/tagdrift/web"
)

// defaultGroup is the cluster group pages leave unnamed.
const defaultGroup = "default"

// digestTags fills what a digest's page says of its references' tags: whether each
// points to the digest now (the newest move tagdrift saw, in each cluster group), and
// the newest mutations and tag moves that involve the digest.
func (u *UI) digestTags(ctx context.Context, v *web.DigestView) error {
	var unpinned []string
	for _, ref := range v.Refs {
		if strings.Contains(ref, "@") {
			v.Tags = append(v.Tags, web.TagRow{Ref: ref, Pinned: true})
			continue
		}
		unpinned = append(unpinned, ref)
	}
	targets, err := u.st.TagTargets(ctx, unpinned, scopeOf(ctx))
	if err != nil {
		return request.About(err, "where the tags of %s point", v.Digest)
	}
	moved := map[string]bool{}
	for _, t := range targets {
		moved[t.Ref] = true
		row := web.TagRow{Ref: t.Ref, Group: t.Group, Moved: true, Now: t.Digest, From: t.From, MovedAt: t.MovedAt}
		if row.Group == defaultGroup {
			row.Group = ""
		}
		v.Tags = append(v.Tags, row)
	}
	for _, ref := range unpinned {
		if !moved[ref] {
			v.Tags = append(v.Tags, web.TagRow{Ref: ref})
		}
	}
	ms, err := u.st.DigestMutations(ctx, v.Digest, v.Refs, store.DigestMutationsLimit, scopeOf(ctx))
	if err != nil {
		return request.About(err, "mutations of %s", v.Digest)
	}
	v.MutationsMore = len(ms) == store.DigestMutationsLimit
	for _, m := range ms {
		v.Mutations = append(v.Mutations, mutationRow(m))
	}
	if err := u.explain(ctx, ms, v.Mutations); err != nil {
		return err
	}
	slices.SortStableFunc(v.Tags, func(a, b web.TagRow) int {
		return cmp.Or(strings.Compare(a.Ref, b.Ref), strings.Compare(a.Group, b.Group))
	})
	// The stored letters, each digest's under its reference (store.Letters).
	var keys []store.RefDigest
	for _, t := range v.Tags {
		if t.Moved {
			keys = append(keys, store.RefDigest{Ref: t.Ref, Digest: t.From}, store.RefDigest{Ref: t.Ref, Digest: t.Now})
		}
	}
	letters, err := u.st.Letters(ctx, keys, scopeOf(ctx))
	if err != nil {
		return request.About(err, "letters of %s's tags", v.Digest)
	}
	for _, k := range keys {
		v.Legend.Set(k.Ref, k.Digest, letters[k])
	}
	return u.letters(ctx, v.Legend, v.Mutations)
}
