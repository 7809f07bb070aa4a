package api

import (
	"context"
	"encoding/base64"
	"net/http"
	"strings"
	"testing"

	"github.com/tagdrift/tagdrift/server/request"
)

// TestBadBodies checks every way a body can be refused, and that a refused request
// changes nothing.
func TestBadBodies(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	admin := e.as("admin")
	kc := testKubeconfig("", "")
	ptr := func(s string) *string { return &s }
	tests := []struct {
		name        string
		method      string
		path        string
		body        string
		contentType *string
		status      int
		detail      string
	}{
		{"malformed JSON", "POST", "/api/v1/clusters", `{"name":"a",`, nil, 400, "malformed JSON"},
		{"not JSON at all", "POST", "/api/v1/tokens", `name=a`, nil, 400, "malformed JSON"},
		{"empty body", "POST", "/api/v1/tokens", ``, ptr("application/json"), 400, "empty"},
		{"unknown field", "POST", "/api/v1/clusters", clusterBody("a", kc, `,"kubeconfigPath":"/etc/passwd"`), nil, 400, `unknown field "kubeconfigPath"`},
		{"unknown token field", "POST", "/api/v1/tokens", `{"name":"a","role":"viewer","secret":"x"}`, nil, 400, `unknown field "secret"`},
		{"trailing data", "POST", "/api/v1/tokens", `{"name":"a","role":"viewer"} {}`, nil, 400, "trailing data"},
		{"wrong type", "POST", "/api/v1/tokens", `{"name":5,"role":"viewer"}`, nil, 400, `field "name"`},
		{"an array", "POST", "/api/v1/tokens", `[]`, nil, 400, "request body"},
		{"no content type", "POST", "/api/v1/tokens", `{"name":"a","role":"viewer"}`, ptr(""), 415, "Content-Type"},
		{"wrong content type", "POST", "/api/v1/clusters", clusterBody("a", kc, ""), ptr("text/plain"), 415, "Content-Type"},
		{"form content type", "PATCH", "/api/v1/clusters/a", `{"enabled":false}`, ptr("application/x-www-form-urlencoded"), 415, "Content-Type"},
		{"wrong charset", "POST", "/api/v1/tokens", `{"name":"a","role":"viewer"}`, ptr("application/json; charset=latin1"), 415, "charset"},
		{"token body over 64 KiB", "POST", "/api/v1/tokens", `{"name":"` + strings.Repeat("a", 70<<10) + `","role":"viewer"}`, nil, 413, "larger than"},
		{"cluster body over the limit", "POST", "/api/v1/clusters", clusterBody("a", strings.Repeat("#", request.MaxClusterBody), ""), nil, 413, "larger than"},
		{"kubeconfig over 1 MiB", "POST", "/api/v1/clusters", clusterBody("a", strings.Repeat("#", request.MaxKubeconfig+1), ""), nil, 413, "kubeconfig larger than"},
		{"no name", "POST", "/api/v1/clusters", clusterBody("", kc, ""), nil, 400, "name must be"},
		{"bad name", "POST", "/api/v1/clusters", clusterBody("Prod_1", kc, ""), nil, 400, "name must be"},
		{"name too long", "POST", "/api/v1/clusters", clusterBody(strings.Repeat("a", 64), kc, ""), nil, 400, "name must be"},
		{"no kubeconfig", "POST", "/api/v1/clusters", `{"name":"a"}`, nil, 400, "kubeconfig is required"},
		{"short interval", "POST", "/api/v1/clusters", clusterBody("a", kc, `,"scanInterval":"5s"`), nil, 400, "scanInterval must be at least 10s"},
		{"bad interval", "POST", "/api/v1/clusters", clusterBody("a", kc, `,"scanInterval":"often"`), nil, 400, "scanInterval must be a duration"},
		{"bad annotate", "POST", "/api/v1/clusters", clusterBody("a", kc, `,"annotate":"yes"`), nil, 400, "annotate must be off or on"},
		{"unknown context", "POST", "/api/v1/clusters", clusterBody("a", kc, `,"context":"nope"`), nil, 400, "kubeconfig contexts[nope]"},
		{"token without role", "POST", "/api/v1/tokens", `{"name":"a"}`, nil, 400, "role must be viewer or admin"},
		{"token bad role", "POST", "/api/v1/tokens", `{"name":"a","role":"root"}`, nil, 400, "role must be viewer or admin"},
		{"token without name", "POST", "/api/v1/tokens", `{"role":"viewer"}`, nil, 400, "name must be"},
		{"token bad expiry", "POST", "/api/v1/tokens", `{"name":"a","role":"viewer","expiresIn":"30s"}`, nil, 400, "expiresIn must be at least 1m"},
		{"token negative expiry", "POST", "/api/v1/tokens", `{"name":"a","role":"viewer","expiresIn":"-1h"}`, nil, 400, "expiresIn must be at least"},
		{"body on a scan request", "POST", "/api/v1/clusters/a/scans", `{"x":1}`, nil, 400, "takes no body"},
		{"body on a delete", "DELETE", "/api/v1/tokens/1", `{}`, nil, 400, "takes no body"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := e.call(apiRequest{method: tt.method, path: tt.path, token: admin.token, body: tt.body, contentType: tt.contentType})
			if res.status != tt.status {
				t.Fatalf("status %d, want %d: %.300s", res.status, tt.status, res.body)
			}
			if p := res.problem(t); !strings.Contains(p.Detail, tt.detail) {
				t.Errorf("detail %q does not say %q", p.Detail, tt.detail)
			}
		})
	}
	// Nothing was created.
	var clusters request.List[clusterJSON]
	admin.get("/api/v1/clusters").decode(t, &clusters)
	if len(clusters.Items) != 0 {
		t.Errorf("clusters created by refused requests: %+v", clusters.Items)
	}
	events, err := e.st.AuditEvents(context.Background(), 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range events {
		if ev.Actor != "cli:test" {
			t.Errorf("refused requests were audited: %+v", ev)
		}
	}
}

