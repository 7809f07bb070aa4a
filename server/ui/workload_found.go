package ui

import (
	"strings"

	"github.com/tagdrift/tagdrift/web"
)

// markFound marks the pods of a workload's page whose names begin with prefix, the
// pod-name prefix a search matched (web.SearchView.WorkloadURL); the first of them is
// the page's #found anchor. An empty prefix, or one longer than a pod name can be,
// marks nothing.
func markFound(v *web.WorkloadView, prefix string) {
	if prefix == "" || len(prefix) > 253 {
		return
	}
	v.FoundPod = prefix
	for i := range v.Containers {
		for j := range v.Containers[i].Pods {
			p := &v.Containers[i].Pods[j]
			if strings.HasPrefix(p.Pod, prefix) {
				p.Found = true
				if v.FoundCount == 0 {
					p.FoundFirst = true
				}
				v.FoundCount++
			}
		}
	}
}
