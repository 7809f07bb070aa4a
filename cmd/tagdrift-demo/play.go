package main

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// The demo image: one layer with this program as /app and the content as /content.
const (
	repository  = "tagdrift-demo/app"
	tag         = "stable"
	contentPath = "/content"
	deployment  = "web"
)

// player plays the mutation in one cluster.
type player struct {
	Client kubernetes.Interface
	// Registry is host:port of a plain-http registry the cluster's nodes pull from.
	Registry  string
	Namespace string
	// App is the program of the demo image (static, for the nodes' architecture).
	App []byte
	// NodeName pins the pods to a node, where no scheduler runs; empty lets the
	// scheduler place them.
	NodeName string
	// Wait bounds each wait for pods.
	Wait time.Duration
	Log  *slog.Logger
	// Push, when set, pushes the image of content under the tag and returns its
	// digest, instead of the image built from App.
	Push func(ctx context.Context, content string) (string, error)
}

// result is what the pods of the Deployment run at the end.
type result struct {
	Reference     string
	First, Second string         // the tag's digests, before and after it moved
	Count         map[string]int // pods by digest
}

func (p *player) ref() string { return p.Registry + "/" + repository + ":" + tag }

// Play pushes the first content under the tag, runs it in three replicas, pushes the
// second content under the same tag and scales to five: the two new pods pull the moved
// tag (imagePullPolicy Always), the three old ones still run the first content.
func (p *player) Play(ctx context.Context) (result, error) {
	res := result{Reference: p.ref()}
	if err := p.reset(ctx); err != nil {
		return res, err
	}
	var err error
	if res.First, err = p.push(ctx, "first content"); err != nil {
		return res, err
	}
	p.Log.Info("pushed", "reference", p.ref(), "digest", res.First)
	if err := p.deploy(ctx, 3); err != nil {
		return res, err
	}
	if _, err := p.waitRunning(ctx, 3); err != nil {
		return res, err
	}
	if res.Second, err = p.push(ctx, "second content"); err != nil {
		return res, err
	}
	p.Log.Info("moved the tag", "reference", p.ref(), "digest", res.Second)
	if err := p.scale(ctx, 5); err != nil {
		return res, err
	}
	if res.Count, err = p.waitRunning(ctx, 5); err != nil {
		return res, err
	}
	if res.Count[res.First] != 3 || res.Count[res.Second] != 2 {
		return res, fmt.Errorf("pods run %v, want 3 of %s and 2 of %s", res.Count, res.First, res.Second)
	}
	p.Log.Info("mutation played", "reference", p.ref(), "pods_by_digest", res.Count)
	return res, nil
}

// image builds the demo image of the given content.
func (p *player) image(content string) (v1.Image, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range []struct {
		name string
		mode int64
		body []byte
	}{{"app", 0o755, p.App}, {strings.TrimPrefix(contentPath, "/"), 0o644, []byte(content)}} {
		hdr := &tar.Header{Name: f.name, Mode: f.mode, Size: int64(len(f.body)), Typeflag: tar.TypeReg, ModTime: time.Unix(0, 0)}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.body); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	layerBytes := buf.Bytes()
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerBytes)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, err
	}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err = mutate.ConfigFile(img, &v1.ConfigFile{
		Architecture: runtime.GOARCH, OS: "linux",
		Config: v1.Config{Entrypoint: []string{"/app", "app"}, Labels: map[string]string{"org.opencontainers.image.title": "tagdrift demo app"}},
		RootFS: v1.RootFS{Type: "layers"},
	})
	if err != nil {
		return nil, err
	}
	return mutate.AppendLayers(img, layer)
}

// push pushes the image of content under the tag and returns its digest.
func (p *player) push(ctx context.Context, content string) (string, error) {
	if p.Push != nil {
		return p.Push(ctx, content)
	}
	img, err := p.image(content)
	if err != nil {
		return "", fmt.Errorf("demo image: %w", err)
	}
	ref, err := name.ParseReference(p.ref(), name.Insecure)
	if err != nil {
		return "", err
	}
	if err := remote.Write(ref, img, remote.WithContext(ctx)); err != nil {
		return "", fmt.Errorf("push %s: %w", ref, err)
	}
	d, err := img.Digest()
	return d.String(), err
}

// reset removes the Deployment of an earlier play, and waits for its pods to go.
func (p *player) reset(ctx context.Context) error {
	if _, err := p.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: p.Namespace}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create namespace %s: %w", p.Namespace, err)
	}
	// Clusters without the serviceaccount controller refuse pods until this exists.
	if _, err := p.Client.CoreV1().ServiceAccounts(p.Namespace).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default"}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create service account: %w", err)
	}
	fg := metav1.DeletePropagationForeground
	err := p.Client.AppsV1().Deployments(p.Namespace).Delete(ctx, deployment, metav1.DeleteOptions{PropagationPolicy: &fg})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("delete the previous demo: %w", err)
	}
	return wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, p.Wait, true, func(ctx context.Context) (bool, error) {
		_, err := p.Client.AppsV1().Deployments(p.Namespace).Get(ctx, deployment, metav1.GetOptions{})
		if !apierrors.IsNotFound(err) {
			return false, nil
		}
		pods, err := p.Client.CoreV1().Pods(p.Namespace).List(ctx, metav1.ListOptions{LabelSelector: "app=" + deployment})
		return err == nil && len(pods.Items) == 0, nil
	})
}

