package request

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/prometheus/alertmanager/pkg/labels"

	"github.com/tagdrift/tagdrift/notify"
	"github.com/tagdrift/tagdrift/scanner/detect"
	"github.com/tagdrift/tagdrift/scanner/inventory"
	"github.com/tagdrift/tagdrift/store"
)

// Notification channels and routes, as both faces edit them: the rules of their fields
// and the one way a channel is checked and sent a test message.

// ChannelKinds are the kinds of channel, in the order forms offer them.
var ChannelKinds = []string{notify.KindSlack, notify.KindWebhook, notify.KindAlertmanager, notify.KindPagerDuty, notify.KindEmail}

// Limits of notification fields.
const (
	MaxChannelName   = 100
	MaxChannelConfig = 16 << 10
	MaxChannelSecret = 4 << 10
	MaxMatchers      = 4 << 10
	// DefaultGroupWait is a new route's group wait.
	DefaultGroupWait = 30 * time.Second
	// MaxGroupWait bounds a route's group wait: a message later than this is no news.
	MaxGroupWait = 24 * time.Hour
	// MinRepeatInterval bounds how often a route repeats what is still open.
	MinRepeatInterval = time.Minute
)

// Builder turns a channel's kind, settings and secret into the sender that delivers to
// it, refusing settings it cannot use with an error whose text is meant for the admin
// and quotes no secret (the delivery pipeline's notify.Build behind it, with the HTTP
// client and address policy of the service).
type Builder func(kind string, config json.RawMessage, secret []byte) (notify.Sender, error)

// Notifier checks channels and sends their test messages. The router makes one and
// hands it to both faces.
type Notifier struct {
	// Build builds senders; nil: settings are stored as given (only their shape is
	// checked) and test messages cannot be sent.
	Build Builder
	// Timeout bounds a test message. Default notify.DefaultAttemptTimeout.
	Timeout time.Duration
}

// FieldError is a refused field of a channel or a route: Field names it as the API's
// JSON does (name, kind, config, secret; channelId, clusterGroup, kinds, types,
// matchers, groupWait, repeatInterval), so that a form can show it next to its input.
type FieldError struct {
	Field string
	Err   *Error
}

func (e *FieldError) Error() string { return e.Err.Error() }
func (e *FieldError) Unwrap() error { return e.Err }

// Detail is the refusal, for the admin.
func (e *FieldError) Detail() string { return e.Err.Detail }

// asField names the field of a client error; other errors stay as they are.
func asField(field string, err error) error {
	var he *Error
	if errors.As(err, &he) {
		return &FieldError{Field: field, Err: he}
	}
	return err
}

func fieldError(field, format string, args ...any) error {
	return &FieldError{Field: field, Err: Errorf(400, format, args...)}
}

// CheckChannel checks a channel's name, kind, settings and secret; secret nil keeps
// the one stored, which Build is then handed (stored, nil when there is none).
func (n Notifier) CheckChannel(name, kind string, config json.RawMessage, secret []byte) error {
	if err := CheckChannelName(name); err != nil {
		return err
	}
	if !slices.Contains(ChannelKinds, kind) {
		return fieldError("kind", "kind must be one of %s, not %q", strings.Join(ChannelKinds, ", "), kind)
	}
	if len(config) > MaxChannelConfig {
		return fieldError("config", "config larger than %d bytes", MaxChannelConfig)
	}
	if len(config) > 0 {
		var obj map[string]any
		if err := json.Unmarshal(config, &obj); err != nil || obj == nil {
			return fieldError("config", "config must be a JSON object")
		}
	}
	if len(secret) > MaxChannelSecret {
		return fieldError("secret", "secret larger than %d bytes", MaxChannelSecret)
	}
	if n.Build == nil {
		return nil
	}
	if _, err := n.Build(kind, config, secret); err != nil {
		var ce *notify.ChannelError
		if errors.As(err, &ce) {
			// Its words are meant for the admin and quote neither secret nor URL.
			field := "config"
			if ce.Field == "secret" {
				field = "secret"
			}
			return fieldError(field, "%s", ce.Error())
		}
		return fmt.Errorf("check %s channel: %w", kind, err)
	}
	return nil
}

