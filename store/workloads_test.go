package store

import (
	"cmp"
	"context"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tagdrift/tagdrift/scanner/detect"
	"github.com/tagdrift/tagdrift/scanner/inventory"
)

// TestListWorkloadsPaging checks that pages of every size return each running workload
// once, in order, with the containers of its pods that run a digest, under each filter.
func TestListWorkloadsPaging(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := mustStore(t, mustRing(t, newKey(t)))
	f := fleet{t, s}
	at := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)

	// Names that sort differently by bytes and by a locale's rules.
	names := []string{"app-2", "app10", "App", "app.1", "b", "a-b", "ab"}
	kinds := []string{"Deployment", "StatefulSet", "DaemonSet"}
	var all []inventory.Pod
	var want []Workload
	clusterIDs := map[string]int64{}
	for ci, cname := range []string{"b-east", "a-west", "B"} {
		c := mustCluster(t, s, cname, "t")
		clusterIDs[cname] = c.ID
		var pods []inventory.Pod
		n := 0
		for ni, ns := range []string{"shop", "kube-system", "Shop"} {
			for wi, name := range names {
				if (ci+ni+wi)%4 == 0 {
					continue // not every workload everywhere
				}
				kind := kinds[(ci+wi)%len(kinds)]
				for pi := range 1 + wi%3 {
					n++
					app := fmt.Sprintf("registry.example/%s:v1", strings.ToLower(name))
					letter := string(rune('0' + (pi+wi)%2)) // some workloads run two digests
					containers := []string{"app=" + app + "|registry.example/x@" + sha(letter),
						"init:setup=busybox:1.36|docker.io/library/busybox@" + sha("e"),
						"waiting=redis:7|"} // no imageID: not an observation
					if wi%2 == 0 { // the least reference differs
						containers = append(containers, "proxy=envoyproxy/envoy:v1.31|docker.io/envoyproxy/envoy@"+sha("f"))
					}
					p := wpod(ns, name, fmt.Sprintf("%s-%d", name, pi), fmt.Sprintf("%s-%d", cname, n), containers...)
					p.Workload.Kind = kind
					pods = append(pods, p)
				}
			}
		}
		// Each cluster at its own time, so that the last change differs, and ties.
		f.scan(c, at.Add(time.Duration(ci)*time.Minute), pods...)
		all = append(all, pods...)
	}
	mutations, err := s.ListMutations(ctx, MutationFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var detected []detect.Mutation
	for _, m := range mutations {
		detected = append(detected, m.Mutation)
	}
	if len(detected) == 0 {
		t.Fatal("no open mutation to mark workloads with")
	}
	for ci, cname := range []string{"b-east", "a-west", "B"} {
		of := slices.DeleteFunc(slices.Clone(all), func(p inventory.Pod) bool { return p.Cluster != cname })
		want = append(want, expectWorkloads(of, detected, at.Add(time.Duration(ci)*time.Minute))...)
	}
	for i := range want {
		want[i].ClusterID = clusterIDs[want[i].Cluster]
	}
	sortWorkloads(want, SortCluster, false)

	for _, tc := range []struct {
		name string
		f    WorkloadFilter
		keep func(Workload) bool
	}{
		{"all", WorkloadFilter{}, func(Workload) bool { return true }},
		{"mutants", WorkloadFilter{MutantOnly: true}, func(w Workload) bool { return w.Mutant }},
		{"cluster", WorkloadFilter{Cluster: "B"}, func(w Workload) bool { return w.Cluster == "B" }},
		{"namespace", WorkloadFilter{Namespace: "shop"}, func(w Workload) bool { return w.Namespace == "shop" }},
		{"kind", WorkloadFilter{Kind: "StatefulSet"}, func(w Workload) bool { return w.Kind == "StatefulSet" }},
		{"mutants of a kind in a namespace", WorkloadFilter{MutantOnly: true, Namespace: "Shop", Kind: "DaemonSet"},
			func(w Workload) bool { return w.Mutant && w.Namespace == "Shop" && w.Kind == "DaemonSet" }},
		{"mutants of a cluster", WorkloadFilter{MutantOnly: true, Cluster: "a-west"},
			func(w Workload) bool { return w.Mutant && w.Cluster == "a-west" }},
		{"nothing", WorkloadFilter{Cluster: "nope"}, func(Workload) bool { return false }},
		{"reference", WorkloadFilter{Ref: "docker.io/envoyproxy/envoy:v1.31"}, runs("docker.io/envoyproxy/envoy:v1.31")},
		{"mutants of a reference", WorkloadFilter{MutantOnly: true, Ref: "docker.io/envoyproxy/envoy:v1.31"},
			func(w Workload) bool { return w.Mutant && runs("docker.io/envoyproxy/envoy:v1.31")(w) }},
	} {
		for _, order := range WorkloadSorts {
			for _, desc := range []bool{false, true} {
				expected := slices.DeleteFunc(slices.Clone(want), func(w Workload) bool { return !tc.keep(w) })
				if tc.name == "all" && (len(expected) < 40 || !slices.ContainsFunc(expected, func(w Workload) bool { return w.Mutant })) {
					t.Fatalf("weak fixture: %d workloads", len(expected))
				}
				sortWorkloads(expected, order, desc)
				for _, limit := range []int{1, 7, 1000} {
					var got []Workload
					f := tc.f
					f.Sort, f.Desc = order, desc
					for range 200 {
						f.Limit = limit
						page, err := s.ListWorkloads(ctx, f)
						if err != nil {
							t.Fatalf("%s: %v", tc.name, err)
						}
						if len(page) > limit {
							t.Fatalf("%s: a page of %d, limit %d", tc.name, len(page), limit)
						}
						got = append(got, page...)
						if len(page) < limit {
							break
						}
						c := page[len(page)-1].Cursor()
						f.After = &c
					}
					clearLetters(t, got)
					if len(got)+len(expected) > 0 && !reflect.DeepEqual(got, expected) {
						t.Errorf("%s by %s (desc %v), pages of %d: got %d workloads %v\nwant %d %v", tc.name, order, desc, limit,
							len(got), workloadNames(got), len(expected), workloadNames(expected))
						for i := range min(len(got), len(expected)) {
							if !reflect.DeepEqual(got[i], expected[i]) {
								t.Errorf("first difference:\n got %+v\nwant %+v", got[i], expected[i])
								break
							}
						}
					}
				}
			}
		}
	}
}

