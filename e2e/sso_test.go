package e2e

import (
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tagdrift/tagdrift/internal/oidctest"
)

// TestServeSSO runs tagdrift serve with sign-in through a real OpenID provider
// (internal/oidctest), configured only by its flags: the client secret from a file,
// the redirect URL from --external-url. A user of a mapped group signs in through it
// and gets a session; the secret never reaches the log.
func TestServeSSO(t *testing.T) {
	db := newDatabase(t)
	idp := oidctest.Start(t)
	idp.AddUser(oidctest.User{Subject: "sub-ada", Login: "ada", Email: "ada@example.com", Groups: []string{"ops"}})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ext := "http://" + addr
	const secret = "client-secret-from-a-file"
	idp.AddClient("tagdrift", secret, ext+"/signin/sso/callback")
	secretFile := filepath.Join(t.TempDir(), "oidc-secret")
	if err := os.WriteFile(secretFile, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startServe(t, []string{"TAGDRIFT_DATABASE_URL=" + db.URL, "TAGDRIFT_ENCRYPTION_KEY=" + newKeyText()},
		"--listen", addr, "--external-url", ext, "--insecure-cookies",
		"--oidc-issuer", idp.URL, "--oidc-client-id", "tagdrift", "--oidc-client-secret-file", secretFile,
		"--oidc-role", "ops=admin", "--oidc-name", "Test IdP")
	if err := pollUntil(30*time.Second, func() bool { code, _, err := s.get("/readyz"); return err == nil && code == 200 }); err != nil {
		t.Fatalf("never ready: %v", err)
	}
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	body := func(res *http.Response, err error) (string, *http.Response) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		if err != nil {
			t.Fatal(err)
		}
		return string(b), res
	}
	if page, _ := body(c.Get(ext + "/signin")); !strings.Contains(page, "Sign in with Test IdP") {
		t.Fatalf("sign-in page without the provider's button:\n%s", page)
	}
	// The button: to the provider's login page, with PKCE.
	_, res := body(c.Get(ext + "/signin/sso"))
	if res.Request.URL.Host != strings.TrimPrefix(idp.URL, "http://") || res.Request.URL.Query().Get("authRequestID") == "" {
		t.Fatalf("the button led to %s", res.Request.URL)
	}
	page, res := body(c.PostForm(idp.URL+"/login", url.Values{"id": {res.Request.URL.Query().Get("authRequestID")},
		"login": {"ada"}, "do": {"allow"}}))
	if res.StatusCode != http.StatusOK || res.Request.URL.String() != ext+"/" || !strings.Contains(page, `data-testid="viewer"`) ||
		!strings.Contains(page, ">ada<") {
		t.Fatalf("after the provider: %d at %s:\n%s", res.StatusCode, res.Request.URL, page)
	}
	logs := s.logs.String()
	for _, want := range []string{`"msg":"sign-in through provider"`, `"redirect_url":"` + ext + `/signin/sso/callback"`,
		`"msg":"signed in"`, `"subject":"sub-ada"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %s", want)
		}
	}
	if strings.Contains(logs, secret) {
		t.Error("the client secret is in the log")
	}
}
