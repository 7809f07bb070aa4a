package kubeconfig

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"sort"

	"sigs.k8s.io/yaml"
)

// Policy says what a vetted kubeconfig may hold beyond the always-allowed fields.
type Policy struct {
	// AllowInsecureTLS accepts insecure-skip-tls-verify: true (--allow-insecure-tls).
	AllowInsecureTLS bool
	// ExecProfiles are the exec credential plugins kubeconfigs may use, by profile name
	// (--exec-profiles FILE), for cloud clusters whose tokens expire.
	ExecProfiles []ExecProfile
}

// Reduced is all that tagdrift keeps of a kubeconfig given to the service: one context's
// server, trust and credentials, inline. It never names a file or a proxy.
type Reduced struct {
	Context       string `json:"context"`
	Server        string `json:"server"`
	CAData        []byte `json:"caData,omitempty"`
	TLSServerName string `json:"tlsServerName,omitempty"`
	Insecure      bool   `json:"insecure,omitempty"`
	Token         string `json:"token,omitempty"`
	ClientCert    []byte `json:"clientCert,omitempty"`
	ClientKey     []byte `json:"clientKey,omitempty"`
	Exec          *Exec  `json:"exec,omitempty"`
}

// Exec is an exec credential plugin: an operator's profile and the values the
// kubeconfig filled. What runs is the profile's, as the current policy defines it.
type Exec struct {
	Profile string            `json:"profile,omitempty"`
	Values  map[string]string `json:"values,omitempty"`
	// Command is set only in credentials stored before exec profiles, which name a
	// command instead of a profile; they are refused at use.
	Command string `json:"command,omitempty"`
}

// FieldError is a kubeconfig rejected for one field.
type FieldError struct {
	Field  string // path in the kubeconfig, e.g. users[admin].user.exec
	Reason string
}

func (e *FieldError) Error() string { return fmt.Sprintf("kubeconfig %s: %s", e.Field, e.Reason) }