// runs keeps the workloads running ref.
func runs(ref string) func(Workload) bool {
	return func(w Workload) bool {
		return slices.ContainsFunc(w.Running, func(c RunningContainer) bool { return c.Ref == ref })
	}
}

// sortWorkloads orders workloads as ListWorkloads documents each sort, stated here
// apart from the queries: names by bytes, the least reference a workload runs, the
// latest first_seen of its containers.
func sortWorkloads(ws []Workload, by WorkloadSort, desc bool) {
	leastRef := func(w Workload) string {
		refs := []string{}
		for _, c := range w.Running {
			refs = append(refs, c.Ref)
		}
		return slices.Min(refs)
	}
	changed := func(w Workload) time.Time {
		var t time.Time
		for _, c := range w.Running {
			if c.FirstSeen.After(t) {
				t = c.FirstSeen
			}
		}
		return t
	}
	slices.SortFunc(ws, func(a, b Workload) int {
		cl, ns := strings.Compare(a.Cluster, b.Cluster), strings.Compare(a.Namespace, b.Namespace)
		id := cmp.Compare(a.ClusterID, b.ClusterID)
		kind, name := strings.Compare(a.Kind, b.Kind), strings.Compare(a.Name, b.Name)
		var c int
		switch by {
		case SortCluster:
			c = cmp.Or(cl, ns, kind, name)
		case SortNamespace:
			c = cmp.Or(ns, name, kind, id)
		case SortName:
			c = cmp.Or(name, ns, kind, id)
		case SortKind:
			c = cmp.Or(kind, ns, name, id)
		case SortRef:
			c = cmp.Or(strings.Compare(leastRef(a), leastRef(b)), ns, name, kind, id)
		case SortChanged:
			c = cmp.Or(changed(a).Compare(changed(b)), ns, name, kind, id)
		case SortMutant:
			mutantFirst := 0
			if a.Mutant != b.Mutant {
				mutantFirst = 1
				if a.Mutant {
					mutantFirst = -1
				}
			}
			c = cmp.Or(mutantFirst, cl, ns, kind, name)
		default:
			panic("unknown sort " + by)
		}
		if desc {
			return -c
		}
		return c
	})
}

