package server

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

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
	"github.com/pb33f/libopenapi-validator/config"

	"github.com/tagdrift/tagdrift/internal/storetest"
	"github.com/tagdrift/tagdrift/scanner/kubeconfig"
	"github.com/tagdrift/tagdrift/scheduler"
	"github.com/tagdrift/tagdrift/store"
)

// testAdminToken stands for TAGDRIFT_ADMIN_TOKEN in tests.
const testAdminToken = "env-admin-token-0123456789"

// testEnv is the API on a fresh, migrated database of its own, with a token of each
// kind.
type testEnv struct {
	t   testing.TB
	st  *store.Store
	h   http.Handler
	cfg Config
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
func newEnv(t testing.TB, change func(*Config)) *testEnv {
	t.Helper()
	ctx := context.Background()
	st, _ := storetest.New(t, "tagdrift_server")
	sched, err := scheduler.New(scheduler.Config{Store: st, Dialer: &kubeconfig.Dialer{}})
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Store: st, Scans: sched, AdminToken: testAdminToken, RateLimit: 1000, RateBurst: 1000, FailedAuthBurst: 1_000_000}
	if change != nil {
		change(&cfg)
	}
	e := &testEnv{t: t, st: st, h: New(cfg), cfg: cfg, tokens: map[string]string{}}
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
func (r response) problem(t testing.TB) problem {
	t.Helper()
	if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("Content-Type %q, want application/problem+json (%s)", ct, r)
	}
	var p problem
	r.decode(t, &p)
	if p.Status != r.status || p.Title == "" || p.Type != "about:blank" {
		t.Errorf("problem %+v for status %d", p, r.status)
	}
	return p
}

// request describes one call.
type request struct {
	method, path string
	token        string // bearer secret; "" sends no Authorization
	body         string // JSON; sent with Content-Type application/json unless contentType says otherwise
	contentType  *string
	remoteAddr   string
	undocumented bool // a route the document does not have: the answer is not validated
}

// call serves one request and, for documented routes, validates the answer (and, for a
// success, the request) against the OpenAPI document.
func (e *testEnv) call(rq request) response {
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

func (e *testEnv) newRequest(rq request) *http.Request {
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
	return req
}

// validate checks a response against the OpenAPI document: its status is documented
// for the route and its body and headers match the schema.
func (e *testEnv) validate(rq request, res response) {
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
	return c.e.call(request{method: http.MethodGet, path: path, token: c.token})
}

func (c caller) send(method, path, body string) response {
	c.e.t.Helper()
	return c.e.call(request{method: method, path: path, token: c.token, body: body})
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
