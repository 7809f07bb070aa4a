package hostileapi

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// The watches of a fake cluster, for the hostile-cluster benchmark in watch mode: a
// cluster answers the lists of Handler and the watches client-go's informers open
// after them, hostile or not.

// IsWatch tells whether r asks for a watch rather than a list.
func IsWatch(r *http.Request) bool {
	v := r.URL.Query().Get("watch")
	return v == "true" || v == "1"
}

// RefuseStreamingList answers a watch that asks for its initial events (a streaming
// list) as an API server that has none, so that client-go lists instead; it tells
// whether it answered.
func RefuseStreamingList(w http.ResponseWriter, r *http.Request) bool {
	if r.URL.Query().Get("sendInitialEvents") != "true" {
		return false
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusBadRequest)
	fmt.Fprint(w, `{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",`+
		`"reason":"BadRequest","code":400,"message":"streaming lists are not served here"}`)
	return true
}

// Idle holds a watch open without an event until the client leaves.
func Idle(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
	<-r.Context().Done()
}

// WatchHandler serves the lists of Handler and their watches: those of ReplicaSets,
// Jobs and nodes stay idle (streaming lists refused), those of pods are pods' own.
func WatchHandler(pods http.HandlerFunc) http.Handler {
	lists := Handler(pods)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if IsWatch(r) && r.URL.Path != "/api/v1/pods" {
			if !RefuseStreamingList(w, r) {
				Idle(w, r)
			}
			return
		}
		lists.ServeHTTP(w, r)
	})
}

// ReplicaSetsOfLabels serves pages of ReplicaSets, as metadata, of n labels each,
// with continue tokens without end (a page just under the 4 MiB answer cap: client-go
// would decode each label into a map entry, ten times its bytes); its pods, watches and
// other lists are empty.
func ReplicaSetsOfLabels(n int) http.Handler {
	var labels strings.Builder
	for i := range n {
		if i > 0 {
			labels.WriteString(",")
		}
		fmt.Fprintf(&labels, `"l%d":""`, i)
	}
	empty := WatchHandler(func(w http.ResponseWriter, r *http.Request) {
		if IsWatch(r) {
			if !RefuseStreamingList(w, r) {
				Idle(w, r)
			}
			return
		}
		emptyPods(w)
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if IsWatch(r) || r.URL.Path != "/apis/apps/v1/replicasets" {
			empty.ServeHTTP(w, r)
			return
		}
		limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
		page, _ := strconv.Atoi(strings.TrimPrefix(r.URL.Query().Get("continue"), "page-"))
		w.Header().Set("Content-Type", "application/json")
		var b strings.Builder
		fmt.Fprintf(&b, `{"kind":"PartialObjectMetadataList","apiVersion":"meta.k8s.io/v1","metadata":{"continue":"page-%d"},"items":[`, page+1)
		for i := range max(limit, 1) {
			if i > 0 {
				b.WriteString(",")
			}
			fmt.Fprintf(&b, `{"kind":"PartialObjectMetadata","apiVersion":"meta.k8s.io/v1","metadata":{"name":"rs-%d-%d","namespace":"attack","uid":"u-%d-%d","labels":{%s}}}`,
				page, i, page, i, labels.String())
		}
		b.WriteString("]}")
		fmt.Fprint(w, b.String())
	})
}

// ListAttack makes an attack on lists answer watches: a streaming list is refused, so
// that client-go lists and meets the attack; a watch stays idle.
func ListAttack(list http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		switch {
		case !IsWatch(r):
			list(w, r)
		case !RefuseStreamingList(w, r):
			Idle(w, r)
		}
	}
}

// Event is a watch event of typ (ADDED, MODIFIED) of a pod in JSON, as Pod makes it.
func Event(typ, pod string) string {
	return `{"type":"` + typ + `","object":{"kind":"Pod","apiVersion":"v1",` + strings.TrimPrefix(pod, "{") + "}\n"
}

// emptyPods answers a list of no pod.
func emptyPods(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprint(w, `{"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":"1"},"items":[]}`)
}

// BigEvent answers a list of no pod, and a watch (a streaming list or not) with one
// event of a pod of size bytes, then nothing.
func BigEvent(size int) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !IsWatch(r) {
			emptyPods(w)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		if _, err := fmt.Fprint(w, Event("ADDED", Pod("big", size))); err != nil {
			return
		}
		<-r.Context().Done()
	}
}

// EmptyContainersEvent answers a list of no pod, and a watch with one event of a pod
// of n empty containers, `{}` each (300,000 fit in a 1 MiB event: client-go would
// decode them into about 360 MB), then nothing.
func EmptyContainersEvent(n int) http.HandlerFunc {
	event := `{"type":"ADDED","object":{"kind":"Pod","apiVersion":"v1","metadata":{"name":"amp","namespace":"x"},"spec":{"containers":[` +
		strings.Repeat(`{},`, n-1) + `{}]}}}` + "\n"
	return func(w http.ResponseWriter, r *http.Request) {
		if !IsWatch(r) {
			emptyPods(w)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		if _, err := fmt.Fprint(w, event); err != nil {
			return
		}
		<-r.Context().Done()
	}
}

// Flood answers a list of no pod, and a watch (a streaming list or not) with events of
// new pods without end, as long as the client reads.
func Flood(w http.ResponseWriter, r *http.Request) {
	if !IsWatch(r) {
		emptyPods(w)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	for i := 0; ; i++ {
		if _, err := fmt.Fprint(w, Event("ADDED", Pod("flood-"+strconv.Itoa(i), 0))); err != nil {
			return // the client stopped reading
		}
	}
}

// WatchAttacks are the attacks on a watch, by name: the four of Attacks, met by the
// list a watch starts with, an event of 4 MiB, an event of a pod of 300,000 empty
// containers, and events of new pods without end.
func WatchAttacks() map[string]http.HandlerFunc {
	out := map[string]http.HandlerFunc{"bigevent": BigEvent(4 << 20), "flood": Flood,
		"emptyevent": EmptyContainersEvent(300_000)}
	for name, h := range Attacks() {
		out[name] = ListAttack(h)
	}
	return out
}
