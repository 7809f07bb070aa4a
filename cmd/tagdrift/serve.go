package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/tagdrift/tagdrift/notify"
	"github.com/tagdrift/tagdrift/scanner/kubeconfig"
	"github.com/tagdrift/tagdrift/scheduler"
	"github.com/tagdrift/tagdrift/server"
	"github.com/tagdrift/tagdrift/server/access"
	"github.com/tagdrift/tagdrift/server/access/sso"
	"github.com/tagdrift/tagdrift/server/apibody"
	"github.com/tagdrift/tagdrift/server/metrics"
	"github.com/tagdrift/tagdrift/store"
	"github.com/tagdrift/tagdrift/store/keyring"
)

// serveConfig is tagdrift serve's configuration: each flag has an environment variable
// (docs/configuration.md has the table; TestConfigDocTable checks that it agrees with these tags).
type serveConfig struct {
	databaseFlag `embed:""`
	keyFlags     `embed:""`

	Listen              string         `env:"TAGDRIFT_LISTEN" default:":8080" placeholder:"ADDR" help:"HTTP address: /healthz, /readyz, the API and the web UI; port 0 picks a free port, logged in the serving line"`
	MetricsListen       string         `env:"TAGDRIFT_METRICS_LISTEN" placeholder:"ADDR" help:"HTTP address of /metrics (Prometheus), apart from --listen so that it need not be public; empty (the default) serves no metrics"`
	NoMigrate           bool           `env:"TAGDRIFT_NO_MIGRATE" help:"do not migrate at start; refuse an old schema"`
	ScanConcurrency     int            `env:"TAGDRIFT_SCAN_CONCURRENCY" default:"4" help:"scans this process runs at once"`
	ScanTimeout         time.Duration  `env:"TAGDRIFT_SCAN_TIMEOUT" default:"2m" help:"time limit of one scan"`
	ScanInterval        time.Duration  `env:"TAGDRIFT_SCAN_INTERVAL" default:"5m" help:"interval of clusters registered with --cluster-kubeconfig (at least 10s)"`
	ScanMode            string         `env:"TAGDRIFT_SCAN_MODE" default:"poll" placeholder:"MODE" help:"scan mode of clusters registered with --cluster-kubeconfig: poll (listed every --scan-interval) or watch (changes found within seconds; docs/watches.md)"`
	NoWatch             bool           `env:"TAGDRIFT_NO_WATCH" help:"run no watch on this replica: clusters in scan mode watch are watched by other replicas, or listed at their interval when none does"`
	WatchFullList       time.Duration  `env:"TAGDRIFT_WATCH_FULL_LIST" default:"30m" help:"interval of a watched cluster's full listing, the safety net under its watch (at least 1m)"`
	WatchStaleAfter     time.Duration  `env:"TAGDRIFT_WATCH_STALE_AFTER" default:"1m" help:"a watch broken this long shows its cluster stale (at least 1s)"`
	WatchStarts         int            `env:"TAGDRIFT_WATCH_STARTS" default:"4" help:"watches this process lists at once when they start"`
	ClusterKubeconfig   []string       `env:"TAGDRIFT_CLUSTER_KUBECONFIG" sep:"none" placeholder:"FILE[:CONTEXT]" help:"register a cluster at start, named after its context, unless one of that name exists; repeatable"`
	ClusterGroup        []string       `env:"TAGDRIFT_CLUSTER_GROUP" sep:"none" placeholder:"CLUSTER=GROUP" help:"register the --cluster-kubeconfig cluster of that name in GROUP (made when missing) rather than the default group; repeatable"`
	AllowClusterNetwork []netip.Prefix `env:"TAGDRIFT_ALLOW_CLUSTER_NETWORK" sep:"none" placeholder:"CIDR" help:"internal network clusters may be reached on (loopback, private ranges); repeatable"`
	TrustedProxy        []netip.Prefix `env:"TAGDRIFT_TRUSTED_PROXIES" sep:"none" placeholder:"CIDR" help:"reverse proxy whose X-Forwarded-For names the client, for the failed-sign-in and bad-token limits and the audit trail; repeatable"`
	ExecProfiles        string         `name:"exec-profiles" env:"TAGDRIFT_EXEC_PROFILES_FILE" placeholder:"FILE" help:"YAML or JSON file of the exec credential plugin profiles kubeconfigs may name (docs/security.md: exec profiles)"`
	AllowInsecureTLS    bool           `name:"allow-insecure-tls" env:"TAGDRIFT_ALLOW_INSECURE_TLS" help:"accept kubeconfigs with insecure-skip-tls-verify: true"`
	APIRateLimit        float64        `name:"api-rate-limit" env:"TAGDRIFT_API_RATE_LIMIT" default:"50" help:"API requests per second each token may make, in bursts of twice that"`
	SessionIdle         time.Duration  `env:"TAGDRIFT_SESSION_IDLE" default:"12h" help:"a web UI session unused this long ends"`
	SessionAbsolute     time.Duration  `env:"TAGDRIFT_SESSION_ABSOLUTE" default:"168h" help:"a web UI session ends this long after sign-in, however used"`
	ExternalURL         string         `name:"external-url" env:"TAGDRIFT_EXTERNAL_URL" placeholder:"URL" help:"tagdrift's public URL (https://tagdrift.example.com): the annotations it writes on ReplicaSets link to their workload's page under it; https makes the session cookie Secure and pages send HSTS; http needs --insecure-cookies"`
	InsecureCookies     bool           `name:"insecure-cookies" env:"TAGDRIFT_INSECURE_COOKIES" help:"send the web UI's session cookie without Secure, for plain http off loopback (the compose demo); refused with an https --external-url"`
	HistoryRetention    time.Duration  `env:"TAGDRIFT_HISTORY_RETENTION" default:"0" help:"delete closed intervals and resolved mutations older than this, hourly in bounded batches; 0 keeps everything"`
	ExpiryInterval      time.Duration  `name:"expiry-interval" env:"TAGDRIFT_EXPIRY_INTERVAL" default:"1m" help:"how often the acknowledgements and declared-mutable tag rules whose time has come are ended, by the database's clock (at least 1s)"`
	LogLevel            slog.Level     `env:"TAGDRIFT_LOG_LEVEL" default:"info" placeholder:"LEVEL" help:"JSON logs at this level and above: debug, info, warn or error"`

	// Notifications (issue 26, docs/notifications.md).
	AllowChannelNetwork  []netip.Prefix `env:"TAGDRIFT_ALLOW_CHANNEL_NETWORK" sep:"none" placeholder:"CIDR" help:"internal network notification channels may be reached on (loopback, private ranges); repeatable"`
	NotifyAttemptTimeout time.Duration  `env:"TAGDRIFT_NOTIFY_ATTEMPT_TIMEOUT" default:"10s" help:"time limit of one attempt to deliver a notification"`
	NotifyMaxAttempts    int            `env:"TAGDRIFT_NOTIFY_MAX_ATTEMPTS" default:"10" help:"attempts to deliver a notification before it is failed"`
	NotifyRetryBase      time.Duration  `env:"TAGDRIFT_NOTIFY_RETRY_BASE" default:"0" help:"wait after a failed delivery, doubled after each next one; 0 is the job engine's backoff (attempts^4 seconds: 10 attempts span about four hours)"`
	NotifyConcurrency    int            `env:"TAGDRIFT_NOTIFY_CONCURRENCY" default:"4" help:"notifications this process delivers at once"`
	AlertRepostInterval  time.Duration  `name:"alert-repost-interval" env:"TAGDRIFT_ALERT_REPOST_INTERVAL" default:"1m" help:"how often open mutations are posted again to Alertmanager channels"`
	NotifyRepeatCheck    time.Duration  `name:"notify-repeat-check" env:"TAGDRIFT_NOTIFY_REPEAT_CHECK" default:"1m" help:"how often the reminders that routes with a repeat interval owe are written, by the database's clock (at least 1s): a reminder is late by up to this"`
	AlertEventTTL        time.Duration  `name:"alert-event-ttl" env:"TAGDRIFT_ALERT_EVENT_TTL" default:"1h" help:"how long an Alertmanager alert of a tag-moved or pod-drift event fires before it ends by itself"`

	// Acknowledgements (issue 27).
	AckMaxDuration time.Duration `name:"ack-max-duration" env:"TAGDRIFT_ACK_MAX_DURATION" default:"2160h" help:"how far ahead a viewer may acknowledge a mutation (admins are not limited)"`

	// Sign-in through an OpenID Connect provider (issue 29, docs/sso.md).
	OIDCIssuer           string        `name:"oidc-issuer" env:"TAGDRIFT_OIDC_ISSUER" placeholder:"URL" help:"issuer URL of the OpenID Connect provider users sign in through (https, or http on loopback); needs --external-url, whose /signin/sso/callback is the redirect URL to register"`
	OIDCClientID         string        `name:"oidc-client-id" env:"TAGDRIFT_OIDC_CLIENT_ID" placeholder:"ID" help:"tagdrift's client id at the provider"`
	OIDCClientSecretFile string        `name:"oidc-client-secret-file" env:"TAGDRIFT_OIDC_CLIENT_SECRET_FILE" placeholder:"FILE" help:"file holding the client secret (or the secret itself in $$TAGDRIFT_OIDC_CLIENT_SECRET)"`
	OIDCRole             []string      `name:"oidc-role" env:"TAGDRIFT_OIDC_ROLES" sep:"none" placeholder:"GROUP=ROLE" help:"give members of the provider's GROUP the role admin or viewer on every cluster, or with :CLUSTER-GROUP+... on those cluster groups' clusters only (a user gets the grants of all their groups, combined: viewer on every cluster and admin on team-a reads all and administers team-a; a user in no such group is refused); repeatable"`
	OIDCGroupsClaim      string        `name:"oidc-groups-claim" env:"TAGDRIFT_OIDC_GROUPS_CLAIM" default:"groups" help:"ID token claim that lists the user's groups"`
	OIDCScope            []string      `name:"oidc-scope" env:"TAGDRIFT_OIDC_SCOPES" sep:"none" placeholder:"SCOPE" help:"scope to ask for besides openid; repeatable; none given asks for profile, email and groups"`
	OIDCName             string        `name:"oidc-name" env:"TAGDRIFT_OIDC_NAME" default:"single sign-on" help:"the provider's name on the sign-in button (Sign in with NAME)"`
	OIDCSessionMax       time.Duration `name:"oidc-session-max" env:"TAGDRIFT_OIDC_SESSION_MAX" default:"8h" help:"a session started through the provider ends this long after sign-in, however used, so that leaving a group takes effect within it (at least 1m)"`
	NoLocalSignIn        bool          `name:"no-local-signin" env:"TAGDRIFT_NO_LOCAL_SIGNIN" help:"turn sign-in with a local user's name and password off (needs --oidc-issuer)"`

	// Read from the environment only, by Run (serveEnvOnly).
	keyText    string
	adminToken string
	oidcSecret string
}

