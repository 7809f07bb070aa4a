package main

import (
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// TestComposeFile loads docker-compose.yaml (no Docker engine runs here) and checks that
// it wires the service to its database as `tagdrift serve` reads its configuration.
func TestComposeFile(t *testing.T) {
	raw, err := os.ReadFile("../../docker-compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var compose struct {
		Services map[string]struct {
			Image       string            `json:"image"`
			Build       string            `json:"build"`
			Command     []string          `json:"command"`
			Environment map[string]string `json:"environment"`
			DependsOn   map[string]struct {
				Condition string `json:"condition"`
			} `json:"depends_on"`
			Ports       []string `json:"ports"`
			Healthcheck *struct {
				Test []string `json:"test"`
			} `json:"healthcheck"`
		} `json:"services"`
	}
	if err := yaml.Unmarshal(raw, &compose); err != nil {
		t.Fatal(err)
	}
	pg, ok := compose.Services["postgres"]
	if !ok || !strings.HasPrefix(pg.Image, "postgres:") || pg.Healthcheck == nil {
		t.Fatalf("postgres service: %+v", pg)
	}
	td, ok := compose.Services["tagdrift"]
	if !ok || td.Build != "." || len(td.Command) != 1 || td.Command[0] != "serve" {
		t.Fatalf("tagdrift service: %+v", td)
	}
	if td.DependsOn["postgres"].Condition != "service_healthy" {
		t.Error("tagdrift does not wait for a healthy database")
	}
	url := td.Environment["TAGDRIFT_DATABASE_URL"]
	if !strings.Contains(url, "@postgres:5432/") || !strings.Contains(url, pg.Environment["POSTGRES_DB"]) ||
		!strings.Contains(url, pg.Environment["POSTGRES_USER"]+":"+pg.Environment["POSTGRES_PASSWORD"]+"@") {
		t.Errorf("database URL %q does not match the postgres service %v", url, pg.Environment)
	}
	if !strings.Contains(td.Environment["TAGDRIFT_ENCRYPTION_KEY"], "TAGDRIFT_ENCRYPTION_KEY:?") {
		t.Error("the encryption key must be required from the environment, never written in the file")
	}
	// Every TAGDRIFT_ variable must be one serve reads.
	serveEnv := serveEnvNames(t)
	for k := range td.Environment {
		if strings.HasPrefix(k, "TAGDRIFT_") && !slices.Contains(serveEnv, k) {
			t.Errorf("compose sets %s, which serve does not read", k)
		}
	}
	if len(td.Ports) != 1 || !strings.HasSuffix(td.Ports[0], ":8080") || td.Environment["TAGDRIFT_LISTEN"] != ":8080" {
		t.Errorf("ports %v and listen %q disagree", td.Ports, td.Environment["TAGDRIFT_LISTEN"])
	}
}

// TestServeEnvIsRead checks that each variable serve reads changes the configuration.
func TestServeEnvIsRead(t *testing.T) {
	base := map[string]string{"TAGDRIFT_DATABASE_URL": "postgres://x", "TAGDRIFT_ENCRYPTION_KEY": "k"}
	values := map[string]string{
		"TAGDRIFT_LISTEN": ":9999", "TAGDRIFT_ENCRYPTION_KEY_FILE": "/keys", "TAGDRIFT_NO_MIGRATE": "true",
		"TAGDRIFT_SCAN_CONCURRENCY": "7", "TAGDRIFT_SCAN_TIMEOUT": "3m", "TAGDRIFT_SCAN_INTERVAL": "1m",
		"TAGDRIFT_CLUSTER_KUBECONFIG": "/a,/b:ctx", "TAGDRIFT_ALLOW_INSECURE_TLS": "true",
		"TAGDRIFT_ALLOW_EXEC_PLUGIN": "aws", "TAGDRIFT_ALLOW_CLUSTER_NETWORK": "10.0.0.0/8", "TAGDRIFT_LOG_LEVEL": "debug",
		"TAGDRIFT_ADMIN_TOKEN": "an-admin-token-for-tests", "TAGDRIFT_API_RATE_LIMIT": "5",
		"TAGDRIFT_SESSION_IDLE": "1h", "TAGDRIFT_SESSION_ABSOLUTE": "720h",
		"TAGDRIFT_DATABASE_URL": "postgres://y", "TAGDRIFT_ENCRYPTION_KEY": "other",
	}
	get := func(env map[string]string) func(string) string { return func(k string) string { return env[k] } }
	before, err := parseServe(nil, get(base))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range serveEnvNames(t) {
		v, ok := values[name]
		if !ok {
			t.Errorf("no test value for %s", name)
			continue
		}
		env := maps.Clone(base)
		env[name] = v
		after, err := parseServe(nil, get(env))
		if err != nil {
			t.Errorf("%s=%s: %v", name, v, err)
			continue
		}
		if fmt.Sprint(after) == fmt.Sprint(before) {
			t.Errorf("%s=%s changed nothing", name, v)
		}
	}
}
