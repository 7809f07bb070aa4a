// Package oidctest is a real OpenID Connect provider for tests, built on
// github.com/zitadel/oidc/v3's op package: discovery, a signing key (RS256) and its
// key set, the authorization code flow with PKCE, client secrets, and ID tokens that
// carry a groups claim, and RP-Initiated Logout (its end_session_endpoint). Its login
// page is a form that takes a user name (no password) and can deny consent; with
// RememberLogins it keeps a session of its own in a cookie, as a real provider does,
// and signs the browser in again without the form until the end_session_endpoint ends
// it. A test can make it misbehave as a real provider might: issue ID
// tokens for another audience, send back a code already used, or drop connections to
// its token endpoint.
package oidctest

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// User is a user of the provider.
type User struct {
	Subject string
	// Login is what is typed on the login page; also preferred_username.
	Login  string
	Email  string
	Groups []string
}

// Provider is a running provider. Its fields are read by its handlers under mu.
type Provider struct {
	// URL is the issuer URL (http://127.0.0.1:port).
	URL string
	srv *httptest.Server

	mu       sync.Mutex
	users    map[string]User // by login
	clients  map[string]*client
	requests map[string]*authRequest // by id
	codes    map[string]string       // code → request id
	used     []string                // codes exchanged
	key      *rsa.PrivateKey
	keyID    string

	sessions map[string]string // the provider's own sessions: cookie value → subject

	audience    atomic.Pointer[string]
	replay      atomic.Bool
	tokenDown   atomic.Bool
	exchanges   atomic.Int64
	remember    atomic.Bool
	hideEnd     atomic.Bool
	endSessions atomic.Int64
}

// sessionCookie is the name of the provider's own session cookie.
const sessionCookie = "idp_session"

// Start starts a provider on a loopback port; it stops when the test ends.
func Start(t testing.TB) *Provider {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	p := &Provider{users: map[string]User{}, clients: map[string]*client{}, requests: map[string]*authRequest{},
		codes: map[string]string{}, key: key, keyID: randomID(), sessions: map[string]string{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.URL = "http://" + ln.Addr().String()
	var cryptoKey [32]byte
	rand.Read(cryptoKey[:])
	provider, err := op.NewProvider(&op.Config{CryptoKey: cryptoKey, CodeMethodS256: true, AuthMethodPost: true},
		(*storage)(p), op.StaticIssuer(p.URL), op.WithAllowInsecure())
	if err != nil {
		t.Fatal(err)
	}
	interceptor := op.NewIssuerInterceptor(provider.IssuerFromRequest)
	callback := op.AuthCallbackURL(provider)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /login", interceptor.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.loginPage(w, r, callback)
	}))
	mux.HandleFunc("POST /login", interceptor.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.login(w, r, provider, callback)
	}))
	mux.Handle("/", provider)
	p.srv = &httptest.Server{Listener: ln, Config: &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == oidc.DiscoveryEndpoint && p.hideEnd.Load() {
			p.withoutEndSession(w, r, mux)
			return
		}
		if r.URL.Path == provider.EndSessionEndpoint().Relative() {
			p.endSessions.Add(1)
		}
		if r.URL.Path == provider.TokenEndpoint().Relative() {
			if p.tokenDown.Load() {
				// As a provider that went down mid-flight: the connection drops.
				if hj, ok := w.(http.Hijacker); ok {
					if c, _, err := hj.Hijack(); err == nil {
						c.Close()
						return
					}
				}
			}
			p.exchanges.Add(1)
			if aud := p.audience.Load(); aud != nil && *aud != "" {
				p.reissue(w, r, mux, *aud)
				return
			}
		}
		mux.ServeHTTP(w, r)
	})}}
	p.srv.Start()
	t.Cleanup(p.srv.Close)
	return p
}

// Stop stops the provider: nothing answers at its URL any more.
func (p *Provider) Stop() { p.srv.Close() }

// AddClient registers a confidential client (client_secret_basic or _post) with its
// redirect URIs.
func (p *Provider) AddClient(id, secret string, redirectURIs ...string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.clients[id] = &client{id: id, secret: secret, redirects: redirectURIs}
}

// AddUser adds a user.
func (p *Provider) AddUser(u User) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.users[u.Login] = u
}

// SetGroups changes a user's groups.
func (p *Provider) SetGroups(login string, groups ...string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	u := p.users[login]
	u.Groups = groups
	p.users[login] = u
}

// IssueFor makes the token endpoint answer with ID tokens whose only audience (and
// authorized party) is aud, signed with the provider's key, as a token issued to another
// client is; "" goes back to the requesting client.
func (p *Provider) IssueFor(aud string) { p.audience.Store(&aud) }

