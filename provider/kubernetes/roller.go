package kubernetes

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/agentops/progressive"
)

// RollTo updates the stable Deployment in place until updated of its pods run
// release, batch by batch, with the Deployment controller doing the work:
//
//   - It writes the new pod template (the release's image, VersionLabel,
//     ReleaseAnnotation) with a RollingUpdate strategy whose maxSurge and
//     maxUnavailable are params clamped to the batch (so the controller's first
//     wave never exceeds it), and unpauses the Deployment. The strategy the
//     Deployment had before is kept in PreviousStrategyAnnotation for Undo.
//   - It waits until the controller has given the new ReplicaSet updated pods
//     (not until they are ready: that is RollStatus's job), then pauses the
//     Deployment (spec.paused), so the next batch waits for the plan's next
//     RollTo. The last batch (updated >= replicas) leaves it unpaused to finish.
//
// A Deployment cannot stop at an exact pod count, so a batch may overshoot by
// one wave of the controller when pods become ready faster than the pause
// lands; RollStatus reports what happened. While paused between batches the old
// pods of the batch are still running (the surge), so capacity never drops
// below the Deployment's replicas when maxUnavailable is 0.
func (w *Workload) RollTo(ctx context.Context, t progressive.Target, release progressive.Release, updated int, params progressive.RollingParams) error {
	if updated < 0 || params.MaxSurge < 0 || params.MaxUnavailable < 0 {
		return fmt.Errorf("kubernetes: roll %s to %d pods with maxSurge %d, maxUnavailable %d: must not be negative: %w", t, updated, params.MaxSurge, params.MaxUnavailable, errInvalid)
	}
	if params.MaxSurge == 0 && params.MaxUnavailable == 0 {
		return fmt.Errorf("kubernetes: roll %s: maxSurge and maxUnavailable must not both be 0: %w", t, errInvalid)
	}
	p := w.p
	d, err := p.fetchStable(ctx, t)
	if err != nil {
		return err
	}
	desired := *d.Spec.Replicas
	want := min(int32(updated), desired)
	tpl := d.Spec.Template.DeepCopy()
	if err := applyRelease(tpl, release, ""); err != nil {
		return err
	}
	rss, err := p.replicaSets(ctx, t.Namespace, d.Spec.Selector, d)
	if err != nil {
		return err
	}
	var have int32
	for i := range rss[d.UID] {
		if rs := &rss[d.UID][i]; templatesEqual(&rs.Spec.Template, tpl) && rs.Spec.Replicas != nil {
			have = max(have, *rs.Spec.Replicas)
		}
	}
	last := want >= desired
	if have >= want && !last && templatesEqual(&d.Spec.Template, tpl) {
		// Reached already (a resumed runner, or an overshoot): hold here.
		return p.pause(ctx, t, true)
	}
	strategy := batchStrategy(params, max(want-have, 1))
	d, err = p.updateDeployment(ctx, t.Namespace, t.Name, func(d *appsv1.Deployment) (bool, error) {
		if !templatesEqual(&d.Spec.Template, tpl) {
			if _, ok := d.Annotations[PreviousStrategyAnnotation]; !ok {
				prev, _ := json.Marshal(d.Spec.Strategy)
				if d.Annotations == nil {
					d.Annotations = map[string]string{}
				}
				d.Annotations[PreviousStrategyAnnotation] = string(prev)
			}
			d.Spec.Template = *tpl
			delete(d.Annotations, UndoneToAnnotation)
		}
		d.Spec.Strategy = strategy
		d.Spec.Paused = false
		return true, nil
	})
	if err != nil {
		return err
	}
	p.event(d, corev1.EventTypeNormal, "Rolling", "updating until %d of %d pods run %s (maxSurge %s, maxUnavailable %s)",
		want, desired, release, strategy.RollingUpdate.MaxSurge.String(), strategy.RollingUpdate.MaxUnavailable.String())
	if last || p.opts.DryRun {
		return nil
	}
	current := d.Spec.Template
	err = p.poll(ctx, p.opts.BatchTimeout, func(ctx context.Context) (bool, string, error) {
		rss, err := p.replicaSets(ctx, t.Namespace, d.Spec.Selector, d)
		if err != nil {
			return false, "", err
		}
		for _, rs := range rss[d.UID] {
			if templatesEqual(&rs.Spec.Template, &current) && rs.Spec.Replicas != nil && *rs.Spec.Replicas >= want {
				return true, "", nil
			}
		}
		return false, fmt.Sprintf("kubernetes: the Deployment controller has not created %d updated pods of %s", want, t), nil
	})
	if perr := p.pause(ctx, t, true); perr != nil {
		return perr
	}
	return err
}

// batchStrategy clamps params to a batch: maxSurge at most the batch, maxUnavailable
// at most what the batch leaves, never both zero.
func batchStrategy(params progressive.RollingParams, batch int32) appsv1.DeploymentStrategy {
	surge := min(int32(params.MaxSurge), batch)
	unavailable := min(int32(params.MaxUnavailable), batch-surge)
	if surge+unavailable == 0 {
		if params.MaxSurge > 0 {
			surge = 1
		} else {
			unavailable = 1
		}
	}
	s, u := intstr.FromInt32(surge), intstr.FromInt32(unavailable)
	return appsv1.DeploymentStrategy{
		Type:          appsv1.RollingUpdateDeploymentStrategyType,
		RollingUpdate: &appsv1.RollingUpdateDeployment{MaxSurge: &s, MaxUnavailable: &u},
	}
}

