package ui

import (
	"cmp"
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/tagdrift/tagdrift/server/request"
	"github.com/tagdrift/tagdrift/store"
	"github.com/tagdrift/tagdrift/web"
)

// workloadMutations is how many of a workload's past mutations its page lists.
const workloadMutations = 50

func (u *UI) workload(w http.ResponseWriter, r *http.Request) error {
	q, err := request.Parse(r.URL.RawQuery, "pod")
	if err != nil {
		return err
	}
	k := store.WorkloadKey{
		Cluster: request.PathParam(r, "cluster"), Namespace: request.PathParam(r, "namespace"),
		Kind: request.PathParam(r, "kind"), Name: request.PathParam(r, "name"),
	}
	what := request.About(store.ErrNotFound, "workload %s/%s/%s/%s", k.Cluster, k.Namespace, k.Kind, k.Name)
	for _, s := range []string{k.Cluster, k.Namespace, k.Kind, k.Name} {
		if len(s) > request.MaxFilterLength {
			return what
		}
	}
	ctx := r.Context()
	items, err := u.st.ListWorkloads(ctx, store.WorkloadFilter{Cluster: k.Cluster, Namespace: k.Namespace, Kind: k.Kind, Name: k.Name, Limit: 1, Scope: scopeOf(ctx)})
	if err != nil {
		return request.About(err, "workload %s", k.Name)
	}
	mf := store.MutationFilter{Cluster: k.Cluster, Namespace: k.Namespace, WorkloadKind: k.Kind, WorkloadName: k.Name, Scope: scopeOf(ctx)}
	// Not resolved: open, acknowledged or expected, each shown with its state and why.
	mf.State, mf.Limit = store.StateUnresolved, 100
	open, err := u.st.ListMutations(ctx, mf)
	if err != nil {
		return request.About(err, "mutations of workload %s", k.Name)
	}
	mf.State, mf.Limit = store.StateClosed, workloadMutations
	past, err := u.st.ListMutations(ctx, mf)
	if err != nil {
		return request.About(err, "past mutations of workload %s", k.Name)
	}
	if len(items) == 0 && len(open) == 0 && len(past) == 0 {
		return what
	}
	v := web.WorkloadView{Cluster: k.Cluster, Namespace: k.Namespace, Kind: k.Kind, Name: k.Name, Legend: web.NewLegend()}
	if len(items) == 1 {
		v.Mutant = items[0].Mutant
		v.Containers = containerViews(items[0].Running)
	}
	// Where each tag points now in the workload's cluster group, as far as tagdrift saw:
	// its newest move there (store.TagTargets, the rule behind the tag reads too).
	if err := u.tagsNow(ctx, k.Cluster, v.Containers); err != nil {
		return err
	}
	if len(items) == 1 {
		v.Behind = behindViews(items[0].Behind)
	}
	if len(items) == 1 {
		for _, c := range items[0].Running {
			v.Legend.Set(c.Ref, c.Digest, c.Letter)
		}
	}
	var tagNow []web.MutationRow
	for _, c := range v.Containers {
		if c.TagNow != "" {
			tagNow = append(tagNow, web.MutationRow{Ref: c.Ref, Digests: []string{c.TagNow}})
		}
	}
	for _, m := range open {
		row := mutationRow(m)
		v.Open = append(v.Open, row)
		if row.State() != "open" {
			if v.Known == "" || v.Known == "expected" {
				v.Known = row.State() // acknowledged wins: someone looked at it
			}
			continue
		}
		if v.MutantSince == nil || m.DetectedAt.Before(*v.MutantSince) ||
			(m.DetectedAt.Equal(*v.MutantSince) && web.Severity(row.Kind) < web.Severity(v.MutantKind)) {
			at := m.DetectedAt
			v.MutantSince, v.MutantKind = &at, row.Kind
		}
	}
	if len(open) > 0 {
		v.Mutant = true
	}
	if v.MutantSince != nil {
		v.Known = "" // something needs attention
	}
	for _, m := range past {
		v.Past = append(v.Past, mutationRow(m))
	}
	if err := u.explain(ctx, open, v.Open); err != nil {
		return err
	}
	if err := u.explain(ctx, past, v.Past); err != nil {
		return err
	}
	if err := u.letters(ctx, v.Legend, slices.Concat(tagNow, v.Open, v.Past)); err != nil {
		return err
	}
	markFound(&v, q.Get("pod"))
	return u.render(w, r, http.StatusOK, u.meta(r, k.Kind+" "+k.Name, web.NavWorkloads), web.Workload(v, u.now()))
}

// containerViews groups a workload's open observations by container, init containers
// first, then regular, then ephemeral, each by name.
func containerViews(running []store.RunningContainer) []web.ContainerView {
	type key struct{ name, typ, image, ref string }
	byKey := map[key][]web.PodRow{}
	pinned := map[key]bool{}
	var keys []key
	for _, c := range running {
		k := key{c.Container, string(c.Type), c.Image, c.Ref}
		if _, ok := byKey[k]; !ok {
			keys = append(keys, k)
		}
		byKey[k] = append(byKey[k], web.PodRow{
			Pod: c.Pod, PodUID: c.PodUID, Node: c.Node, Runtime: c.Runtime, Digest: c.Digest,
			DigestKind: string(c.Kind), ImageID: c.ImageID, FirstSeen: c.FirstSeen,
		})
		pinned[k] = c.Pinned
	}
	order := map[string]int{"init": 0, "regular": 1, "ephemeral": 2}
	slices.SortFunc(keys, func(a, b key) int {
		return cmp.Or(cmp.Compare(order[a.typ], order[b.typ]), strings.Compare(a.name, b.name),
			strings.Compare(a.image, b.image))
	})
	out := make([]web.ContainerView, 0, len(keys))
	for _, k := range keys {
		out = append(out, web.NewContainerView(k.name, k.typ, k.image, k.ref, pinned[k], byKey[k]))
	}
	return out
}

// tagsNow sets each unpinned container's TagNow: the digest of its reference's newest
// move in the cluster group of cluster (none when tagdrift never saw it move there).
func (u *UI) tagsNow(ctx context.Context, cluster string, cs []web.ContainerView) error {
	var refs []string
	for _, c := range cs {
		if !c.Pinned {
			refs = append(refs, c.Ref)
		}
	}
	if len(refs) == 0 {
		return nil
	}
	cl, err := u.st.ClusterByNameIn(ctx, cluster, scopeOf(ctx))
	if errors.Is(err, store.ErrNotFound) {
		return nil // deleted: its group is gone with it
	}
	if err != nil {
		return request.About(err, "cluster %s", cluster)
	}
	targets, err := u.st.TagTargets(ctx, refs, scopeOf(ctx))
	if err != nil {
		return request.About(err, "where the tags of %s point", cluster)
	}
	for _, t := range targets {
		if t.Group != cl.Group {
			continue
		}
		for i := range cs {
			if cs[i].Ref == t.Ref && !cs[i].Pinned {
				at := t.MovedAt
				cs[i].TagNow, cs[i].TagMovedAt = t.Digest, &at
			}
		}
	}
	return nil
}

// behindViews is what a workload's page says of the references it runs behind their
// tags.
func behindViews(bs []store.BehindRef) []web.BehindView {
	var out []web.BehindView
	for _, b := range bs {
		out = append(out, web.BehindView{Ref: b.Ref, Digests: b.Digests, Tag: b.Tag, MovedAt: b.MovedAt, TagClusters: b.TagClusters})
	}
	return out
}
