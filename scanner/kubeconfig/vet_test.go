package kubeconfig

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/rest"
)

var (
	caData   = base64.StdEncoding.EncodeToString([]byte("-----BEGIN CERTIFICATE-----\nca\n-----END CERTIFICATE-----\n"))
	certData = base64.StdEncoding.EncodeToString([]byte("cert"))
	keyData  = base64.StdEncoding.EncodeToString([]byte("key"))
)

// kubeconfig returns a kubeconfig with one context "c" whose cluster and user have the
// given extra YAML lines (indented by the caller's 4 spaces).
func kubeconfig(cluster, user string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Config
current-context: c
clusters:
- name: k
  cluster:
    server: https://k8s.example.com:6443
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
    namespace: default
- name: other
  context:
    cluster: evil
    user: evil
`, cluster, user)
}

func TestVetAccepts(t *testing.T) {
	raw := kubeconfig("    certificate-authority-data: "+caData+"\n    tls-server-name: api.internal", "    token: s3cret")
	r, err := Vet([]byte(raw), "", Policy{})
	if err != nil {
		t.Fatal(err)
	}
	if r.Context != "c" || r.Server != "https://k8s.example.com:6443" || !strings.Contains(string(r.CAData), "BEGIN CERTIFICATE") ||
		r.TLSServerName != "api.internal" || r.Token != "s3cret" || r.Insecure || r.Exec != nil {
		t.Errorf("reduced: %+v", r)
	}

	r, err = Vet([]byte(kubeconfig("", "    client-certificate-data: "+certData+"\n    client-key-data: "+keyData)), "c", Policy{})
	if err != nil {
		t.Fatal(err)
	}
	if string(r.ClientCert) != "cert" || string(r.ClientKey) != "key" || r.Token != "" {
		t.Errorf("client certificate: %+v", r)
	}

	cfg, err := r.RESTConfig(&Dialer{}, Policy{})
	if err != nil {
		t.Fatal(err)
	}
	if p, _ := cfg.Proxy(&http.Request{}); p != nil {
		t.Errorf("proxy %v, want none whatever the environment says", p)
	}
	if cfg.Dial == nil || cfg.ExecProvider != nil || cfg.BearerTokenFile != "" || cfg.CAFile != "" || cfg.CertFile != "" {
		t.Errorf("rest config: %+v", cfg)
	}
}

func TestVetRefuses(t *testing.T) {
	tests := []struct {
		name    string
		raw     string
		context string
		policy  Policy
		field   string
	}{
		{"exec", kubeconfig("", "    exec:\n      apiVersion: client.authentication.k8s.io/v1\n      command: sh"), "", Policy{}, "users[u].user.exec"},
		{"exec not in the allow-list", kubeconfig("", "    exec:\n      apiVersion: client.authentication.k8s.io/v1\n      command: sh"), "", Policy{ExecProfiles: []ExecProfile{gkeProfile()}}, "users[u].user.exec.command"},
		{"exec args", kubeconfig("", "    exec:\n      command: gke\n      args: [--verbose]\n      env: [{name: project, value: p1}]"), "", Policy{ExecProfiles: []ExecProfile{gkeProfile()}}, "users[u].user.exec.args"},
		{"exec env not declared", kubeconfig("", "    exec:\n      command: gke\n      env: [{name: project, value: p1}, {name: BASH_ENV, value: /tmp/x}]"), "", Policy{ExecProfiles: []ExecProfile{gkeProfile()}}, "users[u].user.exec.env"},
		{"exec value off its pattern", kubeconfig("", "    exec:\n      command: gke\n      env: [{name: project, value: 'p1 --impersonate-service-account=x'}]"), "", Policy{ExecProfiles: []ExecProfile{gkeProfile()}}, "users[u].user.exec.env"},
		{"exec value missing", kubeconfig("", "    exec:\n      command: gke"), "", Policy{ExecProfiles: []ExecProfile{gkeProfile()}}, "users[u].user.exec.env"},
		{"exec apiVersion", kubeconfig("", "    exec:\n      apiVersion: client.authentication.k8s.io/v1beta1\n      command: gke\n      env: [{name: project, value: p1}]"), "", Policy{ExecProfiles: []ExecProfile{gkeProfile()}}, "users[u].user.exec.apiVersion"},
		{"auth-provider", kubeconfig("", "    auth-provider:\n      name: gcp"), "", Policy{}, "users[u].user.auth-provider"},
		{"tokenFile", kubeconfig("", "    tokenFile: /var/run/secrets/token"), "", Policy{}, "users[u].user.tokenFile"},
		{"client-certificate file", kubeconfig("", "    client-certificate: /etc/cert\n    client-key-data: "+keyData), "", Policy{}, "users[u].user.client-certificate"},
		{"client-key file", kubeconfig("", "    client-certificate-data: "+certData+"\n    client-key: /etc/key"), "", Policy{}, "users[u].user.client-key"},
		{"certificate-authority file", kubeconfig("    certificate-authority: /etc/ca.crt", "    token: t"), "", Policy{}, "clusters[k].cluster.certificate-authority"},
		{"proxy-url", kubeconfig("    proxy-url: http://proxy:3128", "    token: t"), "", Policy{}, "clusters[k].cluster.proxy-url"},
		{"impersonation", kubeconfig("", "    token: t\n    as: system:admin"), "", Policy{}, "users[u].user.as"},
		{"impersonated groups", kubeconfig("", "    token: t\n    as-groups: [system:masters]"), "", Policy{}, "users[u].user.as-groups"},
		{"basic auth", kubeconfig("", "    username: admin\n    password: pw"), "", Policy{}, "users[u].user.password"},
		{"insecure TLS", kubeconfig("    insecure-skip-tls-verify: true", "    token: t"), "", Policy{}, "clusters[k].cluster.insecure-skip-tls-verify"},
		{"unknown cluster field", kubeconfig("    surprise: 1", "    token: t"), "", Policy{}, "clusters[k].cluster.surprise"},
		{"plain http", strings.Replace(kubeconfig("", "    token: t"), "https://k8s", "http://k8s", 1), "", Policy{}, "clusters[k].cluster.server"},
		{"credentials in the URL", strings.Replace(kubeconfig("", "    token: t"), "https://k8s", "https://user:pw@k8s", 1), "", Policy{}, "clusters[k].cluster.server"},
		{"no credentials", kubeconfig("", "    {}"), "", Policy{}, "users[u].user"},
		{"two kinds of credentials", kubeconfig("", "    token: t\n    client-certificate-data: "+certData+"\n    client-key-data: "+keyData), "", Policy{}, "users[u].user"},
		{"certificate without key", kubeconfig("", "    client-certificate-data: "+certData), "", Policy{}, "users[u].user.client-key-data"},
		{"bad base64", kubeconfig("    certificate-authority-data: '!!!'", "    token: t"), "", Policy{}, "clusters[k].cluster.certificate-authority-data"},
		{"missing context", kubeconfig("", "    token: t"), "nope", Policy{}, "contexts[nope]"},
		{"context naming a missing cluster", kubeconfig("", "    token: t"), "other", Policy{}, "clusters[evil]"},
		{"no current context", strings.Replace(kubeconfig("", "    token: t"), "current-context: c\n", "", 1), "", Policy{}, "current-context"},
		{"not YAML", "{{{", "", Policy{}, "(file)"},
		{"too large", strings.Repeat("#", maxKubeconfig+1), "", Policy{}, "(file)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := Vet([]byte(tt.raw), tt.context, tt.policy)
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("Vet = %+v, %v; want a FieldError", r, err)
			}
			if fe.Field != tt.field {
				t.Errorf("field %q, want %q (%v)", fe.Field, tt.field, err)
			}
			if !strings.Contains(err.Error(), tt.field) {
				t.Errorf("error %q does not name the field", err)
			}
		})
	}
}

func TestVetPolicyAllows(t *testing.T) {
	r, err := Vet([]byte(kubeconfig("    insecure-skip-tls-verify: true", "    token: t")), "", Policy{AllowInsecureTLS: true})
	if err != nil || !r.Insecure {
		t.Errorf("insecure allowed: %+v, %v", r, err)
	}
	raw := kubeconfig("", "    exec:\n      apiVersion: client.authentication.k8s.io/v1\n      command: gke\n      env: [{name: project, value: my-project-1}]\n      interactiveMode: IfAvailable")
	policy := Policy{ExecProfiles: []ExecProfile{gkeProfile()}}
	r, err = Vet([]byte(raw), "", policy)
	if err != nil {
		t.Fatal(err)
	}
	if r.Exec == nil || r.Exec.Profile != "gke" || len(r.Exec.Values) != 1 || r.Exec.Values["project"] != "my-project-1" {
		t.Errorf("exec: %+v", r.Exec)
	}
	cfg, err := r.RESTConfig(&Dialer{}, policy)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.ExecProvider != nil || cfg.WrapTransport == nil {
		t.Errorf("exec runs through client-go's provider, which hands the plugin the service's environment: %+v", cfg)
	}
}

// gkeProfile is an exec profile filled with one value.
func gkeProfile() ExecProfile {
	return ExecProfile{
		Name: "gke", Command: "/usr/bin/gke-gcloud-auth-plugin", Args: []string{"--project", "${project}"},
		Path: "/usr/bin:/bin", APIVersion: "client.authentication.k8s.io/v1",
		Values: []ExecValue{{Name: "project", Pattern: `[a-z][a-z0-9-]{4,28}[a-z0-9]`}},
	}
}

// TestVetRunsNothingReadsNothing gives the intake a kubeconfig whose exec plugin would
// create a marker file and whose tokenFile holds a secret, served by a TLS server that
// records what reaches it: the intake refuses both, the marker never appears, and no
// request (so no secret) reaches the server.
func TestVetRunsNothingReadsNothing(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Header.Get("Authorization"))
		mu.Unlock()
	}))
	defer srv.Close()
	dir := t.TempDir()
	marker := filepath.Join(dir, "marker")
	secret := filepath.Join(dir, "token")
	if err := os.WriteFile(secret, []byte("file-secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	server := "    server: " + srv.URL
	for _, user := range []string{
		fmt.Sprintf("    exec:\n      apiVersion: client.authentication.k8s.io/v1\n      command: sh\n      args: [-c, 'touch %s']", marker),
		"    tokenFile: " + secret,
	} {
		raw := strings.Replace(kubeconfig(server, user), "    server: https://k8s.example.com:6443\n", "", 1)
		if r, err := Vet([]byte(raw), "", Policy{}); err == nil {
			// Were it accepted, it would be used like this.
			cfg, _ := r.RESTConfig(&Dialer{Allowed: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}, Policy{})
			client, _ := rest.HTTPClientFor(cfg)
			client.Get(srv.URL)
			t.Errorf("accepted: %+v", r)
		}
	}
	if _, err := os.Stat(marker); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the exec plugin ran: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, auth := range seen {
		if strings.Contains(auth, "file-secret") {
			t.Error("the tokenFile's secret reached the server")
		}
	}
	if len(seen) != 0 {
		t.Errorf("%d requests reached the server", len(seen))
	}
}

func TestDialerCheck(t *testing.T) {
	loopback := &Dialer{Allowed: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("169.254.0.0/16")}}
	tests := []struct {
		addr    string
		plain   bool // allowed by a Dialer with nothing allowed
		allowed bool // allowed by loopback
	}{
		{"127.0.0.1", false, true},
		{"::ffff:127.0.0.1", false, true},
		{"::1", false, false},
		{"10.1.2.3", false, false},
		{"172.20.0.1", false, false},
		{"192.168.1.10", false, false},
		{"100.64.0.1", false, false},
		{"fd12::1", false, false},
		{"169.254.169.254", false, false}, // metadata: never, even inside an allowed prefix
		{"::ffff:169.254.169.254", false, false},
		{"fe80::1", false, false},
		{"fd00:ec2::254", false, false},
		{"100.100.100.200", false, false},
		{"0.0.0.0", false, false},
		{"224.0.0.1", false, false},
		{"8.8.8.8", true, true},
		{"2001:4860:4860::8888", true, true},
		// Cloud metadata and special-purpose ranges: never, even inside an allowed prefix.
		{"168.63.129.16", false, false},
		{"192.0.0.192", false, false},
		{"192.0.0.8", false, false},
		{"240.0.0.1", false, false},
		{"255.255.255.254", false, false},
		{"100::1", false, false},
		// Site-local and local-use NAT64: internal.
		{"fec0::1", false, false},
		{"64:ff9b:1::a00:1", false, false},
		// IPv6 forms carrying an IPv4 address: judged by what they carry.
		{"64:ff9b::a9fe:a9fe", false, false},        // NAT64 of 169.254.169.254
		{"64:ff9b::7f00:1", false, true},            // NAT64 of 127.0.0.1
		{"64:ff9b::a00:1", false, false},            // NAT64 of 10.0.0.1
		{"64:ff9b::808:808", true, true},            // NAT64 of 8.8.8.8
		{"::127.0.0.1", false, true},                // IPv4-compatible
		{"::169.254.169.254", false, false},         // IPv4-compatible
		{"::10.0.0.1", false, false},                // IPv4-compatible
		{"2002:a9fe:a9fe::1", false, false},         // 6to4 of 169.254.169.254
		{"2002:7f00:1::1", false, true},             // 6to4 of 127.0.0.1
		{"2002:c0a8:101::1", false, false},          // 6to4 of 192.168.1.1
		{"2002:a83f:8110::1", false, false},         // 6to4 of 168.63.129.16
		{"2002:808:808::1", true, true},             // 6to4 of 8.8.8.8
		{"2001:0:808:808::5601:5efe", false, false}, // Teredo, client ~ 169.254.161.1
		{"2001:0:808:808::f5ff:fffe", false, false}, // Teredo, client ~ 10.0.0.1
		{"2001:0:808:808::f7f7:fbfb", true, true},   // Teredo, client ~ 8.8.4.4
		{"::ffff:0:7f00:1", false, true},            // IPv4-translated 127.0.0.1
		{"::ffff:0:a9fe:a9fe", false, false},        // IPv4-translated 169.254.169.254
		{"::ffff:0:a00:1", false, false},            // IPv4-translated 10.0.0.1
		{"::ffff:0:808:808", true, true},            // IPv4-translated 8.8.8.8
		{"::ffff:10.0.0.1", false, false},           // IPv4-mapped
		// Cloud metadata over IPv6, inside fc00::/7 (see the ULA check below).
		{"fd00:ec2::23", false, false},
		{"fd20:ce::254", false, false},
		{"fd00:c1::a9fe:a9fe", false, false},
		{"fd00:42::42", false, false},
	}
	// Metadata endpoints stay refused where unique local addresses are allowed.
	ula := &Dialer{Allowed: []netip.Prefix{netip.MustParsePrefix("fc00::/7")}}
	for _, a := range []string{"fd00:ec2::254", "fd00:ec2::23", "fd20:ce::254", "fd00:c1::a9fe:a9fe", "fd00:42::42"} {
		if err := ula.Check(netip.MustParseAddr(a)); err == nil {
			t.Errorf("%s allowed by --allow-cluster-network fc00::/7", a)
		}
	}
	if err := ula.Check(netip.MustParseAddr("fd12::1")); err != nil {
		t.Errorf("fd12::1 refused inside an allowed fc00::/7: %v", err)
	}
	for _, tt := range tests {
		ip := netip.MustParseAddr(tt.addr)
		if err := (&Dialer{}).Check(ip); (err == nil) != tt.plain {
			t.Errorf("default Check(%s) = %v, want allowed %v", tt.addr, err, tt.plain)
		}
		if err := loopback.Check(ip); (err == nil) != tt.allowed {
			t.Errorf("loopback-allowing Check(%s) = %v, want allowed %v", tt.addr, err, tt.allowed)
		}
	}
}

// TestDialerOnRealSockets dials a real local server: refused by default, also through a
// name that resolves to it, and through an IPv4-mapped IPv6 address; allowed once
// loopback is allowed.
func TestDialerOnRealSockets(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "ok") }))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	for _, addr := range []string{"127.0.0.1:" + port, "localhost:" + port, "[::ffff:127.0.0.1]:" + port} {
		if conn, err := (&Dialer{}).DialContext(ctx, "tcp", addr); err == nil {
			conn.Close()
			t.Errorf("dial %s: connected, want refused", addr)
		} else if !strings.Contains(err.Error(), "internal") {
			t.Errorf("dial %s: %v, want an internal-address refusal", addr, err)
		}
	}
	if _, err := (&Dialer{}).DialContext(ctx, "tcp", "169.254.169.254:80"); err == nil || !strings.Contains(err.Error(), "metadata") {
		t.Errorf("dial metadata: %v", err)
	}

	r := Reduced{Server: srv.URL, Insecure: true, Token: "t"}
	allowed := &Dialer{Allowed: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}
	cfg, err := r.RESTConfig(allowed, Policy{AllowInsecureTLS: true})
	if err != nil {
		t.Fatal(err)
	}
	client, err := rest.HTTPClientFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := client.Get(srv.URL)
	if err != nil {
		t.Fatalf("allowed loopback: %v", err)
	}
	resp.Body.Close()

	cfg, err = r.RESTConfig(&Dialer{}, Policy{AllowInsecureTLS: true})
	if err != nil {
		t.Fatal(err)
	}
	client, err = rest.HTTPClientFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.Get(srv.URL); err == nil {
		t.Error("request through the default dialer reached a loopback server")
	}
}

// FuzzVet checks that no kubeconfig panics the intake, and that whatever it accepts
// holds only what the allow-list permits.
func FuzzVet(f *testing.F) {
	f.Add([]byte(kubeconfig("    certificate-authority-data: "+caData, "    token: t")), "")
	f.Add([]byte(kubeconfig("", "    exec:\n      command: sh")), "c")
	f.Add([]byte(kubeconfig("    proxy-url: http://x", "    tokenFile: /x")), "other")
	f.Add([]byte("current-context: c\ncontexts: [{name: c, context: {cluster: k, user: u}}]\nclusters: [{name: k, cluster: {server: 'https://x'}}]\nusers: [{name: u, user: {token: t}}]"), "")
	f.Add([]byte("{}"), "")
	f.Fuzz(func(t *testing.T, raw []byte, context string) {
		sh := ExecProfile{Name: "sh", Command: "/bin/sh", Args: []string{"-c", "echo ${v}"}, Values: []ExecValue{{Name: "v", Pattern: "[a-z]+"}}}
		for _, policy := range []Policy{{}, {AllowInsecureTLS: true, ExecProfiles: []ExecProfile{sh}}} {
			r, err := Vet(raw, context, policy)
			if err != nil {
				var fe *FieldError
				if !errors.As(err, &fe) {
					t.Fatalf("error %v is not a FieldError", err)
				}
				continue
			}
			if !strings.HasPrefix(r.Server, "https://") {
				t.Errorf("accepted server %q", r.Server)
			}
			if r.Insecure && !policy.AllowInsecureTLS {
				t.Error("accepted insecure TLS without the policy")
			}
			if r.Exec != nil && (r.Exec.Profile != "sh" || len(policy.ExecProfiles) == 0 || r.Check(policy) != nil) {
				t.Errorf("accepted exec %+v", r.Exec)
			}
			if r.Token == "" && r.ClientCert == nil && r.Exec == nil {
				t.Error("accepted without credentials")
			}
		}
	})
}

// TestVetNeverQuotesSecrets feeds kubeconfigs whose errors would quote a secret (a URL
// with a password that does not parse, a document that does not parse next to a token)
// and checks the error names the field but holds no secret.
func TestVetNeverQuotesSecrets(t *testing.T) {
	const secret = "s3cretvalue"
	for name, raw := range map[string]string{
		"bad URL with a password": `apiVersion: v1
kind: Config
current-context: x
clusters: [{name: x, cluster: {server: "https://user:` + secret + `@k8s%zz"}}]
users: [{name: x, user: {token: t}}]
contexts: [{name: x, context: {cluster: x, user: x}}]
`,
		"bad YAML quoting a token": `users: [{name: x, user: {token: ` + secret + `}}]
{"token":"` + secret + `"}: x
`,
		"bad JSON": `{"users":[{"user":{"token":"` + secret + `"}}],`,
	} {
		_, err := Vet([]byte(raw), "", Policy{})
		var fe *FieldError
		if !errors.As(err, &fe) {
			t.Errorf("%s: %v, want a FieldError", name, err)
			continue
		}
		if strings.Contains(err.Error(), secret) {
			t.Errorf("%s: the error quotes the secret: %v", name, err)
		}
	}
}
