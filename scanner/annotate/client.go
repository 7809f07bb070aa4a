package annotate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	apitypes "k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/tagdrift/tagdrift/scanner/kube"
)

// ErrForbidden means the cluster's credentials lack the rights annotation needs:
// patch on replicasets, create on events.
var ErrForbidden = errors.New("the credentials may not annotate: bind the ClusterRole tagdrift-annotator " +
	"(deploy/scanned-cluster-annotate) to tagdrift's user in this cluster")

// Write rate of the annotation client: patches are spread out so that a cluster of
// thousands of ReplicaSets, annotated the first time, never floods its API server.
const (
	WriteQPS   = 20
	writeBurst = 40
)

// Client writes annotations and Events to one cluster. What the cluster answers is
// bounded as a scan's listing is (package kube): every response is capped, its
// listings are kube's, and the answers to its writes are read but never decoded.
type Client struct {
	core     rest.Interface
	apps     rest.Interface
	lister   *kube.Client
	log      *slog.Logger
	writes   atomic.Int64
	requests atomic.Int64
	now      func() time.Time
}

// NewClient makes a Client from cfg (a copy is changed: its rate limit, a request
// counter, and the cap on responses, which a config kube.Configure made has already).
func NewClient(cfg *rest.Config, log *slog.Logger) (*Client, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &Client{log: log, now: time.Now}
	cfg = rest.CopyConfig(cfg)
	cfg.QPS, cfg.Burst = WriteQPS, writeBurst
	cfg.Wrap(kube.LimitResponses(kube.MaxResponseBytes))
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper { return counter{rt, c} })
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("annotation client: %w", err)
	}
	lister, err := kube.NewClient("", cfg)
	if err != nil {
		return nil, fmt.Errorf("annotation client: %w", err)
	}
	c.core, c.apps, c.lister = cs.CoreV1().RESTClient(), cs.AppsV1().RESTClient(), lister
	return c, nil
}

// counter counts the requests the client sends, and those that write.
type counter struct {
	rt http.RoundTripper
	c  *Client
}

func (t counter) RoundTrip(r *http.Request) (*http.Response, error) {
	t.c.requests.Add(1)
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		t.c.writes.Add(1)
	}
	return t.rt.RoundTrip(r)
}

// Writes is how many write requests (patches, creates) the client has sent.
func (c *Client) Writes() int { return int(c.writes.Load()) }

// Requests is how many requests of any kind the client has sent.
func (c *Client) Requests() int { return int(c.requests.Load()) }

// ReplicaSets lists the cluster's ReplicaSets as a scan does (kube.Client.ReplicaSets):
// paginated, bounded, restarted at most a few times when a continue token expires,
// and keeping only what annotation reads.
func (c *Client) ReplicaSets(ctx context.Context) ([]ReplicaSet, error) {
	items, err := c.lister.ReplicaSets(ctx, "", "")
	if err != nil {
		return nil, err // a *kube.ListError: it names the list
	}
	out := make([]ReplicaSet, len(items))
	for i := range items {
		out[i] = FromMetadata(&items[i].ObjectMeta)
	}
	return out, nil
}

// Result is what Apply did.
type Result struct {
	Patched int
	// Gone counts ReplicaSets deleted (or replaced) between the listing and their patch.
	Gone int
	// Warned and Resolved are the Events sent.
	Warned   []Event
	Resolved []Event
}