func (p *Provider) pause(ctx context.Context, t progressive.Target, paused bool) error {
	patch := fmt.Sprintf(`{"spec":{"paused":%t}}`, paused)
	out, err := p.cs.AppsV1().Deployments(t.Namespace).Patch(ctx, t.Name, types.MergePatchType, []byte(patch), p.patchOpts())
	if err == nil {
		p.wroteDeployment(out)
	}
	return classify(err, "kubernetes: set paused=%t on Deployment %s", paused, t)
}

// RollStatus reads the stable Deployment and its ReplicaSets: Desired replicas,
// the pods of the current template (Updated) and how many of them are ready, the
// pods of any template failing readiness (Unready), and the current revision.
func (w *Workload) RollStatus(ctx context.Context, t progressive.Target) (progressive.RollStatus, error) {
	d, err := w.p.fetchStable(ctx, t)
	if err != nil {
		return progressive.RollStatus{}, err
	}
	rss, err := w.p.replicaSets(ctx, t.Namespace, d.Spec.Selector, d)
	if err != nil {
		return progressive.RollStatus{}, err
	}
	st := progressive.RollStatus{Desired: int(*d.Spec.Replicas), Revision: revisionOf(d)}
	if rs := currentReplicaSet(d, rss[d.UID]); rs != nil {
		st.Updated = int(rs.Status.Replicas)
		st.UpdatedReady = int(rs.Status.ReadyReplicas)
	}
	for _, rs := range rss[d.UID] {
		st.Unready += int(rs.Status.Replicas - rs.Status.ReadyReplicas)
	}
	return st, nil
}

// Undo does what kubectl rollout undo [--to-revision] does: it copies the pod
// template of the ReplicaSet of revision (the previous revision when 0) into the
// Deployment, which then rolls back with the controller's own rolling update. It
// also unpauses the Deployment and restores the strategy RollTo replaced. An
// unknown revision is progressive.ErrNotFound; undoing to the current template
// changes nothing but that.
func (w *Workload) Undo(ctx context.Context, t progressive.Target, revision int64) error {
	if revision < 0 {
		return fmt.Errorf("kubernetes: undo %s to revision %d: must not be negative: %w", t, revision, errInvalid)
	}
	p := w.p
	d, err := p.fetchStable(ctx, t)
	if err != nil {
		return err
	}
	rss, err := p.replicaSets(ctx, t.Namespace, d.Spec.Selector, d)
	if err != nil {
		return err
	}
	owned := rss[d.UID]
	current := revisionOf(d)
	var to *appsv1.ReplicaSet
	for i := range owned {
		r := revisionOf(&owned[i])
		switch {
		case revision > 0 && r == revision:
			to = &owned[i]
		case revision == 0 && r < current && (to == nil || r > revisionOf(to)):
			to = &owned[i]
		}
	}
	if to == nil && revision > 0 && d.Annotations[UndoneToAnnotation] == strconv.FormatInt(revision, 10) {
		// Undone already; the revision is the newest now, under another number.
		return nil
	}
	if to == nil {
		known := make([]string, 0, len(owned))
		for _, r := range revisions(owned) {
			known = append(known, fmt.Sprint(r))
		}
		what := fmt.Sprintf("revision %d", revision)
		if revision == 0 {
			what = fmt.Sprintf("a revision before %d", current)
		}
		return fmt.Errorf("kubernetes: undo %s: %s is not in the ReplicaSet history (revisions: %s): %w", t, what, strings.Join(known, ", "), errNotFound)
	}
	tpl := to.Spec.Template.DeepCopy()
	delete(tpl.Labels, podTemplateHashLabel)
	toRev := revisionOf(to)
	d, err = p.updateDeployment(ctx, t.Namespace, t.Name, func(d *appsv1.Deployment) (bool, error) {
		prev, hasPrev := d.Annotations[PreviousStrategyAnnotation]
		if templatesEqual(&d.Spec.Template, tpl) && !d.Spec.Paused && !hasPrev {
			return false, nil
		}
		d.Spec.Template = *tpl
		d.Spec.Paused = false
		if d.Annotations == nil {
			d.Annotations = map[string]string{}
		}
		d.Annotations[UndoneToAnnotation] = strconv.FormatInt(toRev, 10)
		if hasPrev {
			var s appsv1.DeploymentStrategy
			if json.Unmarshal([]byte(prev), &s) == nil && s.Type != "" {
				d.Spec.Strategy = s
			}
			delete(d.Annotations, PreviousStrategyAnnotation)
		}
		return true, nil
	})
	if err != nil {
		return err
	}
	p.event(d, corev1.EventTypeWarning, "Undone", "rolled back to revision %d (%s)", toRev, versionOf(tpl))
	return nil
}
