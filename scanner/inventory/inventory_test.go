package inventory

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/tagdrift/tagdrift/scanner/imageref"
)

const digestA = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

func controller(kind, name, uid string) metav1.OwnerReference {
	yes := true
	return metav1.OwnerReference{Kind: kind, Name: name, UID: types.UID(uid), Controller: &yes}
}

func TestResolveWorkload(t *testing.T) {
	owners := Owners{}
	owners.Add(&metav1.ObjectMeta{UID: "rs-web", OwnerReferences: []metav1.OwnerReference{controller("Deployment", "web", "d-web")}})
	owners.Add(&metav1.ObjectMeta{UID: "job-nightly-1", OwnerReferences: []metav1.OwnerReference{controller("CronJob", "nightly", "cj")}})
	owners.Add(&metav1.ObjectMeta{UID: "rs-bare"}) // no controller: stays out
	owners.Add(&metav1.ObjectMeta{UID: "rs-rollout", OwnerReferences: []metav1.OwnerReference{controller("Rollout", "canary", "ro")}})
	// An owner that is not a controller is not followed.
	owners.Add(&metav1.ObjectMeta{UID: "job-adopted", OwnerReferences: []metav1.OwnerReference{{Kind: "CronJob", Name: "x", UID: "y"}}})
	b := NewBuilder("c1", owners, nil)

	tests := []struct {
		name     string
		owner    *metav1.OwnerReference
		labels   map[string]string
		workload Workload
		ctl      Controller
	}{
		{"deployment", ptr(controller("ReplicaSet", "web-5d8f", "rs-web")), map[string]string{"pod-template-hash": "5d8f"},
			Workload{"Deployment", "web"}, Controller{"ReplicaSet", "web-5d8f", "rs-web", "5d8f"}},
		{"replicaset without deployment", ptr(controller("ReplicaSet", "bare", "rs-bare")), nil,
			Workload{"ReplicaSet", "bare"}, Controller{"ReplicaSet", "bare", "rs-bare", ""}},
		{"replicaset of another controller", ptr(controller("ReplicaSet", "canary-1", "rs-rollout")), map[string]string{"pod-template-hash": "1"},
			Workload{"Rollout", "canary"}, Controller{"ReplicaSet", "canary-1", "rs-rollout", "1"}},
		{"replicaset not listed (deleted meanwhile)", ptr(controller("ReplicaSet", "gone", "rs-gone")), nil,
			Workload{"ReplicaSet", "gone"}, Controller{"ReplicaSet", "gone", "rs-gone", ""}},
		{"statefulset", ptr(controller("StatefulSet", "db", "sts")), map[string]string{"controller-revision-hash": "db-7c9"},
			Workload{"StatefulSet", "db"}, Controller{"StatefulSet", "db", "sts", "db-7c9"}},
		{"daemonset", ptr(controller("DaemonSet", "agent", "ds")), map[string]string{"controller-revision-hash": "66b", "pod-template-generation": "3"},
			Workload{"DaemonSet", "agent"}, Controller{"DaemonSet", "agent", "ds", "66b"}},
		{"job of a cronjob", ptr(controller("Job", "nightly-1", "job-nightly-1")), nil,
			Workload{"CronJob", "nightly"}, Controller{"Job", "nightly-1", "job-nightly-1", ""}},
		{"job alone", ptr(controller("Job", "once", "job-once")), nil,
			Workload{"Job", "once"}, Controller{"Job", "once", "job-once", ""}},
		{"job with a non-controller owner", ptr(controller("Job", "adopted", "job-adopted")), nil,
			Workload{"Job", "adopted"}, Controller{"Job", "adopted", "job-adopted", ""}},
		{"static pod owned by its node", ptr(controller("Node", "node-1", "n1")), nil,
			Workload{"Pod", "the-pod"}, Controller{}},
		{"bare pod", nil, map[string]string{"pod-template-hash": "looks-like-a-deployment"},
			Workload{"Pod", "the-pod"}, Controller{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "the-pod", Namespace: "ns", Labels: tt.labels}}
			if tt.owner != nil {
				p.OwnerReferences = []metav1.OwnerReference{*tt.owner}
			}
			got := b.Pod(p)
			if got.Workload != tt.workload || got.Controller != tt.ctl {
				t.Errorf("workload %+v controller %+v, want %+v %+v", got.Workload, got.Controller, tt.workload, tt.ctl)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

func TestContainers(t *testing.T) {
	running := corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}
	done := corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0}}
	waiting := corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ImagePullBackOff"}}
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", UID: "u"},
		Spec: corev1.PodSpec{
			NodeName:       "n1",
			InitContainers: []corev1.Container{{Name: "init", Image: "busybox"}},
			Containers: []corev1.Container{
				{Name: "app", Image: "nginx:1.25"},
				{Name: "pulling", Image: "redis:7"},
				{Name: "restarting", Image: "redis:7"},
				{Name: "no-status", Image: "redis:7"},
			},
			EphemeralContainers: []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "debug", Image: "alpine"}}},
		},
		Status: corev1.PodStatus{
			InitContainerStatuses: []corev1.ContainerStatus{{Name: "init", State: done, ImageID: "docker.io/library/busybox@" + digestA}},
			ContainerStatuses: []corev1.ContainerStatus{
				// Statuses come in any order; status.image names another tag and must be ignored.
				{Name: "restarting", State: waiting, ImageID: "docker.io/library/redis@" + digestA, Image: "redis:7"},
				{Name: "app", State: running, Image: "docker.io/library/nginx:1.24", ImageID: "docker-pullable://nginx@" + digestA},
				{Name: "pulling", State: waiting, ImageID: ""},
			},
			EphemeralContainerStatuses: []corev1.ContainerStatus{{Name: "debug", State: running, ImageID: "sha256:" + digestA[7:]}},
		},
	}
	b := NewBuilder("c1", Owners{}, map[string]Node{"n1": {Arch: "arm64", Runtime: "containerd://1.7.2"}})
	got := b.Pod(p)
	if got.Cluster != "c1" || got.Namespace != "ns" || got.Name != "p" || got.UID != "u" || got.Node != "n1" ||
		got.Arch != "arm64" || got.Runtime != "containerd://1.7.2" {
		t.Errorf("pod fields: %+v", got)
	}
	type want struct {
		name     string
		typ      ContainerType
		ref      string
		observed bool
		kind     imageref.Kind
	}
	wants := []want{
		{"init", Init, "docker.io/library/busybox:latest", true, imageref.KindRepo},
		{"app", Regular, "docker.io/library/nginx:1.25", true, imageref.KindRepo},
		{"pulling", Regular, "docker.io/library/redis:7", false, ""},
		{"restarting", Regular, "docker.io/library/redis:7", false, ""},
		{"no-status", Regular, "docker.io/library/redis:7", false, ""},
		{"debug", Ephemeral, "docker.io/library/alpine:latest", true, imageref.KindImageID},
	}
	if len(got.Containers) != len(wants) {
		t.Fatalf("got %d containers, want %d", len(got.Containers), len(wants))
	}
	for i, w := range wants {
		c := got.Containers[i]
		if c.Name != w.name || c.Type != w.typ || c.Ref.Normalized != w.ref || c.Observed() != w.observed || (c.Observed() && c.ID.Kind != w.kind) {
			t.Errorf("container %d = %+v, want %+v", i, c, w)
		}
		if c.Observed() && c.ID.Digest != digestA {
			t.Errorf("container %s digest %q", c.Name, c.ID.Digest)
		}
	}
}

func TestCanonicalKind(t *testing.T) {
	for in, want := range map[string]string{
		"deployment": "Deployment", "DEPLOYMENT": "Deployment", "Deployment": "Deployment",
		"statefulset": "StatefulSet", "daemonSet": "DaemonSet", "cronjob": "CronJob", "job": "Job",
		"pod": "Pod", "replicaset": "ReplicaSet",
		"Rollout": "Rollout", "rollout": "rollout", "": "",
	} {
		if got := CanonicalKind(in); got != want {
			t.Errorf("CanonicalKind(%q) = %q, want %q", in, got, want)
		}
	}
}