// serveEnvOnly are the variables serve reads that have no flag: secrets, which a flag
// would show in ps.
var serveEnvOnly = []struct{ name, help string }{
	{"TAGDRIFT_ENCRYPTION_KEY", "the keys themselves, comma-separated, newest last (instead of --encryption-key-file)"},
	{"TAGDRIFT_ADMIN_TOKEN", "accepted as an admin API token (at least 16 characters)"},
	{"TAGDRIFT_OIDC_CLIENT_SECRET", "the OpenID Connect client secret (instead of --oidc-client-secret-file)"},
}

// Help is the long help of tagdrift serve: it lists the variables that have no flag.
func (serveConfig) Help() string {
	var b strings.Builder
	b.WriteString("Every flag can be given by its environment variable instead. These have no flag:\n")
	for _, v := range serveEnvOnly {
		fmt.Fprintf(&b, "\n  $%s\n      %s", v.name, v.help)
	}
	return b.String()
}

// keyFlags gives the encryption keys: a file, or the keys themselves in a variable.
type keyFlags struct {
	EncryptionKeyFile string `env:"TAGDRIFT_ENCRYPTION_KEY_FILE" placeholder:"FILE" help:"file of base64 32-byte keys, one a line, newest last (or the keys themselves in $$TAGDRIFT_ENCRYPTION_KEY)"`
}

