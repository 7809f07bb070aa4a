// Package sso signs users of the web UI in through an OpenID Connect provider: the
// authorization code flow with PKCE, its state and nonce kept in a short-lived cookie
// sealed with the service's keys, the provider's endpoints and keys from discovery, and
// the ID token verified (issuer, audience, expiry, signature, nonce) by go-oidc. It
// reads the user's groups from a claim and maps them to a role; the session that
// follows is server/access's, as for a local sign-in. Nothing here touches the
// database.
package sso

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/tagdrift/tagdrift/store"
)

// Defaults of Config.
const (
	DefaultGroupsClaim = "groups"
	DefaultName        = "single sign-on"
	DefaultSessionMax  = 8 * time.Hour
	// flowLifetime is how long a started sign-in may take at the provider.
	flowLifetime = 10 * time.Minute
	// httpTimeout bounds each request to the provider (discovery, keys, token).
	httpTimeout = 10 * time.Second
	// retryDiscovery is how long a failed discovery is not tried again: a provider
	// that is down is not asked at every click.
	retryDiscovery = 5 * time.Second
)

// FlowPurpose is what the flow cookie's keys are derived for (keyring.Ring.Derive).
const FlowPurpose = "tagdrift sso flow cookie"

// CallbackPath is where the provider sends the browser back: the redirect URL is the
// external URL with this path.
const CallbackPath = "/signin/sso/callback"

// Config is a provider's configuration.
type Config struct {
	// Issuer is the provider's issuer URL; discovery is read from
	// Issuer/.well-known/openid-configuration.
	Issuer string
	// ClientID and ClientSecret are tagdrift's registration at the provider; the
	// secret comes from a file or the environment, never a flag.
	ClientID, ClientSecret string
	// RedirectURL is ExternalURL + CallbackPath, registered at the provider.
	RedirectURL string
	// Scopes are asked for besides openid; default profile, email, groups.
	Scopes []string
	// GroupsClaim is the ID token claim that lists the user's groups; default "groups".
	GroupsClaim string
	// Roles maps a group to a role (store.RoleAdmin or store.RoleViewer); a user gets
	// the grants of every one of its groups mapped here, which combine (store.Grants),
	// and is refused with none.
	Roles map[string]string
	// RoleScopes limits the role of a group of Roles to the clusters of named cluster
	// groups (docs/access.md); a group absent here grants its role on every cluster.
	RoleScopes map[string][]string
	// Name is the provider's name on the sign-in button; default "single sign-on".
	Name string
	// SessionMax ends a session started through the provider this long after sign-in,
	// however used; default 8 h.
	SessionMax time.Duration
	// FlowKeys seal the flow cookie (the first) and open it (any); from the key ring
	// (FlowPurpose), so that another replica can finish a sign-in this one started.
	FlowKeys [][]byte
	// PlainCookie sends the flow cookie without Secure, as the session cookie
	// (access.Cookies.Plain).
	PlainCookie bool
	// HTTPClient reaches the provider; default one with a 10 s timeout.
	HTTPClient *http.Client
	Now        func() time.Time
	Logger     *slog.Logger
}

// Validate checks the configuration without reaching the provider.
func (c Config) Validate() error {
	switch {
	case !absoluteURL(c.Issuer):
		return fmt.Errorf("issuer must be an absolute http or https URL, not %q", c.Issuer)
	case c.ClientID == "":
		return errors.New("no client id")
	case c.ClientSecret == "":
		return errors.New("no client secret")
	case !absoluteURL(c.RedirectURL):
		return fmt.Errorf("redirect URL must be an absolute http or https URL, not %q", c.RedirectURL)
	case len(c.Roles) == 0:
		return errors.New("no group is mapped to a role: nobody could sign in")
	case len(c.FlowKeys) == 0:
		return errors.New("no key for the flow cookie")
	}
	for g, cgs := range c.RoleScopes {
		if _, ok := c.Roles[g]; !ok {
			return fmt.Errorf("group %q has cluster groups but no role", g)
		}
		if len(cgs) == 0 {
			return fmt.Errorf("group %q: a scoped role names at least one cluster group", g)
		}
		for _, cg := range cgs {
			if err := store.ValidGroupName(cg); err != nil {
				return fmt.Errorf("group %q: %w", g, err)
			}
		}
	}
	for g, r := range c.Roles {
		if g == "" {
			return errors.New("a role mapping has an empty group")
		}
		if r != store.RoleAdmin && r != store.RoleViewer {
			return fmt.Errorf("group %q: role must be admin or viewer, not %q", g, r)
		}
	}
	return nil
}

func absoluteURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != "" && u.User == nil && u.Fragment == ""
}

// Provider signs users in through one OpenID Connect provider. Discovery happens at the
// first sign-in (and again after a failure), so tagdrift starts while the provider is
// down; local sign-in keeps working then. Safe for concurrent use.
type Provider struct {
	cfg    Config
	aead   *sealer
	cookie string

	mu       sync.Mutex
	disc     *discovered
	failedAt time.Time
	lastErr  error
}

// discovered is what discovery gave: the endpoints and a verifier with the keys.
type discovered struct {
	oauth    oauth2.Config
	verifier *oidc.IDTokenVerifier
	// endSession is the provider's end_session_endpoint (RP-Initiated Logout); "" when
	// its discovery names none.
	endSession string
}

// New returns the provider of cfg, or the error of cfg.Validate.
func New(cfg Config) (*Provider, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.GroupsClaim = cmp.Or(cfg.GroupsClaim, DefaultGroupsClaim)
	cfg.Name = cmp.Or(cfg.Name, DefaultName)
	if cfg.SessionMax <= 0 {
		cfg.SessionMax = DefaultSessionMax
	}
	if cfg.Scopes == nil {
		cfg.Scopes = []string{"profile", "email", "groups"}
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: httpTimeout}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s, err := newSealer(cfg.FlowKeys)
	if err != nil {
		return nil, err
	}
	name := "__Host-tagdrift_sso"
	if cfg.PlainCookie {
		name = "tagdrift_sso"
	}
	return &Provider{cfg: cfg, aead: s, cookie: name}, nil
}

// Name is the provider's name, for the sign-in button.
func (p *Provider) Name() string { return p.cfg.Name }

// Issuer is the provider's issuer URL, which users of the provider are stored under.
func (p *Provider) Issuer() string { return p.cfg.Issuer }

// SessionMax is the longest a session started through the provider lasts.
func (p *Provider) SessionMax() time.Duration { return p.cfg.SessionMax }

// ctx is ctx with the HTTP client go-oidc and oauth2 use.
func (p *Provider) ctx(ctx context.Context) context.Context {
	ctx = oidc.ClientContext(ctx, p.cfg.HTTPClient)
	return context.WithValue(ctx, oauth2.HTTPClient, p.cfg.HTTPClient)
}

// discover returns the discovered provider, discovering it when not yet done.
func (p *Provider) discover(ctx context.Context) (*discovered, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.disc != nil {
		return p.disc, nil
	}
	if !p.failedAt.IsZero() && p.cfg.Now().Sub(p.failedAt) < retryDiscovery {
		return nil, p.lastErr
	}
	ctx, cancel := context.WithTimeout(ctx, httpTimeout)
	defer cancel()
	// The key set keeps this context's values (the client), not its deadline.
	op, err := oidc.NewProvider(p.ctx(ctx), p.cfg.Issuer)
	if err != nil {
		p.failedAt, p.lastErr = p.cfg.Now(), &Error{Kind: Unreachable, Err: fmt.Errorf("discovery at %s: %w", p.cfg.Issuer, err)}
		return nil, p.lastErr
	}
	var meta struct {
		EndSession string `json:"end_session_endpoint"`
	}
	if err := op.Claims(&meta); err != nil {
		p.cfg.Logger.Warn("provider's discovery: no end_session_endpoint read", "issuer", p.cfg.Issuer, "error", err.Error())
	}
	if meta.EndSession != "" && !absoluteURL(meta.EndSession) {
		p.cfg.Logger.Warn("provider's end_session_endpoint is not an absolute URL: sign-out ends tagdrift's session only",
			"issuer", p.cfg.Issuer, "end_session_endpoint", bound(meta.EndSession))
		meta.EndSession = ""
	}
	p.disc = &discovered{
		endSession: meta.EndSession,
		oauth: oauth2.Config{
			ClientID: p.cfg.ClientID, ClientSecret: p.cfg.ClientSecret, RedirectURL: p.cfg.RedirectURL,
			Endpoint: op.Endpoint(), Scopes: append([]string{oidc.ScopeOpenID}, p.cfg.Scopes...),
		},
		verifier: op.Verifier(&oidc.Config{ClientID: p.cfg.ClientID, Now: p.cfg.Now}),
	}
	return p.disc, nil
}

