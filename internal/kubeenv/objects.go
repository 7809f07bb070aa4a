package kubeenv

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// Namespace creates a namespace and its default ServiceAccount (no serviceaccount
// controller runs, and pods are refused without one).
func (c *Cluster) Namespace(ctx context.Context, name string) error {
	_, err := c.Admin.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create namespace %s: %w", name, err)
	}
	_, err = c.Admin.CoreV1().ServiceAccounts(name).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default"}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create default service account in %s: %w", name, err)
	}
	return nil
}

// ReadyNode creates a node that the DaemonSet controller schedules onto: Ready, with
// the given architecture and container runtime, and without the not-ready taint that
// admission adds to new nodes.
func (c *Cluster) ReadyNode(ctx context.Context, name, arch, runtime string) error {
	nodes := c.Admin.CoreV1().Nodes()
	n, err := nodes.Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{
		Name:   name,
		Labels: map[string]string{corev1.LabelArchStable: arch, corev1.LabelOSStable: "linux", corev1.LabelHostname: name},
	}}, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("create node %s: %w", name, err)
	}
	now := metav1.Now()
	n.Status = corev1.NodeStatus{
		Conditions:  []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, LastHeartbeatTime: now, LastTransitionTime: now, Reason: "KubeletReady"}},
		NodeInfo:    corev1.NodeSystemInfo{Architecture: arch, OperatingSystem: "linux", ContainerRuntimeVersion: runtime, KubeletVersion: "v1.35.4"},
		Capacity:    corev1.ResourceList{corev1.ResourcePods: resourceQuantity("110")},
		Allocatable: corev1.ResourceList{corev1.ResourcePods: resourceQuantity("110")},
	}
	if n, err = nodes.UpdateStatus(ctx, n, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("node %s status: %w", name, err)
	}
	n.Spec.Taints = nil
	if _, err := nodes.Update(ctx, n, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("untaint node %s: %w", name, err)
	}
	return nil
}

// ContainerStatus is what a kubelet reports for one container. An empty ImageID means
// the image is still being pulled (state waiting).
type ContainerStatus struct {
	Name    string
	ImageID string
	// Waiting reports the container as waiting (CrashLoopBackOff) while keeping ImageID,
	// as a kubelet does for a container that ran before.
	Waiting bool
}

// PodStatus is what a kubelet reports for one pod.
type PodStatus struct {
	Node       string // the node the pod runs on, if the test set one
	Init       []ContainerStatus
	Containers []ContainerStatus
	Ephemeral  []ContainerStatus
}

// SetContainerStatuses patches pods/status as a kubelet would: phase Running and the
// given container statuses, each with the spec's image as status.image.
func (c *Cluster) SetContainerStatuses(ctx context.Context, namespace, name string, st PodStatus) error {
	pods := c.Admin.CoreV1().Pods(namespace)
	pod, err := pods.Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("get pod %s/%s: %w", namespace, name, err)
	}
	images := map[string]string{}
	for _, ctr := range pod.Spec.InitContainers {
		images[ctr.Name] = ctr.Image
	}
	for _, ctr := range pod.Spec.Containers {
		images[ctr.Name] = ctr.Image
	}
	for _, ctr := range pod.Spec.EphemeralContainers {
		images[ctr.Name] = ctr.Image
	}
	convert := func(in []ContainerStatus, init bool) []corev1.ContainerStatus {
		var out []corev1.ContainerStatus
		for _, s := range in {
			cs := corev1.ContainerStatus{Name: s.Name, Image: images[s.Name], ImageID: s.ImageID}
			switch {
			case s.ImageID == "":
				cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}
			case s.Waiting:
				cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}
				cs.RestartCount = 1
			case init:
				cs.State.Terminated = &corev1.ContainerStateTerminated{ExitCode: 0, Reason: "Completed"}
				cs.Ready = true
			default:
				cs.State.Running = &corev1.ContainerStateRunning{StartedAt: metav1.Now()}
				cs.Ready = true
				started := true
				cs.Started = &started
			}
			if cs.ContainerID == "" && s.ImageID != "" {
				cs.ContainerID = "containerd://" + string(pod.UID)[:8] + s.Name
			}
			out = append(out, cs)
		}
		return out
	}
	patch := map[string]any{"status": map[string]any{
		"phase":                      corev1.PodRunning,
		"initContainerStatuses":      convert(st.Init, true),
		"containerStatuses":          convert(st.Containers, false),
		"ephemeralContainerStatuses": convert(st.Ephemeral, false),
	}}
	body, err := json.Marshal(patch)
	if err != nil {
		return err
	}
	if _, err := pods.Patch(ctx, name, types.MergePatchType, body, metav1.PatchOptions{}, "status"); err != nil {
		return fmt.Errorf("patch status of pod %s/%s: %w", namespace, name, err)
	}
	return nil
}

