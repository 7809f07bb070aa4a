package main

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	composecli "github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"

	"github.com/tagdrift/tagdrift/server/access"
)

// loadCompose loads docker-compose.yaml with compose-go, as `docker compose` does,
// with only the given variables set (none: every default applies).
func loadCompose(t *testing.T, env ...string) *types.Project {
	t.Helper()
	opts, err := composecli.NewProjectOptions([]string{"../../docker-compose.yaml"},
		composecli.WithWorkingDirectory("../.."), composecli.WithEnv(env), composecli.WithName("tagdrift"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := opts.LoadProject(context.Background())
	if err != nil {
		t.Fatalf("load docker-compose.yaml: %v", err)
	}
	return p
}

// TestComposeFile loads docker-compose.yaml (no Docker engine runs here) and checks the
// demo it describes holds together: the services and what each waits for, health
// checks, the volumes that carry the secrets and k3s's kubeconfig from one service to
// the next, the environment tagdrift serve reads, and ports on localhost only.
func TestComposeFile(t *testing.T) {
	p := loadCompose(t)
	names := p.ServiceNames()
	slices.Sort(names)
	if want := []string{"demo", "init", "k3s", "postgres", "registry", "tagdrift"}; !slices.Equal(names, want) {
		t.Fatalf("services %v, want %v", names, want)
	}
	svc := func(name string) types.ServiceConfig {
		s, err := p.GetService(name)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	env := func(s types.ServiceConfig, k string) string {
		if v := s.Environment[k]; v != nil {
			return *v
		}
		return ""
	}
	// mount returns the volume mounted at target, and whether read-only.
	mount := func(s types.ServiceConfig, target string) (string, bool) {
		for _, v := range s.Volumes {
			if v.Target == target {
				if v.Type != types.VolumeTypeVolume {
					t.Errorf("%s mounts %s at %s as %s, want a named volume", s.Name, v.Source, target, v.Type)
				}
				if _, ok := p.Volumes[v.Source]; !ok {
					t.Errorf("%s mounts volume %s, which is not declared", s.Name, v.Source)
				}
				return v.Source, v.ReadOnly
			}
		}
		t.Errorf("%s mounts nothing at %s", s.Name, target)
		return "", false
	}
	// volumeOf returns the volume holding path in s, and path inside it.
	volumeOf := func(s types.ServiceConfig, path string) (string, string) {
		for _, v := range s.Volumes {
			if strings.HasPrefix(path, v.Target+"/") {
				return v.Source, strings.TrimPrefix(path, v.Target+"/")
			}
		}
		t.Errorf("%s: %s is in no volume", s.Name, path)
		return "", ""
	}
	waits := func(s types.ServiceConfig, on, condition string) {
		t.Helper()
		if d, ok := s.DependsOn[on]; !ok || d.Condition != condition {
			t.Errorf("%s depends on %s with %+v, want %s", s.Name, on, s.DependsOn[on], condition)
		}
	}
	healthy := func(s types.ServiceConfig) {
		t.Helper()
		if s.HealthCheck == nil || s.HealthCheck.Disable || len(s.HealthCheck.Test) < 2 || s.HealthCheck.Test[0] != "CMD" {
			t.Errorf("%s has no health check (exec form): %+v", s.Name, s.HealthCheck)
		}
	}

	pg := svc("postgres")
	healthy(pg)
	if !strings.HasPrefix(pg.Image, "postgres:") {
		t.Errorf("postgres image %s", pg.Image)
	}
	mount(pg, "/var/lib/postgresql/data")

	reg := svc("registry")
	healthy(reg)
	if !strings.HasPrefix(reg.Image, "registry:") {
		t.Errorf("registry image %s, want the distribution registry", reg.Image)
	}

	k3s := svc("k3s")
	healthy(k3s)
	if !strings.HasPrefix(k3s.Image, "rancher/k3s:") || !k3s.Privileged || k3s.Command[0] != "server" {
		t.Errorf("k3s: image %s, privileged %v, command %v", k3s.Image, k3s.Privileged, k3s.Command)
	}
	k3sOut, _ := volumeOf(k3s, env(k3s, "K3S_KUBECONFIG_OUTPUT"))
	if k3sOut == "" || env(k3s, "KUBECONFIG") != env(k3s, "K3S_KUBECONFIG_OUTPUT") {
		t.Errorf("k3s writes its kubeconfig to %q (KUBECONFIG %q for the health check), want it in a volume",
			env(k3s, "K3S_KUBECONFIG_OUTPUT"), env(k3s, "KUBECONFIG"))
	}

	// init and demo reach k3s by its service name, which k3s's certificate must hold.
	server := "https://k3s:6443"
	if !slices.Contains(k3s.Command, "--tls-san=k3s") {
		t.Errorf("k3s command %v: its certificate does not name k3s", k3s.Command)
	}
	for _, name := range []string{"init", "demo"} {
		s := svc(name)
		if s.Build == nil || s.Build.Target != "demo" {
			t.Errorf("%s builds %+v, want the Dockerfile's demo stage", name, s.Build)
		}
		waits(s, "k3s", types.ServiceConditionHealthy)
		if got := env(s, "DEMO_K3S_SERVER"); got != server {
			t.Errorf("%s reaches k3s at %q, want %s", name, got, server)
		}
		if v, path := volumeOf(s, env(s, "DEMO_K3S_KUBECONFIG")); v != k3sOut || path != strings.TrimPrefix(env(k3s, "K3S_KUBECONFIG_OUTPUT"), "/output/") {
			t.Errorf("%s reads k3s's kubeconfig from volume %s path %s, k3s writes it to %s", name, v, path, k3sOut)
		}
	}

	init := svc("init")
	if !slices.Equal(init.Command, []string{"init"}) {
		t.Errorf("init command %v", init.Command)
	}
	waits(init, "postgres", types.ServiceConditionHealthy)
	state := env(init, "DEMO_STATE")
	secrets, ro := mount(init, state+"/secrets")
	if ro {
		t.Error("init cannot write the secrets volume")
	}
	kube, _ := mount(init, state+"/kube")

	td := svc("tagdrift")
	if td.Build == nil || td.Build.Context == "" || td.Build.Target != "" || !slices.Equal(td.Command, []string{"serve"}) {
		t.Errorf("tagdrift builds %+v (want the Dockerfile's last stage), command %v", td.Build, td.Command)
	}
	waits(td, "postgres", types.ServiceConditionHealthy)
	waits(td, "init", types.ServiceConditionCompletedSuccessfully)
	url := env(td, "TAGDRIFT_DATABASE_URL")
	if want := fmt.Sprintf("postgres://%s:%s@postgres:5432/%s?", env(pg, "POSTGRES_USER"), env(pg, "POSTGRES_PASSWORD"), env(pg, "POSTGRES_DB")); !strings.HasPrefix(url, want) || env(init, "TAGDRIFT_DATABASE_URL") != url {
		t.Errorf("database URL %q (init %q), want %s…", url, env(init, "TAGDRIFT_DATABASE_URL"), want)
	}
	if _, ok := td.Environment["TAGDRIFT_ENCRYPTION_KEY"]; ok {
		t.Error("the encryption key must come from the file init makes, never from this file")
	}
	if v, path := volumeOf(td, env(td, "TAGDRIFT_ENCRYPTION_KEY_FILE")); v != secrets || path != "encryption-key" {
		t.Errorf("tagdrift reads its key from volume %s path %s, init writes it to %s/encryption-key", v, path, secrets)
	}
	if v, path := volumeOf(td, env(td, "TAGDRIFT_CLUSTER_KUBECONFIG")); v != kube || path != "k3s.kubeconfig" {
		t.Errorf("tagdrift registers the kubeconfig in volume %s path %s, init writes %s/k3s.kubeconfig", v, path, kube)
	}
	for _, target := range []string{"/var/lib/tagdrift/secrets", "/var/lib/tagdrift/kube"} {
		if _, ro := mount(td, target); !ro {
			t.Errorf("tagdrift mounts %s writable; it only reads it", target)
		}
	}
	subnets := p.Networks["default"].Ipam.Config
	if len(subnets) != 1 || env(td, "TAGDRIFT_ALLOW_CLUSTER_NETWORK") != subnets[0].Subnet {
		t.Errorf("tagdrift allows %q, the compose network is %+v", env(td, "TAGDRIFT_ALLOW_CLUSTER_NETWORK"), subnets)
	}
	if d, err := time.ParseDuration(env(td, "TAGDRIFT_SCAN_INTERVAL")); err != nil || d > time.Minute {
		t.Errorf("scan interval %q: the mutation should show within a few minutes", env(td, "TAGDRIFT_SCAN_INTERVAL"))
	}
	serveEnv := serveEnvNames(t)
	for k := range td.Environment {
		if strings.HasPrefix(k, "TAGDRIFT_") && !slices.Contains(serveEnv, k) {
			t.Errorf("compose sets %s, which serve does not read", k)
		}
	}
	if len(td.Ports) != 1 || td.Ports[0].Target != 8080 || env(td, "TAGDRIFT_LISTEN") != ":8080" {
		t.Errorf("ports %+v and listen %q disagree", td.Ports, env(td, "TAGDRIFT_LISTEN"))
	}
	// The browser comes through Docker's gateway over plain http: the cookie must be
	// plain, decided from the configuration as serve decides it, and the external URL
	// the one the demo tells the user to open.
	if len(td.Ports) == 1 {
		cookies, err := access.DecideCookies(env(td, "TAGDRIFT_EXTERNAL_URL"), env(td, "TAGDRIFT_INSECURE_COOKIES") == "true", env(td, "TAGDRIFT_LISTEN"))
		if err != nil || !cookies.Plain {
			t.Errorf("compose's session cookie: %+v, %v; want a plain one over http", cookies, err)
		}
		if want := "http://localhost:" + td.Ports[0].Published; env(td, "TAGDRIFT_EXTERNAL_URL") != want || env(svc("demo"), "DEMO_UI_URL") != want {
			t.Errorf("external URL %q, demo tells the user %q, want %s", env(td, "TAGDRIFT_EXTERNAL_URL"), env(svc("demo"), "DEMO_UI_URL"), want)
		}
	}

	demo := svc("demo")
	if !slices.Equal(demo.Command, []string{"play"}) {
		t.Errorf("demo command %v", demo.Command)
	}
	waits(demo, "registry", types.ServiceConditionHealthy)
	waits(demo, "tagdrift", types.ServiceConditionStarted)
	// k3s's containerd pulls the demo's registry over plain http.
	registry := env(demo, "DEMO_REGISTRY")
	if registry != "registry:5000" {
		t.Errorf("demo pushes to %q, want registry:5000", registry)
	}
	var mirror bool
	for _, c := range k3s.Configs {
		cfg := p.Configs[c.Source]
		mirror = mirror || (c.Target == "/etc/rancher/k3s/registries.yaml" && strings.Contains(cfg.Content, `"`+registry+`"`) && strings.Contains(cfg.Content, "http://"+registry))
	}
	if !mirror {
		t.Errorf("k3s has no registries.yaml mirror for %s over http", registry)
	}

	// The database is healthy only once the real server listens on TCP: during the
	// first initialisation a socket check passes too early.
	if !slices.Contains(pg.HealthCheck.Test, "pg_isready") || !strings.Contains(strings.Join(pg.HealthCheck.Test, " "), "-h 127.0.0.1") {
		t.Errorf("postgres health check %v: want pg_isready -h 127.0.0.1", pg.HealthCheck.Test)
	}
	// k3s is the same node on every up: a fixed hostname (the node's name) and its
	// node password kept in a volume.
	if k3s.Hostname == "" {
		t.Error("k3s has no fixed hostname: each new container registers a new node")
	}
	if v, ro := mount(k3s, "/etc/rancher/node"); v == "" || ro || v == k3sOut {
		t.Errorf("k3s keeps its node identity in %q (read-only %t), want a volume of its own", v, ro)
	}
	mount(k3s, "/var/lib/rancher/k3s")
	// tagdrift gets the read-only scanner identity init makes from deploy/scanned-cluster/
	// (cmd/tagdrift-demo's TestScannerKubeconfig), never k3s's admin kubeconfig.
	if v, _ := volumeOf(td, env(td, "TAGDRIFT_CLUSTER_KUBECONFIG")); v == k3sOut {
		t.Error("tagdrift reads k3s's own (cluster-admin) kubeconfig")
	}
	for _, m := range td.Volumes {
		if m.Source == k3sOut {
			t.Error("tagdrift mounts k3s's output volume, which holds the cluster-admin kubeconfig")
		}
	}

	// One port, tagdrift's, on 127.0.0.1: nothing else is used from the host, and a host
	// port in use (a host k3s on 6443, macOS's AirPlay on 5000) would stop `up`.
	var published []string
	for _, s := range p.Services {
		for _, port := range s.Ports {
			published = append(published, s.Name+":"+port.Published)
			if port.HostIP != "127.0.0.1" {
				t.Errorf("%s publishes %s:%s: bind it to 127.0.0.1", s.Name, port.HostIP, port.Published)
			}
		}
		for k, v := range s.Environment {
			if v != nil && (strings.Contains(k, "PASSWORD") || strings.Contains(k, "TOKEN")) && *v != "" && s.Name != "postgres" {
				t.Errorf("%s sets %s to a value in the file: secrets come from the environment or init", s.Name, k)
			}
		}
	}

	if !slices.Equal(published, []string{"tagdrift:8080"}) {
		t.Errorf("published ports %v, want tagdrift:8080 only", published)
	}
	if env(init, "DEMO_UI_URL") != "http://localhost:8080" {
		t.Errorf("init tells the user to open %q", env(init, "DEMO_UI_URL"))
	}

	// The documented variables change what they say.
	p = loadCompose(t, "TAGDRIFT_COMPOSE_SUBNET=10.99.0.0/24", "TAGDRIFT_ADMIN_PASSWORD=correct horse battery", "TAGDRIFT_ADMIN_TOKEN=an-admin-token-of-length",
		"TAGDRIFT_PORT=18080")
	init, td = svc("init"), svc("tagdrift")
	if len(td.Ports) != 1 || td.Ports[0].Published != "18080" || td.Ports[0].Target != 8080 ||
		env(td, "TAGDRIFT_EXTERNAL_URL") != "http://localhost:18080" || env(init, "DEMO_UI_URL") != "http://localhost:18080" ||
		env(svc("demo"), "DEMO_UI_URL") != "http://localhost:18080" {
		t.Errorf("TAGDRIFT_PORT=18080: ports %+v, external URL %q, init and demo say %q and %q", td.Ports,
			env(td, "TAGDRIFT_EXTERNAL_URL"), env(init, "DEMO_UI_URL"), env(svc("demo"), "DEMO_UI_URL"))
	}
	if env(td, "TAGDRIFT_ALLOW_CLUSTER_NETWORK") != "10.99.0.0/24" || p.Networks["default"].Ipam.Config[0].Subnet != "10.99.0.0/24" ||
		env(init, "TAGDRIFT_ADMIN_PASSWORD") != "correct horse battery" || env(td, "TAGDRIFT_ADMIN_TOKEN") != "an-admin-token-of-length" {
		t.Errorf("variables not applied: network %+v, init %v, tagdrift %v", p.Networks["default"].Ipam.Config, init.Environment, td.Environment)
	}
}

// TestServeEnvIsRead checks that each variable serve reads changes the configuration.
func TestServeEnvIsRead(t *testing.T) {
	base := map[string]string{"TAGDRIFT_DATABASE_URL": "postgres://x", "TAGDRIFT_ENCRYPTION_KEY": "k"}
	values := map[string]string{
		"TAGDRIFT_LISTEN": ":9999", "TAGDRIFT_METRICS_LISTEN": "127.0.0.1:9090", "TAGDRIFT_INSECURE_COOKIES": "true", "TAGDRIFT_ENCRYPTION_KEY_FILE": "/keys", "TAGDRIFT_NO_MIGRATE": "true",
		"TAGDRIFT_SCAN_CONCURRENCY": "7", "TAGDRIFT_SCAN_TIMEOUT": "3m", "TAGDRIFT_SCAN_INTERVAL": "1m", "TAGDRIFT_SCAN_MODE": "watch",
		"TAGDRIFT_CLUSTER_KUBECONFIG": "/a,/b:ctx", "TAGDRIFT_CLUSTER_GROUP": "eu=team-a,us=team-b", "TAGDRIFT_ALLOW_INSECURE_TLS": "true",
		"TAGDRIFT_EXEC_PROFILES_FILE": "/profiles.yaml", "TAGDRIFT_ALLOW_CLUSTER_NETWORK": "10.0.0.0/8", "TAGDRIFT_LOG_LEVEL": "debug",
		"TAGDRIFT_ADMIN_TOKEN": "an-admin-token-for-tests", "TAGDRIFT_API_RATE_LIMIT": "5",
		"TAGDRIFT_SESSION_IDLE": "1h", "TAGDRIFT_SESSION_ABSOLUTE": "720h",
		"TAGDRIFT_EXTERNAL_URL": "https://tagdrift.example.com", "TAGDRIFT_HISTORY_RETENTION": "720h", "TAGDRIFT_EXPIRY_INTERVAL": "30s",
		"TAGDRIFT_DATABASE_URL": "postgres://y", "TAGDRIFT_ENCRYPTION_KEY": "other",
		"TAGDRIFT_ALLOW_CHANNEL_NETWORK": "10.0.0.0/8", "TAGDRIFT_NOTIFY_ATTEMPT_TIMEOUT": "3s",
		"TAGDRIFT_NOTIFY_MAX_ATTEMPTS": "3", "TAGDRIFT_NOTIFY_RETRY_BASE": "1s", "TAGDRIFT_NOTIFY_CONCURRENCY": "2",
		"TAGDRIFT_ALERT_REPOST_INTERVAL": "5s", "TAGDRIFT_NOTIFY_REPEAT_CHECK": "10s", "TAGDRIFT_ALERT_EVENT_TTL": "10m",
		"TAGDRIFT_TRUSTED_PROXIES": "10.0.0.0/8, 192.168.0.0/16", "TAGDRIFT_ACK_MAX_DURATION": "720h",
		"TAGDRIFT_NO_WATCH": "true", "TAGDRIFT_WATCH_FULL_LIST": "1h", "TAGDRIFT_WATCH_STALE_AFTER": "2m", "TAGDRIFT_WATCH_STARTS": "8",
		"TAGDRIFT_OIDC_ISSUER": "https://login.example.org", "TAGDRIFT_OIDC_CLIENT_ID": "other-id",
		"TAGDRIFT_OIDC_CLIENT_SECRET_FILE": "/secret", "TAGDRIFT_OIDC_CLIENT_SECRET": "other-secret",
		"TAGDRIFT_OIDC_ROLES": "ops=admin,devs=viewer", "TAGDRIFT_OIDC_GROUPS_CLAIM": "roles", "TAGDRIFT_OIDC_SCOPES": "profile,groups",
		"TAGDRIFT_OIDC_NAME": "Okta", "TAGDRIFT_OIDC_SESSION_MAX": "1h", "TAGDRIFT_NO_LOCAL_SIGNIN": "true",
	}
	// The provider's variables are each tried on a configuration that has a provider.
	oidcBase := maps.Clone(base)
	maps.Copy(oidcBase, map[string]string{"TAGDRIFT_OIDC_ISSUER": "https://idp.example.com", "TAGDRIFT_OIDC_CLIENT_ID": "tagdrift",
		"TAGDRIFT_OIDC_CLIENT_SECRET": "s", "TAGDRIFT_OIDC_ROLES": "admins=admin", "TAGDRIFT_EXTERNAL_URL": "https://tagdrift.example.com"})
	get := func(env map[string]string) func(string) string { return func(k string) string { return env[k] } }
	before, err := parseServe(nil, get(base))
	if err != nil {
		t.Fatal(err)
	}
	beforeOIDC, err := parseServe(nil, get(oidcBase))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range serveEnvNames(t) {
		v, ok := values[name]
		if !ok {
			t.Errorf("no test value for %s", name)
			continue
		}
		env, before := maps.Clone(base), before
		if strings.HasPrefix(name, "TAGDRIFT_OIDC_") || name == "TAGDRIFT_NO_LOCAL_SIGNIN" {
			env, before = maps.Clone(oidcBase), beforeOIDC
		}
		env[name] = v
		after, err := parseServe(nil, get(env))
		if err != nil {
			t.Errorf("%s=%s: %v", name, v, err)
			continue
		}
		if fmt.Sprint(after) == fmt.Sprint(before) {
			t.Errorf("%s=%s changed nothing", name, v)
		}
	}
}
