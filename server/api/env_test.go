package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
	"github.com/pb33f/libopenapi-validator/config"

	"github.com/tagdrift/tagdrift/internal/storetest"
	"github.com/tagdrift/tagdrift/scanner/kubeconfig"
	"github.com/tagdrift/tagdrift/scheduler"
	"github.com/tagdrift/tagdrift/server/access"
	"github.com/tagdrift/tagdrift/server/request"
	"github.com/tagdrift/tagdrift/store"
)

// testAdminToken stands for TAGDRIFT_ADMIN_TOKEN in tests.
const testAdminToken = "env-admin-token-0123456789"

// testConfig is what a test env's API is made of: the gate's settings (access.Config)
// and the API's own.
type testConfig struct {
	access.Config
	Scans      Scanner
	CacheBytes int
	Notifier   request.Notifier
}

// testEnv is the API on a fresh, migrated database of its own, with a token of each
// kind.
type testEnv struct {
	t   testing.TB
	st  *store.Store
	h   http.Handler
	cfg testConfig
	// Secrets of tokens by what they are: admin, viewer, expired, revoked.
	tokens map[string]string
}

// openAPIValidator is built once: the document does not change during a run.
var openAPIValidator = sync.OnceValues(func() (validator.Validator, error) {
	doc, err := libopenapi.NewDocument(openAPIDoc)
	if err != nil {
		return nil, err
	}
	v, errs := validator.NewValidator(doc, config.WithFormatAssertions())
	if len(errs) > 0 {
		return nil, fmt.Errorf("build validator: %v", errs)
	}
	return v, nil
})

// newEnv opens the API on a new database. change, when given, edits the config.
func newEnv(t testing.TB, change func(*testConfig)) *testEnv {
	t.Helper()
	ctx := context.Background()
	st, _ := storetest.New(t, "tagdrift_server")
	sched, err := scheduler.New(scheduler.Config{Store: st, Dialer: &kubeconfig.Dialer{}})
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig{Scans: sched, Config: access.Config{Store: st, AdminToken: testAdminToken, RateLimit: 1000, RateBurst: 1000, FailedAuthBurst: 1_000_000}}
	if change != nil {
		change(&cfg)
	}
	e := &testEnv{t: t, st: st, h: handler(cfg), cfg: cfg, tokens: map[string]string{}}
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

// handler is the API of cfg, on a router of its own, with a gate of its own.
func handler(cfg testConfig) http.Handler {
	r := chi.NewRouter()
	New(Config{Store: cfg.Store, Scans: cfg.Scans, Access: access.New(cfg.Config), CacheBytes: cfg.CacheBytes, Notifier: cfg.Notifier, Now: cfg.Now}).Mount(r)
	return r
}

// response is an answer with its body read.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) String() string { return fmt.Sprintf("%d %s", r.status, r.body) }

// decode unmarshals the body into v.
func (r response) decode(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r, err)
	}
}

// problem decodes a problem+json body, checking its shape.
func (r response) problem(t testing.TB) request.Problem {
	t.Helper()
	if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("Content-Type %q, want application/problem+json (%s)", ct, r)
	}
	var p request.Problem
	r.decode(t, &p)
	if p.Status != r.status || p.Title == "" || p.Type != "about:blank" {
		t.Errorf("problem %+v for status %d", p, r.status)
	}
	return p
}

// apiRequest describes one call.
type apiRequest struct {
	method, path string
	token        string // bearer secret; "" sends no Authorization
	body         string // JSON; sent with Content-Type application/json unless contentType says otherwise
	contentType  *string
	remoteAddr   string
	forwardedFor string // X-Forwarded-For, when not empty
	undocumented bool   // a route the document does not have: the answer is not validated
}

// call serves one request and, for documented routes, validates the answer (and, for a
// success, the request) against the OpenAPI document.
func (e *testEnv) call(rq apiRequest) response {
	e.t.Helper()
	req := e.newRequest(rq)
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, req)
	res := rec.Result()
	body, _ := io.ReadAll(res.Body)
	out := response{status: res.StatusCode, header: res.Header, body: body}
	if strings.HasPrefix(rq.path, "/api/v1/") && !rq.undocumented {
		e.validate(rq, out)
	}
	return out
}