// Apply sends a plan: the patches, then the Events (EventsFirst: the Events, then the
// patches of the ReplicaSets whose Events were all sent). A ReplicaSet that is gone is
// logged and skipped, and so are its Events: they would tell of a ReplicaSet that no
// longer exists (EventsFirst: each one an Event is for is looked up first). One whose
// patch fails for another reason is logged and skipped too, and the next scan tries
// again. Credentials without the
// rights stop it with ErrForbidden, after the first refusal: every other write would
// be refused too.
func (c *Client) Apply(ctx context.Context, plan Plan) (Result, error) {
	var res Result
	var failed []error
	goneUIDs := map[apitypes.UID]bool{}   // ReplicaSets whose patch found them gone
	unsentUIDs := map[apitypes.UID]bool{} // ReplicaSets with an Event that failed
	patch := func() error {
		for _, p := range plan.Patches {
			if unsentUIDs[p.UID] || goneUIDs[p.UID] {
				continue
			}
			err := c.patch(ctx, p)
			switch {
			case err == nil:
				res.Patched++
			case apierrors.IsForbidden(err):
				return fmt.Errorf("patch replicaset %s/%s: %w", p.Namespace, p.Name, ErrForbidden)
			case gone(err):
				res.Gone++
				goneUIDs[p.UID] = true
				c.log.Info("replicaset gone before its annotation", "namespace", p.Namespace, "replicaset", p.Name)
			case ctx.Err() != nil:
				return fmt.Errorf("annotate: %w", ctx.Err())
			default:
				c.log.Warn("annotate replicaset", "namespace", p.Namespace, "replicaset", p.Name, "error", err.Error())
				failed = append(failed, fmt.Errorf("patch replicaset %s/%s: %w", p.Namespace, p.Name, err))
			}
		}
		return nil
	}
	looked := map[apitypes.UID]bool{}
	send := func(events []Event, sent *[]Event) error {
		for _, e := range events {
			if plan.EventsFirst && !looked[e.UID] {
				looked[e.UID] = true
				there, err := c.exists(ctx, e)
				switch {
				case err == nil && !there:
					res.Gone++
					goneUIDs[e.UID] = true
					c.log.Info("replicaset gone before its annotation", "namespace", e.Namespace, "replicaset", e.ReplicaSet)
				case apierrors.IsForbidden(err):
					return fmt.Errorf("list replicasets in %s: %w", e.Namespace, ErrForbidden)
				case ctx.Err() != nil:
					return fmt.Errorf("annotate: %w", ctx.Err())
				case err != nil:
					unsentUIDs[e.UID] = true
					failed = append(failed, fmt.Errorf("look up replicaset %s/%s: %w", e.Namespace, e.ReplicaSet, err))
				}
			}
			if goneUIDs[e.UID] || plan.EventsFirst && unsentUIDs[e.UID] {
				continue
			}
			err := c.event(ctx, e)
			switch {
			case err == nil:
				*sent = append(*sent, e)
			case apierrors.IsForbidden(err):
				return fmt.Errorf("create event in %s: %w", e.Namespace, ErrForbidden)
			case ctx.Err() != nil:
				return fmt.Errorf("annotate: %w", ctx.Err())
			default:
				unsentUIDs[e.UID] = true
				c.log.Warn("record event", "namespace", e.Namespace, "replicaset", e.ReplicaSet, "reason", e.Reason, "error", err.Error())
				failed = append(failed, fmt.Errorf("create event on replicaset %s/%s: %w", e.Namespace, e.ReplicaSet, err))
			}
		}
		return nil
	}
	events := func() error {
		if err := send(plan.Warnings, &res.Warned); err != nil {
			return err
		}
		return send(plan.Resolutions, &res.Resolved)
	}
	steps := []func() error{patch, events}
	if plan.EventsFirst {
		steps = []func() error{events, patch}
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return res, err
		}
	}
	if len(failed) > 0 {
		return res, fmt.Errorf("%d of %d writes failed, the first: %w", len(failed),
			len(plan.Patches)+len(plan.Warnings)+len(plan.Resolutions), failed[0])
	}
	return res, nil
}

// gone tells a ReplicaSet deleted since the listing (not found) or replaced by another
// of the same name (its uid differs from the patch's: invalid, or a conflict).
func gone(err error) bool {
	return apierrors.IsNotFound(err) || apierrors.IsConflict(err) || apierrors.IsInvalid(err)
}

func (c *Client) patch(ctx context.Context, p Patch) error {
	body, err := p.Body()
	if err != nil {
		return err
	}
	// The answer, the patched ReplicaSet, is not needed: it is read (within the cap) and
	// dropped, never decoded.
	_, err = c.apps.Patch(apitypes.MergePatchType).Namespace(p.Namespace).Resource("replicasets").Name(p.Name).
		Param("fieldManager", FieldManager).Body(body).DoRaw(ctx)
	return err
}

// exists tells whether the ReplicaSet an Event is for is still there, the same one:
// listed by name, as the scanner's rights allow listing ReplicaSets, not getting one.
func (c *Client) exists(ctx context.Context, e Event) (bool, error) {
	items, err := c.lister.ReplicaSets(ctx, e.Namespace, "metadata.name="+e.ReplicaSet)
	if err != nil {
		return false, err
	}
	for _, rs := range items {
		if rs.UID == e.UID {
			return true, nil
		}
	}
	return false, nil
}

func (c *Client) event(ctx context.Context, e Event) error {
	now := metav1.NewTime(c.now())
	ev := &corev1.Event{
		ObjectMeta: metav1.ObjectMeta{GenerateName: e.ReplicaSet + ".", Namespace: e.Namespace},
		InvolvedObject: corev1.ObjectReference{
			APIVersion: "apps/v1", Kind: "ReplicaSet", Namespace: e.Namespace, Name: e.ReplicaSet, UID: e.UID,
		},
		Reason:              e.Reason,
		Message:             e.Message,
		Type:                e.Type,
		Source:              corev1.EventSource{Component: FieldManager},
		ReportingController: FieldManager,
		ReportingInstance:   FieldManager,
		Action:              "Scan",
		FirstTimestamp:      now,
		LastTimestamp:       now,
		Count:               1,
	}
	_, err := c.core.Post().Namespace(e.Namespace).Resource("events").Param("fieldManager", FieldManager).
		Body(ev).DoRaw(ctx)
	return err
}
