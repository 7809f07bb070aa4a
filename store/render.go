package store

import (
	"bytes"
	"encoding/json"
	"fmt"

	"k8s.io/apimachinery/pkg/types"

	"github.com/tagdrift/tagdrift/scanner/imageref"
	"github.com/tagdrift/tagdrift/scanner/inventory"
	"github.com/tagdrift/tagdrift/scanner/report"
)

// ReportOf shapes a stored workload as `tagdrift scan -o json` does, grouped by
// report.Build: containers as written in the pod template, each with the digests it runs
// and their pods. Lists are [] rather than null.
func ReportOf(w Workload, parser *imageref.Parser) report.Workload {
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
	if wl.Containers == nil {
		wl.Containers = []report.Container{}
	}
	return wl
}

// containersJSON is the containers of ReportOf(w), encoded: what running_workloads
// keeps of a workload, so that the API lists workloads without shaping each again.
func containersJSON(w Workload, parser *imageref.Parser) ([]byte, error) {
	b, err := marshalAsAPI(ReportOf(w, parser).Containers)
	if err != nil {
		return nil, fmt.Errorf("encode the containers of %s/%s/%s/%s: %w", w.Cluster, w.Namespace, w.Kind, w.Name, err)
	}
	return b, nil
}

// marshalAsAPI encodes v as the REST API encodes its answers (encoding/json without
// HTML escaping, as server.encodeJSON does), for what the store keeps encoded for it to
// serve as it is.
func marshalAsAPI(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}