// flow is what the flow cookie holds between Begin and Finish.
type flow struct {
	State    string    `json:"s"`
	Nonce    string    `json:"n"`
	Verifier string    `json:"v"`
	Next     string    `json:"x"`
	Expires  time.Time `json:"e"`
}

// Begin starts a sign-in: it sets the flow cookie (state, nonce, PKCE verifier and
// next, sealed) and returns the provider's authorization URL to send the browser to.
func (p *Provider) Begin(ctx context.Context, w http.ResponseWriter, next string) (string, error) {
	d, err := p.discover(ctx)
	if err != nil {
		return "", err
	}
	f := flow{State: random(), Nonce: random(), Verifier: oauth2.GenerateVerifier(), Next: next,
		Expires: p.cfg.Now().Add(flowLifetime)}
	if err := p.setFlow(w, f); err != nil {
		return "", err
	}
	return d.oauth.AuthCodeURL(f.State, oidc.Nonce(f.Nonce), oauth2.S256ChallengeOption(f.Verifier)), nil
}

func random() string {
	b := make([]byte, 32)
	rand.Read(b) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b)
}

func (p *Provider) setFlow(w http.ResponseWriter, f flow) error {
	b, err := json.Marshal(f)
	if err != nil {
		return err
	}
	sealed, err := p.aead.seal(b, []byte(p.cookie))
	if err != nil {
		return err
	}
	http.SetCookie(w, p.flowCookie(base64.RawURLEncoding.EncodeToString(sealed), int(flowLifetime/time.Second)))
	return nil
}

func (p *Provider) flowCookie(value string, maxAge int) *http.Cookie {
	// Lax: the provider sends the browser back with a top-level GET, which carries it.
	return &http.Cookie{Name: p.cookie, Value: value, Path: "/", MaxAge: maxAge,
		Secure: !p.cfg.PlainCookie, HttpOnly: true, SameSite: http.SameSiteLaxMode}
}

// readFlow opens r's flow cookie; an error when there is none, it does not open, or
// it expired.
func (p *Provider) readFlow(r *http.Request) (flow, error) {
	c, err := r.Cookie(p.cookie)
	if err != nil {
		return flow{}, errors.New("no sign-in in progress in this browser (no flow cookie)")
	}
	raw, err := base64.RawURLEncoding.DecodeString(c.Value)
	if err != nil {
		return flow{}, errors.New("flow cookie is not base64url")
	}
	b, err := p.aead.open(raw, []byte(p.cookie))
	if err != nil {
		return flow{}, errors.New("flow cookie does not open with the service's keys")
	}
	var f flow
	if err := json.Unmarshal(b, &f); err != nil {
		return flow{}, fmt.Errorf("flow cookie: %w", err)
	}
	if !p.cfg.Now().Before(f.Expires) {
		return flow{}, fmt.Errorf("sign-in started more than %s ago", flowLifetime)
	}
	return f, nil
}

// Identity is the user a verified ID token names.
type Identity struct {
	Subject string
	// Name is what the user is called in tagdrift when first seen:
	// preferred_username, else email, else the subject.
	Name string
	// Groups are the user's groups as the claim lists them.
	Groups []string
	// Role is the highest role the groups map to; "" for none.
	Role string
	// Grants are what the groups map to (Provider.Grants); none for no role.
	Grants []store.NamedGrant
	// Matched are the groups that map to a role.
	Matched []string
	// IDToken is the verified ID token as the provider issued it: kept with the session
	// (sealed) as the id_token_hint of the sign-out at the provider (EndSessionURL).
	IDToken string
}

