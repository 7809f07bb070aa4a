package api

import (
	"encoding/json"
	"net/http"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"
	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"

	"github.com/tagdrift/tagdrift/server/access"
)

// TestOpenAPIDocumentIsValid validates the document against the OpenAPI 3.1 schema.
func TestOpenAPIDocumentIsValid(t *testing.T) {
	doc, err := libopenapi.NewDocument(openAPIDoc)
	if err != nil {
		t.Fatal(err)
	}
	if v := doc.GetVersion(); v != "3.1.0" {
		t.Errorf("OpenAPI version %q, want 3.1.0", v)
	}
	v, errs := validator.NewValidator(doc)
	if len(errs) > 0 {
		t.Fatalf("build validator: %v", errs)
	}
	if ok, verrs := v.ValidateDocument(); !ok {
		for _, e := range verrs {
			t.Errorf("invalid document: %s: %s %v", e.Message, e.Reason, e.SchemaValidationErrors)
		}
	}
	if _, err := doc.BuildV3Model(); err != nil {
		t.Errorf("build model: %v", err)
	}
}

// apiRoutes returns the router's API routes as "METHOD /path".
func apiRoutes(t *testing.T) []string {
	t.Helper()
	r := chi.NewRouter()
	New(Config{Access: access.New(access.Config{RateLimit: 1, RateBurst: 1})}).Mount(r)
	var routes []string
	err := chi.Walk(r, func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		if strings.HasPrefix(route, "/api/") {
			routes = append(routes, method+" "+strings.TrimSuffix(route, "/"))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(routes)
	return slices.Compact(routes)
}

// documentedRoutes returns the document's operations as "METHOD /path", and checks
// that each has a security requirement (the global one) and error responses.
func documentedRoutes(t *testing.T) []string {
	t.Helper()
	var doc struct {
		Security []map[string][]string                 `json:"security"`
		Paths    map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(openAPIDoc, &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Security) != 1 || doc.Security[0]["bearerAuth"] == nil {
		t.Errorf("global security %v, want bearerAuth", doc.Security)
	}
	var routes []string
	for path, item := range doc.Paths {
		for method, raw := range item {
			if method == "parameters" {
				continue
			}
			routes = append(routes, strings.ToUpper(method)+" "+path)
			var op struct {
				Responses map[string]json.RawMessage `json:"responses"`
			}
			if err := json.Unmarshal(raw, &op); err != nil {
				t.Fatal(err)
			}
			for _, code := range []string{"400", "401", "429", "500"} {
				if op.Responses[code] == nil {
					t.Errorf("%s %s does not document %s", method, path, code)
				}
			}
		}
	}
	sort.Strings(routes)
	return routes
}

// TestOpenAPIMatchesRouter checks that every API route is documented and every
// documented operation is routed.
func TestOpenAPIMatchesRouter(t *testing.T) {
	routed, documented := apiRoutes(t), documentedRoutes(t)
	if len(routed) < 18 {
		t.Fatalf("only %d routes found: %v", len(routed), routed)
	}
	for _, r := range routed {
		if !slices.Contains(documented, r) {
			t.Errorf("route %s is not documented", r)
		}
	}
	for _, d := range documented {
		if !slices.Contains(routed, d) {
			t.Errorf("documented %s is not routed", d)
		}
	}
}
