package e2e

import (
	"context"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tagdrift/tagdrift/internal/kubeenv"
)

// TestScanAnnotate runs `tagdrift scan --annotate` with the user's own kubeconfig on
// cluster epsilon (shared with TestAnnotate, which leaves its keys removed; this test
// deletes its Deployments at the end): --dry-run plans and writes nothing, a run
// writes the verdict and one Event, a second identical run writes nothing, a token
// that may only read reports the annotation error (exit 3) with the scan still
// printed, and a new mutation is announced once, on its own ReplicaSet.
func TestScanAnnotate(t *testing.T) {
	c := setup.env.Cluster("epsilon")
	a := annotated{t: t, c: c}
	ctx := a.ctx()
	const ns = "scan-ann"
	a.must(c.Namespace(ctx, ns))
	web, api := "registry.example.com/scan/web@", "registry.example.com/scan/api@"
	setupID := "registry.example.com/tools/setup@" + apiDigestOf("e")
	a.deploy(ns, "web", "registry.example.com/scan/web:1", 2)
	a.deploy(ns, "api", "registry.example.com/scan/api:1", 2)
	t.Cleanup(func() {
		// The GC deletes their ReplicaSets and pods: a later test of the cluster never
		// finds this one's verdict.
		background := metav1.DeletePropagationBackground
		for _, d := range []string{"web", "api", "db"} {
			if err := c.Admin.AppsV1().Deployments(ns).Delete(ctx, d, metav1.DeleteOptions{PropagationPolicy: &background}); err != nil && !apierrors.IsNotFound(err) {
				t.Errorf("delete deployment %s: %v", d, err) // not found: the test stopped before it
			}
		}
		if err := pollUntil(60*time.Second, func() bool {
			list, err := c.Admin.AppsV1().ReplicaSets(ns).List(ctx, metav1.ListOptions{})
			return err == nil && len(list.Items) == 0
		}); err != nil {
			t.Errorf("the ReplicaSets of %s outlive their Deployments: %v", ns, err)
		}
	})
	webPods, apiPods := a.pods(ns, "web", 2), a.pods(ns, "api", 2)
	a.run(ns, webPods[0].Name, setupID, web+apiDigestOf("a"))
	a.run(ns, webPods[1].Name, setupID, web+apiDigestOf("b")) // the mutant
	for _, p := range apiPods {
		a.run(ns, p.Name, setupID, api+apiDigestOf("c"))
	}
	webRS, apiRS := a.ownerOf(webPods[0]), a.ownerOf(apiPods[0])

	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	a.must(kubeenv.WriteKubeconfig(kubeconfig, "epsilon", c.Context("epsilon", c.AdminToken)))
	// A wide table: nothing in it wraps.
	wide := []string{"COLUMNS=250"}
	scan := func(args ...string) result {
		t.Helper()
		return tagdriftEnv(t, wide, append([]string{"scan", "--kubeconfig", kubeconfig}, args...)...)
	}
	// writes counts the writes the API server saw while run ran.
	writes := func(run func()) float64 {
		t.Helper()
		before, err := c.RequestCounts(ctx)
		a.must(err)
		run()
		after, err := c.RequestCounts(ctx)
		a.must(err)
		return after["PATCH replicasets"] - before["PATCH replicasets"] + after["POST events"] - before["POST events"]
	}

	// --dry-run: the planned patches and Event are printed, nothing is written.
	versions := a.resourceVersions()
	var dry result
	if n := writes(func() { dry = scan("--annotate", "--dry-run") }); n != 0 {
		t.Errorf("--dry-run: the API server saw %v writes", n)
	}
	if dry.code != 0 {
		t.Fatalf("--dry-run: exit %d\n%s%s", dry.code, dry.stdout, dry.stderr)
	}
	for _, want := range []string{
		"annotation of cluster epsilon (dry run, nothing written): ",
		"  replicaset " + ns + "/" + webRS.Name + `: label is-mutant=true; annotation mutant/status={"` + webPods[0].Name,
		"  replicaset " + ns + "/" + apiRS.Name + ": label is-mutant=false; annotation mutant/status=",
		`annotation tagdrift.io/mutations={"kinds":["workload-divergence"]}`,
		"  event Warning MutantImage on replicaset " + ns + "/" + webRS.Name + `: container "app" runs 2 digests`,
		"workload-divergence", // the table is printed above
	} {
		if !strings.Contains(dry.stdout, want) {
			t.Errorf("--dry-run output lacks %q:\n%s", want, dry.stdout)
		}
	}
	if got := a.resourceVersions(); !maps.Equal(got, versions) {
		t.Errorf("--dry-run moved resourceVersions: %v, before %v", got, versions)
	}
	if got := a.events(webRS); len(got) != 0 {
		t.Errorf("--dry-run recorded events: %v", eventSummary(got))
	}

	// A run writes the verdict, as the service does (no external URL here), and one
	// Event. With -o json, stdout stays the report alone.
	r := scan("--annotate", "-o", "json")
	if r.code != 0 || !strings.Contains(r.stderr, "annotation of cluster epsilon: ") {
		t.Fatalf("--annotate: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if rep := decodeReport(t, r.stdout); len(rep.Clusters) != 1 || rep.Clusters[0].Error != "" {
		t.Errorf("report: %+v", rep.Clusters)
	}
	a.checkAnnotated(webRS, true, []string{"workload-divergence"}, "")
	a.checkAnnotated(apiRS, false, []string{}, "")
	if got, want := a.mutantReplicaSets(), []string{ns + "/" + webRS.Name}; !slices.Equal(got, want) {
		t.Errorf("kubectl get rs -l is-mutant=true -A: %v, want %v", got, want)
	}
	if got := eventSummary(a.events(webRS)); !slices.Equal(got, []string{"Warning MutantImage"}) {
		t.Errorf("events on %s: %v", webRS.Name, got)
	}
	if got := a.events(apiRS); len(got) != 0 {
		t.Errorf("events on the clean %s: %v", apiRS.Name, eventSummary(got))
	}

	// A second identical run: no write, no resourceVersion moved, no second Event;
	// --fail-on-mutant still says 1.
	versions = a.resourceVersions()
	var again result
	if n := writes(func() { again = scan("--annotate", "--fail-on-mutant") }); n != 0 {
		t.Errorf("second run: the API server saw %v writes", n)
	}
	if again.code != 1 || !strings.Contains(again.stdout, "annotation of cluster epsilon: nothing to change") {
		t.Errorf("second run: exit %d\n%s%s", again.code, again.stdout, again.stderr)
	}
	if got := a.resourceVersions(); !maps.Equal(got, versions) {
		t.Errorf("second run moved resourceVersions: %v, before %v", got, versions)
	}
	if got := eventSummary(a.events(webRS)); !slices.Equal(got, []string{"Warning MutantImage"}) {
		t.Errorf("events after a second run: %v", got)
	}

	// api becomes mutant. A token that may only read scans, prints the report, and
	// reports that the annotation was refused: exit 3, nothing written.
	a.run(ns, apiPods[1].Name, setupID, api+apiDigestOf("d"))
	bindReadOnly(t, c)
	readOnly := filepath.Join(t.TempDir(), "kubeconfig")
	a.must(kubeenv.WriteKubeconfig(readOnly, "epsilon", c.Context("epsilon", c.ScannerToken)))
	versions = a.resourceVersions()
	ro := tagdriftEnv(t, wide, "scan", "--kubeconfig", readOnly, "--annotate")
	if ro.code != 3 {
		t.Errorf("read-only --annotate: exit %d, want 3\n%s%s", ro.code, ro.stdout, ro.stderr)
	}
	for _, want := range []string{"cluster epsilon: ", "deploy/api", "annotation of cluster epsilon failed after 0 replicasets patched"} {
		if !strings.Contains(ro.stdout, want) {
			t.Errorf("read-only --annotate: stdout lacks %q:\n%s", want, ro.stdout)
		}
	}
	// (Its Events go first: the labels are the stateless run's record of them.)
	if want := `tagdrift: annotate cluster "epsilon": create event in ` + ns +
		": the credentials may not annotate: bind the ClusterRole tagdrift-annotator"; !strings.Contains(ro.stderr, want) {
		t.Errorf("read-only --annotate: stderr lacks %q:\n%s", want, ro.stderr)
	}
	if got := a.resourceVersions(); !maps.Equal(got, versions) {
		t.Errorf("a read-only token moved resourceVersions: %v, before %v", got, versions)
	}

	// With the rights, api's new mutation is written and announced once, on api's
	// ReplicaSet only.
	if r := scan("--annotate"); r.code != 0 {
		t.Errorf("--annotate after api diverged: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	a.checkAnnotated(apiRS, true, []string{"workload-divergence"}, "")
	for _, rs := range []appsv1.ReplicaSet{webRS, apiRS} {
		if got := eventSummary(a.events(rs)); !slices.Equal(got, []string{"Warning MutantImage"}) {
			t.Errorf("events on %s: %v", rs.Name, got)
		}
	}

	// db diverges, and the token may patch ReplicaSets but not record Events: the run
	// stops at the refused Event before any patch, so that db's label does not say its
	// mutation was announced; once the rights are whole, the next run announces it.
	a.deploy(ns, "db", "registry.example.com/scan/db:1", 2)
	dbPods := a.pods(ns, "db", 2)
	a.run(ns, dbPods[0].Name, setupID, "registry.example.com/scan/db@"+apiDigestOf("a"))
	a.run(ns, dbPods[1].Name, setupID, "registry.example.com/scan/db@"+apiDigestOf("b"))
	dbRS := a.ownerOf(dbPods[0])
	bindPatchOnly(t, c)
	noEvents := tagdriftEnv(t, wide, "scan", "--kubeconfig", readOnly, "--annotate")
	if noEvents.code != 3 || !strings.Contains(noEvents.stdout, "annotation of cluster epsilon failed after 0 replicasets patched") {
		t.Errorf("--annotate without the right to record Events: exit %d, want 3\n%s%s", noEvents.code, noEvents.stdout, noEvents.stderr)
	}
	if want := "create event in " + ns + ": the credentials may not annotate"; !strings.Contains(noEvents.stderr, want) {
		t.Errorf("--annotate without the right to record Events: stderr lacks %q:\n%s", want, noEvents.stderr)
	}
	// (Not its resourceVersion: the controllers still update the new ReplicaSet's status.)
	current, err := c.Admin.AppsV1().ReplicaSets(ns).Get(ctx, dbRS.Name, metav1.GetOptions{})
	a.must(err)
	if v, ok := current.Labels["is-mutant"]; ok {
		t.Errorf("a refused Event still let db's patch through: is-mutant=%s", v)
	}
	if r := scan("--annotate"); r.code != 0 {
		t.Errorf("--annotate after the refused Event: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	a.checkAnnotated(dbRS, true, []string{"workload-divergence"}, "")
	for _, rs := range []appsv1.ReplicaSet{webRS, apiRS, dbRS} {
		if got := eventSummary(a.events(rs)); !slices.Equal(got, []string{"Warning MutantImage"}) {
			t.Errorf("events on %s after the refused Event: %v", rs.Name, got)
		}
	}
}

// bindPatchOnly lets the scanner user of c patch ReplicaSets, but not record Events,
// until the test ends.
func bindPatchOnly(t *testing.T, c *kubeenv.Cluster) {
	t.Helper()
	ctx := context.Background()
	role := &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: "tagdrift-test-patch-only"},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{"apps"}, Resources: []string{"replicasets"}, Verbs: []string{"patch"}}},
	}
	if _, err := c.Admin.RbacV1().ClusterRoles().Create(ctx, role, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: role.Name},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: role.Name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: "rbac.authorization.k8s.io", Name: kubeenv.ScannerUser}},
	}
	if _, err := c.Admin.RbacV1().ClusterRoleBindings().Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Admin.RbacV1().ClusterRoleBindings().Delete(ctx, binding.Name, metav1.DeleteOptions{}); err != nil {
			t.Error(err)
		}
		if err := c.Admin.RbacV1().ClusterRoles().Delete(ctx, role.Name, metav1.DeleteOptions{}); err != nil {
			t.Error(err)
		}
	})
	may := func(verb, group, resource string) bool {
		review, err := c.Admin.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authorizationv1.SubjectAccessReview{
			Spec: authorizationv1.SubjectAccessReviewSpec{
				User:               kubeenv.ScannerUser,
				ResourceAttributes: &authorizationv1.ResourceAttributes{Verb: verb, Group: group, Resource: resource, Namespace: "default"},
			},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return review.Status.Allowed
	}
	if err := pollUntil(30*time.Second, func() bool { return may("patch", "apps", "replicasets") }); err != nil {
		t.Fatalf("the scanner user never got %s: %v", role.Name, err)
	}
	if may("create", "", "events") {
		t.Fatal("the scanner user may record Events: the test needs a user that may not")
	}
}