// Finish ends a sign-in at the callback: it checks the provider's answer and the state
// against the flow cookie (which it clears, whatever the outcome: a code is worth one
// try), exchanges the code with the PKCE verifier, verifies the ID token and its nonce,
// and reads the groups. It returns the identity and where to go next, or an *Error.
func (p *Provider) Finish(ctx context.Context, w http.ResponseWriter, r *http.Request) (Identity, string, error) {
	http.SetCookie(w, p.flowCookie("", -1))
	q := r.URL.Query()
	f, flowErr := p.readFlow(r)
	if e := q.Get("error"); e != "" {
		kind := ProviderRefused
		if e == "access_denied" {
			kind = Denied
		}
		// The provider's text is logged (bounded), never shown.
		return Identity{}, f.Next, &Error{Kind: kind, Err: fmt.Errorf("provider answered error=%q: %q", bound(e), bound(q.Get("error_description")))}
	}
	if flowErr != nil {
		return Identity{}, "", &Error{Kind: State, Err: flowErr}
	}
	if subtle.ConstantTimeCompare([]byte(q.Get("state")), []byte(f.State)) != 1 {
		return Identity{}, "", &Error{Kind: State, Err: errors.New("state does not match this browser's sign-in")}
	}
	code := q.Get("code")
	if code == "" {
		return Identity{}, "", &Error{Kind: ProviderRefused, Err: errors.New("no code in the provider's answer")}
	}
	d, err := p.discover(ctx)
	if err != nil {
		return Identity{}, "", err
	}
	tctx, cancel := context.WithTimeout(ctx, httpTimeout)
	defer cancel()
	tok, err := d.oauth.Exchange(p.ctx(tctx), code, oauth2.VerifierOption(f.Verifier))
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) && re.Response != nil && re.Response.StatusCode < 500 {
			return Identity{}, "", &Error{Kind: CodeRefused, Err: fmt.Errorf("token endpoint refused the code: %s %q",
				bound(re.ErrorCode), bound(re.ErrorDescription))}
		}
		return Identity{}, "", &Error{Kind: Unreachable, Err: fmt.Errorf("token endpoint: %w", err)}
	}
	raw, ok := tok.Extra("id_token").(string)
	if !ok || raw == "" {
		return Identity{}, "", &Error{Kind: BadToken, Err: errors.New("the token answer has no id_token")}
	}
	idt, err := d.verifier.Verify(p.ctx(tctx), raw)
	if err != nil {
		return Identity{}, "", &Error{Kind: BadToken, Err: fmt.Errorf("verify ID token: %w", err)}
	}
	if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(f.Nonce)) != 1 {
		return Identity{}, "", &Error{Kind: BadToken, Err: errors.New("ID token's nonce does not match this browser's sign-in")}
	}
	id, err := p.identity(idt)
	if err != nil {
		return Identity{}, "", err
	}
	id.IDToken = raw
	return id, f.Next, nil
}

// SignedOutPath is where the provider sends the browser back after it ended its own
// session (EndSessionURL): the post-logout redirect URI, EXTERNAL_URL + SignedOutPath,
// registered at the provider. It shows the sign-in page, which says the user signed out.
const SignedOutPath = "/signin/sso/signed-out"

