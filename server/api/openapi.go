package api

import (
	_ "embed"
	"net/http"

	"github.com/tagdrift/tagdrift/server/request"
)

// openAPIDoc is the OpenAPI 3.1 document of the API, written by hand; a test checks it
// against the router and validates real responses against it.
//
//go:embed openapi.json
var openAPIDoc []byte

// openAPI serves the document. Like every /api/ route it needs a token (any role).
func (a *API) openAPI(w http.ResponseWriter, r *http.Request) error {
	if _, err := request.Parse(r.URL.RawQuery); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	w.Write(openAPIDoc)
	return nil
}
