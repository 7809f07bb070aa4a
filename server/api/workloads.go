package api

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/tagdrift/tagdrift/server/apibody"
	"github.com/tagdrift/tagdrift/server/request"
	"github.com/tagdrift/tagdrift/store"
)

func (a *API) listWorkloads(w http.ResponseWriter, r *http.Request) error {
	q, err := request.Parse(r.URL.RawQuery, "cluster", "namespace", "kind", "ref", "mutant", "behind", "sort", "order", "limit", "cursor")
	if err != nil {
		return err
	}
	f, filter, err := request.WorkloadFilter(q)
	if err != nil {
		return err
	}
	limit := f.Limit - 1
	f.Scope = scopeOf(r.Context())
	// The workloads show no sighting: only a change of the data makes them change.
	return a.cachedRead(w, r, func(ctx context.Context) (any, store.Sightings, error) {
		items, err := a.st.ListWorkloadBodies(ctx, f)
		if err != nil {
			return nil, nil, request.About(err, "list workloads")
		}
		out := request.Page(workloadItems(items), limit, func(json.RawMessage) request.Cursor { return request.WorkloadCursor(filter, items[limit-1].Cursor()) })
		return rawList(out), nil, nil
	})
}

// workloadItems are the workloads as report.Workload encodes them (`tagdrift scan -o
// json`), each put together from its key and the containers the store keeps encoded
// (apibody.ReportOf), so that a list shapes and encodes no container.
func workloadItems(ws []store.WorkloadBody) []json.RawMessage {
	var s jsonStrings
	out := make([]json.RawMessage, len(ws))
	for i, w := range ws {
		b := make([]byte, 0, len(w.Containers)+len(w.Cluster)+len(w.Namespace)+len(w.Kind)+len(w.Name)+80)
		b = append(b, `{"cluster":`...)
		b = s.append(b, w.Cluster)
		b = append(b, `,"namespace":`...)
		b = s.append(b, w.Namespace)
		b = append(b, `,"kind":`...)
		b = s.append(b, w.Kind)
		b = append(b, `,"name":`...)
		b = s.append(b, w.Name)
		b = append(b, `,"mutant":`...)
		b = strconv.AppendBool(b, w.Mutant)
		if len(w.Behind) > 0 {
			b = append(b, `,"behind":`...)
			b = appendBehind(b, w.Behind)
		}
		b = append(b, `,"containers":`...)
		b = append(b, w.Containers...)
		out[i] = append(b, '}')
	}
	return out
}

// appendBehind appends bs as the API's behind array, encoded as every answer is.
func appendBehind(b []byte, bs []store.BehindRef) []byte {
	// Strings and times: nothing that fails to encode.
	j, _ := request.EncodeJSON(apibody.BehindOf(bs))
	return append(b, bytes.TrimSuffix(j, []byte("\n"))...)
}
