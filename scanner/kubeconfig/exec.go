package kubeconfig

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"sigs.k8s.io/yaml"
)

// ExecProfile is an exec credential plugin as the operator defines it (--exec-profiles
// FILE): the command, its fixed arguments and environment, and the few values a
// kubeconfig may fill, each checked against a pattern. A kubeconfig names the profile in
// its exec stanza's command and gives the values as the stanza's env entries; it can
// choose nothing else. The plugin runs with an environment made of the profile's env,
// PATH and HOME alone, never the service's.
type ExecProfile struct {
	// Name is what a kubeconfig's exec command must be to use this profile.
	Name string `json:"name"`
	// Command is the plugin: an absolute path, or a name looked up in Path.
	Command string `json:"command"`
	// Args are the plugin's arguments; ${value} in an argument is replaced by that
	// value, never split.
	Args []string `json:"args,omitempty"`
	// Env is the plugin's environment besides PATH and HOME; ${value} in a variable's
	// value is replaced by that value.
	Env map[string]string `json:"env,omitempty"`
	// Path is the PATH the plugin gets (and Command is looked up in); default
	// /usr/local/bin:/usr/bin:/bin.
	Path string `json:"path,omitempty"`
	// Home is the HOME the plugin gets (where cloud CLIs find their configuration);
	// default none.
	Home string `json:"home,omitempty"`
	// APIVersion is the ExecCredential version the plugin speaks; default
	// client.authentication.k8s.io/v1.
	APIVersion string `json:"apiVersion,omitempty"`
	// Values are what a kubeconfig must fill, by name.
	Values []ExecValue `json:"values,omitempty"`
	// Timeout bounds one run of the plugin; default 30s.
	Timeout Duration `json:"timeout,omitempty"`
}

// ExecValue is one value a kubeconfig fills in a profile.
type ExecValue struct {
	Name string `json:"name"`
	// Pattern is a regular expression the whole value must match.
	Pattern string `json:"pattern"`

	re *regexp.Regexp
}

// Duration is a time.Duration written as "30s" in a profiles file.
type Duration time.Duration

// UnmarshalJSON reads "30s".
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return errors.New("a duration such as \"30s\"")
	}
	v, err := time.ParseDuration(s)
	if err != nil || v <= 0 {
		return fmt.Errorf("%q is not a positive duration such as \"30s\"", s)
	}
	*d = Duration(v)
	return nil
}

// MarshalJSON writes "30s".
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

const (
	defaultExecPath    = "/usr/local/bin:/usr/bin:/bin"
	defaultExecAPI     = "client.authentication.k8s.io/v1"
	defaultExecTimeout = 30 * time.Second
	// maxExecOutput bounds what a plugin may print.
	maxExecOutput = 1 << 20
)