// expectWorkloads is what ListWorkloads should return of the listed pods: their
// workloads in byte order, each with the containers that run a digest (a container
// waiting for its image is not stored), marked mutant when a place of a mutation, all
// first seen at seen.
func expectWorkloads(pods []inventory.Pod, mutations []detect.Mutation, seen time.Time) []Workload {
	mutant := map[WorkloadKey]bool{}
	for _, m := range mutations {
		for _, p := range m.Places {
			mutant[WorkloadKey{p.Cluster, p.Namespace, p.Workload.Kind, p.Workload.Name}] = true
		}
	}
	at := map[WorkloadKey]int{}
	var out []Workload
	for _, p := range pods {
		k := WorkloadKey{p.Cluster, p.Namespace, p.Workload.Kind, p.Workload.Name}
		i, ok := at[k]
		if !ok {
			i = len(out)
			at[k] = i
			out = append(out, Workload{WorkloadKey: k, Mutant: mutant[k], Running: []RunningContainer{}})
		}
		for _, c := range p.Containers {
			if !c.Observed() {
				continue
			}
			out[i].Running = append(out[i].Running, RunningContainer{
				Pod: p.Name, PodUID: string(p.UID), Container: c.Name, Type: c.Type, Image: c.Ref.Written,
				Ref: c.Ref.Normalized, Pinned: c.Ref.Pinned(), Digest: c.ID.Digest, Kind: c.ID.Kind, ImageID: c.ID.Raw,
				Node: p.Node, Runtime: p.Runtime, FirstSeen: seen,
			})
		}
	}
	for i := range out {
		slices.SortFunc(out[i].Running, func(a, b RunningContainer) int {
			return cmp.Or(strings.Compare(a.Pod, b.Pod), strings.Compare(a.PodUID, b.PodUID), strings.Compare(a.Container, b.Container))
		})
	}
	slices.SortFunc(out, func(a, b Workload) int {
		return cmp.Or(strings.Compare(a.Cluster, b.Cluster), strings.Compare(a.Namespace, b.Namespace),
			strings.Compare(a.Kind, b.Kind), strings.Compare(a.Name, b.Name))
	})
	return out
}

// clearLetters checks that every container of ws has its digest's letter, one letter
// per digest of a reference and one digest per letter, then clears them, for a
// comparison with expectWorkloads, which knows no letters.
func clearLetters(t *testing.T, ws []Workload) {
	t.Helper()
	letters := map[RefDigest]string{}
	digests := map[[2]string]string{}
	for i := range ws {
		for j := range ws[i].Running {
			c := &ws[i].Running[j]
			k := RefDigest{c.Ref, c.Digest}
			if l, ok := letters[k]; (ok && l != c.Letter) || c.Letter == "" {
				t.Fatalf("%s runs %s of %s as %q, elsewhere %q", ws[i].Name, c.Digest, c.Ref, c.Letter, l)
			}
			if d, ok := digests[[2]string{c.Ref, c.Letter}]; ok && d != c.Digest {
				t.Fatalf("%s is the letter of both %s and %s of %s", c.Letter, d, c.Digest, c.Ref)
			}
			letters[k], digests[[2]string{c.Ref, c.Letter}] = c.Letter, c.Digest
			c.Letter = ""
		}
	}
}