func (e *testEnv) newRequest(rq apiRequest) *http.Request {
	var body io.Reader
	if rq.body != "" {
		body = strings.NewReader(rq.body)
	}
	req := httptest.NewRequest(rq.method, rq.path, body)
	if rq.token != "" {
		req.Header.Set("Authorization", "Bearer "+rq.token)
	}
	switch {
	case rq.contentType != nil:
		if *rq.contentType != "" {
			req.Header.Set("Content-Type", *rq.contentType)
		}
	case rq.body != "":
		req.Header.Set("Content-Type", "application/json")
	}
	if rq.remoteAddr != "" {
		req.RemoteAddr = rq.remoteAddr
	}
	if rq.forwardedFor != "" {
		req.Header.Set("X-Forwarded-For", rq.forwardedFor)
	}
	return req
}

// validate checks a response against the OpenAPI document: its status is documented
// for the route and its body and headers match the schema.
func (e *testEnv) validate(rq apiRequest, res response) {
	e.t.Helper()
	v, err := openAPIValidator()
	if err != nil {
		e.t.Fatal(err)
	}
	httpRes := &http.Response{StatusCode: res.status, Header: res.header, Body: io.NopCloser(bytes.NewReader(res.body))}
	if ok, errs := v.ValidateHttpResponse(e.newRequest(rq), httpRes); !ok {
		for _, ve := range errs {
			e.t.Errorf("%s %s -> %d: response does not match the OpenAPI document: %s: %s %v", rq.method, rq.path, res.status, ve.Message, ve.Reason, ve.SchemaValidationErrors)
		}
	}
	if res.status < 300 && rq.token != "" {
		if ok, errs := v.ValidateHttpRequest(e.newRequest(rq)); !ok {
			for _, ve := range errs {
				e.t.Errorf("%s %s: request does not match the OpenAPI document: %s: %s %v", rq.method, rq.path, ve.Message, ve.Reason, ve.SchemaValidationErrors)
			}
		}
	}
}

// as returns a caller with one token.
func (e *testEnv) as(who string) caller {
	secret := e.tokens[who]
	if who == "env-admin" {
		secret = testAdminToken
	}
	if secret == "" {
		e.t.Fatalf("no token %q", who)
	}
	return caller{e: e, token: secret}
}

type caller struct {
	e     *testEnv
	token string
}

func (c caller) get(path string) response {
	c.e.t.Helper()
	return c.e.call(apiRequest{method: http.MethodGet, path: path, token: c.token})
}

func (c caller) send(method, path, body string) response {
	c.e.t.Helper()
	return c.e.call(apiRequest{method: method, path: path, token: c.token, body: body})
}

// want fails the test unless res has status.
func want(t testing.TB, res response, status int) {
	t.Helper()
	if res.status != status {
		t.Fatalf("status %d, want %d: %s", res.status, status, res.body)
	}
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

// jsonString quotes s as a JSON string.
func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// clusterBody is a POST /api/v1/clusters body.
func clusterBody(name, kubeconfig string, extra string) string {
	return `{"name":` + jsonString(name) + `,"kubeconfig":` + jsonString(kubeconfig) + extra + `}`
}

// newFleet is an env with three clusters: prod, where a tag moved under a Deployment
// (a hostile pod name among its pods), staging, and old, whose only scan is long past.
func newFleet(t *testing.T) (*testEnv, *fleet) {
	t.Helper()
	e := newEnv(t, nil)
	f := &fleet{t: t, e: e, id: map[string]int64{}}
	for _, name := range []string{"prod", "staging", "old"} {
		want(t, e.as("admin").send("POST", "/api/v1/clusters", clusterBody(name, testKubeconfig("", ""), "")), http.StatusCreated)
		c, err := e.st.ClusterStatusByName(context.Background(), name, store.Scope{})
		if err != nil {
			t.Fatal(err)
		}
		f.id[name] = c.ID
	}
	now := time.Now()
	t0 := now.Add(-3 * time.Minute).Truncate(time.Second).UTC()
	t1 := t0.Add(time.Minute)
	f.scan("old", now.Add(-3*time.Hour), webPod("old", "web-o", "u-o", "a"))
	f.scan("prod", t0, webPod("prod", "web-a", "u-a", "a"), webPod("prod", hostilePod, "u-h", "a"))
	f.scan("staging", t0, webPod("staging", "web-s", "u-s", "a"))
	f.scan("prod", t1, webPod("prod", "web-a", "u-a", "a"), webPod("prod", hostilePod, "u-h", "a"), webPod("prod", "web-c", "u-c", "b"))
	return e, f
}

// hostilePod is a pod name that is markup.
const hostilePod = `"><script>alert(1)</script>`

// hostileImageID is an imageID that is markup; it parses as kind unknown.
const hostileImageID = `<img src=x onerror=alert(3)>"'`