// ring reads the keys from the file, else from TAGDRIFT_ENCRYPTION_KEY.
func (k keyFlags) ring(getenv func(string) string) (*keyring.Ring, error) {
	if k.EncryptionKeyFile == "" {
		text := getenv("TAGDRIFT_ENCRYPTION_KEY")
		if text == "" {
			return nil, usageError("no encryption key: set --encryption-key-file or TAGDRIFT_ENCRYPTION_KEY (%s)", keyring.HowToMakeAKey)
		}
		r, err := keyring.Parse(text)
		if err != nil {
			return nil, fmt.Errorf("TAGDRIFT_ENCRYPTION_KEY: %w", err)
		}
		return r, nil
	}
	b, err := os.ReadFile(k.EncryptionKeyFile)
	if err != nil {
		return nil, fmt.Errorf("encryption key: %w", err)
	}
	r, err := keyring.Parse(string(b))
	if err != nil {
		return nil, fmt.Errorf("encryption key file %s: %w", k.EncryptionKeyFile, err)
	}
	return r, nil
}

// parseServe parses `tagdrift serve` args with getenv, as run does, without running it.
func parseServe(args []string, getenv func(string) string) (serveConfig, error) {
	var c cli
	k, env, err := newParser(&c, getenv, io.Discard, io.Discard, func(int) {})
	if err != nil {
		return serveConfig{}, err
	}
	if _, err := k.Parse(append([]string{"serve"}, args...)); err != nil {
		var ee *envError
		if errors.As(err, &ee) {
			return c.Serve, ee
		}
		return c.Serve, err
	}
	c.Serve.readEnv(getenv)
	return c.Serve, c.Serve.validate(env.source)
}

// readEnv reads the variables that have no flag.
func (c *serveConfig) readEnv(getenv func(string) string) {
	c.keyText = getenv("TAGDRIFT_ENCRYPTION_KEY")
	c.adminToken = getenv("TAGDRIFT_ADMIN_TOKEN")
	c.oidcSecret = getenv("TAGDRIFT_OIDC_CLIENT_SECRET")
}

