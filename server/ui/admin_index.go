package ui

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/tagdrift/tagdrift/server/request"
	"github.com/tagdrift/tagdrift/store"
	"github.com/tagdrift/tagdrift/web"
)

// adminIndex is /admin: every admin page with what it holds, counted from small tables
// (users, tokens, clusters, groups, channels, routes, rules, requests), and the newest
// audit event.
func (u *UI) adminIndex(w http.ResponseWriter, r *http.Request) error {
	if _, err := request.Parse(r.URL.RawQuery); err != nil {
		return err
	}
	ctx := r.Context()
	now := u.now()
	users, err := u.st.Users(ctx)
	if err != nil {
		return request.About(err, "list users")
	}
	toks, err := u.st.Tokens(ctx, 0, 1000)
	if err != nil {
		return request.About(err, "list tokens")
	}
	clusters, err := u.st.ClusterStatuses(ctx, scopeOf(ctx))
	if err != nil {
		return request.About(err, "list clusters")
	}
	groups, err := u.st.Groups(ctx, scopeOf(ctx))
	if err != nil {
		return request.About(err, "list groups")
	}
	channels, err := u.st.Channels(ctx)
	if err != nil {
		return request.About(err, "list channels")
	}
	routes, err := u.st.Routes(ctx, scopeOf(ctx))
	if err != nil {
		return request.About(err, "list routes")
	}
	rules, err := u.st.Rules(ctx, true, scopeOf(ctx))
	if err != nil {
		return request.About(err, "list rules")
	}
	requested, err := u.st.Acks(ctx, store.AckFilter{Status: store.AckRequested, Limit: ackListLimit, Scope: scopeOf(ctx)})
	if err != nil {
		return request.About(err, "list acknowledgement requests")
	}
	active, err := u.st.Acks(ctx, store.AckFilter{Status: store.AckActive, Limit: ackListLimit, Scope: scopeOf(ctx)})
	if err != nil {
		return request.About(err, "list acknowledgements")
	}
	latest, err := u.st.AuditEvents(ctx, 0, 1)
	if err != nil {
		return request.About(err, "read the audit trail")
	}

	admins, disabled := 0, 0
	for _, us := range users {
		if us.Role == store.RoleAdmin {
			admins++
		}
		if us.DisabledAt != nil {
			disabled++
		}
	}
	live, adminToks := 0, 0
	for _, t := range toks {
		if (web.TokenRow{RevokedAt: t.RevokedAt, ExpiresAt: t.ExpiresAt}).State(now) == "active" {
			live++
			if t.Role == store.RoleAdmin {
				adminToks++
			}
		}
	}
	stale, disabledClusters := 0, 0
	for _, cs := range clusters {
		if clusterHealth(cs, now).Stale {
			stale++
		}
		if !cs.Enabled {
			disabledClusters++
		}
	}
	empty := 0
	for _, g := range groups {
		if g.Clusters == 0 {
			empty++
		}
	}
	enabledChannels := 0
	for _, c := range channels {
		if c.Enabled {
			enabledChannels++
		}
	}
	audit := "nothing recorded yet"
	if len(latest) == 1 {
		e := latest[0]
		audit = fmt.Sprintf("newest: %s by %s, %s", e.Action, e.Actor, web.Ago(e.At, now))
	}
	v := web.AdminIndexView{Sections: []web.AdminSection{
		{ID: "users", Title: "Users", URL: web.AdminURL(web.AdminUsers),
			Counts: join(web.Plural(len(users), "user", "users"), countOf(admins, "admin", "admins"), countOf(disabled, "disabled", "disabled")),
			What:   "who signs in to this UI: add users, set their roles, disable or delete them."},
		{ID: "tokens", Title: "API tokens", URL: web.AdminURL(web.AdminTokens),
			Counts: join(web.Plural(live, "live token", "live tokens"), countOf(adminToks, "with the admin role", "with the admin role"), countOf(len(toks)-live, "revoked or expired", "revoked or expired")),
			What:   "bearer tokens of the API, the CLI and scripts: make one (its secret is shown once) or revoke it."},
		{ID: "clusters", Title: "Clusters", URL: "/clusters",
			Counts: join(web.Plural(len(clusters), "cluster", "clusters"), countOf(stale, "stale", "stale"), countOf(disabledClusters, "disabled", "disabled")),
			What:   "the clusters scanned: add one from its kubeconfig, change its interval, group and annotation, scan now, delete."},
		{ID: "groups", Title: "Cluster groups", URL: "/clusters",
			Counts: join(web.Plural(len(groups), "group", "groups"), countOf(empty, "empty", "empty")),
			What:   "clusters that share a tag's history (a tag moves within its group); a cluster's group is set on its edit form, groups are added and renamed with the API (/api/v1/groups)."},
		{ID: "channels", Title: "Notification channels", URL: web.AdminURL(web.AdminNotifications),
			Counts: join(web.Plural(len(channels), "channel", "channels"), countOf(len(channels)-enabledChannels, "disabled", "disabled")),
			What:   "where notifications go (webhook, Slack, PagerDuty, Alertmanager, e-mail): add, test, disable, and see their deliveries."},
		{ID: "routes", Title: "Notification routes", URL: web.AdminURL(web.AdminNotifications) + "/routes",
			Counts: web.Plural(len(routes), "route", "routes"),
			What:   "which mutations and events go to which channel, matched by kind, event type and labels (cluster, namespace, reference…), with their grouping waits."},
		{ID: "acks", Title: "Acknowledgements and rules", URL: "/acknowledgements",
			Counts: join(countOf(len(requested), "request waiting", "requests waiting"), web.Plural(len(active), "acknowledgement in force", "acknowledgements in force"), web.Plural(len(rules), "live rule", "live rules")),
			What:   "approve or deny viewers' requests, revoke acknowledgements, declare tags mutable."},
		{ID: "audit", Title: "Audit trail", URL: web.AdminURL(web.AdminAudit),
			Counts: audit,
			What:   "every change and sign-in, who made it and from where, filtered by actor, action, target and time."},
	}}
	return u.render(w, r, http.StatusOK, u.meta(r, "Admin", web.NavAdmin), web.AdminIndex(v))
}

// countOf is Plural, or "" for none: a count worth saying only when not zero.
func countOf(n int, one, many string) string {
	if n == 0 {
		return ""
	}
	return web.Plural(n, one, many)
}

// join joins the parts that are not empty with commas.
func join(parts ...string) string {
	var out []string
	for _, p := range parts {
		if p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, ", ")
}