func (p *player) deploy(ctx context.Context, replicas int32) error {
	labels := map[string]string{"app": deployment}
	no, yes := false, true
	grace := int64(2)
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: deployment, Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					NodeName:                      p.NodeName,
					TerminationGracePeriodSeconds: &grace,
					AutomountServiceAccountToken:  &no,
					// A real node with no pod network runs host-network pods only.
					HostNetwork: p.NodeName != "",
					Containers: []corev1.Container{{
						Name:  "app",
						Image: p.ref(),
						// The tag is pulled anew for every pod, as many clusters do: so a
						// moved tag reaches the new pods.
						ImagePullPolicy: corev1.PullAlways,
						Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
							corev1.ResourceCPU: resource.MustParse("5m"), corev1.ResourceMemory: resource.MustParse("16Mi"),
						}},
						SecurityContext: &corev1.SecurityContext{
							RunAsNonRoot: &yes, RunAsUser: new(int64(65532)), AllowPrivilegeEscalation: &no,
							ReadOnlyRootFilesystem: &yes, Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
						},
					}},
				},
			},
		},
	}
	if _, err := p.Client.AppsV1().Deployments(p.Namespace).Create(ctx, d, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create deployment %s/%s: %w", p.Namespace, deployment, err)
	}
	return nil
}

// replaceOne deletes one pod of the Deployment, which its ReplicaSet replaces: the new
// pod pulls the tag again.
func (p *player) replaceOne(ctx context.Context) error {
	pods, err := p.Client.CoreV1().Pods(p.Namespace).List(ctx, metav1.ListOptions{LabelSelector: "app=" + deployment})
	if err != nil || len(pods.Items) == 0 {
		return fmt.Errorf("pods of %s/%s: %d, %w", p.Namespace, deployment, len(pods.Items), err)
	}
	victim := pods.Items[0].Name
	if err := p.Client.CoreV1().Pods(p.Namespace).Delete(ctx, victim, metav1.DeleteOptions{}); err != nil {
		return fmt.Errorf("delete pod %s/%s: %w", p.Namespace, victim, err)
	}
	p.Log.Info("deleted a pod; its ReplicaSet replaces it", "pod", victim)
	return nil
}

func (p *player) scale(ctx context.Context, replicas int32) error {
	s, err := p.Client.AppsV1().Deployments(p.Namespace).GetScale(ctx, deployment, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("scale of %s: %w", deployment, err)
	}
	s.Spec.Replicas = replicas
	if _, err := p.Client.AppsV1().Deployments(p.Namespace).UpdateScale(ctx, deployment, s, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("scale %s to %d: %w", deployment, replicas, err)
	}
	return nil
}

// waitRunning waits until n pods of the Deployment run, each with the digest it pulled,
// and counts them by digest.
func (p *player) waitRunning(ctx context.Context, n int) (map[string]int, error) {
	var count map[string]int
	var running int
	err := wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, p.Wait, true, func(ctx context.Context) (bool, error) {
		pods, err := p.Client.CoreV1().Pods(p.Namespace).List(ctx, metav1.ListOptions{LabelSelector: "app=" + deployment})
		if err != nil {
			return false, nil // the API server may be busy; try again until the deadline
		}
		count, running = map[string]int{}, 0
		for _, pod := range pods.Items {
			if pod.DeletionTimestamp != nil {
				continue
			}
			for _, cs := range pod.Status.ContainerStatuses {
				if cs.Name == "app" && cs.State.Running != nil && cs.ImageID != "" {
					count[digestOf(cs.ImageID)]++
					running++
				}
			}
		}
		return running == n, nil
	})
	if err != nil {
		return nil, fmt.Errorf("wait for %d running pods of %s/%s (%d run): %w", n, p.Namespace, deployment, running, err)
	}
	return count, nil
}

// digestOf is the digest of an imageID such as registry:5000/repo@sha256:…
func digestOf(imageID string) string {
	if i := strings.LastIndexByte(imageID, '@'); i >= 0 {
		return imageID[i+1:]
	}
	return imageID
}

// clientcmdapiConfig is a kubeconfig of one context, name, at server.
func clientcmdapiConfig(name, server string, ca []byte, user *clientcmdapi.AuthInfo) *clientcmdapi.Config {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters[name] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: ca}
	cfg.AuthInfos[name] = &clientcmdapi.AuthInfo{
		ClientCertificateData: user.ClientCertificateData, ClientKeyData: user.ClientKeyData, Token: user.Token,
	}
	cfg.Contexts[name] = &clientcmdapi.Context{Cluster: name, AuthInfo: name}
	cfg.CurrentContext = name
	return cfg
}
