package tagdrift_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// module is the module path every rule below is written under.
const module = "github.com/tagdrift/tagdrift"

// TestStructure keeps the rooms of the code apart (issue 23): each rule names the
// packages it is about and the packages none of them may depend on, directly or not.
// Test files are not counted: a test may reach across to set up what it checks.
func TestStructure(t *testing.T) {
	deps := moduleDeps(t)
	for _, rule := range []struct {
		name string
		// from and to are package paths below the module; a trailing "/..." takes the
		// package and everything below it.
		from, to []string
	}{{
		name: "the API and the UI do not import each other",
		from: []string{"server/api/..."}, to: []string{"server/ui/..."},
	}, {
		name: "the UI and the API do not import each other",
		from: []string{"server/ui/..."}, to: []string{"server/api/..."},
	}, {
		name: "what both faces share depends on neither face nor on the router",
		from: []string{"server/request/...", "server/access/..."},
		to:   []string{"server", "server/api/...", "server/ui/..."},
	}, {
		name: "the scanner knows neither the store nor the HTTP service",
		from: []string{"scanner/..."}, to: []string{"store/...", "server/...", "scheduler/..."},
	}, {
		name: "the scheduler is not part of the HTTP service",
		from: []string{"scheduler/..."}, to: []string{"server/..."},
	}, {
		name: "the store knows nothing of the HTTP service",
		from: []string{"store/..."}, to: []string{"server/...", "scheduler/..."},
	}, {
		name: "the store does not shape API answers",
		from: []string{"store/..."}, to: []string{"scanner/report"},
	}} {
		t.Run(rule.name, func(t *testing.T) {
			matched := 0
			for _, pkg := range slices.Sorted(maps.Keys(deps)) {
				if !matchAny(pkg, rule.from) {
					continue
				}
				matched++
				for _, d := range deps[pkg] {
					if matchAny(d, rule.to) {
						t.Errorf("%s imports %s", strings.TrimPrefix(pkg, module+"/"), strings.TrimPrefix(d, module+"/"))
					}
				}
			}
			// A rule about no package (a room renamed away) would pass for ever.
			if matched == 0 {
				t.Errorf("no package matches %q", rule.from)
			}
		})
	}
}

// moduleDeps lists, for every package of the module, the module's packages it depends
// on, directly or not (go list's Deps, test files left out).
func moduleDeps(t *testing.T) map[string][]string {
	t.Helper()
	cmd := exec.Command("go", "list", "-json=ImportPath,Deps", "./...")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v: %s", err, stderr.String())
	}
	deps := map[string][]string{}
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p struct {
			ImportPath string
			Deps       []string
		}
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("decode go list: %v", err)
		}
		var own []string
		for _, d := range p.Deps {
			if d == module || strings.HasPrefix(d, module+"/") {
				own = append(own, d)
			}
		}
		deps[p.ImportPath] = own
	}
	if len(deps) == 0 {
		t.Fatal("go list found no package")
	}
	return deps
}

// matchAny reports whether the package path pkg is one of patterns (module-relative,
// "/..." for a tree).
func matchAny(pkg string, patterns []string) bool {
	rel, ok := strings.CutPrefix(pkg, module+"/")
	if !ok {
		return false
	}
	for _, p := range patterns {
		if tree, ok := strings.CutSuffix(p, "/..."); ok {
			if rel == tree || strings.HasPrefix(rel, tree+"/") {
				return true
			}
		} else if rel == p {
			return true
		}
	}
	return false
}
