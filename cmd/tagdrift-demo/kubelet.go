package main

import (
	"context"
	"fmt"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tagdrift/tagdrift/internal/kubeenv"
)

// fakeKubelet plays the kubelet of a cluster with no node: each new pod of the
// namespace "pulls" its image when first seen, that is, its tag is resolved in the
// registry at that moment, and the pod is reported running that digest, with the
// imageID containerd would write (host:port/repository@sha256:…).
type fakeKubelet struct {
	Cluster   *kubeenv.Cluster
	Namespace string
}

// Run plays until ctx ends.
func (k *fakeKubelet) Run(ctx context.Context) error {
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		if err := k.once(ctx); err != nil && ctx.Err() == nil {
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

func (k *fakeKubelet) once(ctx context.Context) error {
	pods, err := k.Cluster.Admin.CoreV1().Pods(k.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("list pods: %w", err)
	}
	for _, pod := range pods.Items {
		if pod.DeletionTimestamp != nil || len(pod.Status.ContainerStatuses) > 0 {
			continue
		}
		st := kubeenv.PodStatus{Node: pod.Spec.NodeName}
		for _, c := range pod.Spec.Containers {
			id, err := pull(ctx, c.Image)
			if err != nil {
				return fmt.Errorf("pod %s: %w", pod.Name, err)
			}
			st.Containers = append(st.Containers, kubeenv.ContainerStatus{Name: c.Name, ImageID: id})
		}
		if err := k.Cluster.SetContainerStatuses(ctx, pod.Namespace, pod.Name, st); err != nil {
			return err
		}
	}
	return nil
}

// pull resolves an image reference in its plain-http registry as a pull would, and
// returns the imageID a containerd node reports for it.
func pull(ctx context.Context, image string) (string, error) {
	ref, err := name.ParseReference(image, name.Insecure)
	if err != nil {
		return "", fmt.Errorf("image %q: %w", image, err)
	}
	desc, err := remote.Head(ref, remote.WithContext(ctx))
	if err != nil {
		return "", fmt.Errorf("resolve %s: %w", image, err)
	}
	return ref.Context().Name() + "@" + desc.Digest.String(), nil
}
