package main

import (
	"io"
	"net/netip"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/alecthomas/kong"

	"github.com/tagdrift/tagdrift/scheduler"
)

// serveFlags returns serve's flags in the kong model and their variables.
func serveFlags(t *testing.T) ([]*kong.Flag, *environment) {
	t.Helper()
	var c cli
	k, env, err := newParser(&c, func(string) string { return "" }, io.Discard, io.Discard, func(int) {})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range k.Model.Children {
		if n.Name == "serve" {
			return n.Flags, env
		}
	}
	t.Fatal("no serve command in the model")
	return nil, nil
}

// serveEnvNames lists the variables serve reads: its flags' and those with no flag.
func serveEnvNames(t *testing.T) []string {
	t.Helper()
	flags, env := serveFlags(t)
	var names []string
	for _, f := range flags {
		names = append(names, env.vars[f]...)
	}
	for _, v := range serveEnvOnly {
		names = append(names, v.name)
	}
	return names
}

// TestServeConfig parses good values from flags and the environment.
func TestServeConfig(t *testing.T) {
	base := map[string]string{"TAGDRIFT_DATABASE_URL": "postgres://x", "TAGDRIFT_ENCRYPTION_KEY": "k"}
	with := func(kv ...string) func(string) string {
		env := map[string]string{}
		for k, v := range base {
			env[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			env[kv[i]] = kv[i+1]
		}
		return func(k string) string { return env[k] }
	}
	c, err := parseServe(nil, with())
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != ":8080" || c.NoMigrate || c.ScanConcurrency != 4 || c.ScanTimeout != 2*time.Minute ||
		c.ScanInterval != 5*time.Minute || c.APIRateLimit != 50 || c.LogLevel.String() != "INFO" || c.ClusterKubeconfig != nil ||
		c.ExpiryInterval != time.Minute || c.NotifyRepeatCheck != scheduler.DefaultRepeatCheck || c.ScanMode != "poll" {
		t.Errorf("defaults: %+v", c)
	}
	for _, tt := range []struct {
		value string
		want  bool
	}{{"yes", true}, {"no", false}, {"true", true}, {"TRUE", true}, {"1", true}, {"false", false}, {"0", false}, {"", false}} {
		c, err := parseServe(nil, with("TAGDRIFT_NO_MIGRATE", tt.value))
		if err != nil || c.NoMigrate != tt.want {
			t.Errorf("TAGDRIFT_NO_MIGRATE=%q: %v, %v; want %v", tt.value, c.NoMigrate, err, tt.want)
		}
	}
	c, err = parseServe(nil, with("TAGDRIFT_ALLOW_CLUSTER_NETWORK", "10.0.0.0/8, 192.168.1.7/16,",
		"TAGDRIFT_CLUSTER_KUBECONFIG", "/a,/b:ctx", "TAGDRIFT_SCAN_TIMEOUT", "90s", "TAGDRIFT_LOG_LEVEL", "debug"))
	if err != nil {
		t.Fatal(err)
	}
	if want := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.168.0.0/16")}; !slices.Equal(c.dialer().Allowed, want) ||
		!slices.Equal(c.ClusterKubeconfig, []string{"/a", "/b:ctx"}) || c.ScanTimeout != 90*time.Second || c.LogLevel.String() != "DEBUG" {
		t.Errorf("from the environment: %+v", c)
	}
	// A flag wins over its variable; a repeated flag gathers its values, commas and all.
	c, err = parseServe([]string{"--scan-timeout", "1m", "--cluster-kubeconfig", "/c,d", "--cluster-kubeconfig=/e", "--no-migrate"},
		with("TAGDRIFT_SCAN_TIMEOUT", "3m", "TAGDRIFT_CLUSTER_KUBECONFIG", "/a", "TAGDRIFT_NO_MIGRATE", "false"))
	if err != nil {
		t.Fatal(err)
	}
	if c.ScanTimeout != time.Minute || !slices.Equal(c.ClusterKubeconfig, []string{"/c,d", "/e"}) || !c.NoMigrate {
		t.Errorf("flags over variables: %+v", c)
	}
	for _, tt := range []struct {
		args []string
		env  string
		want string
	}{{nil, "watch", "watch"}, {[]string{"--scan-mode", "watch"}, "", "watch"}, {[]string{"--scan-mode=poll"}, "watch", "poll"}} {
		c, err := parseServe(tt.args, with("TAGDRIFT_SCAN_MODE", tt.env))
		if err != nil || c.ScanMode != tt.want {
			t.Errorf("%v TAGDRIFT_SCAN_MODE=%q: scan mode %q, %v; want %q", tt.args, tt.env, c.ScanMode, err, tt.want)
		}
	}
}

// TestServeConfigErrors gives serve one bad value at a time, from a variable or a flag:
// each is refused, by the name of what holds it.
func TestServeConfigErrors(t *testing.T) {
	base := map[string]string{"TAGDRIFT_DATABASE_URL": "postgres://127.0.0.1:1/none", "TAGDRIFT_ENCRYPTION_KEY": "k"}
	tests := []struct {
		env  map[string]string
		args []string
		want string
	}{
		{map[string]string{"TAGDRIFT_NO_MIGRATE": "maybe"}, nil, `TAGDRIFT_NO_MIGRATE (for --no-migrate): bool value must be true, 1, yes, false, 0 or no but got "maybe"`},
		{map[string]string{"TAGDRIFT_ALLOW_INSECURE_TLS": "on"}, nil, "TAGDRIFT_ALLOW_INSECURE_TLS"},
		{map[string]string{"TAGDRIFT_SCAN_TIMEOUT": "90"}, nil, `TAGDRIFT_SCAN_TIMEOUT (for --scan-timeout): expected duration but got "90"`},
		{map[string]string{"TAGDRIFT_SCAN_TIMEOUT": "-1m"}, nil, "TAGDRIFT_SCAN_TIMEOUT must be positive, not -1m0s"},
		{map[string]string{"TAGDRIFT_SCAN_INTERVAL": "5 minutes"}, nil, "TAGDRIFT_SCAN_INTERVAL (for --scan-interval)"},
		{map[string]string{"TAGDRIFT_SCAN_INTERVAL": "5s"}, nil, "TAGDRIFT_SCAN_INTERVAL must be at least 10s, not 5s"},
		{map[string]string{"TAGDRIFT_EXPIRY_INTERVAL": "100ms"}, nil, "TAGDRIFT_EXPIRY_INTERVAL must be at least 1s, not 100ms"},
		{nil, []string{"--expiry-interval", "0"}, "--expiry-interval must be at least 1s, not 0s"},
		{nil, []string{"--notify-repeat-check", "500ms"}, "--notify-repeat-check must be at least 1s, not 500ms"},
		{map[string]string{"TAGDRIFT_HISTORY_RETENTION": "30d"}, nil, "TAGDRIFT_HISTORY_RETENTION (for --history-retention)"},
		{map[string]string{"TAGDRIFT_HISTORY_RETENTION": "-1h"}, nil, "TAGDRIFT_HISTORY_RETENTION must not be negative, not -1h0m0s"},
		{map[string]string{"TAGDRIFT_SCAN_CONCURRENCY": "four"}, nil, "TAGDRIFT_SCAN_CONCURRENCY (for --scan-concurrency)"},
		{map[string]string{"TAGDRIFT_SCAN_CONCURRENCY": "2.5"}, nil, "TAGDRIFT_SCAN_CONCURRENCY (for --scan-concurrency)"},
		{map[string]string{"TAGDRIFT_SCAN_CONCURRENCY": "0"}, nil, "TAGDRIFT_SCAN_CONCURRENCY must be positive, not 0"},
		{map[string]string{"TAGDRIFT_API_RATE_LIMIT": "fast"}, nil, "TAGDRIFT_API_RATE_LIMIT (for --api-rate-limit)"},
		{map[string]string{"TAGDRIFT_API_RATE_LIMIT": "-1"}, nil, "TAGDRIFT_API_RATE_LIMIT must be a positive number, not -1"},
		{map[string]string{"TAGDRIFT_API_RATE_LIMIT": "NaN"}, nil, "TAGDRIFT_API_RATE_LIMIT must be a positive number"},
		{map[string]string{"TAGDRIFT_LOG_LEVEL": "loud"}, nil, "TAGDRIFT_LOG_LEVEL (for --log-level)"},
		{map[string]string{"TAGDRIFT_ALLOW_CLUSTER_NETWORK": "10.0.0.0/8,10.1.2.3"}, nil, `TAGDRIFT_ALLOW_CLUSTER_NETWORK (for --allow-cluster-network): netip.ParsePrefix("10.1.2.3"): no '/'`},
		{map[string]string{"TAGDRIFT_EXTERNAL_URL": "tagdrift.example.com"}, nil, `TAGDRIFT_EXTERNAL_URL must be an absolute http or https URL, not "tagdrift.example.com"`},
		{nil, []string{"--external-url", "https://x/?a=b"}, `--external-url must be an absolute http or https URL, not "https://x/?a=b"`},
		{nil, []string{"--external-url", "http://tagdrift.internal"}, "--external-url is plain http, where browsers drop the Secure session cookie"},
		{map[string]string{"TAGDRIFT_INSECURE_COOKIES": "true"}, []string{"--external-url", "https://x"}, "--insecure-cookies contradicts an https --external-url"},
		{map[string]string{"TAGDRIFT_ADMIN_TOKEN": "short"}, nil, "TAGDRIFT_ADMIN_TOKEN must be at least 16 characters"},
		{map[string]string{"TAGDRIFT_DATABASE_URL": ""}, nil, "no database: set --database-url or TAGDRIFT_DATABASE_URL"},
		{map[string]string{"TAGDRIFT_ENCRYPTION_KEY": ""}, nil, "no encryption key: set --encryption-key-file or TAGDRIFT_ENCRYPTION_KEY"},
		{nil, []string{"--no-migrate=maybe"}, `--no-migrate: bool value must be true, 1, yes, false, 0 or no but got "maybe"`},
		{nil, []string{"--scan-timeout", "90"}, `--scan-timeout: expected duration but got "90"`},
		{nil, []string{"--scan-timeout=0s"}, "--scan-timeout must be positive, not 0s"},
		{nil, []string{"--scan-interval", "1s"}, "--scan-interval must be at least 10s, not 1s"},
		{nil, []string{"--scan-mode", "push"}, `--scan-mode must be poll or watch, not "push"`},
		{map[string]string{"TAGDRIFT_SCAN_MODE": "Watch"}, nil, `TAGDRIFT_SCAN_MODE must be poll or watch, not "Watch"`},
		{nil, []string{"--scan-concurrency", "many"}, "--scan-concurrency"},
		{nil, []string{"--scan-concurrency=-2"}, "--scan-concurrency must be positive, not -2"},
		{nil, []string{"--api-rate-limit", "0"}, "--api-rate-limit must be a positive number, not 0"},
		{nil, []string{"--ack-max-duration", "0s"}, "--ack-max-duration must be positive, not 0s"},
		{map[string]string{"TAGDRIFT_ACK_MAX_DURATION": "-1h"}, nil, "TAGDRIFT_ACK_MAX_DURATION must be positive"},
		{nil, []string{"--session-idle", "30s"}, "--session-idle must be at least 1m, not 30s"},
		{nil, []string{"--session-absolute", "1h"}, "--session-absolute must be at least --session-idle (12h0m0s), not 1h0m0s"},
		{map[string]string{"TAGDRIFT_SESSION_ABSOLUTE": "1h"}, nil, "TAGDRIFT_SESSION_ABSOLUTE must be at least --session-idle"},
		{nil, []string{"--log-level", "loud"}, "--log-level"},
		{nil, []string{"--allow-cluster-network", "300.0.0.0/8"}, `--allow-cluster-network: netip.ParsePrefix("300.0.0.0/8")`},
		{nil, []string{"--encryption-key", "k"}, "unknown flag --encryption-key"},
		{nil, []string{"--admin-token", "a-long-enough-admin-token"}, "unknown flag --admin-token"},
		{nil, []string{"extra"}, `unexpected argument extra`},
	}
	for _, tt := range tests {
		name := strings.Join(tt.args, " ")
		for k, v := range tt.env {
			name += k + "=" + v
		}
		t.Run(name, func(t *testing.T) {
			env := map[string]string{}
			for k, v := range base {
				env[k] = v
			}
			for k, v := range tt.env {
				env[k] = v
			}
			code, stdout, stderr := runCLI(t, env, append([]string{"serve"}, tt.args...)...)
			if code != 2 || !strings.Contains(stderr, tt.want) {
				t.Errorf("exit %d, stderr %q; want 2 and %q", code, stderr, tt.want)
			}
			if stdout != "" {
				t.Errorf("stdout %q, want nothing", stdout)
			}
		})
	}
}

// TestEnvironmentIsInjected checks that the process's own environment is never read:
// only the getenv run is given.
func TestEnvironmentIsInjected(t *testing.T) {
	t.Setenv("TAGDRIFT_SCAN_TIMEOUT", "90")
	t.Setenv("TAGDRIFT_LISTEN", ":1")
	c, err := parseServe(nil, func(k string) string {
		return map[string]string{"TAGDRIFT_DATABASE_URL": "postgres://x", "TAGDRIFT_ENCRYPTION_KEY": "k"}[k]
	})
	if err != nil || c.ScanTimeout != 2*time.Minute || c.Listen != ":8080" {
		t.Errorf("serve read the process environment: %+v, %v", c, err)
	}
}

// TestHelpListsEveryVariable checks that `tagdrift serve --help` names every variable
// serve reads, and that the help exits 0 with nothing on stderr.
func TestHelpListsEveryVariable(t *testing.T) {
	code, stdout, stderr := runCLI(t, nil, "serve", "--help")
	if code != 0 || stderr != "" {
		t.Fatalf("serve --help: exit %d, stderr %q", code, stderr)
	}
	for _, name := range serveEnvNames(t) {
		if !strings.Contains(stdout, "$"+name) {
			t.Errorf("serve --help does not name %s:\n%s", name, stdout)
		}
	}
}

// configDoc is the page that holds serve's configuration table.
const configDoc = "../../docs/configuration.md"

// TestConfigDocTable checks that docs/configuration.md's table of serve's configuration
// agrees with the flags kong reads: the same flags, variables and defaults, and nothing
// else.
func TestConfigDocTable(t *testing.T) {
	raw, err := os.ReadFile(configDoc)
	if err != nil {
		t.Fatal(err)
	}
	type row struct{ flag, placeholder, env, def, meaning string }
	rows := map[string]row{} // by variable
	inTable := false
	for _, line := range strings.Split(string(raw), "\n") {
		if strings.HasPrefix(line, "| flag | environment | default | meaning |") {
			inTable = true
			continue
		}
		if !inTable || strings.HasPrefix(line, "|---") {
			continue
		}
		if !strings.HasPrefix(line, "|") {
			break
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		if len(cells) < 4 {
			t.Fatalf("%s: row %q: want 4 cells", configDoc, line)
		}
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		var r row
		r.flag, r.placeholder, _ = strings.Cut(strings.Trim(cells[0], "`"), " ")
		r.env = strings.Trim(strings.TrimSuffix(cells[1], " (comma-separated)"), "`")
		if strings.HasSuffix(cells[1], " (comma-separated)") {
			r.env += ","
		}
		r.def = strings.Trim(cells[2], "`")
		if r.def == "(required)" || r.def == "none" {
			r.def = ""
		}
		r.meaning = strings.Join(cells[3:], "|")
		if _, dup := rows[r.env]; dup {
			t.Errorf("%s names %s twice", configDoc, r.env)
		}
		rows[strings.TrimSuffix(r.env, ",")] = r
	}
	if len(rows) == 0 {
		t.Fatalf("%s has no configuration table", configDoc)
	}

	flags, env := serveFlags(t)
	want := map[string]row{}
	for _, f := range flags {
		envs := env.vars[f]
		if len(envs) != 1 {
			t.Errorf("--%s has variables %q, want one", f.Name, envs)
			continue
		}
		r := row{flag: "--" + f.Name, env: envs[0], def: f.Default}
		if f.Target.Kind() == reflect.Slice {
			r.env += ","
		}
		if f.IsBool() {
			r.def = "false"
		}
		want[envs[0]] = r
	}
	for _, v := range serveEnvOnly {
		want[v.name] = row{env: v.name}
	}
	for name, w := range want {
		got, ok := rows[name]
		if !ok {
			t.Errorf("%s's table lacks %s (%s)", configDoc, name, w.flag)
			continue
		}
		if got.flag != w.flag || got.env != w.env || got.def != w.def {
			t.Errorf("%s: %s %s default %q; the command line: %s %s default %q", configDoc, got.flag, got.env, got.def, w.flag, w.env, w.def)
		}
		if got.placeholder != "" && !slices.ContainsFunc(flags, func(f *kong.Flag) bool { return "--"+f.Name == w.flag && f.PlaceHolder == got.placeholder }) {
			t.Errorf("%s shows %s %s, a placeholder the command line does not", configDoc, got.flag, got.placeholder)
		}
		if got.meaning == "" {
			t.Errorf("%s does not say what %s means", configDoc, name)
		}
	}
	for name := range rows {
		if _, ok := want[name]; !ok {
			t.Errorf("%s's table has %s, which serve does not read", configDoc, name)
		}
	}
}

// TestClusterGroupFlag: --cluster-group takes CLUSTER=GROUP, a valid group name, and
// one group per cluster; anything else is refused before serve starts.
func TestClusterGroupFlag(t *testing.T) {
	env := func(k string) string {
		return map[string]string{"TAGDRIFT_DATABASE_URL": "postgres://x", "TAGDRIFT_ENCRYPTION_KEY": "k"}[k]
	}
	c, err := parseServe([]string{"--cluster-group", "eu=team-a", "--cluster-group=us=team-b", "--cluster-group", "eu=team-a"}, env)
	if err != nil {
		t.Fatal(err)
	}
	groups, err := clusterGroups(c.ClusterGroup)
	if err != nil || len(groups) != 2 || groups["eu"] != "team-a" || groups["us"] != "team-b" {
		t.Errorf("groups %v, %v", groups, err)
	}
	for _, bad := range []string{"eu", "=team-a", "eu=", "eu=Team A", "eu=a,eu=b"} {
		var args []string
		for _, v := range strings.Split(bad, ",") {
			args = append(args, "--cluster-group", v)
		}
		if _, err := parseServe(args, env); err == nil || !strings.Contains(err.Error(), "--cluster-group") {
			t.Errorf("--cluster-group %s: %v, want an error naming the flag", bad, err)
		}
	}
}