// validate checks what the types do not; source names a flag as the user gave it.
func (c serveConfig) validate(source func(flag string) string) error {
	switch {
	case c.DatabaseURL == "":
		return errors.New("no database: set --database-url or TAGDRIFT_DATABASE_URL")
	case c.EncryptionKeyFile == "" && c.keyText == "":
		return fmt.Errorf("no encryption key: set --encryption-key-file or TAGDRIFT_ENCRYPTION_KEY (%s)", keyring.HowToMakeAKey)
	case c.ScanConcurrency <= 0:
		return fmt.Errorf("%s must be positive, not %d", source("scan-concurrency"), c.ScanConcurrency)
	case c.ScanTimeout <= 0:
		return fmt.Errorf("%s must be positive, not %s", source("scan-timeout"), c.ScanTimeout)
	case c.HistoryRetention < 0:
		return fmt.Errorf("%s must not be negative, not %s", source("history-retention"), c.HistoryRetention)
	case c.ExpiryInterval < time.Second:
		return fmt.Errorf("%s must be at least 1s, not %s", source("expiry-interval"), c.ExpiryInterval)
	case c.WatchFullList < time.Minute:
		return fmt.Errorf("%s must be at least 1m, not %s", source("watch-full-list"), c.WatchFullList)
	case c.WatchStaleAfter < time.Second:
		return fmt.Errorf("%s must be at least 1s, not %s", source("watch-stale-after"), c.WatchStaleAfter)
	case c.WatchStarts <= 0:
		return fmt.Errorf("%s must be positive, not %d", source("watch-starts"), c.WatchStarts)
	case c.ScanInterval < 10*time.Second:
		return fmt.Errorf("%s must be at least 10s, not %s", source("scan-interval"), c.ScanInterval)
	case c.ScanMode != store.ScanModePoll && c.ScanMode != store.ScanModeWatch:
		return fmt.Errorf("%s must be poll or watch, not %q", source("scan-mode"), c.ScanMode)
	case c.APIRateLimit <= 0 || math.IsInf(c.APIRateLimit, 0) || math.IsNaN(c.APIRateLimit):
		return fmt.Errorf("%s must be a positive number, not %g", source("api-rate-limit"), c.APIRateLimit)
	case c.SessionIdle < time.Minute:
		return fmt.Errorf("%s must be at least 1m, not %s", source("session-idle"), c.SessionIdle)
	case c.SessionAbsolute < c.SessionIdle:
		return fmt.Errorf("%s must be at least --session-idle (%s), not %s", source("session-absolute"), c.SessionIdle, c.SessionAbsolute)
	case c.ExternalURL != "" && !absoluteHTTP(c.ExternalURL):
		return fmt.Errorf("%s must be an absolute http or https URL, not %q", source("external-url"), c.ExternalURL)
	case cookiesErr(c) != nil:
		return cookiesErr(c)
	case clusterGroupsErr(c.ClusterGroup) != nil:
		return fmt.Errorf("%s: %w", source("cluster-group"), clusterGroupsErr(c.ClusterGroup))
	case c.NotifyAttemptTimeout <= 0:
		return fmt.Errorf("%s must be positive, not %s", source("notify-attempt-timeout"), c.NotifyAttemptTimeout)
	case c.NotifyMaxAttempts <= 0:
		return fmt.Errorf("%s must be positive, not %d", source("notify-max-attempts"), c.NotifyMaxAttempts)
	case c.NotifyRetryBase < 0:
		return fmt.Errorf("%s must not be negative, not %s", source("notify-retry-base"), c.NotifyRetryBase)
	case c.NotifyConcurrency <= 0:
		return fmt.Errorf("%s must be positive, not %d", source("notify-concurrency"), c.NotifyConcurrency)
	case c.AlertRepostInterval < time.Second:
		return fmt.Errorf("%s must be at least 1s, not %s", source("alert-repost-interval"), c.AlertRepostInterval)
	case c.NotifyRepeatCheck < time.Second:
		return fmt.Errorf("%s must be at least 1s, not %s", source("notify-repeat-check"), c.NotifyRepeatCheck)
	case c.AlertEventTTL <= 0:
		return fmt.Errorf("%s must be positive, not %s", source("alert-event-ttl"), c.AlertEventTTL)
	case c.AckMaxDuration <= 0:
		return fmt.Errorf("%s must be positive, not %s", source("ack-max-duration"), c.AckMaxDuration)
	case oidcErr(c, source) != nil:
		return oidcErr(c, source)
	case c.adminToken != "" && len(c.adminToken) < 16:
		// A short shared secret is guessable; the rate limit does not stop a patient guess.
		return errors.New("TAGDRIFT_ADMIN_TOKEN must be at least 16 characters")
	}
	return nil
}

