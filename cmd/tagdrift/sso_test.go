package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tagdrift/tagdrift/server/access"
	"github.com/tagdrift/tagdrift/store/keyring"
)

// TestServeOIDCConfig checks the sign-in through a provider's configuration: all of it
// or none, refused with a message naming what is missing; the secret from a file or the
// environment, never a flag.
func TestServeOIDCConfig(t *testing.T) {
	secretFile := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secretFile, []byte("from-the-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := func(extra ...string) func(string) string {
		m := map[string]string{"TAGDRIFT_DATABASE_URL": "postgres://x", "TAGDRIFT_ENCRYPTION_KEY": "k"}
		for _, kv := range extra {
			k, v, _ := strings.Cut(kv, "=")
			m[k] = v
		}
		return func(k string) string { return m[k] }
	}
	ok := []string{"--oidc-issuer", "https://idp.example.com", "--oidc-client-id", "tagdrift", "--oidc-role", "ops=admin",
		"--oidc-role", "team=a,b=viewer", "--external-url", "https://tagdrift.example.com"}
	for _, tc := range []struct {
		name string
		args []string
		env  []string
		want string // "" for accepted
	}{
		{"complete, secret from the environment", ok, []string{"TAGDRIFT_OIDC_CLIENT_SECRET=s"}, ""},
		{"complete, secret from a file", append(ok, "--oidc-client-secret-file", secretFile), nil, ""},
		{"no secret", ok, nil, "client secret"},
		{"secret as a flag", append(ok, "--oidc-client-secret", "s"), nil, "unknown flag"},
		{"no client id", []string{"--oidc-issuer", "https://idp.example.com", "--oidc-role", "ops=admin", "--external-url", "https://t.example.com"},
			[]string{"TAGDRIFT_OIDC_CLIENT_SECRET=s"}, "--oidc-client-id"},
		{"no role", []string{"--oidc-issuer", "https://idp.example.com", "--oidc-client-id", "c", "--external-url", "https://t.example.com"},
			[]string{"TAGDRIFT_OIDC_CLIENT_SECRET=s"}, "--oidc-role"},
		{"bad role", append(ok, "--oidc-role", "x=owner"), []string{"TAGDRIFT_OIDC_CLIENT_SECRET=s"}, "admin or viewer"},
		{"no external URL", []string{"--oidc-issuer", "https://idp.example.com", "--oidc-client-id", "c", "--oidc-role", "ops=admin"},
			[]string{"TAGDRIFT_OIDC_CLIENT_SECRET=s"}, "--external-url"},
		{"plain http off loopback", []string{"--oidc-issuer", "http://idp.example.com", "--oidc-client-id", "c", "--oidc-role", "ops=admin",
			"--external-url", "https://t.example.com"}, []string{"TAGDRIFT_OIDC_CLIENT_SECRET=s"}, "https"},
		{"plain http on loopback", []string{"--oidc-issuer", "http://127.0.0.1:5556", "--oidc-client-id", "c", "--oidc-role", "ops=admin",
			"--external-url", "https://t.example.com"}, []string{"TAGDRIFT_OIDC_CLIENT_SECRET=s"}, ""},
		{"client id without issuer", []string{"--oidc-client-id", "c"}, nil, "need --oidc-issuer"},
		{"local sign-in off without a provider", []string{"--no-local-signin"}, nil, "needs --oidc-issuer"},
		{"short session maximum", append(ok, "--oidc-session-max", "30s"), []string{"TAGDRIFT_OIDC_CLIENT_SECRET=s"}, "at least 1m"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseServe(tc.args, env(tc.env...))
			if tc.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one saying %q", err, tc.want)
			}
		})
	}

	// A complete configuration makes a provider; a mapping's role follows its last =.
	c, err := parseServe(append(ok, "--oidc-client-secret-file", secretFile), env("TAGDRIFT_OIDC_CLIENT_SECRET=env"))
	if err != nil {
		t.Fatal(err)
	}
	roles, err := oidcRoles(c.OIDCRole)
	if err != nil || roles["ops"] != "admin" || roles["team=a,b"] != "viewer" {
		t.Fatalf("roles = %v, %v", roles, err)
	}
	ring, err := keyring.Parse("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")
	if err != nil {
		t.Fatal(err)
	}
	p, err := c.sso(ring, access.Cookies{}, nil)
	if err != nil || p == nil || p.Issuer() != "https://idp.example.com" || p.Name() != "single sign-on" || p.SessionMax().Hours() != 8 {
		t.Fatalf("provider = %+v, %v", p, err)
	}
}

// TestOIDCGrants checks --oidc-role values with scopes: GROUP=ROLE on every cluster,
// GROUP=ROLE:CG1+CG2 on cluster groups, a provider group holding = and : kept whole.
func TestOIDCGrants(t *testing.T) {
	roles, scopes, err := oidcGrants([]string{"ops=admin", "eu-ops=admin:eu+eu-west", "a:b=c=viewer:us"})
	if err != nil {
		t.Fatal(err)
	}
	if roles["ops"] != "admin" || roles["eu-ops"] != "admin" || roles["a:b=c"] != "viewer" || len(roles) != 3 {
		t.Errorf("roles = %v", roles)
	}
	if _, ok := scopes["ops"]; ok || fmt.Sprint(scopes["eu-ops"]) != "[eu eu-west]" || fmt.Sprint(scopes["a:b=c"]) != "[us]" {
		t.Errorf("scopes = %v", scopes)
	}
	for _, bad := range [][]string{{"x=admin:"}, {"x=admin:Bad_Group"}, {"x=admin", "x=admin:eu"}, {"x=admin:eu", "x=admin"}, {"x=owner:eu"}, {"x=admin:eu,us"}} {
		if _, _, err := oidcGrants(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