// EndSessionURL is where to send the browser at sign-out so that the provider ends its
// own session too (OpenID Connect RP-Initiated Logout 1.0): its end_session_endpoint
// with idToken (the session's, from Identity.IDToken) as id_token_hint, tagdrift's client
// id, and the post-logout redirect URI (SignedOutPath). It is "" when the provider's
// discovery names no end_session_endpoint: sign-out then ends tagdrift's session only.
// An error (discovery failed) is an *Error of kind Unreachable.
func (p *Provider) EndSessionURL(ctx context.Context, idToken string) (string, error) {
	d, err := p.discover(ctx)
	if err != nil {
		return "", err
	}
	if d.endSession == "" || idToken == "" {
		return "", nil
	}
	u, err := url.Parse(d.endSession)
	if err != nil {
		return "", nil // checked at discovery
	}
	q := u.Query()
	q.Set("id_token_hint", idToken)
	q.Set("client_id", p.cfg.ClientID)
	q.Set("post_logout_redirect_uri", p.PostLogoutRedirectURL())
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// PostLogoutRedirectURL is the URL to register at the provider as a post-logout
// redirect URI: the external URL (that of RedirectURL) + SignedOutPath.
func (p *Provider) PostLogoutRedirectURL() string {
	return strings.TrimSuffix(p.cfg.RedirectURL, CallbackPath) + SignedOutPath
}

// identity reads the subject, name and groups of a verified ID token.
func (p *Provider) identity(idt *oidc.IDToken) (Identity, error) {
	var claims map[string]json.RawMessage
	if err := idt.Claims(&claims); err != nil {
		return Identity{}, &Error{Kind: BadToken, Err: fmt.Errorf("ID token claims: %w", err)}
	}
	return p.identityFromClaims(idt.Subject, claims)
}

// identityFromClaims reads the name and the groups from a verified token's claims.
func (p *Provider) identityFromClaims(subject string, claims map[string]json.RawMessage) (Identity, error) {
	str := func(name string) string {
		var s string
		json.Unmarshal(claims[name], &s)
		return s
	}
	id := Identity{Subject: subject, Name: subject}
	for _, n := range []string{str("preferred_username"), str("email")} {
		if usableName(n) {
			id.Name = n
			break
		}
	}
	if rawGroups, ok := claims[p.cfg.GroupsClaim]; ok {
		if err := json.Unmarshal(rawGroups, &id.Groups); err != nil {
			var one string // a single group as a string
			if json.Unmarshal(rawGroups, &one) != nil {
				return Identity{}, &Error{Kind: BadToken, Err: fmt.Errorf("claim %q is neither a list of strings nor a string", p.cfg.GroupsClaim)}
			}
			id.Groups = []string{one}
		}
	} else if overflow(claims, p.cfg.GroupsClaim) {
		return Identity{}, &Error{Kind: GroupsOverflow, Err: fmt.Errorf("claim %q is not in the ID token: the provider lists too many groups (_claim_names)", p.cfg.GroupsClaim)}
	}
	id.Role, id.Matched = p.Role(id.Groups)
	id.Grants = p.Grants(id.Groups)
	return id, nil
}

// maxNameLen bounds a user name taken from a token.
const maxNameLen = 128

// usableName reports whether a claim can be a user's name: not empty, not too long,
// printable, without a slash (names are path segments of the admin pages).
func usableName(n string) bool {
	if n == "" || len(n) > maxNameLen || strings.ContainsAny(n, "/\\") || !utf8.ValidString(n) {
		return false
	}
	for _, r := range n {
		if !unicode.IsPrint(r) || unicode.IsSpace(r) {
			return false
		}
	}
	return true
}

// overflow reports whether the token says its groups are elsewhere (Entra ID's group
// overage: _claim_names names the claim).
func overflow(claims map[string]json.RawMessage, claim string) bool {
	var names map[string]string
	if json.Unmarshal(claims["_claim_names"], &names) != nil {
		return false
	}
	_, ok := names[claim]
	return ok
}

// Role is the highest role groups map to ("" for none) and the groups that map to one.
func (p *Provider) Role(groups []string) (string, []string) {
	role := ""
	var matched []string
	for _, g := range groups {
		r, ok := p.cfg.Roles[g]
		if !ok {
			continue
		}
		matched = append(matched, g)
		if r == store.RoleAdmin || role == "" {
			role = r
		}
	}
	slices.Sort(matched)
	return role, slices.Compact(matched)
}

// Grants are what groups map to: the grant of every mapped group, its role on every
// cluster or on its cluster groups (Config.RoleScopes), by group name; they combine
// (store.Grants: viewer on every cluster and admin on eu reads every cluster and
// administers eu's), none of them lost to a higher role.
func (p *Provider) Grants(groups []string) []store.NamedGrant {
	var out []store.NamedGrant
	for _, g := range slices.Sorted(slices.Values(groups)) {
		role, ok := p.cfg.Roles[g]
		if !ok || slices.ContainsFunc(out, func(n store.NamedGrant) bool { return n.Role == role && slices.Equal(n.Groups, p.cfg.RoleScopes[g]) }) {
			continue
		}
		out = append(out, store.NamedGrant{Role: role, Groups: slices.Clone(p.cfg.RoleScopes[g])})
	}
	return out
}

// bound cuts what the provider sent to a length fit for a log line.
func bound(s string) string {
	const max = 200
	s = strings.ToValidUTF8(s, "?")
	if len(s) > max {
		return s[:max] + "…"
	}
	return s
}
