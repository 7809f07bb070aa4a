package kubeenv

import (
	"context"
	"fmt"
	"os"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// StartOne starts a real API server (with etcd) named name for t and stops it when t
// ends; no controller-manager runs. Without the Kubernetes binaries it skips t, but
// fails it under CI=true.
func StartOne(t testing.TB, name string) *Cluster {
	t.Helper()
	env, err := Start(context.Background(), Options{Clusters: []ClusterOptions{{Name: name}}})
	if err != nil {
		if os.Getenv("CI") != "true" && os.Getenv("KUBEBUILDER_ASSETS") == "" {
			t.Skipf("no Kubernetes binaries (run make test): %v", err)
		}
		t.Fatal(err)
	}
	t.Cleanup(func() { env.Stop() })
	return env.Clusters[0]
}

// GrantScanner binds the scanner's user (ScannerToken) to a ClusterRole named name
// with rules.
func (c *Cluster) GrantScanner(ctx context.Context, name string, rules []rbacv1.PolicyRule) error {
	role := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: name}, Rules: rules}
	if _, err := c.Admin.RbacV1().ClusterRoles().Create(ctx, role, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create cluster role %s: %w", name, err)
	}
	if _, err := c.Admin.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: name},
		Subjects:   []rbacv1.Subject{{Kind: "User", Name: ScannerUser}},
	}, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("bind cluster role %s: %w", name, err)
	}
	return nil
}
