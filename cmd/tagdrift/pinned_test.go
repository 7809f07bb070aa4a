package main

import (
	"fmt"
	"regexp"
	"testing"
)

// pinnedRef is an image reference pinned by digest: name, the tag it was resolved
// from (kept so a reader knows what it is), and the manifest's sha256.
var pinnedRef = regexp.MustCompile(`^[a-z0-9][a-z0-9./_-]*(:[0-9]+)?/?[a-z0-9./_-]*:[A-Za-z0-9_][A-Za-z0-9._-]{0,127}@sha256:[0-9a-f]{64}$`)

// checkPinned fails for a reference that is not pinned by digest: a tool that finds
// moved tags must not build or run on one.
func checkPinned(ref string) error {
	if !pinnedRef.MatchString(ref) {
		return fmt.Errorf("%q is not pinned by digest (name:tag@sha256:<64 hex>)", ref)
	}
	return nil
}

// TestImagesPinned: every base image of the Dockerfile (a FROM that is not an earlier
// stage) and every image the compose file pulls (services not built here) is pinned
// by digest, K3S_IMAGE's default included.
func TestImagesPinned(t *testing.T) {
	stages := parseDockerfile(t)
	named := map[string]bool{}
	for _, s := range stages {
		if !named[s.BaseName] {
			if err := checkPinned(s.BaseName); err != nil {
				t.Errorf("Dockerfile stage %q: %v", s.Name, err)
			}
		}
		named[s.Name] = true
	}
	pulled := 0
	for _, s := range loadCompose(t).Services {
		if s.Build != nil {
			continue
		}
		pulled++
		if err := checkPinned(s.Image); err != nil {
			t.Errorf("docker-compose.yaml service %s: %v", s.Name, err)
		}
	}
	if pulled < 3 {
		t.Errorf("%d pulled images in docker-compose.yaml, want postgres, registry and k3s", pulled)
	}
}

// TestCheckPinned: the check refuses the forms that float.
func TestCheckPinned(t *testing.T) {
	for ref, ok := range map[string]bool{
		"postgres:16@sha256:" + sha:                               true,
		"gcr.io/distroless/static-debian13:nonroot@sha256:" + sha: true,
		"localhost:5000/app:v1@sha256:" + sha:                     true,
		"postgres:16":                                             false,
		"postgres@sha256:" + sha:                                  false, // no tag: nobody knows what it is
		"postgres:16@sha256:" + sha[:63]:                          false,
		"postgres:latest@sha256:" + sha + "x":                     false,
		"${K3S_IMAGE}":                                            false,
	} {
		if err := checkPinned(ref); (err == nil) != ok {
			t.Errorf("checkPinned(%q) = %v, want ok %v", ref, err, ok)
		}
	}
}

const sha = "95206741a5b214807675e14165369d05b93a9cf692223b616d07cca227e74b0b"