// WaitForPods waits until the label selector matches exactly n pods, and returns them.
func (c *Cluster) WaitForPods(ctx context.Context, namespace, selector string, n int) ([]corev1.Pod, error) {
	var pods []corev1.Pod
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 60*time.Second, true, func(ctx context.Context) (bool, error) {
		list, err := c.Admin.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{LabelSelector: selector})
		if err != nil {
			return false, err
		}
		pods = list.Items
		return len(pods) == n, nil
	})
	if err != nil {
		return nil, fmt.Errorf("wait for %d pods %q in %s (have %d): %w", n, selector, namespace, len(pods), err)
	}
	return pods, nil
}

// Context is one kubeconfig context: a cluster reached with a bearer token.
type Context struct {
	Name   string
	Server string
	CAData []byte
	Token  string
}

// Context returns a kubeconfig context for the cluster with the given token.
func (c *Cluster) Context(name, token string) Context {
	return Context{Name: name, Server: c.Host, CAData: c.CAData, Token: token}
}

// WriteKubeconfig writes a kubeconfig file holding the contexts, current naming the
// current one.
func WriteKubeconfig(path, current string, contexts ...Context) error {
	cfg := clientcmdapi.NewConfig()
	for _, ctx := range contexts {
		cfg.Clusters[ctx.Name] = &clientcmdapi.Cluster{Server: ctx.Server, CertificateAuthorityData: ctx.CAData}
		cfg.AuthInfos[ctx.Name] = &clientcmdapi.AuthInfo{Token: ctx.Token}
		cfg.Contexts[ctx.Name] = &clientcmdapi.Context{Cluster: ctx.Name, AuthInfo: ctx.Name}
	}
	cfg.CurrentContext = current
	b, err := clientcmd.Write(*cfg)
	if err != nil {
		return fmt.Errorf("encode kubeconfig: %w", err)
	}
	return os.WriteFile(path, b, 0o600)
}

func resourceQuantity(s string) resource.Quantity { return resource.MustParse(s) }

// Bind assigns a pod to a node, as the scheduler would (no scheduler runs here).
func (c *Cluster) Bind(ctx context.Context, namespace, pod, node string) error {
	err := c.Admin.CoreV1().Pods(namespace).Bind(ctx, &corev1.Binding{
		ObjectMeta: metav1.ObjectMeta{Name: pod},
		Target:     corev1.ObjectReference{Kind: "Node", Name: node},
	}, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("bind pod %s/%s to %s: %w", namespace, pod, node, err)
	}
	return nil
}

// DaemonSetNode returns the node a DaemonSet pod is meant for: the DaemonSet controller
// names it in the pod's required node affinity and leaves the binding to the scheduler.
func DaemonSetNode(p *corev1.Pod) string {
	a := p.Spec.Affinity
	if a == nil || a.NodeAffinity == nil || a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		return ""
	}
	for _, term := range a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms {
		for _, f := range term.MatchFields {
			if f.Key == "metadata.name" && len(f.Values) == 1 {
				return f.Values[0]
			}
		}
	}
	return ""
}

// RequestCounts reads the API server's apiserver_request_total metric and returns the
// number of requests so far by "VERB resource" (for example "LIST pods"), summed over
// the other labels. Tests take it before and after an action to count its requests.
func (c *Cluster) RequestCounts(ctx context.Context) (map[string]float64, error) {
	body, err := c.Admin.CoreV1().RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		return nil, fmt.Errorf("read metrics: %w", err)
	}
	counts := map[string]float64{}
	for _, line := range strings.Split(string(body), "\n") {
		if !strings.HasPrefix(line, "apiserver_request_total{") {
			continue
		}
		labels, value, ok := strings.Cut(strings.TrimPrefix(line, "apiserver_request_total{"), "} ")
		if !ok {
			continue
		}
		var verb, res string
		for _, kv := range strings.Split(labels, ",") {
			k, v, _ := strings.Cut(kv, "=")
			v = strings.Trim(v, `"`)
			switch k {
			case "verb":
				verb = v
			case "resource":
				res = v
			}
		}
		n, err := strconv.ParseFloat(value, 64)
		if err != nil {
			return nil, fmt.Errorf("metric line %q: %w", line, err)
		}
		counts[verb+" "+res] += n
	}
	return counts, nil
}
