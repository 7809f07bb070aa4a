// Package report assembles what a scan found into the shape users read: the JSON
// contract of `tagdrift scan -o json` (which the REST API reuses) and a kubectl-style
// table.
package report

import (
	"cmp"
	"slices"
	"strings"
	"time"

	"github.com/tagdrift/tagdrift/scanner/detect"
	"github.com/tagdrift/tagdrift/scanner/imageref"
	"github.com/tagdrift/tagdrift/scanner/inventory"
)

// Report is the result of scanning one or more clusters.
type Report struct {
	Clusters  []Cluster         `json:"clusters"`
	Workloads []Workload        `json:"workloads"`
	Mutations []detect.Mutation `json:"mutations"`
}

// Cluster is one scanned cluster, or the error that stopped its scan.
type Cluster struct {
	Name       string `json:"name"`
	Server     string `json:"server"`
	Pods       int    `json:"pods"`
	Containers int    `json:"containers"`
	Error      string `json:"error"`
}

// Workload is one workload seen, with what each of its containers runs.
type Workload struct {
	Cluster   string `json:"cluster"`
	Namespace string `json:"namespace"`
	Kind      string `json:"kind"`
	Name      string `json:"name"`
	// Mutant is true when the workload is a place of any mutation.
	Mutant bool `json:"mutant"`
	// Behind are the references it runs behind their tags (the service's history knows
	// them; a scan of its own has none), by reference.
	Behind     []BehindRef `json:"behind,omitempty"`
	Containers []Container `json:"containers"`
}

// BehindRef is a reference a workload runs behind its tag: only digests the tag moved
// away from in the workload's cluster group (DESIGN section 3).
type BehindRef struct {
	Ref string `json:"ref"`
	// Digests are the digests of Ref it runs, sorted.
	Digests []string `json:"digests"`
	// Tag is the digest the tag points to now there (its newest move), since MovedAt.
	Tag     string    `json:"tag"`
	MovedAt time.Time `json:"movedAt"`
	// TagClusters are the clusters of the workload's group that run Tag now, sorted.
	TagClusters []string `json:"tagClusters"`
}

// Container is one container of a workload as written in its pod template. During a
// rolling update a container name appears once per image.
type Container struct {
	Name    string                  `json:"name"`
	Type    inventory.ContainerType `json:"type"`
	Image   string                  `json:"image"`
	Ref     string                  `json:"ref"`
	Pinned  bool                    `json:"pinned"`
	Digests []Digest                `json:"digests"`
}

// Digest is one digest a container runs, and the pods that run it.
type Digest struct {
	Digest string        `json:"digest"`
	Kind   imageref.Kind `json:"kind"`
	// Letter is the digest's letter under the container's reference, as tagdrift's
	// service stores it (A for the first digest the reference ran, then B …); a
	// one-shot `tagdrift scan` keeps no history and leaves it out.
	Letter string   `json:"letter,omitempty"`
	Pods   []string `json:"pods"`
}

// ClusterScan is what Build needs of one cluster's scan.
type ClusterScan struct {
	Name       string
	Server     string
	Pods       []inventory.Pod
	Containers int
	Err        error
}

// Build assembles a report from the scans of several clusters and the mutations
// detected among their pods. Clusters keep their order; workloads are sorted.
func Build(scans []ClusterScan, mutations []detect.Mutation) Report {
	rep := Report{
		Clusters:  make([]Cluster, 0, len(scans)),
		Workloads: []Workload{},
		Mutations: mutations,
	}
	if rep.Mutations == nil {
		rep.Mutations = []detect.Mutation{}
	}
	mutant := make(map[workloadKey]bool)
	for _, m := range mutations {
		for _, p := range m.Places {
			mutant[workloadKey{p.Cluster, p.Namespace, p.Workload}] = true
		}
	}

	index := make(map[workloadKey]int)
	for _, s := range scans {
		c := Cluster{Name: s.Name, Server: s.Server, Pods: len(s.Pods), Containers: s.Containers}
		if s.Err != nil {
			c.Error = s.Err.Error()
		}
		rep.Clusters = append(rep.Clusters, c)
		for i := range s.Pods {
			p := &s.Pods[i]
			k := workloadKey{p.Cluster, p.Namespace, p.Workload}
			at, ok := index[k]
			if !ok {
				at = len(rep.Workloads)
				index[k] = at
				rep.Workloads = append(rep.Workloads, Workload{
					Cluster: p.Cluster, Namespace: p.Namespace, Kind: p.Workload.Kind, Name: p.Workload.Name,
					Mutant: mutant[k], Containers: []Container{},
				})
			}
			addPod(&rep.Workloads[at], p)
		}
	}
	for i := range rep.Workloads {
		w := &rep.Workloads[i]
		slices.SortFunc(w.Containers, compareContainers)
		for j := range w.Containers {
			c := &w.Containers[j]
			slices.SortFunc(c.Digests, func(a, b Digest) int {
				return cmp.Or(strings.Compare(string(a.Kind), string(b.Kind)), strings.Compare(a.Digest, b.Digest))
			})
			for k := range c.Digests {
				slices.Sort(c.Digests[k].Pods)
				c.Digests[k].Pods = slices.Compact(c.Digests[k].Pods)
			}
		}
	}
	slices.SortFunc(rep.Workloads, func(a, b Workload) int {
		return cmp.Or(
			strings.Compare(a.Cluster, b.Cluster),
			strings.Compare(a.Namespace, b.Namespace),
			strings.Compare(a.Kind, b.Kind),
			strings.Compare(a.Name, b.Name),
		)
	})
	return rep
}

type workloadKey struct {
	cluster, namespace string
	workload           inventory.Workload
}

func addPod(w *Workload, p *inventory.Pod) {
	for i := range p.Containers {
		pc := &p.Containers[i]
		c := findContainer(w, pc)
		if !pc.Observed() {
			continue
		}
		d := findDigest(c, *pc.ID)
		d.Pods = append(d.Pods, p.Name)
	}
}

func findContainer(w *Workload, pc *inventory.Container) *Container {
	for i := range w.Containers {
		c := &w.Containers[i]
		if c.Name == pc.Name && c.Type == pc.Type && c.Image == pc.Ref.Written {
			return c
		}
	}
	w.Containers = append(w.Containers, Container{
		Name: pc.Name, Type: pc.Type, Image: pc.Ref.Written, Ref: pc.Ref.Normalized,
		Pinned: pc.Ref.Pinned(), Digests: []Digest{},
	})
	return &w.Containers[len(w.Containers)-1]
}

func findDigest(c *Container, id imageref.ID) *Digest {
	for i := range c.Digests {
		if c.Digests[i].Digest == id.Digest && c.Digests[i].Kind == id.Kind {
			return &c.Digests[i]
		}
	}
	c.Digests = append(c.Digests, Digest{Digest: id.Digest, Kind: id.Kind})
	return &c.Digests[len(c.Digests)-1]
}

// typeOrder lists init containers first, as pods run them.
func typeOrder(t inventory.ContainerType) int {
	switch t {
	case inventory.Init:
		return 0
	case inventory.Regular:
		return 1
	}
	return 2
}

func compareContainers(a, b Container) int {
	return cmp.Or(
		cmp.Compare(typeOrder(a.Type), typeOrder(b.Type)),
		strings.Compare(a.Name, b.Name),
		strings.Compare(a.Image, b.Image),
	)
}