// CheckChannelName refuses a name that is empty, longer than MaxChannelName characters
// or has control characters.
func CheckChannelName(name string) error {
	if strings.TrimSpace(name) == "" || utf8.RuneCountInString(name) > MaxChannelName || !utf8.ValidString(name) ||
		strings.ContainsFunc(name, unicode.IsControl) {
		return fieldError("name", "name must be 1 to %d characters without control characters", MaxChannelName)
	}
	return nil
}

// TestOutcome is what sending a test message came to: delivered, or the error class
// tagdrift gives the failure (never what the receiver said).
type TestOutcome struct {
	Delivered  bool
	ErrorClass string
	Retryable  bool
	Duration   time.Duration
}

// ErrNoSender is returned by Test when the service cannot build senders.
var ErrNoSender = Errorf(503, "this server cannot send notifications: no sender is configured")

// Test sends a test message through a channel once, without retrying.
func (n Notifier) Test(ctx context.Context, c store.Channel, secret []byte, now time.Time) (TestOutcome, error) {
	if n.Build == nil {
		return TestOutcome{}, ErrNoSender
	}
	sender, err := n.Build(c.Kind, c.Config, secret)
	if err != nil {
		return TestOutcome{Delivered: false, ErrorClass: "bad-config"}, nil
	}
	timeout := n.Timeout
	if timeout <= 0 {
		timeout = notify.DefaultAttemptTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := time.Now()
	err = sender.Send(ctx, TestPayload(c, now))
	out := TestOutcome{Delivered: err == nil, Duration: time.Since(start)}
	if err != nil {
		out.ErrorClass, out.Retryable = ErrorClass(err), notify.Retryable(err)
	}
	return out, nil
}

// ErrorClass is a sender's failure in tagdrift's words: the class of a *notify.Error,
// else "error" (the error itself may quote what it should not).
func ErrorClass(err error) string {
	var ne *notify.Error
	if errors.As(err, &ne) && ne.Class != "" {
		return ne.Class
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "timeout"
	}
	return "error"
}

// TestPayload is the test message of channel c: a tag-moved event, born resolved, so
// that no receiver opens anything that must be closed, whose text says it is a test.
func TestPayload(c store.Channel, now time.Time) notify.Payload {
	now = now.UTC().Truncate(time.Second)
	m := notify.Mutation{ID: 0, DetectedAt: now, ResolvedAt: &now, Mutation: detect.Mutation{
		Kind: detect.TagMoved, Cluster: "tagdrift-test", Namespace: "test",
		Workload:  inventory.Workload{Kind: "Deployment", Name: "test-message"},
		Container: "app", Ref: "example.com/tagdrift/test-message:latest",
		Digests: []string{
			"sha256:" + strings.Repeat("0", 64),
			"sha256:" + strings.Repeat("1", 64),
		},
	}}
	return notify.NewPayload(notify.Event{
		ID: fmt.Sprintf("test_%d_%d", c.ID, now.UnixNano()), Type: notify.EventRecorded, At: now, Mutation: m,
	}, notify.PayloadConfig{})
}

// EventTypes are the notification event types, as routes name them.
func EventTypes() []string {
	out := make([]string, len(notify.Types))
	for i, t := range notify.Types {
		out[i] = string(t)
	}
	return out
}

// MutationKinds are the mutation kinds, as routes name them.
func MutationKinds() []string {
	var out []string
	for _, k := range detect.Kinds() {
		out = append(out, string(k))
	}
	return out
}

// RouteFields is a route as a form or a request gives it, before it is checked.
type RouteFields struct {
	ChannelID      int64
	ClusterGroup   string
	Kinds, Types   []string
	Matchers       string
	GroupWait      string // a duration; "" is DefaultGroupWait
	RepeatInterval string // a duration; "" is never
	SendBaseline   bool
	Enabled        bool
}

// CheckRoute checks f and returns it as the store's route; groups are the names of
// the cluster groups there are.
func CheckRoute(f RouteFields, groups []string) (store.Route, error) {
	r := store.Route{
		ChannelID: f.ChannelID, ClusterGroup: f.ClusterGroup, Matchers: strings.TrimSpace(f.Matchers),
		SendBaseline: f.SendBaseline, Enabled: f.Enabled, GroupWait: DefaultGroupWait,
	}
	if f.ChannelID <= 0 {
		return store.Route{}, fieldError("channelId", "channelId must be a channel's id")
	}
	if r.ClusterGroup != "" && !slices.Contains(groups, r.ClusterGroup) {
		return store.Route{}, fieldError("clusterGroup", "clusterGroup %q is not a cluster group; leave it empty for all clusters", r.ClusterGroup)
	}
	kinds := MutationKinds()
	for _, k := range f.Kinds {
		if !slices.Contains(kinds, k) {
			return store.Route{}, fieldError("kinds", "kinds: %q is not one of %s", k, strings.Join(kinds, ", "))
		}
		if !slices.Contains(r.Kinds, k) {
			r.Kinds = append(r.Kinds, k)
		}
	}
	types := EventTypes()
	for _, t := range f.Types {
		if !slices.Contains(types, t) {
			return store.Route{}, fieldError("types", "types: %q is not one of %s", t, strings.Join(types, ", "))
		}
		if !slices.Contains(r.Types, t) {
			r.Types = append(r.Types, t)
		}
	}
	if err := CheckMatchers(r.Matchers); err != nil {
		return store.Route{}, err
	}
	if f.GroupWait != "" {
		d, err := ParseDuration("groupWait", f.GroupWait, 0)
		if err != nil {
			return store.Route{}, asField("groupWait", err)
		}
		if d > MaxGroupWait {
			return store.Route{}, fieldError("groupWait", "groupWait must be at most %s, not %s", FormatDuration(MaxGroupWait), f.GroupWait)
		}
		r.GroupWait = d
	}
	if f.RepeatInterval != "" {
		d, err := ParseDuration("repeatInterval", f.RepeatInterval, MinRepeatInterval)
		if err != nil {
			return store.Route{}, asField("repeatInterval", err)
		}
		r.RepeatInterval = d
	}
	return r, nil
}

// CheckMatchers parses matchers in Alertmanager's syntax (cluster=~"prod-.*",
// kind!="pin-mismatch"); "" matches all.
func CheckMatchers(s string) error {
	if len(s) > MaxMatchers {
		return fieldError("matchers", "matchers longer than %d bytes", MaxMatchers)
	}
	if strings.TrimSpace(s) == "" {
		return nil
	}
	if _, err := labels.ParseMatchers(s); err != nil {
		return fieldError("matchers", "matchers: %s (write them as Alertmanager does: cluster=~\"prod-.*\", kind!=\"pin-mismatch\")", err.Error())
	}
	return nil
}

// Audit actions on notification channels and routes: the store records them with
// each change, in its transaction; the API and the UI record a test message.
const (
	ActionChannelCreate = store.ActionChannelCreate
	ActionChannelUpdate = store.ActionChannelUpdate
	ActionChannelDelete = store.ActionChannelDelete
	ActionChannelTest   = store.ActionChannelTest
	ActionRouteCreate   = store.ActionRouteCreate
	ActionRouteUpdate   = store.ActionRouteUpdate
	ActionRouteDelete   = store.ActionRouteDelete
)

// DeliveryLogLimit is how many deliveries a channel's log shows by default.
const DeliveryLogLimit = 50