// TestRejectedKubeconfigs posts hostile kubeconfigs: each is a 400 naming the field,
// echoes no secret, and registers nothing. PATCH vets the same way.
func TestRejectedKubeconfigs(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	admin := e.as("admin")
	want(t, admin.send("POST", "/api/v1/clusters", clusterBody("prod", testKubeconfig("", ""), "")), http.StatusCreated)
	const secret = "s3cret-never-echoed"
	data := base64.StdEncoding.EncodeToString([]byte("pem"))
	tests := []struct {
		name, cluster, user, field string
	}{
		{"exec", "", "    exec:\n      apiVersion: client.authentication.k8s.io/v1\n      command: sh\n      args: [-c, 'echo " + secret + "']", "users[u].user.exec"},
		{"auth-provider", "", "    auth-provider:\n      name: gcp\n      config: {access-token: " + secret + "}", "users[u].user.auth-provider"},
		{"tokenFile", "", "    tokenFile: /var/run/secrets/" + secret, "users[u].user.tokenFile"},
		{"client-certificate path", "", "    client-certificate: /etc/" + secret + "\n    client-key-data: " + data, "users[u].user.client-certificate"},
		{"client-key path", "", "    client-certificate-data: " + data + "\n    client-key: /etc/" + secret, "users[u].user.client-key"},
		{"certificate-authority path", "    certificate-authority: /etc/ca.crt", "    token: " + secret, "clusters[k].cluster.certificate-authority"},
		{"proxy-url", "    proxy-url: http://user:" + secret + "@proxy:3128", "    token: " + secret, "clusters[k].cluster.proxy-url"},
		{"insecure-skip-tls-verify", "    insecure-skip-tls-verify: true", "    token: " + secret, "clusters[k].cluster.insecure-skip-tls-verify"},
		{"impersonation", "", "    token: " + secret + "\n    as: system:admin", "users[u].user.as"},
		{"impersonated groups", "", "    token: " + secret + "\n    as-groups: [system:masters]", "users[u].user.as-groups"},
		{"basic auth", "", "    username: admin\n    password: " + secret, "users[u].user.password"},
		{"no credentials", "", "    {}", "users[u].user"},
		{"unparsable server with a password", "", "    token: t", "clusters[k].cluster.server"},
		{"not YAML", "", "", "(file)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kc := testKubeconfig(tt.cluster, tt.user)
			switch tt.name {
			case "unparsable server with a password":
				kc = strings.Replace(kc, "https://127.0.0.1:1", "https://user:"+secret+"@k8s%zz:6443", 1)
			case "not YAML":
				// A complex key: the YAML parser's message quotes it.
				kc = "apiVersion: v1\n? {token: " + secret + "}\n: x\n"
			}
			for _, rq := range []apiRequest{
				{method: "POST", path: "/api/v1/clusters", body: clusterBody("hostile", kc, "")},
				{method: "PATCH", path: "/api/v1/clusters/prod", body: `{"kubeconfig":` + jsonString(kc) + `}`},
			} {
				rq.token = admin.token
				res := e.call(rq)
				if res.status != http.StatusBadRequest {
					t.Fatalf("%s: status %d, want 400: %s", rq.method, res.status, res.body)
				}
				p := res.problem(t)
				if !strings.HasPrefix(p.Detail, "kubeconfig "+tt.field+":") {
					t.Errorf("%s: detail %q does not name %s", rq.method, p.Detail, tt.field)
				}
				if strings.Contains(string(res.body), secret) {
					t.Errorf("%s: the answer echoes a secret: %s", rq.method, res.body)
				}
			}
		})
	}
	res := admin.get("/api/v1/clusters/hostile")
	want(t, res, http.StatusNotFound)
	var c clusterJSON
	admin.get("/api/v1/clusters/prod").decode(t, &c)
	if c.Server != "https://127.0.0.1:1" || c.Context != "c" {
		t.Errorf("a refused PATCH changed the cluster: %+v", c)
	}
}