func reject(field, format string, args ...any) error {
	return &FieldError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// maxKubeconfig bounds the size of a kubeconfig given to the service.
const maxKubeconfig = 1 << 20

// yamlLine finds where a YAML parse error is.
var yamlLine = regexp.MustCompile(`line \d+`)

// Vet parses a kubeconfig given to the service, which is untrusted input: client-go's
// loaders would read files named in it from the server's disk and run its exec commands
// there. It takes one context (the current one when context is empty) and accepts only
// an https server, certificate-authority-data, tls-server-name, and an inline token or
// inline client certificate and key (plus what policy allows); anything else in that
// context, its cluster or its user is refused with an error naming the field. Other
// contexts of the file are ignored and never kept.
func Vet(raw []byte, context string, policy Policy) (Reduced, error) {
	if len(raw) > maxKubeconfig {
		return Reduced{}, reject("(file)", "larger than %d bytes", maxKubeconfig)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		// The parser's message can quote the document, secrets included: keep only
		// where it failed.
		reason := "not YAML or JSON"
		if line := yamlLine.FindString(err.Error()); line != "" {
			reason += " (" + line + ")"
		}
		return Reduced{}, reject("(file)", "%s", reason)
	}
	if doc == nil {
		return Reduced{}, reject("(file)", "empty")
	}
	if context == "" {
		cur, ok := doc["current-context"].(string)
		if !ok || cur == "" {
			return Reduced{}, reject("current-context", "missing: name a context")
		}
		context = cur
	}
	ctx, err := named(doc, "contexts", "context", context)
	if err != nil {
		return Reduced{}, err
	}
	ctxPath := fmt.Sprintf("contexts[%s].context", context)
	if err := onlyFields(ctx, ctxPath, "cluster", "user", "namespace", "extensions"); err != nil {
		return Reduced{}, err
	}
	clusterName, _ := ctx["cluster"].(string)
	userName, _ := ctx["user"].(string)
	if clusterName == "" {
		return Reduced{}, reject(ctxPath+".cluster", "missing")
	}
	if userName == "" {
		return Reduced{}, reject(ctxPath+".user", "missing")
	}
	cluster, err := named(doc, "clusters", "cluster", clusterName)
	if err != nil {
		return Reduced{}, err
	}
	user, err := named(doc, "users", "user", userName)
	if err != nil {
		return Reduced{}, err
	}

	r := Reduced{Context: context}
	if err := vetCluster(cluster, fmt.Sprintf("clusters[%s].cluster", clusterName), policy, &r); err != nil {
		return Reduced{}, err
	}
	if err := vetUser(user, fmt.Sprintf("users[%s].user", userName), policy, &r); err != nil {
		return Reduced{}, err
	}
	return r, nil
}

// named finds the entry called name in the list doc[list] and returns its inner object
// (entry[inner]).
func named(doc map[string]any, list, inner, name string) (map[string]any, error) {
	items, ok := doc[list].([]any)
	if !ok {
		return nil, reject(list, "missing or not a list")
	}
	for _, it := range items {
		entry, ok := it.(map[string]any)
		if !ok || entry["name"] != name {
			continue
		}
		obj, ok := entry[inner].(map[string]any)
		if !ok {
			return nil, reject(fmt.Sprintf("%s[%s].%s", list, name, inner), "missing or not an object")
		}
		return obj, nil
	}
	return nil, reject(fmt.Sprintf("%s[%s]", list, name), "not found")
}

// onlyFields refuses any field of obj not in allowed, naming the first (sorted) one.
func onlyFields(obj map[string]any, path string, allowed ...string) error {
	var extra []string
	for k := range obj {
		if !slices.Contains(allowed, k) {
			extra = append(extra, k)
		}
	}
	if len(extra) == 0 {
		return nil
	}
	sort.Strings(extra)
	return reject(path+"."+extra[0], "%s", refusal(extra[0]))
}

// refusal says why a field is refused.
func refusal(field string) string {
	switch field {
	case "certificate-authority", "client-certificate", "client-key", "tokenFile":
		return "files on the server are never read: give the content inline (" + inlineOf(field) + ")"
	case "proxy-url":
		return "proxies are not allowed"
	case "as", "as-uid", "as-groups", "as-user-extra":
		return "impersonation is not allowed"
	case "auth-provider":
		return "auth-provider plugins are not allowed: use an inline token or an exec profile"
	case "exec":
		return "exec plugins are not allowed unless the operator defines exec profiles (--exec-profiles FILE)"
	case "username", "password":
		return "basic authentication is not allowed: use a token or a client certificate"
	}
	return "not an allowed field"
}

func inlineOf(field string) string {
	if field == "tokenFile" {
		return "token"
	}
	return field + "-data"
}

func vetCluster(c map[string]any, path string, policy Policy, r *Reduced) error {
	if err := onlyFields(c, path, "server", "certificate-authority-data", "tls-server-name",
		"insecure-skip-tls-verify", "disable-compression", "extensions"); err != nil {
		return err
	}
	server, _ := c["server"].(string)
	u, err := url.Parse(server)
	switch {
	case server == "":
		return reject(path+".server", "missing")
	case err != nil:
		// url's message quotes the URL, which may hold a password.
		return reject(path+".server", "not a URL")
	case u.Scheme != "https":
		return reject(path+".server", "must be an https URL, not %q", u.Scheme)
	case u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "":
		return reject(path+".server", "must be https://host[:port][/path]")
	}
	r.Server = server
	if s, ok := c["certificate-authority-data"]; ok {
		if r.CAData, err = decodeData(s); err != nil {
			return reject(path+".certificate-authority-data", "%v", err)
		}
	}
	if s, ok := c["tls-server-name"]; ok {
		name, ok := s.(string)
		if !ok {
			return reject(path+".tls-server-name", "not a string")
		}
		r.TLSServerName = name
	}
	if v, ok := c["insecure-skip-tls-verify"]; ok {
		insecure, ok := v.(bool)
		if !ok {
			return reject(path+".insecure-skip-tls-verify", "not a boolean")
		}
		if insecure && !policy.AllowInsecureTLS {
			return reject(path+".insecure-skip-tls-verify", "TLS verification cannot be skipped unless the operator allows it (--allow-insecure-tls)")
		}
		r.Insecure = insecure
	}
	if r.Insecure && r.CAData != nil {
		return reject(path+".insecure-skip-tls-verify", "set together with certificate-authority-data")
	}
	return nil
}

func vetUser(u map[string]any, path string, policy Policy, r *Reduced) error {
	allowed := []string{"token", "client-certificate-data", "client-key-data", "extensions"}
	if len(policy.ExecProfiles) > 0 {
		allowed = append(allowed, "exec")
	}
	if err := onlyFields(u, path, allowed...); err != nil {
		return err
	}
	if v, ok := u["token"]; ok {
		token, ok := v.(string)
		if !ok || token == "" {
			return reject(path+".token", "empty or not a string")
		}
		r.Token = token
	}
	_, hasCert := u["client-certificate-data"]
	_, hasKey := u["client-key-data"]
	if hasCert != hasKey {
		return reject(path+".client-key-data", "a client certificate needs both client-certificate-data and client-key-data")
	}
	if hasCert {
		var err error
		if r.ClientCert, err = decodeData(u["client-certificate-data"]); err != nil {
			return reject(path+".client-certificate-data", "%v", err)
		}
		if r.ClientKey, err = decodeData(u["client-key-data"]); err != nil {
			return reject(path+".client-key-data", "%v", err)
		}
	}
	if e, ok := u["exec"]; ok {
		exec, err := vetExec(e, path+".exec", policy)
		if err != nil {
			return err
		}
		r.Exec = exec
	}
	n := 0
	for _, set := range []bool{r.Token != "", hasCert, r.Exec != nil} {
		if set {
			n++
		}
	}
	if n == 0 {
		return reject(path, "no credentials: give token, or client-certificate-data and client-key-data")
	}
	if n > 1 {
		return reject(path, "more than one kind of credentials")
	}
	return nil
}

// vetExec takes an exec stanza that names an exec profile (command) and fills its
// declared values (env entries, name and value): the operator's profile fixes the
// command, its arguments and the rest of its environment.
func vetExec(v any, path string, policy Policy) (*Exec, error) {
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, reject(path, "not an object")
	}
	if err := onlyFields(obj, path, "apiVersion", "command", "args", "env", "interactiveMode", "provideClusterInfo", "installHint"); err != nil {
		return nil, err
	}
	command, _ := obj["command"].(string)
	prof, ok := policy.profile(command)
	if !ok {
		return nil, reject(path+".command", "exec plugins run only from the operator's exec profiles: command must name one (%s), not %q",
			policy.profileNames(), command)
	}
	if pci, _ := obj["provideClusterInfo"].(bool); pci {
		return nil, reject(path+".provideClusterInfo", "not supported")
	}
	if v, ok := obj["apiVersion"]; ok && v != nil && v != prof.APIVersion {
		return nil, reject(path+".apiVersion", "exec profile %q speaks %s", prof.Name, prof.APIVersion)
	}
	if args, ok := obj["args"]; ok && args != nil {
		if list, ok := args.([]any); !ok || len(list) > 0 {
			return nil, reject(path+".args", "arguments are fixed by exec profile %q: give its values as env entries (name, value)", prof.Name)
		}
	}
	e := &Exec{Profile: prof.Name, Values: map[string]string{}}
	if env, ok := obj["env"]; ok && env != nil {
		list, ok := env.([]any)
		if !ok {
			return nil, reject(path+".env", "not a list")
		}
		for _, item := range list {
			kv, ok := item.(map[string]any)
			name, okName := kv["name"].(string)
			value, okValue := kv["value"].(string)
			if !ok || !okName || !okValue || name == "" {
				return nil, reject(path+".env", "entries must have a name and a value")
			}
			if _, dup := e.Values[name]; dup {
				return nil, reject(path+".env", "value %q given twice", name)
			}
			e.Values[name] = value
		}
	}
	if err := prof.check(e.Values); err != nil {
		return nil, reject(path+".env", "%v", err)
	}
	if len(e.Values) == 0 {
		e.Values = nil
	}
	return e, nil
}