// oidcErr checks the sign-in through a provider: all of it or none of it.
func oidcErr(c serveConfig, source func(string) string) error {
	if c.OIDCIssuer == "" {
		switch {
		case c.NoLocalSignIn:
			return fmt.Errorf("%s needs --oidc-issuer: nobody could sign in", source("no-local-signin"))
		case c.OIDCClientID != "" || c.OIDCClientSecretFile != "" || len(c.OIDCRole) > 0:
			return errors.New("--oidc-client-id, --oidc-client-secret-file and --oidc-role need --oidc-issuer")
		}
		return nil
	}
	u, err := url.Parse(c.OIDCIssuer)
	switch {
	case err != nil || !absoluteHTTP(c.OIDCIssuer):
		return fmt.Errorf("%s must be an absolute https URL, not %q", source("oidc-issuer"), c.OIDCIssuer)
	case u.Scheme != "https" && !loopbackHost(u.Hostname()):
		return fmt.Errorf("%s must be https (plain http only on loopback), not %q", source("oidc-issuer"), c.OIDCIssuer)
	case c.OIDCClientID == "":
		return errors.New("--oidc-issuer needs --oidc-client-id")
	case c.OIDCClientSecretFile == "" && c.oidcSecret == "":
		return errors.New("--oidc-issuer needs the client secret: --oidc-client-secret-file or TAGDRIFT_OIDC_CLIENT_SECRET")
	case c.ExternalURL == "":
		return errors.New("--oidc-issuer needs --external-url: the provider sends browsers back to its /signin/sso/callback")
	case c.OIDCSessionMax < time.Minute:
		return fmt.Errorf("%s must be at least 1m, not %s", source("oidc-session-max"), c.OIDCSessionMax)
	case c.OIDCGroupsClaim == "":
		return fmt.Errorf("%s must not be empty", source("oidc-groups-claim"))
	}
	roles, err := oidcRoles(c.OIDCRole)
	if err != nil {
		return fmt.Errorf("%s: %w", source("oidc-role"), err)
	}
	if len(roles) == 0 {
		return errors.New("--oidc-issuer needs at least one --oidc-role GROUP=ROLE: nobody could sign in")
	}
	return nil
}

func loopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// oidcRoles reads --oidc-role GROUP=ROLE values (use oidcRoleScopes for their
// scopes).
func oidcRoles(specs []string) (map[string]string, error) {
	roles, _, err := oidcGrants(specs)
	return roles, err
}

// oidcRoleScopes are the cluster groups of the --oidc-role GROUP=ROLE:CG1+CG2 values,
// by provider group; a GROUP=ROLE value is on every cluster and absent here.
func oidcRoleScopes(specs []string) map[string][]string {
	_, scopes, _ := oidcGrants(specs)
	return scopes
}

// oidcGrants reads --oidc-role values: GROUP=ROLE grants ROLE on every cluster,
// GROUP=ROLE:CG1+CG2 on the clusters of those cluster groups only ('+', which no
// cluster group name holds, since TAGDRIFT_OIDC_ROLES splits at commas).
func oidcGrants(specs []string) (map[string]string, map[string][]string, error) {
	out := make(map[string]string, len(specs))
	scopes := map[string][]string{}
	for _, spec := range specs {
		i := strings.LastIndexByte(spec, '=')
		if i <= 0 {
			return nil, nil, fmt.Errorf("want GROUP=ROLE or GROUP=ROLE:CLUSTER-GROUP+..., not %q", spec)
		}
		group, role := spec[:i], spec[i+1:]
		role, cgs, scoped := strings.Cut(role, ":")
		if scoped {
			if _, ok := scopes[group]; !ok && out[group] != "" {
				return nil, nil, fmt.Errorf("group %q is given a role on every cluster and on cluster groups", group)
			}
			for _, cg := range strings.Split(cgs, "+") {
				if err := store.ValidGroupName(cg); err != nil {
					return nil, nil, fmt.Errorf("%q: %w", spec, err)
				}
				scopes[group] = append(scopes[group], cg)
			}
		} else if _, ok := scopes[group]; ok {
			return nil, nil, fmt.Errorf("group %q is given a role on every cluster and on cluster groups", group)
		}
		if role != store.RoleAdmin && role != store.RoleViewer {
			return nil, nil, fmt.Errorf("%q: role must be admin or viewer, not %q", spec, role)
		}
		if r, ok := out[group]; ok && r != role {
			return nil, nil, fmt.Errorf("group %q is given two roles, %s and %s", group, r, role)
		}
		out[group] = role
	}
	return out, scopes, nil
}