// TestBadQueries checks the query validation of every list and look-up.
func TestBadQueries(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	admin := e.as("admin")
	scansCursor := request.Cursor{List: "scans", ID: 5}.Encode()
	tests := []struct {
		path   string
		status int
		detail string
	}{
		{"/api/v1/clusters?limit=0", 400, "limit must be an integer from 1 to 1000"},
		{"/api/v1/clusters?limit=1001", 400, "limit must be"},
		{"/api/v1/clusters?limit=ten", 400, "limit must be"},
		{"/api/v1/clusters?limit=-1", 400, "limit must be"},
		{"/api/v1/clusters?limit=1&limit=2", 400, "more than once"},
		{"/api/v1/clusters?cluster=prod", 400, `unknown query parameter "cluster"`},
		{"/api/v1/workloads?mutant=yes", 400, "mutant must be one of true, false"},
		{"/api/v1/workloads?mutnat=true&zzz=1", 400, `unknown query parameter "mutnat", "zzz"`},
		{"/api/v1/workloads?sort=pods", 400, "sort must be one of cluster, namespace, name, kind, ref, changed, mutant"},
		{"/api/v1/workloads?order=up", 400, "order must be one of asc, desc"},
		{"/api/v1/workloads?ref=Not%20An%20Image", 400, "not an image reference"},
		{"/api/v1/mutations?state=gone", 400, "state must be one of open, acknowledged, expected, unresolved, closed, all"},
		{"/api/v1/mutations?kind=mutant", 400, "kind must be one of workload-divergence"},
		{"/api/v1/mutations?since=yesterday", 400, "since must be 24h, 7d, 30d, 90d or an RFC 3339 time"},
		{"/api/v1/mutations?until=2026-13-01", 400, "until must be an RFC 3339 time"},
		{"/api/v1/mutations?workload=web", 400, "workload must be kind/name"},
		{"/api/v1/mutations?ref=Not%20An%20Image", 400, "not an image reference"},
		{"/api/v1/scans?cursor=%%%", 400, "malformed query string"},
		{"/api/v1/scans?cursor=not-a-cursor", 400, "cursor is not a cursor of this list"},
		{"/api/v1/scans?cursor=" + base64.RawURLEncoding.EncodeToString([]byte(`{"l":"scans","i":-4}`)), 400, "cursor"},
		{"/api/v1/scans?cursor=" + base64.RawURLEncoding.EncodeToString([]byte(`{"l":"scans","i":4,"x":1}`)), 400, "cursor"},
		{"/api/v1/mutations?cursor=" + scansCursor, 400, "cursor is not a cursor of this list"},
		{"/api/v1/scans?cluster=prod&cursor=" + scansCursor, 400, "with the same filters"},
		{"/api/v1/workloads?cursor=" + request.Cursor{List: "workloads", Workload: []string{"a"}}.Encode(), 400, "cursor"},
		{"/api/v1/clusters?cursor=" + request.Cursor{List: "clusters"}.Encode(), 400, "cursor"},
		{"/api/v1/tokens?cursor=" + request.Cursor{List: "audit", ID: 3}.Encode(), 400, "cursor"},
		{"/api/v1/audit?cursor=" + strings.Repeat("A", 2000), 400, "longer than"},
		{"/api/v1/images/timeline", 400, "ref is required"},
		{"/api/v1/images/timeline?ref=", 400, "ref is required"},
		{"/api/v1/images/timeline?ref=Not%20An%20Image", 400, "not an image reference"},
		{"/api/v1/images/timeline?ref=nginx:1.25&cluster=x", 400, "unknown query parameter"},
		{"/api/v1/digests/sha256:abc", 400, "digest must be sha256:"},
		{"/api/v1/digests/sha256:" + strings.Repeat("A", 64), 400, "digest must be"},
		{"/api/v1/digests/md5:" + strings.Repeat("a", 64), 400, "digest must be"},
		{"/api/v1/scans/abc", 400, "scan id must be a positive integer"},
		{"/api/v1/scans/0", 400, "scan id must be"},
		{"/api/v1/mutations/-3", 400, "mutation id must be"},
		{"/api/v1/clusters/prod?verbose=1", 400, "unknown query parameter"},
		{"/api/v1/clusters/nope", 404, `cluster "nope" not found`},
		{"/api/v1/scans/424242", 404, "scan 424242 not found"},
		{"/api/v1/mutations/424242", 404, "mutation 424242 not found"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			res := admin.get(tt.path)
			if res.status != tt.status {
				t.Fatalf("status %d, want %d: %s", res.status, tt.status, res.body)
			}
			if p := res.problem(t); !strings.Contains(p.Detail, tt.detail) {
				t.Errorf("detail %q does not say %q", p.Detail, tt.detail)
			}
		})
	}
	for _, rq := range []struct{ method, path, body string }{
		{"PATCH", "/api/v1/clusters/nope", `{"enabled":false}`},
		{"DELETE", "/api/v1/clusters/nope", ""},
		{"POST", "/api/v1/clusters/nope/scans", ""},
		{"DELETE", "/api/v1/tokens/424242", ""},
	} {
		res := admin.send(rq.method, rq.path, rq.body)
		if res.status != http.StatusNotFound {
			t.Errorf("%s %s: status %d, want 404: %s", rq.method, rq.path, res.status, res.body)
		}
	}
	res := admin.send("DELETE", "/api/v1/clusters/nope?purge=maybe", "")
	want(t, res, http.StatusBadRequest)
}