// PolicyError is a stored configuration that the current policy refuses.
type PolicyError struct {
	Reason string
}

func (e *PolicyError) Error() string { return "refused by the current policy: " + e.Reason }

// Check says whether the current policy still allows a configuration vetted before,
// perhaps under another policy or by another replica: it is called before every use.
func (r Reduced) Check(policy Policy) error {
	u, err := url.Parse(r.Server)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil {
		return &PolicyError{Reason: "the server is not an https URL"}
	}
	if r.Insecure && !policy.AllowInsecureTLS {
		return &PolicyError{Reason: "it skips TLS verification, which is no longer allowed (--allow-insecure-tls)"}
	}
	if r.Exec == nil {
		return nil
	}
	if r.Exec.Profile == "" {
		return &PolicyError{Reason: fmt.Sprintf("it runs the exec command %q, stored before exec profiles: register its kubeconfig again, naming an exec profile", r.Exec.Command)}
	}
	prof, ok := policy.profile(r.Exec.Profile)
	if !ok {
		return &PolicyError{Reason: fmt.Sprintf("exec profile %q is no longer defined (--exec-profiles)", r.Exec.Profile)}
	}
	if err := prof.check(r.Exec.Values); err != nil {
		return &PolicyError{Reason: err.Error()}
	}
	return nil
}

// decodeData decodes a *-data field: base64 in a kubeconfig file.
func decodeData(v any) ([]byte, error) {
	s, ok := v.(string)
	if !ok || s == "" {
		return nil, errors.New("empty or not a string")
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("not base64: %w", err)
	}
	return b, nil
}
