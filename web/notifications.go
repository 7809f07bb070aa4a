package web

import (
	"strconv"
	"time"
)

// AdminNotifications is the notifications tab.
const AdminNotifications = "notifications"

// ChannelRow is a notification channel as the admin pages list it: never its secret.
type ChannelRow struct {
	ID                    int64
	Name, Kind            string
	Enabled, HasSecret    bool
	LastStatus, LastError string // "" when it has no delivery yet
	LastAt                time.Time
	Failed                int
}

// ChannelForm is the form that registers or edits a channel, as typed (never the
// secret), with its refusals.
type ChannelForm struct {
	Name, Kind, Config                             string
	Enabled                                        bool
	NameError, KindError, ConfigError, SecretError string
}

// TestResult is the outcome of a test message.
type TestResult struct {
	Channel    string
	Delivered  bool
	ErrorClass string
}

// ChannelKinds are the kinds a channel may be, with what its config and secret hold.
var ChannelKinds = [][3]string{
	{"slack", `{}`, "the incoming webhook URL"},
	{"webhook", `{"url": "https://receiver.example/hook"}`, "the signing secret, whsec_…"},
	{"alertmanager", `{"url": "http://alertmanager:9093", "username": ""}`, "the basic auth password, optional"},
	{"pagerduty", `{"severity": "warning"}`, "the integration's routing key"},
	{"email", `{"host": "smtp.example.com", "port": 587, "username": "tagdrift", "from": "tagdrift@example.com", "to": ["platform@example.com"]}`, "the SMTP password, optional"},
}

// ChannelsView is the notification channels page.
type ChannelsView struct {
	Channels []ChannelRow
	Form     ChannelForm
	Test     *TestResult
	Now      time.Time
}

// DeliveryRow is one line of a channel's delivery log.
type DeliveryRow struct {
	At                                time.Time
	Type, Status, ErrorClass, EventID string
	Attempts                          int
}

// ChannelView is one channel's page: its settings and its delivery log.
type ChannelView struct {
	Channel    ChannelRow
	Form       ChannelForm
	Deliveries []DeliveryRow
	Now        time.Time
}

// RouteRow is a notification route.
type RouteRow struct {
	ID                                  int64
	Channel, ClusterGroup, Kinds, Types string
	Matchers, GroupWait, RepeatInterval string
	SendBaseline, Enabled               bool
}

// RouteForm is the form that adds or edits a route, as typed, with its refusals.
type RouteForm struct {
	ChannelID                                         string
	ClusterGroup, Matchers, GroupWait, RepeatInterval string
	Kinds, Types                                      []string
	SendBaseline, Enabled                             bool
	Errors                                            map[string]string // by field
}

// RouteOptions are what a route's form chooses from.
type RouteOptions struct {
	Channels []ChannelRow
	Groups   []string
	Kinds    []string
	Types    []string
}

// RoutesView is the notification routes page: the routes, and the form that adds one.
type RoutesView struct {
	RouteOptions
	Routes []RouteRow
	Form   RouteForm
}

// RouteView is one route's page: the form that edits it.
type RouteView struct {
	RouteOptions
	Route RouteRow
	Form  RouteForm
}

// ChannelURL is a channel's page, or the URL an action on it posts to.
func ChannelURL(id int64, action string) string {
	u := "/admin/notifications/channels/" + strconv.FormatInt(id, 10)
	if action != "" {
		u += "/" + action
	}
	return u
}

// RoutesURL is the notification routes page.
const RoutesURL = "/admin/notifications/routes"

// RouteURL is a route's page (action ""), or the URL an action on it posts to.
func RouteURL(id int64, action string) string {
	u := RoutesURL + "/" + strconv.FormatInt(id, 10)
	if action != "" {
		u += "/" + action
	}
	return u
}

func contains(s []string, x string) bool {
	for _, v := range s {
		if v == x {
			return true
		}
	}
	return false
}