var (
	profileName = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
	valueName   = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]{0,62}$`)
	envName     = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	reference   = regexp.MustCompile(`\$\{([^}]*)\}`)
)

// ParseExecProfiles reads an exec profiles file: YAML or JSON, a list of profiles.
func ParseExecProfiles(raw []byte) ([]ExecProfile, error) {
	var ps []ExecProfile
	if err := yaml.UnmarshalStrict(raw, &ps); err != nil {
		return nil, fmt.Errorf("exec profiles: %w", err)
	}
	seen := map[string]bool{}
	for i := range ps {
		p := &ps[i]
		if err := p.validate(); err != nil {
			return nil, fmt.Errorf("exec profile %d (%q): %w", i+1, p.Name, err)
		}
		if seen[p.Name] {
			return nil, fmt.Errorf("exec profile %q: defined twice", p.Name)
		}
		seen[p.Name] = true
	}
	return ps, nil
}

// validate checks a profile and compiles its patterns.
func (p *ExecProfile) validate() error {
	if !profileName.MatchString(p.Name) {
		return errors.New("name must be 1 to 63 lowercase letters, digits or '-'")
	}
	if p.Command == "" || strings.ContainsRune(p.Command, 0) {
		return errors.New("command is missing")
	}
	if strings.ContainsRune(p.Command, '/') && !filepath.IsAbs(p.Command) {
		return errors.New("command must be an absolute path or a name looked up in path")
	}
	p.Path = cmpOr(p.Path, defaultExecPath)
	for _, dir := range filepath.SplitList(p.Path) {
		if !filepath.IsAbs(dir) {
			return fmt.Errorf("path holds %q, which is not absolute", dir)
		}
	}
	if p.Home != "" && !filepath.IsAbs(p.Home) {
		return errors.New("home must be an absolute path")
	}
	p.APIVersion = cmpOr(p.APIVersion, defaultExecAPI)
	if p.Timeout == 0 {
		p.Timeout = Duration(defaultExecTimeout)
	}
	for name := range p.Env {
		switch {
		case !envName.MatchString(name):
			return fmt.Errorf("env %q is not a variable name", name)
		case name == "PATH" || name == "HOME":
			return fmt.Errorf("env %s: set it with %s", name, strings.ToLower(name))
		case name == "KUBERNETES_EXEC_INFO":
			return fmt.Errorf("env %s is set by tagdrift", name)
		}
	}
	declared := map[string]bool{}
	for i := range p.Values {
		v := &p.Values[i]
		if !valueName.MatchString(v.Name) {
			return fmt.Errorf("value %q: name must be a letter then letters, digits or '_'", v.Name)
		}
		if declared[v.Name] {
			return fmt.Errorf("value %q declared twice", v.Name)
		}
		declared[v.Name] = true
		if v.Pattern == "" {
			return fmt.Errorf("value %q has no pattern", v.Name)
		}
		re, err := regexp.Compile(`^(?:` + v.Pattern + `)$`)
		if err != nil {
			return fmt.Errorf("value %q: pattern: %w", v.Name, err)
		}
		v.re = re
	}
	used := map[string]bool{}
	texts := slices.Clone(p.Args)
	for _, v := range p.Env {
		texts = append(texts, v)
	}
	for _, t := range texts {
		for _, m := range reference.FindAllStringSubmatch(t, -1) {
			if !declared[m[1]] {
				return fmt.Errorf("${%s} is not a declared value", m[1])
			}
			used[m[1]] = true
		}
	}
	for _, v := range p.Values {
		if !used[v.Name] {
			return fmt.Errorf("value %q is used in no argument or env", v.Name)
		}
	}
	return nil
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// profile finds a profile by name.
func (pol Policy) profile(name string) (*ExecProfile, bool) {
	for i := range pol.ExecProfiles {
		if pol.ExecProfiles[i].Name == name {
			return &pol.ExecProfiles[i], true
		}
	}
	return nil, false
}

// names lists the profiles' names.
func (pol Policy) profileNames() string {
	var names []string
	for _, p := range pol.ExecProfiles {
		names = append(names, p.Name)
	}
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

// check says whether values fill p: every declared value, nothing else, each matching
// its pattern. The error names the value, never quotes it.
func (p *ExecProfile) check(values map[string]string) error {
	for _, v := range p.Values {
		got, ok := values[v.Name]
		if !ok {
			return fmt.Errorf("value %q of exec profile %q is missing", v.Name, p.Name)
		}
		re := v.re
		if re == nil {
			// A profile built in code rather than parsed.
			var err error
			if re, err = regexp.Compile(`^(?:` + v.Pattern + `)$`); err != nil {
				return fmt.Errorf("exec profile %q: value %q: pattern: %w", p.Name, v.Name, err)
			}
		}
		if !re.MatchString(got) {
			return fmt.Errorf("value %q does not match the pattern of exec profile %q (%s)", v.Name, p.Name, v.Pattern)
		}
	}
	for name := range values {
		if !slices.ContainsFunc(p.Values, func(v ExecValue) bool { return v.Name == name }) {
			return fmt.Errorf("exec profile %q declares no value %q", p.Name, name)
		}
	}
	return nil
}

// fill replaces ${name} in s with values[name].
func fill(s string, values map[string]string) string {
	return reference.ReplaceAllStringFunc(s, func(m string) string { return values[m[2:len(m)-1]] })
}

// command is what runs for values: the program, its arguments and its whole
// environment.
func (p *ExecProfile) command(values map[string]string) (path string, args, env []string, err error) {
	path = p.Command
	if !filepath.IsAbs(path) {
		path = ""
		for _, dir := range filepath.SplitList(p.Path) {
			cand := filepath.Join(dir, p.Command)
			if fi, err := os.Stat(cand); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
				path = cand
				break
			}
		}
		if path == "" {
			return "", nil, nil, fmt.Errorf("exec profile %q: %s not found in its path", p.Name, p.Command)
		}
	}
	for _, a := range p.Args {
		args = append(args, fill(a, values))
	}
	env = []string{"PATH=" + p.Path}
	if p.Home != "" {
		env = append(env, "HOME="+p.Home)
	}
	info, _ := json.Marshal(map[string]any{
		"apiVersion": p.APIVersion, "kind": "ExecCredential", "spec": map[string]any{"interactive": false},
	})
	env = append(env, "KUBERNETES_EXEC_INFO="+string(info))
	keys := make([]string, 0, len(p.Env))
	for k := range p.Env {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		env = append(env, k+"="+fill(p.Env[k], values))
	}
	return path, args, env, nil
}

// ExecError is an exec credential plugin that did not give a token. It never holds
// what the plugin printed.
type ExecError struct {
	Profile string
	Reason  string
}

func (e *ExecError) Error() string {
	return fmt.Sprintf("exec profile %q: %s", e.Profile, e.Reason)
}

// execCredential is what a plugin prints.
type execCredential struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Status     *struct {
		Token               string     `json:"token"`
		ExpirationTimestamp *time.Time `json:"expirationTimestamp"`
	} `json:"status"`
}

// execAuth runs a profile's plugin for a bearer token and keeps the token until it
// expires or the server refuses it.
type execAuth struct {
	profile ExecProfile
	values  map[string]string
	now     func() time.Time

	mu     sync.Mutex
	token  string
	expiry time.Time // zero: until refused
}

// tokenFor returns a token, running the plugin when none is held.
func (a *execAuth) tokenFor(ctx context.Context) (string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.token != "" && (a.expiry.IsZero() || a.now().Add(10*time.Second).Before(a.expiry)) {
		return a.token, nil
	}
	token, expiry, err := a.run(ctx)
	if err != nil {
		return "", err
	}
	a.token, a.expiry = token, expiry
	return token, nil
}

// forget drops token if it is still the one held.
func (a *execAuth) forget(token string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.token == token {
		a.token = ""
	}
}

// run runs the plugin once. Its stderr is neither kept nor logged: it can hold anything
// the plugin read. Only its size is said.
func (a *execAuth) run(ctx context.Context) (string, time.Time, error) {
	p := &a.profile
	fail := func(format string, args ...any) (string, time.Time, error) {
		return "", time.Time{}, &ExecError{Profile: p.Name, Reason: fmt.Sprintf(format, args...)}
	}
	path, args, env, err := p.command(a.values)
	if err != nil {
		return fail("%s", strings.TrimPrefix(err.Error(), fmt.Sprintf("exec profile %q: ", p.Name)))
	}
	ctx, cancel := context.WithTimeout(ctx, time.Duration(p.Timeout))
	defer cancel()
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Env = env
	cmd.Dir = cmpOr(p.Home, "/")
	var stdout, stderr limitedBuffer
	stdout.max, stderr.max = maxExecOutput, maxExecOutput
	cmd.Stdin, cmd.Stdout, cmd.Stderr = nil, &stdout, &stderr
	if err := cmd.Run(); err != nil {
		var exitErr *exec.ExitError
		switch {
		case ctx.Err() != nil:
			return fail("plugin timed out after %s", time.Duration(p.Timeout))
		case errors.As(err, &exitErr):
			return fail("plugin exited with status %d (%d bytes on stderr, not shown)", exitErr.ExitCode(), stderr.n)
		default:
			return fail("plugin could not start: %s", startReason(err))
		}
	}
	if stdout.over {
		return fail("plugin printed more than %d bytes", maxExecOutput)
	}
	var cred execCredential
	if err := json.Unmarshal(stdout.Bytes(), &cred); err != nil {
		return fail("plugin printed no ExecCredential JSON")
	}
	switch {
	case cred.Kind != "ExecCredential" || cred.APIVersion != p.APIVersion:
		return fail("plugin printed a %s of %s, want an ExecCredential of %s", quoteShort(cred.Kind), quoteShort(cred.APIVersion), p.APIVersion)
	case cred.Status == nil || cred.Status.Token == "":
		return fail("plugin gave no token (client certificates from plugins are not supported)")
	}
	var expiry time.Time
	if cred.Status.ExpirationTimestamp != nil {
		expiry = *cred.Status.ExpirationTimestamp
	}
	return cred.Status.Token, expiry, nil
}

// startReason says why a program did not start, without its path's surroundings.
func startReason(err error) string {
	switch {
	case errors.Is(err, os.ErrNotExist):
		return "not found"
	case errors.Is(err, os.ErrPermission):
		return "permission denied"
	}
	return "exec failed"
}

// quoteShort quotes what a plugin printed, cut short: only a kind or a version.
func quoteShort(s string) string {
	if len(s) > 40 {
		s = s[:40] + "…"
	}
	return fmt.Sprintf("%q", s)
}

// limitedBuffer keeps the first max bytes written and counts the rest.
type limitedBuffer struct {
	bytes.Buffer
	max  int
	n    int
	over bool
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	n := len(p)
	b.n += n
	if room := b.max - b.Buffer.Len(); room < n {
		b.over = true
		p = p[:max(room, 0)]
	}
	b.Buffer.Write(p)
	return n, nil
}

// execRoundTripper puts the plugin's token on each request, and runs the plugin again once
// when the server refuses it.
type execRoundTripper struct {
	auth *execAuth
	next http.RoundTripper
}

func (rt *execRoundTripper) RoundTrip(req *http.Request) (*http.Response, error) {
	token, err := rt.auth.tokenFor(req.Context())
	if err != nil {
		return nil, err
	}
	r := req.Clone(req.Context())
	r.Header.Set("Authorization", "Bearer "+token)
	resp, err := rt.next.RoundTrip(r)
	if err == nil && resp.StatusCode == http.StatusUnauthorized {
		rt.auth.forget(token)
	}
	return resp, err
}