// sso is the provider users sign in through, or nil without --oidc-issuer; the client
// secret is read from its file here, so that it never sits in a flag.
func (c serveConfig) sso(ring *keyring.Ring, cookies access.Cookies, log *slog.Logger) (*sso.Provider, error) {
	if c.OIDCIssuer == "" {
		return nil, nil
	}
	secret := c.oidcSecret
	if c.OIDCClientSecretFile != "" {
		b, err := os.ReadFile(c.OIDCClientSecretFile)
		if err != nil {
			return nil, fmt.Errorf("--oidc-client-secret-file: %w", err)
		}
		secret = strings.TrimSpace(string(b))
		if secret == "" {
			return nil, fmt.Errorf("--oidc-client-secret-file %s is empty", c.OIDCClientSecretFile)
		}
	}
	roles, _ := oidcRoles(c.OIDCRole) // validated
	p, err := sso.New(sso.Config{
		Issuer: c.OIDCIssuer, ClientID: c.OIDCClientID, ClientSecret: secret,
		RedirectURL: strings.TrimSuffix(c.ExternalURL, "/") + sso.CallbackPath,
		Scopes:      c.OIDCScope, GroupsClaim: c.OIDCGroupsClaim, Roles: roles, RoleScopes: oidcRoleScopes(c.OIDCRole), Name: c.OIDCName,
		SessionMax: c.OIDCSessionMax, FlowKeys: ring.Derive(sso.FlowPurpose), PlainCookie: cookies.Plain, Logger: log,
	})
	if err != nil {
		return nil, fmt.Errorf("--oidc-issuer: %w", err)
	}
	return p, nil
}

// absoluteHTTP reports whether s is an absolute http(s) URL with a host and nothing
// after its path.
func absoluteHTTP(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != "" && u.RawQuery == "" && u.Fragment == "" && u.User == nil
}

// cookies decides the session cookie from --external-url, --insecure-cookies and
// --listen, once (access.DecideCookies): never from a request's headers.
func (c serveConfig) cookies() (access.Cookies, error) {
	return access.DecideCookies(c.ExternalURL, c.InsecureCookies, c.Listen)
}

func cookiesErr(c serveConfig) error {
	_, err := c.cookies()
	return err
}

func (c serveConfig) logger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: c.LogLevel}))
}

// policy is the kubeconfig policy: insecure TLS, and the exec profiles of the file.
func (c serveConfig) policy() (kubeconfig.Policy, error) {
	p := kubeconfig.Policy{AllowInsecureTLS: c.AllowInsecureTLS}
	if c.ExecProfiles == "" {
		return p, nil
	}
	raw, err := os.ReadFile(c.ExecProfiles)
	if err != nil {
		return p, fmt.Errorf("--exec-profiles: %w", err)
	}
	if p.ExecProfiles, err = kubeconfig.ParseExecProfiles(raw); err != nil {
		return p, fmt.Errorf("--exec-profiles %s: %w", c.ExecProfiles, err)
	}
	return p, nil
}

// deliveries is the delivery configuration: every channel reached through the address
// policy, loopback and private ranges only inside --allow-channel-network.
func (c serveConfig) deliveries() *scheduler.DeliveryConfig {
	var allowed []netip.Prefix
	for _, p := range c.AllowChannelNetwork {
		allowed = append(allowed, p.Masked())
	}
	return &scheduler.DeliveryConfig{
		Client:         notify.NewChannelClient(allowed, c.NotifyAttemptTimeout),
		AttemptTimeout: c.NotifyAttemptTimeout, MaxAttempts: c.NotifyMaxAttempts, RetryBase: c.NotifyRetryBase,
		Concurrency: c.NotifyConcurrency, RepostInterval: c.AlertRepostInterval, EventTTL: c.AlertEventTTL,
		RepeatCheck: c.NotifyRepeatCheck,
	}
}

func (c serveConfig) dialer() *kubeconfig.Dialer {
	d := &kubeconfig.Dialer{}
	for _, p := range c.AllowClusterNetwork {
		d.Allowed = append(d.Allowed, p.Masked())
	}
	return d
}

