package main

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
)

// parseDockerfile reads the repository's Dockerfile with BuildKit's own parser, as
// `docker build` does.
func parseDockerfile(t *testing.T) []instructions.Stage {
	t.Helper()
	f, err := os.Open("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ast, err := parser.Parse(f)
	if err != nil {
		t.Fatalf("parse Dockerfile: %v", err)
	}
	for _, w := range ast.Warnings {
		t.Errorf("Dockerfile warning: %s", w.Short)
	}
	stages, _, err := instructions.Parse(ast.AST, nil)
	if err != nil {
		t.Fatalf("Dockerfile instructions: %v", err)
	}
	return stages
}

// TestDockerfile checks the Dockerfile without a Docker engine: a Go build stage that
// matches go.mod and builds this command statically with the version stamped in, and a
// last (default) stage on distroless static that runs it as a non-root user, with
// `serve` as its command, OCI labels and no HEALTHCHECK.
func TestDockerfile(t *testing.T) {
	stages := parseDockerfile(t)
	mod, err := os.ReadFile("../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	goVersion := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindSubmatch(mod)
	if goVersion == nil {
		t.Fatal("go.mod has no go directive")
	}
	byName := map[string]instructions.Stage{}
	for _, s := range stages {
		byName[s.Name] = s
	}
	build, ok := byName["build"]
	if !ok {
		t.Fatalf("no stage named build in %v", stageNames(stages))
	}
	if want := "golang:" + string(goVersion[1]); !strings.HasPrefix(build.BaseName, want) {
		t.Errorf("build stage FROM %s, want %s (go.mod)", build.BaseName, want)
	}
	var goBuild string
	for _, run := range commandsOf[*instructions.RunCommand](build) {
		if line := strings.Join(run.CmdLine, " "); strings.Contains(line, "go build") {
			goBuild = line
		}
	}
	for _, want := range []string{"CGO_ENABLED=0 go build", "-trimpath", "-X main.version=${VERSION}", "-o /out/tagdrift ./cmd/tagdrift"} {
		if !strings.Contains(goBuild, want) {
			t.Errorf("the build stage's go build %q lacks %q", goBuild, want)
		}
	}
	if !slices.ContainsFunc(commandsOf[*instructions.ArgCommand](build), func(a *instructions.ArgCommand) bool {
		return slices.ContainsFunc(a.Args, func(kv instructions.KeyValuePairOptional) bool { return kv.Key == "VERSION" })
	}) {
		t.Error("the build stage takes no VERSION build argument")
	}

	final := stages[len(stages)-1]
	if final.Name != "" || !strings.HasPrefix(final.BaseName, "gcr.io/distroless/static-debian13:nonroot") {
		t.Errorf("last stage %q FROM %s, want an unnamed stage on gcr.io/distroless/static-debian13:nonroot", final.Name, final.BaseName)
	}
	checkNonRoot(t, final)
	copies := commandsOf[*instructions.CopyCommand](final)
	if len(copies) != 1 || copies[0].From != "build" || copies[0].DestPath != "/usr/local/bin/tagdrift" ||
		!slices.Equal(copies[0].SourcePaths, []string{"/out/tagdrift"}) {
		t.Errorf("the last stage should copy only /out/tagdrift from build, got %+v", copies)
	}
	ep := commandsOf[*instructions.EntrypointCommand](final)
	if len(ep) != 1 || !slices.Equal(ep[0].CmdLine, []string{"/usr/local/bin/tagdrift"}) || ep[0].PrependShell {
		t.Errorf("ENTRYPOINT %+v, want [\"/usr/local/bin/tagdrift\"] in exec form", ep)
	}
	cmd := commandsOf[*instructions.CmdCommand](final)
	if len(cmd) != 1 || !slices.Equal(cmd[0].CmdLine, []string{"serve"}) || cmd[0].PrependShell {
		t.Errorf("CMD %+v, want [\"serve\"] in exec form", cmd)
	}
	labels := map[string]string{}
	for _, l := range commandsOf[*instructions.LabelCommand](final) {
		for _, kv := range l.Labels {
			labels[kv.Key] = strings.Trim(kv.Value, `"`)
		}
	}
	for _, k := range []string{"org.opencontainers.image.title", "org.opencontainers.image.version", "org.opencontainers.image.source", "org.opencontainers.image.description"} {
		if labels[k] == "" {
			t.Errorf("no label %s", k)
		}
	}
	if labels["org.opencontainers.image.version"] != "${VERSION}" {
		t.Errorf("image version label %q, want ${VERSION}", labels["org.opencontainers.image.version"])
	}

	for _, s := range stages {
		if len(commandsOf[*instructions.HealthCheckCommand](s)) > 0 {
			t.Errorf("stage %q has a HEALTHCHECK: probes are the orchestrator's job", s.Name)
		}
		for _, a := range commandsOf[*instructions.AddCommand](s) {
			t.Errorf("stage %q uses ADD %v: COPY from the context, never fetch", s.Name, a.SourcePaths)
		}
		for _, r := range commandsOf[*instructions.RunCommand](s) {
			line := strings.Join(r.CmdLine, " ")
			if regexp.MustCompile(`\b(curl|wget)\b|https?://`).MatchString(line) {
				t.Errorf("stage %q fetches from a URL: RUN %s", s.Name, line)
			}
		}
	}

	// The demo helper image of docker-compose.yaml.
	demo, ok := byName["demo"]
	if !ok {
		t.Fatalf("no demo stage in %v", stageNames(stages))
	}
	if !strings.HasPrefix(demo.BaseName, "gcr.io/distroless/static-debian13:nonroot") {
		t.Errorf("demo stage FROM %s", demo.BaseName)
	}
	checkNonRoot(t, demo)
}

func checkNonRoot(t *testing.T, s instructions.Stage) {
	t.Helper()
	users := commandsOf[*instructions.UserCommand](s)
	if len(users) == 0 {
		t.Errorf("stage %q sets no USER", s.Name)
		return
	}
	// Numeric, non-zero: Kubernetes' runAsNonRoot can only verify a numeric user.
	if u := users[len(users)-1].User; !regexp.MustCompile(`^[1-9][0-9]*(:[1-9][0-9]*)?$`).MatchString(u) {
		t.Errorf("stage %q runs as USER %q, want a numeric non-root uid:gid", s.Name, u)
	}
}

func commandsOf[T instructions.Command](s instructions.Stage) []T {
	var out []T
	for _, c := range s.Commands {
		if v, ok := c.(T); ok {
			out = append(out, v)
		}
	}
	return out
}

func stageNames(stages []instructions.Stage) []string {
	var out []string
	for _, s := range stages {
		out = append(out, s.Name+"("+s.BaseName+")")
	}
	return out
}

// TestDockerignore checks that the build context leaves out the history, local secrets
// and build output.
func TestDockerignore(t *testing.T) {
	b, err := os.ReadFile("../../.dockerignore")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(b), "\n")
	for _, want := range []string{".git", ".tagdrift", "bin"} {
		if !slices.Contains(lines, want) {
			t.Errorf(".dockerignore does not leave out %s", want)
		}
	}
}