// ReplayCode makes the next login send the browser back with a code that was already
// exchanged (and the right state), as an attacker replaying a code would.
func (p *Provider) ReplayCode() { p.replay.Store(true) }

// TokenEndpointDown makes the token endpoint drop its connections (down) or answer.
func (p *Provider) TokenEndpointDown(down bool) { p.tokenDown.Store(down) }

// Exchanges is how many requests reached the token endpoint.
func (p *Provider) Exchanges() int64 { return p.exchanges.Load() }

// AllowPostLogout registers post-logout redirect URIs of client id, where the
// end_session_endpoint may send the browser back.
func (p *Provider) AllowPostLogout(id string, uris ...string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if c, ok := p.clients[id]; ok {
		next := *c
		next.logouts = append(slices.Clone(c.logouts), uris...)
		p.clients[id] = &next
	}
}

// RememberLogins makes the provider keep a session of its own at each login (a cookie),
// and sign the browser in again from it without the login form, until the
// end_session_endpoint ends it: a real provider's single sign-on.
func (p *Provider) RememberLogins() { p.remember.Store(true) }

// HideEndSession leaves end_session_endpoint out of the discovery document, as a
// provider without RP-Initiated Logout (Google) does.
func (p *Provider) HideEndSession() { p.hideEnd.Store(true) }

// EndSessions is how many requests reached the end_session_endpoint.
func (p *Provider) EndSessions() int64 { return p.endSessions.Load() }

// withoutEndSession serves the discovery document without end_session_endpoint.
func (p *Provider) withoutEndSession(w http.ResponseWriter, r *http.Request, h http.Handler) {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	var doc map[string]any
	if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &doc) != nil {
		w.WriteHeader(rec.Code)
		w.Write(rec.Body.Bytes())
		return
	}
	delete(doc, "end_session_endpoint")
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(doc)
}