// Run is `tagdrift serve`.
func (cfg *serveConfig) Run(ctx context.Context, d *deps) error {
	cfg.readEnv(d.getenv)
	if err := cfg.validate(d.env.source); err != nil {
		return &exitError{code: 2, err: err}
	}
	if d.getenv("TAGDRIFT_ALLOW_EXEC_PLUGIN") != "" {
		return &exitError{code: 2, err: errors.New("TAGDRIFT_ALLOW_EXEC_PLUGIN is gone: exec plugins run only from exec profiles (--exec-profiles FILE, docs/security.md: exec profiles)")}
	}
	policy, err := cfg.policy()
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	log := cfg.logger(d.stderr)
	ring, err := cfg.ring(d.getenv)
	if err != nil {
		return err
	}
	dialer := cfg.dialer()
	if err := migrateOnStart(cfg, log); err != nil {
		return err
	}
	st, err := store.Open(ctx, cfg.DatabaseURL, ring, apibody.Encoder{})
	if err != nil {
		return err
	}
	defer st.Close()
	// A wrong or missing key fails here, not at the first scan.
	if err := st.CheckCredentials(ctx); err != nil {
		return fmt.Errorf("check stored credentials with the encryption key: %w", err)
	}
	if err := st.CheckChannelSecrets(ctx); err != nil {
		return fmt.Errorf("check notification channel secrets with the encryption key: %w", err)
	}
	// Bodies the API serves as stored, written in another shape than this version's
	// (apibody.Version) or never rendered (workloads carried over from before migration
	// 21): reads render them on the fly until this has run.
	if n, err := st.RefillBodies(ctx, 500, log); err != nil {
		return err
	} else if n.Workloads+n.Mutations > 0 {
		log.Info("refilled stored bodies", "version", apibody.Version, "workloads", n.Workloads, "mutations", n.Mutations)
	}
	groups, _ := clusterGroups(cfg.ClusterGroup) // validated
	for _, spec := range cfg.ClusterKubeconfig {
		name, err := registerCluster(ctx, st, spec, groups, policy, cfg.ScanInterval, cfg.ScanMode, log)
		if err != nil {
			return err
		}
		delete(groups, name)
	}
	for name := range groups {
		return fmt.Errorf("--cluster-group %s=%s: no --cluster-kubeconfig registers a cluster of that name", name, groups[name])
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		metrics.NewGauges(metrics.Config{Source: st, Logger: log}))
	deliveries := cfg.deliveries()
	sched, err := scheduler.New(scheduler.Config{
		Store: st, Dialer: dialer, Policy: policy, ScanTimeout: cfg.ScanTimeout, Concurrency: cfg.ScanConcurrency,
		UserAgent: "tagdrift/" + version, Metrics: scheduler.NewMetrics(reg), Logger: log, ExternalURL: cfg.ExternalURL,
		Deliveries: deliveries, ExpiryInterval: cfg.ExpiryInterval,
		Watch: scheduler.WatchConfig{Disabled: cfg.NoWatch, FullList: cfg.WatchFullList, StaleAfter: cfg.WatchStaleAfter,
			Starts: cfg.WatchStarts},
	})
	if err != nil {
		return err
	}
	// The outbox: the transactions that change mutations write their notifications and
	// insert the delivery jobs (River's InsertManyTx) beside their changes.
	st.SetOutbox(store.Outbox{Jobs: sched.InsertDeliveries, Payload: notify.PayloadConfig{BaseURL: cfg.ExternalURL}})
	refused, err := sched.Refused(ctx)
	if err != nil {
		return fmt.Errorf("check stored clusters against the policy: %w", err)
	}
	for _, r := range refused {
		log.Warn("the current policy refuses this cluster's stored configuration: its scans fail until it is registered again or the policy allows it",
			"cluster", r.Cluster, "reason", r.Err.Error())
	}
	cookies, _ := cfg.cookies() // validated
	log.Info("session cookie", "secure", !cookies.Plain, "name", cookies.Name(), "because", cookies.Why)
	provider, err := cfg.sso(ring, cookies, log)
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	if provider != nil {
		log.Info("sign-in through provider", "issuer", cfg.OIDCIssuer, "client_id", cfg.OIDCClientID,
			"redirect_url", strings.TrimSuffix(cfg.ExternalURL, "/")+sso.CallbackPath,
			"post_logout_redirect_url", provider.PostLogoutRedirectURL(), "local_signin", !cfg.NoLocalSignIn)
	}
	httpSrv := &http.Server{
		Addr: cfg.Listen,
		Handler: server.New(server.Config{
			Ready: st.SchemaCurrent, Logger: log,
			Store: st, Scans: sched, Policy: policy, AdminToken: cfg.adminToken,
			RateLimit: cfg.APIRateLimit, RateBurst: int(2 * cfg.APIRateLimit),
			SessionIdle: cfg.SessionIdle, SessionAbsolute: cfg.SessionAbsolute, Cookies: cookies,
			DeviceKeys: ring.Derive(access.DevicePurpose),
			// Test messages reach channels as deliveries do, through the same address policy.
			ChannelClient:  deliveries.Client,
			TrustedProxies: cfg.TrustedProxy,
			AckMaxDuration: cfg.AckMaxDuration,
			SSO:            provider, NoLocalSignIn: cfg.NoLocalSignIn,
		}),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Listen, err)
	}
	var metricsSrv *http.Server
	var metricsLn net.Listener
	if cfg.MetricsListen != "" {
		if metricsLn, err = net.Listen("tcp", cfg.MetricsListen); err != nil {
			ln.Close()
			return fmt.Errorf("listen on %s (--metrics-listen): %w", cfg.MetricsListen, err)
		}
		metricsSrv = metrics.NewServer(reg, log)
	}
	if err := sched.Start(ctx); err != nil {
		ln.Close()
		if metricsLn != nil {
			metricsLn.Close()
		}
		return fmt.Errorf("start scheduler: %w", err)
	}
	retCtx, stopRetention := context.WithCancel(ctx)
	retDone := make(chan struct{})
	go func() {
		defer close(retDone)
		scheduler.Retention{Store: st, Keep: cfg.HistoryRetention, Every: time.Hour, Logger: log}.Run(retCtx)
	}()
	defer func() { stopRetention(); <-retDone }()
	httpErr := make(chan error, 2)
	if metricsSrv != nil {
		go func() { httpErr <- metricsSrv.Serve(metricsLn) }()
		log.Info("serving", "listen", ln.Addr().String(), "metrics_listen", metricsLn.Addr().String(), "version", version)
	} else {
		log.Info("serving", "listen", ln.Addr().String(), "version", version)
	}
	go func() { httpErr <- httpSrv.Serve(ln) }()

	select {
	case <-ctx.Done():
	case err = <-httpErr:
	}
	log.Info("shutting down")
	stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	// Scans in flight are cancelled, recorded aborted, and retried later.
	stopErr := sched.Stop(stopCtx)
	shutErr := httpSrv.Shutdown(stopCtx)
	if metricsSrv != nil {
		shutErr = errors.Join(shutErr, metricsSrv.Shutdown(stopCtx))
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return errors.Join(err, stopErr, shutErr)
}

