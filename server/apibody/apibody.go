// Package apibody is the one place where the bodies the store keeps for the REST API
// are encoded: a running workload's containers and a mutation's places, in the shape
// the API serves them (report.Workload's containers, detect.Place), so that a list
// reads them as they are. Its Encoder is the store's BodyEncoder: `tagdrift serve`
// opens the store with it, and Version tells the store which bodies are of this shape.
package apibody

import (
	"bytes"
	"encoding/json"
	"fmt"

	"k8s.io/apimachinery/pkg/types"

	"github.com/tagdrift/tagdrift/scanner/detect"
	"github.com/tagdrift/tagdrift/scanner/imageref"
	"github.com/tagdrift/tagdrift/scanner/inventory"
	"github.com/tagdrift/tagdrift/scanner/report"
	"github.com/tagdrift/tagdrift/store"
)

// Version is the shape of the bodies Encoder writes. Bump it whenever what they
// encode changes (a field of report.Container, report.Digest or detect.Place, their
// JSON names or order, how ReportOf groups): the store then serves none of the bodies
// written before, renders them as it reads them, and `tagdrift serve` writes them again
// at start (store.RefillBodies). The bodies written before store migration 000029 are
// version 1; version 2 gave each digest its letter (migration 000044).
const Version = 2

// Encoder encodes the stored bodies; the zero value is ready to use, from any
// goroutine.
type Encoder struct{}

var _ store.BodyEncoder = Encoder{}

// BodyVersion is Version.
func (Encoder) BodyVersion() int { return Version }

// Containers encodes each workload's containers as ReportOf shapes them: what the
// workloads list serves in each item's "containers".
func (Encoder) Containers(ws []store.Workload) ([][]byte, error) {
	parser := imageref.NewParser()
	out := make([][]byte, len(ws))
	for i, w := range ws {
		b, err := Marshal(ReportOf(w, parser).Containers)
		if err != nil {
			return nil, fmt.Errorf("encode the containers of %s/%s/%s/%s: %w", w.Cluster, w.Namespace, w.Kind, w.Name, err)
		}
		out[i] = b
	}
	return out, nil
}

// Places encodes a mutation's places as the API serves them ([] for none).
func (Encoder) Places(places []detect.Place) ([]byte, error) {
	if places == nil {
		places = []detect.Place{}
	}
	return Marshal(places)
}

// ReportOf shapes a stored workload as `tagdrift scan -o json` does, grouped by
// report.Build: containers as written in the pod template, each with the digests it runs
// and their pods. Lists are [] rather than null.
func ReportOf(w store.Workload, parser *imageref.Parser) report.Workload {
	pods := make([]inventory.Pod, len(w.Running))
	// One backing array for all the pods' containers and their IDs, not two small
	// allocations a container.
	containers := make([]inventory.Container, len(w.Running))
	ids := make([]imageref.ID, len(w.Running))
	for j, c := range w.Running {
		ids[j] = imageref.ID{Raw: c.ImageID, Kind: c.Kind, Digest: c.Digest}
		containers[j] = inventory.Container{Name: c.Container, Type: c.Type, Ref: parser.Ref(c.Image), ID: &ids[j]}
		pods[j] = inventory.Pod{
			Cluster: w.Cluster, Namespace: w.Namespace, Name: c.Pod, UID: types.UID(c.PodUID),
			Workload: inventory.Workload{Kind: w.Kind, Name: w.Name},
			// One pod per container: Build merges a workload's pods and removes
			// repeated names.
			Containers: containers[j : j+1 : j+1],
		}
	}
	wl := report.Workload{Cluster: w.Cluster, Namespace: w.Namespace, Kind: w.Kind, Name: w.Name}
	if built := report.Build([]report.ClusterScan{{Pods: pods}}, nil).Workloads; len(built) == 1 {
		wl = built[0]
	}
	wl.Mutant = w.Mutant
	wl.Behind = BehindOf(w.Behind)
	if wl.Containers == nil {
		wl.Containers = []report.Container{}
	}
	letters := map[store.RefDigest]string{}
	for _, c := range w.Running {
		if c.Letter != "" {
			letters[store.RefDigest{Ref: c.Ref, Digest: c.Digest}] = c.Letter
		}
	}
	for i := range wl.Containers {
		c := &wl.Containers[i]
		for j := range c.Digests {
			c.Digests[j].Letter = letters[store.RefDigest{Ref: c.Ref, Digest: c.Digests[j].Digest}]
		}
	}
	return wl
}

// Marshal encodes v as the REST API encodes its answers: encoding/json without HTML
// escaping, and no newline after.
func Marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// BehindOf is the references a workload runs behind their tags, as the API gives them;
// nil for none.
func BehindOf(bs []store.BehindRef) []report.BehindRef {
	if len(bs) == 0 {
		return nil
	}
	out := make([]report.BehindRef, len(bs))
	for i, b := range bs {
		clusters := b.TagClusters
		if clusters == nil {
			clusters = []string{}
		}
		out[i] = report.BehindRef{Ref: b.Ref, Digests: b.Digests, Tag: b.Tag, MovedAt: b.MovedAt.UTC(), TagClusters: clusters}
	}
	return out
}
