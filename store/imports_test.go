package store

import (
	"os/exec"
	"strings"
	"testing"
)

// TestStoreImports: the store speaks its own types. Nothing it builds on, directly or
// not, is the API's shape (scanner/report: the API's layer encodes it, server/apibody)
// or the HTTP layer (server/...).
func TestStoreImports(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "./...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 5 {
		t.Fatalf("go list gave %q", out)
	}
	for _, d := range deps {
		if d == "github.com/tagdrift/tagdrift/scanner/report" || strings.HasPrefix(d, "github.com/tagdrift/tagdrift/server") {
			t.Errorf("the store depends on %s", d)
		}
	}
}
