package scheduler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"

	"github.com/tagdrift/tagdrift/scanner/annotate"
	"github.com/tagdrift/tagdrift/scanner/inventory"
	"github.com/tagdrift/tagdrift/scanner/kube"
	"github.com/tagdrift/tagdrift/store"
)

// annotate writes a scan's verdict onto the cluster's ReplicaSets when the cluster's
// annotate mode is on, and removes what tagdrift wrote there when it is off. Its
// outcome is recorded with the scan, which stands whatever happens here.
func (w *scanWorker) annotate(ctx context.Context, cluster store.Cluster, scanID int64, restCfg *rest.Config,
	res kube.Result, log *slog.Logger) {
	cfg := w.s.cfg
	st := cfg.Store
	// The mode may have changed while the cluster was listed.
	if fresh, err := st.ClusterByID(ctx, cluster.ID); err == nil {
		cluster = fresh
	}
	rss := make([]annotate.ReplicaSet, len(res.ReplicaSets))
	for i := range res.ReplicaSets {
		rss[i] = annotate.FromMetadata(&res.ReplicaSets[i].ObjectMeta)
	}
	var plan annotate.Plan
	if cluster.Annotate != "on" {
		if plan.Patches = annotate.Cleanup(rss); len(plan.Patches) == 0 {
			return
		}
	} else {
		var err error
		if plan, err = w.plan(ctx, cluster, res.Pods, rss); err != nil {
			log.Error("plan annotation", "error", err.Error())
			if err := st.RecordAnnotation(context.WithoutCancel(ctx), scanID, cluster.ID, nil, nil, 0,
				"annotation not planned: the database did not answer; the next scan tries again", cfg.Now()); err != nil {
				log.Error("record annotation", "error", err.Error())
			}
			return
		}
	}
	client, err := annotate.NewClient(restCfg, log)
	if err != nil {
		log.Error("annotate", "error", err.Error())
		return
	}
	result, applyErr := client.Apply(ctx, plan)
	var warned, ended []store.AnnotationWarning
	for _, e := range result.Warned {
		if id, err := strconv.ParseInt(e.Key, 10, 64); err == nil {
			warned = append(warned, store.AnnotationWarning{MutationID: id, Namespace: e.Namespace, ReplicaSet: e.ReplicaSet, ReplicaSetUID: string(e.UID)})
		}
	}
	for _, e := range result.Resolved {
		if id, err := strconv.ParseInt(e.Key, 10, 64); err == nil {
			ended = append(ended, store.AnnotationWarning{MutationID: id, ReplicaSetUID: string(e.UID)})
		}
	}
	if applyErr == nil {
		for _, f := range plan.Forget {
			if id, err := strconv.ParseInt(f.Key, 10, 64); err == nil {
				ended = append(ended, store.AnnotationWarning{MutationID: id, ReplicaSetUID: string(f.UID)})
			}
		}
	}
	msg := ""
	if applyErr != nil {
		msg = describe(applyErr)
		log.Warn("annotate", "error", applyErr.Error(), "patched", result.Patched)
	}
	if err := st.RecordAnnotation(context.WithoutCancel(ctx), scanID, cluster.ID, warned, ended, client.Writes(), msg, cfg.Now()); err != nil {
		log.Error("record annotation", "error", err.Error())
		return
	}
	log.Info("annotated", "patched", result.Patched, "gone", result.Gone, "warned", len(result.Warned),
		"resolved", len(result.Resolved), "writes", client.Writes())
}

// plan reads the mutations not resolved (open, acknowledged, expected: the annotation
// tells them apart) and the warnings sent, and plans the cluster's annotation.
func (w *scanWorker) plan(ctx context.Context, cluster store.Cluster, pods []inventory.Pod, rss []annotate.ReplicaSet) (annotate.Plan, error) {
	st := w.s.cfg.Store
	open, err := st.OpenMutationsTouching(ctx, cluster.ID)
	if err != nil {
		return annotate.Plan{}, err
	}
	sent, err := st.AnnotationWarnings(ctx, cluster.ID)
	if err != nil {
		return annotate.Plan{}, err
	}
	in := annotate.Input{Cluster: cluster.Name, Pods: pods, ReplicaSets: rss, ExternalURL: w.s.cfg.ExternalURL}
	for _, m := range open {
		in.Mutations = append(in.Mutations, annotate.Mutation{
			Key: strconv.FormatInt(m.ID, 10), Kind: m.Kind, State: m.State, Container: m.Container, Ref: m.Ref,
			Digests: m.Digests, Places: m.Places,
		})
	}
	for _, s := range sent {
		in.Warnings = append(in.Warnings, annotate.Warning{
			Key: strconv.FormatInt(s.MutationID, 10), Namespace: s.Namespace, ReplicaSet: s.ReplicaSet, UID: types.UID(s.ReplicaSetUID),
		})
	}
	return annotate.Make(in), nil
}

// describe is the annotation error as recorded with the scan: tagdrift's own words,
// never what the cluster answered.
func describe(err error) string {
	switch {
	case errors.Is(err, annotate.ErrForbidden):
		return "annotation refused: " + annotate.ErrForbidden.Error()
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return "annotation cut short by the scan's time limit; the next scan continues it"
	default:
		return "annotation incomplete: some writes failed (the service log has each); the next scan tries again"
	}
}

// unannotateTimeout bounds the removal of tagdrift's keys from a cluster.
const unannotateTimeout = time.Minute

// Unannotate removes the labels and annotations tagdrift wrote on a cluster's
// ReplicaSets (only its own keys): when annotation is turned off, and before the
// cluster is deleted from tagdrift, while its credentials are still at hand. A scan
// of a cluster whose mode is off removes what is left.
func (s *Scheduler) Unannotate(ctx context.Context, clusterID int64) error {
	ctx, cancel := context.WithTimeout(ctx, unannotateTimeout)
	defer cancel()
	c, err := s.cfg.Store.ClusterByID(ctx, clusterID)
	if err != nil {
		return fmt.Errorf("unannotate cluster %d: %w", clusterID, err)
	}
	restCfg, err := s.restConfig(ctx, c)
	if err != nil {
		return fmt.Errorf("unannotate cluster %s: %w", c.Name, err)
	}
	client, err := annotate.NewClient(restCfg, s.cfg.Logger)
	if err != nil {
		return fmt.Errorf("unannotate cluster %s: %w", c.Name, err)
	}
	rss, err := client.ReplicaSets(ctx)
	if err != nil {
		return fmt.Errorf("unannotate cluster %s: %w", c.Name, err)
	}
	res, err := client.Apply(ctx, annotate.Plan{Patches: annotate.Cleanup(rss)})
	if err != nil {
		return fmt.Errorf("unannotate cluster %s: %w", c.Name, err)
	}
	s.cfg.Logger.Info("unannotated", "cluster", c.Name, "patched", res.Patched, "gone", res.Gone)
	return nil
}