var loginForm = template.Must(template.New("login").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Test provider: sign in</title></head>
<body><h1>Test provider</h1>
<form method="post" action="/login">
<input type="hidden" name="id" value="{{.}}">
<label for="login">Login</label> <input id="login" name="login" data-testid="provider-login">
<button type="submit" name="do" value="allow" id="allow">Allow</button>
<button type="submit" name="do" value="deny" id="deny">Deny</button>
</form></body></html>`))

func (p *Provider) loginPage(w http.ResponseWriter, r *http.Request, callback func(context.Context, string) string) {
	id := r.URL.Query().Get("authRequestID")
	// Signed in at the provider already: on to the client without the form.
	if c, err := r.Cookie(sessionCookie); err == nil && p.remember.Load() {
		p.mu.Lock()
		subject, ok := p.sessions[c.Value]
		req, known := p.requests[id]
		if ok && known {
			req.subject, req.done, req.authTime = subject, true, time.Now()
		}
		p.mu.Unlock()
		if ok && known {
			http.Redirect(w, r, callback(r.Context(), id), http.StatusFound)
			return
		}
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	loginForm.Execute(w, id)
}

// login signs a user in to an auth request, or denies it, and sends the browser on.
func (p *Provider) login(w http.ResponseWriter, r *http.Request, provider *op.Provider, callback func(context.Context, string) string) {
	id, login := r.FormValue("id"), r.FormValue("login")
	p.mu.Lock()
	req, ok := p.requests[id]
	u, known := p.users[login]
	p.mu.Unlock()
	if !ok {
		http.Error(w, "no such auth request", http.StatusBadRequest)
		return
	}
	if r.FormValue("do") == "deny" {
		op.AuthRequestError(w, r, req, oidc.ErrAccessDenied().WithDescription("the user denied consent"), provider)
		return
	}
	if !known {
		http.Error(w, "no such user", http.StatusBadRequest)
		return
	}
	if p.replay.CompareAndSwap(true, false) {
		p.mu.Lock()
		used := ""
		if len(p.used) > 0 {
			used = p.used[len(p.used)-1]
		}
		p.mu.Unlock()
		q := url.Values{"code": {used}, "state": {req.State}}
		http.Redirect(w, r, req.RedirectURI+"?"+q.Encode(), http.StatusFound)
		return
	}
	p.mu.Lock()
	req.subject, req.done, req.authTime = u.Subject, true, time.Now()
	if p.remember.Load() {
		sid := randomID()
		p.sessions[sid] = u.Subject
		http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: sid, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode})
	}
	p.mu.Unlock()
	http.Redirect(w, r, callback(r.Context(), id), http.StatusFound)
}

// reissue answers a token request as the provider would, with the ID token's audience
// and authorized party replaced by aud and signed again with the provider's key.
func (p *Provider) reissue(w http.ResponseWriter, r *http.Request, h http.Handler, aud string) {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	var body map[string]any
	if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &body) != nil {
		w.WriteHeader(rec.Code)
		w.Write(rec.Body.Bytes())
		return
	}
	raw, _ := body["id_token"].(string)
	parts := strings.Split(raw, ".")
	var claims map[string]any
	if len(parts) != 3 {
		http.Error(w, "no id_token to reissue", http.StatusInternalServerError)
		return
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil || json.Unmarshal(payload, &claims) != nil {
		http.Error(w, "unreadable id_token", http.StatusInternalServerError)
		return
	}
	claims["aud"], claims["azp"], claims["client_id"] = []string{aud}, aud, aud
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: p.key, KeyID: p.keyID}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	b, _ := json.Marshal(claims)
	jws, err := signer.Sign(b)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	if body["id_token"], err = jws.CompactSerialize(); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(body)
}

func randomID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// authRequest is an auth request as the provider keeps it.
type authRequest struct {
	*oidc.AuthRequest
	id       string
	subject  string
	done     bool
	authTime time.Time
	audience []string
}

func (a *authRequest) GetID() string          { return a.id }
func (a *authRequest) GetACR() string         { return "" }
func (a *authRequest) GetAMR() []string       { return []string{"pwd"} }
func (a *authRequest) GetAudience() []string  { return a.audience }
func (a *authRequest) GetAuthTime() time.Time { return a.authTime }
func (a *authRequest) GetClientID() string    { return a.ClientID }
func (a *authRequest) GetCodeChallenge() *oidc.CodeChallenge {
	if a.CodeChallenge == "" {
		return nil
	}
	return &oidc.CodeChallenge{Challenge: a.CodeChallenge, Method: a.CodeChallengeMethod}
}
func (a *authRequest) GetNonce() string                   { return a.Nonce }
func (a *authRequest) GetRedirectURI() string             { return a.RedirectURI }
func (a *authRequest) GetResponseType() oidc.ResponseType { return a.ResponseType }
func (a *authRequest) GetResponseMode() oidc.ResponseMode { return a.ResponseMode }
func (a *authRequest) GetScopes() []string                { return a.Scopes }
func (a *authRequest) GetState() string                   { return a.State }
func (a *authRequest) GetSubject() string                 { return a.subject }
func (a *authRequest) Done() bool                         { return a.done }

// client is a confidential web client.
type client struct {
	id, secret string
	redirects  []string
	logouts    []string
}

func (c *client) GetID() string                       { return c.id }
func (c *client) RedirectURIs() []string              { return c.redirects }
func (c *client) PostLogoutRedirectURIs() []string    { return c.logouts }
func (c *client) ApplicationType() op.ApplicationType { return op.ApplicationTypeWeb }
func (c *client) AuthMethod() oidc.AuthMethod         { return oidc.AuthMethodBasic }
func (c *client) ResponseTypes() []oidc.ResponseType {
	return []oidc.ResponseType{oidc.ResponseTypeCode}
}
func (c *client) GrantTypes() []oidc.GrantType        { return []oidc.GrantType{oidc.GrantTypeCode} }
func (c *client) LoginURL(id string) string           { return "/login?authRequestID=" + url.QueryEscape(id) }
func (c *client) AccessTokenType() op.AccessTokenType { return op.AccessTokenTypeBearer }
func (c *client) IDTokenLifetime() time.Duration      { return 5 * time.Minute }
func (c *client) DevMode() bool                       { return true } // http redirect URIs
func (c *client) RestrictAdditionalIdTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}
func (c *client) RestrictAdditionalAccessTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}
func (c *client) IsScopeAllowed(scope string) bool     { return scope == "groups" }
func (c *client) IDTokenUserinfoClaimsAssertion() bool { return true }
func (c *client) ClockSkew() time.Duration             { return 0 }

// storage is the provider's op.Storage, in memory.
type storage Provider

var errNotFound = errors.New("not found")

func (s *storage) CreateAuthRequest(_ context.Context, req *oidc.AuthRequest, _ string) (op.AuthRequest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := &authRequest{AuthRequest: req, id: randomID(), audience: []string{req.ClientID}}
	s.requests[a.id] = a
	return a, nil
}

func (s *storage) AuthRequestByID(_ context.Context, id string) (op.AuthRequest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a, ok := s.requests[id]; ok {
		return a, nil
	}
	return nil, errNotFound
}

func (s *storage) AuthRequestByCode(_ context.Context, code string) (op.AuthRequest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a, ok := s.requests[s.codes[code]]; ok {
		return a, nil
	}
	return nil, errNotFound
}

func (s *storage) SaveAuthCode(_ context.Context, id, code string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.codes[code] = id
	return nil
}

// DeleteAuthRequest ends an auth request once its tokens are made: its code is used.
func (s *storage) DeleteAuthRequest(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.requests, id)
	for code, rid := range s.codes {
		if rid == id {
			delete(s.codes, code)
			s.used = append(s.used, code)
		}
	}
	return nil
}

func (s *storage) CreateAccessToken(context.Context, op.TokenRequest) (string, time.Time, error) {
	return randomID(), time.Now().Add(5 * time.Minute), nil
}

func (s *storage) CreateAccessAndRefreshTokens(context.Context, op.TokenRequest, string) (string, string, time.Time, error) {
	return "", "", time.Time{}, errors.New("no refresh tokens")
}

func (s *storage) TokenRequestByRefreshToken(context.Context, string) (op.RefreshTokenRequest, error) {
	return nil, op.ErrInvalidRefreshToken
}

// TerminateSession ends the provider's own sessions of the user (the subject the
// end_session_endpoint's id_token_hint names).
func (s *storage) TerminateSession(_ context.Context, subject, _ string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for sid, sub := range s.sessions {
		if sub == subject {
			delete(s.sessions, sid)
		}
	}
	return nil
}

func (s *storage) RevokeToken(context.Context, string, string, string) *oidc.Error { return nil }

func (s *storage) GetRefreshTokenInfo(context.Context, string, string) (string, string, error) {
	return "", "", op.ErrInvalidRefreshToken
}

type signingKey struct {
	id  string
	key *rsa.PrivateKey
}

func (k signingKey) SignatureAlgorithm() jose.SignatureAlgorithm { return jose.RS256 }
func (k signingKey) Key() any                                    { return k.key }
func (k signingKey) ID() string                                  { return k.id }

type publicKey struct{ signingKey }

func (k publicKey) Algorithm() jose.SignatureAlgorithm { return jose.RS256 }
func (k publicKey) Use() string                        { return "sig" }
func (k publicKey) Key() any                           { return &k.key.PublicKey }

func (s *storage) SigningKey(context.Context) (op.SigningKey, error) {
	return signingKey{s.keyID, s.key}, nil
}

func (s *storage) SignatureAlgorithms(context.Context) ([]jose.SignatureAlgorithm, error) {
	return []jose.SignatureAlgorithm{jose.RS256}, nil
}

func (s *storage) KeySet(context.Context) ([]op.Key, error) {
	return []op.Key{publicKey{signingKey{s.keyID, s.key}}}, nil
}

func (s *storage) GetClientByClientID(_ context.Context, id string) (op.Client, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.clients[id]; ok {
		return c, nil
	}
	return nil, errNotFound
}

func (s *storage) AuthorizeClientIDSecret(_ context.Context, id, secret string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.clients[id]; ok && c.secret == secret {
		return nil
	}
	return errors.New("wrong client secret")
}

// user is the user of subject.
func (s *storage) user(subject string) (User, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, u := range s.users {
		if u.Subject == subject {
			return u, true
		}
	}
	return User{}, false
}

func (s *storage) SetUserinfoFromScopes(_ context.Context, info *oidc.UserInfo, subject, _ string, scopes []string) error {
	u, ok := s.user(subject)
	if !ok {
		return fmt.Errorf("user %q: %w", subject, errNotFound)
	}
	info.Subject = u.Subject
	for _, sc := range scopes {
		switch sc {
		case oidc.ScopeProfile:
			info.PreferredUsername = u.Login
		case oidc.ScopeEmail:
			info.Email, info.EmailVerified = u.Email, true
		case "groups":
			info.AppendClaims("groups", slices.Clone(u.Groups))
		}
	}
	return nil
}

func (s *storage) SetUserinfoFromToken(ctx context.Context, info *oidc.UserInfo, _, subject, _ string) error {
	return s.SetUserinfoFromScopes(ctx, info, subject, "", []string{oidc.ScopeProfile, oidc.ScopeEmail, "groups"})
}

func (s *storage) SetIntrospectionFromToken(context.Context, *oidc.IntrospectionResponse, string, string, string) error {
	return errors.New("no introspection")
}

func (s *storage) GetPrivateClaimsFromScopes(context.Context, string, string, []string) (map[string]any, error) {
	return nil, nil
}

func (s *storage) GetKeyByIDAndClientID(context.Context, string, string) (*jose.JSONWebKey, error) {
	return nil, errNotFound
}

func (s *storage) ValidateJWTProfileScopes(context.Context, string, []string) ([]string, error) {
	return nil, errors.New("no JWT profile")
}

func (s *storage) Health(context.Context) error { return nil }
