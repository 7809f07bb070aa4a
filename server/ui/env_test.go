package ui

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"k8s.io/apimachinery/pkg/types"

	"github.com/tagdrift/tagdrift/internal/storetest"
	"github.com/tagdrift/tagdrift/scanner/imageref"
	"github.com/tagdrift/tagdrift/scanner/inventory"
	"github.com/tagdrift/tagdrift/scanner/kubeconfig"
	"github.com/tagdrift/tagdrift/scheduler"
	"github.com/tagdrift/tagdrift/server/access"
	"github.com/tagdrift/tagdrift/server/access/sso"
	"github.com/tagdrift/tagdrift/server/request"
	"github.com/tagdrift/tagdrift/store"
)

// testAdminToken stands for TAGDRIFT_ADMIN_TOKEN in tests.
const testAdminToken = "env-admin-token-0123456789"

// testConfig is what a test env's UI is made of: the gate's settings (access.Config)
// and the UI's own.
type testConfig struct {
	access.Config
	Scans    Scanner
	Notifier request.Notifier
	// OverviewRefresh is the UI's (default 30 s).
	OverviewRefresh time.Duration
	// SSO and NoLocalSignIn are the UI's (sign-in through a provider).
	SSO           *sso.Provider
	NoLocalSignIn bool
}

// testEnv is the web UI on a fresh, migrated database of its own, with an API token of
// each kind (pages take bearer tokens too).
type testEnv struct {
	t  testing.TB
	st *store.Store
	h  http.Handler
	// Secrets of tokens by what they are: admin, viewer, expired, revoked.
	tokens map[string]string
}

// newEnv opens the UI on a new database.
func newEnv(t testing.TB, change func(*testConfig)) *testEnv {
	t.Helper()
	ctx := context.Background()
	st, _ := storetest.New(t, "tagdrift_ui")
	sched, err := scheduler.New(scheduler.Config{Store: st, Dialer: &kubeconfig.Dialer{}})
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig{Scans: sched, Config: access.Config{Store: st, AdminToken: testAdminToken, RateLimit: 1000, RateBurst: 1000, FailedAuthBurst: 1_000_000}}
	if change != nil {
		change(&cfg)
	}
	_, h := handler(cfg)
	e := &testEnv{t: t, st: st, h: h, tokens: map[string]string{}}
	cli := store.Audit{Actor: "cli:test"}
	past := time.Now().Add(-time.Hour)
	for _, nt := range []store.NewToken{
		{Name: "admin", Role: store.RoleAdmin},
		{Name: "viewer", Role: store.RoleViewer},
		{Name: "expired", Role: store.RoleAdmin, ExpiresAt: &past},
		{Name: "revoked", Role: store.RoleAdmin},
	} {
		tok, secret, err := st.CreateToken(ctx, nt, cli)
		if err != nil {
			t.Fatal(err)
		}
		e.tokens[nt.Name] = secret
		if nt.Name == "revoked" {
			if _, err := st.RevokeToken(ctx, tok.ID, time.Now(), cli); err != nil {
				t.Fatal(err)
			}
		}
	}
	return e
}

// handler is the UI of cfg, on a router of its own, with a gate of its own.
func handler(cfg testConfig) (*UI, http.Handler) {
	u := New(Config{Store: cfg.Store, Scans: cfg.Scans, Notifier: cfg.Notifier, Access: access.New(cfg.Config), Now: cfg.Now,
		OverviewRefresh: cfg.OverviewRefresh, SSO: cfg.SSO, NoLocalSignIn: cfg.NoLocalSignIn, Logger: cfg.Logger})
	r := chi.NewRouter()
	u.Mount(r)
	return u, r
}

// addCluster registers a cluster of testKubeconfig as the API would, and returns its
// id.
func (e *testEnv) addCluster(name string) int64 {
	e.t.Helper()
	return addCluster(e.t, e.st, name)
}

func addCluster(t testing.TB, st *store.Store, name string) int64 {
	t.Helper()
	v, err := request.Vetter{}.Vet(testKubeconfig("", ""), "")
	if err != nil {
		t.Fatal(err)
	}
	c, err := st.RegisterCluster(context.Background(), store.NewCluster{Name: name, Server: v.Server, Context: v.Context,
		Credentials: v.Sealed, ScanInterval: request.DefaultScanInterval, Annotate: "off", Enabled: true}, store.Audit{Actor: "cli:test"})
	if err != nil {
		t.Fatal(err)
	}
	return c.ID
}

// testKubeconfig is a kubeconfig with one context, "c", pointing at a closed port with an
// inline token, and user lines replaced by user when given.
func testKubeconfig(cluster, user string) string {
	if user == "" {
		user = "    token: kube-secret-token-value"
	}
	return fmt.Sprintf(`apiVersion: v1
kind: Config
current-context: c
clusters:
- name: k
  cluster:
    server: https://127.0.0.1:1
%s
users:
- name: u
  user:
%s
contexts:
- name: c
  context:
    cluster: k
    user: u
`, cluster, user)
}

// fleet seeds scan history through the store's write path, as the scheduler would.
type fleet struct {
	t  *testing.T
	e  *testEnv
	id map[string]int64
}

func digestOf(letter string) string { return "sha256:" + strings.Repeat(letter, 64) }

// webPod is a pod of Deployment web in shop running nginx:1.25 at a digest.
func webPod(cluster, name, uid, letter string) inventory.Pod {
	ref := imageref.ParseRef("nginx:1.25")
	id, _ := imageref.ParseImageID("docker.io/library/nginx@" + digestOf(letter))
	return inventory.Pod{
		Cluster: cluster, Namespace: "shop", Name: name, UID: types.UID(uid), Node: "n1", Arch: "amd64",
		Workload:   inventory.Workload{Kind: "Deployment", Name: "web"},
		Controller: inventory.Controller{Kind: "ReplicaSet", Name: "web-1", UID: "rs-1", Revision: "1"},
		Containers: []inventory.Container{{Name: "app", Type: inventory.Regular, Ref: &ref, ID: &id}},
	}
}

// scan records one complete scan of cluster at at, and the mutations it finds.
func (f *fleet) scan(cluster string, at time.Time, pods ...inventory.Pod) {
	f.t.Helper()
	ctx := context.Background()
	st := f.e.st
	id, err := st.StartScan(ctx, f.id[cluster], at)
	if err != nil {
		f.t.Fatal(err)
	}
	if _, err := st.CompleteScan(ctx, id, pods, len(pods), at.Add(time.Second)); err != nil {
		f.t.Fatal(err)
	}
	for {
		r, err := st.RecheckRefs(ctx, 100, at.Add(time.Second))
		if err != nil {
			f.t.Fatal(err)
		}
		if r.Refs == 0 {
			break
		}
	}
}

// tokenActor says whether actor names the token called name, as the audit trail does:
// token:<id>:<name>.
func tokenActor(actor, name string) bool {
	return regexp.MustCompile(`^token:[1-9][0-9]*:` + regexp.QuoteMeta(name) + `$`).MatchString(actor)
}
