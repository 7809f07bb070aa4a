package main

import (
	"context"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/tagdrift/tagdrift/internal/kubeenv"
	"github.com/tagdrift/tagdrift/scanner/kubeconfig"
)

// TestScannerKubeconfig: the compose demo's init applies deploy/scanned-cluster/ to the
// cluster with the admin's kubeconfig and hands tagdrift a kubeconfig of the read-only
// scanner identity: it lists pods, and is refused secrets and any change. A second run
// changes nothing and gives the same token.
func TestScannerKubeconfig(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	env, err := kubeenv.Start(ctx, kubeenv.Options{Clusters: []kubeenv.ClusterOptions{{Name: "compose"}}})
	if err != nil {
		t.Fatalf("start Kubernetes: %v", err)
	}
	defer env.Stop()
	c := env.Clusters[0]
	admin, err := clientcmd.Write(*clientcmdapiConfig("admin", c.Host, c.CAData, &clientcmdapi.AuthInfo{Token: c.AdminToken}))
	if err != nil {
		t.Fatal(err)
	}
	// No controller manager runs: play its token controller.
	played := make(chan error, 1)
	go func() { played <- playTokenController(ctx, c.Admin) }()
	kc, err := scannerKubeconfig(ctx, admin, "k3s-demo", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if err := <-played; err != nil {
		t.Fatal(err)
	}
	reduced, err := kubeconfig.Vet(kc, "", kubeconfig.Policy{})
	if err != nil || reduced.Context != "k3s-demo" || reduced.Server != c.Host {
		t.Fatalf("tagdrift refuses the kubeconfig or names it otherwise: %+v, %v", reduced, err)
	}
	rc, err := clientcmd.RESTConfigFromKubeConfig(kc)
	if err != nil {
		t.Fatal(err)
	}
	sa := kubernetes.NewForConfigOrDie(rc)
	if _, err := sa.CoreV1().Pods("").List(ctx, metav1.ListOptions{Limit: 1}); err != nil {
		t.Errorf("the scanner cannot list pods: %v", err)
	}
	if _, err := sa.CoreV1().Secrets("tagdrift").List(ctx, metav1.ListOptions{Limit: 1}); !apierrors.IsForbidden(err) {
		t.Errorf("the scanner lists secrets: %v, want forbidden", err)
	}
	if _, err := sa.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "x"}}, metav1.CreateOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("the scanner creates a namespace: %v, want forbidden", err)
	}
	again, err := scannerKubeconfig(ctx, admin, "k3s-demo", time.Minute)
	if err != nil || string(again) != string(kc) {
		t.Errorf("a second init: %v, same kubeconfig %t", err, string(again) == string(kc))
	}
}

// playTokenController fills the token Secret of deploy/scanned-cluster/ as
// kube-controller-manager's token controller does in k3s.
func playTokenController(ctx context.Context, admin kubernetes.Interface) error {
	secrets := admin.CoreV1().Secrets("tagdrift")
	for {
		s, err := secrets.Get(ctx, "tagdrift-scanner-token", metav1.GetOptions{})
		if err == nil {
			tr, err := admin.CoreV1().ServiceAccounts("tagdrift").CreateToken(ctx, "tagdrift-scanner", &authenticationv1.TokenRequest{
				Spec: authenticationv1.TokenRequestSpec{
					BoundObjectRef: &authenticationv1.BoundObjectReference{Kind: "Secret", APIVersion: "v1", Name: s.Name, UID: s.UID},
				},
			}, metav1.CreateOptions{})
			if err != nil {
				return err
			}
			s.Data = map[string][]byte{corev1.ServiceAccountTokenKey: []byte(tr.Status.Token)}
			_, err = secrets.Update(ctx, s, metav1.UpdateOptions{})
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}