func migrateOnStart(cfg *serveConfig, log *slog.Logger) error {
	m, err := store.NewMigrator(cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer m.Close()
	if cfg.NoMigrate {
		ok, err := m.Current()
		if err != nil {
			return err
		}
		if !ok {
			return errors.New("database schema is not current and --no-migrate is set: run tagdrift migrate up")
		}
		return nil
	}
	if err := m.Up(); err != nil {
		return err
	}
	v, _, err := m.Version()
	log.Info("database schema", "version", v)
	return err
}

// clusterGroups reads --cluster-group CLUSTER=GROUP values into a map of cluster
// names to groups.
func clusterGroups(specs []string) (map[string]string, error) {
	out := make(map[string]string, len(specs))
	for _, spec := range specs {
		name, group, ok := strings.Cut(spec, "=")
		if !ok || name == "" {
			return nil, fmt.Errorf("want CLUSTER=GROUP, not %q", spec)
		}
		if err := store.ValidGroupName(group); err != nil {
			return nil, err
		}
		if g, ok := out[name]; ok && g != group {
			return nil, fmt.Errorf("cluster %q is given two groups, %q and %q", name, g, group)
		}
		out[name] = group
	}
	return out, nil
}

func clusterGroupsErr(specs []string) error {
	_, err := clusterGroups(specs)
	return err
}

// registerCluster registers FILE[:CONTEXT] as a cluster named after its context, in
// the group groups gives that name (the default group when none), scanned every
// interval or watched (mode), unless a cluster of that name exists; the registration
// is audited. It returns the cluster's name.
func registerCluster(ctx context.Context, st *store.Store, spec string, groups map[string]string, policy kubeconfig.Policy,
	interval time.Duration, mode string, log *slog.Logger) (string, error) {
	file, contextName := spec, ""
	if i := strings.LastIndexByte(spec, ':'); i > 0 {
		if _, err := os.Stat(spec); err != nil {
			file, contextName = spec[:i], spec[i+1:]
		}
	}
	raw, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("--cluster-kubeconfig %s: %w", spec, err)
	}
	reduced, err := kubeconfig.Vet(raw, contextName, policy)
	if err != nil {
		return "", fmt.Errorf("--cluster-kubeconfig %s: %w", spec, err)
	}
	creds, err := json.Marshal(reduced)
	if err != nil {
		return "", err
	}
	group := groups[reduced.Context]
	registered, err := st.RegisterCluster(ctx, store.NewCluster{
		Name: reduced.Context, Server: reduced.Server, Context: reduced.Context,
		Credentials: creds, ScanInterval: interval, Enabled: true, Group: group, ScanMode: mode,
	}, store.Audit{Actor: "serve:--cluster-kubeconfig"})
	if errors.Is(err, store.ErrConflict) {
		log.Info("cluster already registered", "cluster", reduced.Context)
		// A registered cluster is changed through the API, never by a restart: say
		// when the flags ask for another group or scan mode than it has.
		if c, err := st.ClusterByName(ctx, reduced.Context); err == nil {
			if group != "" && c.Group != group {
				log.Warn("cluster already registered in another group; --cluster-group changes only a new registration",
					"cluster", c.Name, "group", c.Group, "flag", group)
			}
			if c.ScanMode != mode {
				log.Warn("cluster already registered in another scan mode; --scan-mode changes only a new registration",
					"cluster", c.Name, "scan_mode", c.ScanMode, "flag", mode)
			}
		}
		return reduced.Context, nil
	}
	if err != nil {
		return "", fmt.Errorf("--cluster-kubeconfig %s: %w", spec, err)
	}
	log.Info("cluster registered", "cluster", reduced.Context, "server", reduced.Server, "group", registered.Group, "scan_mode", registered.ScanMode)
	return reduced.Context, nil
}
