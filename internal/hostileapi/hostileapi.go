// Package hostileapi is a fake Kubernetes API server that sends too much, for tests
// and benchmarks of the bounds on what a scanned cluster can make tagdrift hold
// (docs/security.md, "What a cluster may send"): it answers the four lists a scan makes, with pods from
// an attack of the caller's choice (or a healthy handler) and nothing else.
package hostileapi

import (
	"bufio"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// Handler serves the lists of a scan: pods from pods, no ReplicaSets, Jobs or nodes
// (as metadata when asked so, as a watch's informers ask).
func Handler(pods http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/api/v1/pods":
			pods(w, r)
		case "/apis/apps/v1/replicasets", "/apis/batch/v1/jobs":
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, `{"kind":"PartialObjectMetadataList","apiVersion":"meta.k8s.io/v1","metadata":{},"items":[]}`)
		case "/api/v1/nodes":
			w.Header().Set("Content-Type", "application/json")
			if strings.Contains(r.Header.Get("Accept"), "as=PartialObjectMetadataList") { // a watch's informer
				fmt.Fprint(w, `{"kind":"PartialObjectMetadataList","apiVersion":"meta.k8s.io/v1","metadata":{},"items":[]}`)
				return
			}
			fmt.Fprint(w, `{"kind":"NodeList","apiVersion":"v1","metadata":{},"items":[]}`)
		default:
			http.NotFound(w, r)
		}
	})
}

// Pod is a pod of one container, in JSON, with an annotation of pad bytes.
func Pod(name string, pad int) string {
	return fmt.Sprintf(`{"metadata":{"name":%q,"namespace":"attack","uid":"u-%s","annotations":{"pad":"%s"}},`+
		`"spec":{"containers":[{"name":"app","image":"nginx:1.25"}]},`+
		`"status":{"containerStatuses":[{"name":"app","imageID":"docker.io/library/nginx@sha256:%064d"}]}}`,
		name, name, strings.Repeat("x", pad), 1)
}

// Huge streams one list answer of total bytes, pod after pod, as long as the client
// reads.
func Huge(total int) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		bw := bufio.NewWriterSize(w, 64<<10)
		n, _ := fmt.Fprint(bw, `{"kind":"PodList","apiVersion":"v1","metadata":{},"items":[`)
		for i := 0; n < total; i++ {
			m, err := fmt.Fprint(bw, Pod("p"+strconv.Itoa(i), 1<<20)+",")
			if err != nil {
				return // the client stopped reading
			}
			n += m
		}
		fmt.Fprint(bw, Pod("last", 0)+`]}`)
		bw.Flush()
	}
}

// Endless answers every page in full, with a continue token that never ends.
func Endless(w http.ResponseWriter, r *http.Request) {
	limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
	page, _ := strconv.Atoi(strings.TrimPrefix(r.URL.Query().Get("continue"), "page-"))
	w.Header().Set("Content-Type", "application/json")
	var b strings.Builder
	fmt.Fprintf(&b, `{"kind":"PodList","apiVersion":"v1","metadata":{"continue":"page-%d"},"items":[`, page+1)
	for i := range max(limit, 1) {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString(Pod(fmt.Sprintf("p-%d-%d", page, i), 0))
	}
	b.WriteString("]}")
	fmt.Fprint(w, b.String())
}

// BigPods serves count pods of size bytes each, paginated as asked: pending pods that
// a user allowed to create pods in one namespace can make.
func BigPods(count, size int) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
		start, _ := strconv.Atoi(r.URL.Query().Get("continue"))
		end := min(start+max(limit, 1), count)
		w.Header().Set("Content-Type", "application/json")
		cont := ""
		if end < count {
			cont = strconv.Itoa(end)
		}
		bw := bufio.NewWriter(w)
		fmt.Fprintf(bw, `{"kind":"PodList","apiVersion":"v1","metadata":{"continue":%q},"items":[`, cont)
		for i := start; i < end; i++ {
			if i > start {
				bw.WriteString(",")
			}
			if _, err := bw.WriteString(Pod("big-"+strconv.Itoa(i), size)); err != nil {
				return
			}
		}
		bw.WriteString("]}")
		bw.Flush()
	}
}

// EmptyContainers answers one pod of n empty containers, `{}` each: a few bytes on
// the wire that client-go would decode into hundreds.
func EmptyContainers(n int) http.HandlerFunc {
	body := `{"kind":"PodList","apiVersion":"v1","metadata":{},"items":[{"metadata":{"name":"amp"},"spec":{"containers":[` +
		strings.Repeat(`{},`, n-1) + `{}]}}]}`
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, body)
	}
}

// Attacks are the attacks of issue 24, by name: one answer of 400 MB, continue tokens
// without end, 300 pending pods of 1.3 MB, and a pod of 1.3 million empty containers
// (just under the 4 MiB answer cap).
func Attacks() map[string]http.HandlerFunc {
	return map[string]http.HandlerFunc{
		"huge":    Huge(400 << 20),
		"endless": Endless,
		"bigpods": BigPods(300, 1300<<10),
		"empty":   EmptyContainers(1_300_000),
	}
}
