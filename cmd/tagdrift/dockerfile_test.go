package main

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestDockerfile checks the Dockerfile without a Docker engine: its Go matches go.mod,
// it builds this command statically, and the image runs it as a non-root user.
func TestDockerfile(t *testing.T) {
	df, err := os.ReadFile("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	mod, err := os.ReadFile("../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	goVersion := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindSubmatch(mod)
	if goVersion == nil {
		t.Fatal("go.mod has no go directive")
	}
	text := string(df)
	var froms []string
	for _, line := range strings.Split(text, "\n") {
		if f := strings.Fields(line); len(f) >= 2 && strings.EqualFold(f[0], "FROM") {
			froms = append(froms, f[1])
		}
	}
	if len(froms) != 2 {
		t.Fatalf("want a build stage and a runtime stage, got FROM %v", froms)
	}
	if want := "golang:" + string(goVersion[1]); !strings.HasPrefix(froms[0], want) {
		t.Errorf("build stage %s, want %s (go.mod)", froms[0], want)
	}
	for _, want := range []string{
		"CGO_ENABLED=0 go build",
		"./cmd/tagdrift",
		"COPY --from=build /out/tagdrift /usr/local/bin/tagdrift",
		"USER nonroot:nonroot",
		`ENTRYPOINT ["/usr/local/bin/tagdrift"]`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
	if !strings.Contains(froms[1], "distroless/static") {
		t.Errorf("runtime stage %s: want a static distroless image for a CGO-free binary", froms[1])
	}
}
