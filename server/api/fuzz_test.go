package api

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tagdrift/tagdrift/server/request"
)

// FuzzListQuery sends arbitrary query strings to every list and look-up that takes
// query parameters, through the real handlers and database: the answer is always a 200
// or a 400 problem, never a panic or a 500.
func FuzzListQuery(f *testing.F) {
	for _, seed := range []string{
		"", "limit=10", "limit=0", "limit=1001", "limit=abc", "cursor=", "cursor=eyJsIjoic2NhbnMiLCJpIjo1fQ",
		"cluster=prod&namespace=shop&kind=Deployment&mutant=true&limit=5",
		"state=closed&kind=tag-moved", "state=all&kind=pod-drift&cursor=%%%", "ref=nginx:1.25",
		"ref=nginx@sha256:" + strings.Repeat("a", 64), "ref=%00", "cluster=%00", "cluster=%ff%fe", "namespace=a%0Ab",
		"a=1&a=2", "limit=1&limit=1", "cursor=" + request.Cursor{List: "workloads", Workload: []string{"a", "b", "c", "d"}}.Encode(),
		"cursor=" + request.Cursor{List: "clusters", Name: "x"}.Encode(), "cursor=" + request.Cursor{List: "scans", ID: 1 << 62}.Encode(),
		"purge=true", "mutant=TRUE", "limit=99999999999999999999", "ref=" + strings.Repeat("a", 300),
	} {
		f.Add(seed)
	}
	e := newEnv(f, func(c *testConfig) { c.RateLimit, c.RateBurst = 1e9, 1<<30 })
	paths := []string{
		"/api/v1/clusters", "/api/v1/scans", "/api/v1/workloads", "/api/v1/mutations",
		"/api/v1/images/timeline", "/api/v1/audit", "/api/v1/tokens", "/api/v1/clusters/prod", "/api/v1/openapi.json",
	}
	f.Fuzz(func(t *testing.T, raw string) {
		for _, path := range paths {
			req := httptest.NewRequest(http.MethodGet, path, nil)
			req.URL.RawQuery = raw
			req.Header.Set("Authorization", "Bearer "+testAdminToken)
			rec := httptest.NewRecorder()
			e.h.ServeHTTP(rec, req)
			switch rec.Code {
			case http.StatusOK:
			case http.StatusBadRequest, http.StatusNotFound:
				if ct := rec.Header().Get("Content-Type"); ct != "application/problem+json" || !strings.Contains(rec.Body.String(), `"detail":"`) {
					t.Fatalf("GET %s?%s: %d %s %s", path, raw, rec.Code, ct, rec.Body)
				}
				if rec.Code == http.StatusNotFound && path != "/api/v1/clusters/prod" {
					t.Fatalf("GET %s?%s: 404 %s", path, raw, rec.Body)
				}
			default:
				t.Fatalf("GET %s?%s: status %d: %s", path, raw, rec.Code, rec.Body)
			}
		}
	})
}
