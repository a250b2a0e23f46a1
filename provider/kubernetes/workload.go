package kubernetes

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	appsv1ac "k8s.io/client-go/applyconfigurations/apps/v1"

	"github.com/agentops/progressive"
)

// Workload runs a rollout on apps/v1 Deployments. The Deployment named by the
// target is the stable side; the canary is a second Deployment, <name>-canary,
// made from it. It implements progressive.Workload and progressive.Roller.
type Workload struct{ p *Provider }

var (
	_ progressive.Workload = (*Workload)(nil)
	_ progressive.Roller   = (*Workload)(nil)
)

// Name returns "kubernetes".
func (w *Workload) Name() string { return Name }

// DeployCanary adopts the target (see Provider.Adopt), then creates or updates the
// canary Deployment with server-side apply: the stable Deployment's spec with the
// release's image in its container, RoleLabel=canary and VersionLabel on the pods,
// RoleLabel=canary added to the selector, and replicas pods. The Service does not
// select the canary's pods until the router says so.
func (w *Workload) DeployCanary(ctx context.Context, t progressive.Target, release progressive.Release, replicas int) error {
	if replicas < 0 {
		return fmt.Errorf("kubernetes: canary replicas %d: must not be negative: %w", replicas, errInvalid)
	}
	stable, err := w.p.adopt(ctx, t)
	if err != nil {
		return err
	}
	canary, err := w.p.canaryFrom(stable, t, release, int32(replicas))
	if err != nil {
		return err
	}
	if err := w.p.applyDeployment(ctx, canary); err != nil {
		return err
	}
	w.p.event(stable, corev1.EventTypeNormal, "CanaryDeployed", "canary %s deployed as %s with %d pod(s)", release, canary.Name, replicas)
	return nil
}

// canaryFrom builds the canary Deployment from the stable one.
func (p *Provider) canaryFrom(stable *appsv1.Deployment, t progressive.Target, release progressive.Release, replicas int32) (*appsv1.Deployment, error) {
	tpl := stable.Spec.Template.DeepCopy()
	if err := applyRelease(tpl, release, roleCanary); err != nil {
		return nil, err
	}
	sel := stable.Spec.Selector.DeepCopy()
	sel.MatchLabels = withRole(sel.MatchLabels, roleCanary)
	labels := maps.Clone(stable.Labels)
	if labels == nil {
		labels = map[string]string{}
	}
	labels[RoleLabel] = roleCanary
	labels[ManagedByLabel] = p.opts.FieldManager
	labels[ComponentLabel] = "canary"
	d := &appsv1.Deployment{
		TypeMeta: metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: metav1.ObjectMeta{
			Name:        CanaryName(t),
			Namespace:   t.Namespace,
			Labels:      labels,
			Annotations: map[string]string{TargetAnnotation: t.Name, ReleaseAnnotation: releaseJSON(release)},
			// Deleting the stable Deployment deletes its canary too.
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: stable.Name, UID: stable.UID}},
		},
		Spec: appsv1.DeploymentSpec{
			Replicas:                &replicas,
			Selector:                sel,
			Template:                *tpl,
			Strategy:                stable.Spec.Strategy,
			MinReadySeconds:         stable.Spec.MinReadySeconds,
			RevisionHistoryLimit:    stable.Spec.RevisionHistoryLimit,
			ProgressDeadlineSeconds: stable.Spec.ProgressDeadlineSeconds,
		},
	}
	if pd := p.opts.CanaryProgressDeadline; pd > 0 {
		secs := int32((pd + time.Second - 1) / time.Second)
		d.Spec.ProgressDeadlineSeconds = &secs
	}
	return d, nil
}

// applyDeployment server-side applies d as the provider's field manager, forcing
// ownership: the canary Deployment is the provider's own object.
func (p *Provider) applyDeployment(ctx context.Context, d *appsv1.Deployment) error {
	d = d.DeepCopy()
	d.Status = appsv1.DeploymentStatus{}
	d.ResourceVersion, d.UID, d.Generation, d.ManagedFields, d.CreationTimestamp = "", "", 0, nil, metav1.Time{}
	raw, err := json.Marshal(d)
	if err != nil {
		return fmt.Errorf("kubernetes: encode Deployment %s/%s: %w", d.Namespace, d.Name, err)
	}
	var ac appsv1ac.DeploymentApplyConfiguration
	if err := json.Unmarshal(raw, &ac); err != nil {
		return fmt.Errorf("kubernetes: apply configuration of Deployment %s/%s: %w", d.Namespace, d.Name, err)
	}
	ac.Status = nil
	out, err := p.cs.AppsV1().Deployments(d.Namespace).Apply(ctx, &ac, p.applyOpts())
	if err != nil {
		return classify(err, "kubernetes: apply Deployment %s/%s", d.Namespace, d.Name)
	}
	p.wroteDeployment(out)
	return nil
}

// ScaleCanary sets the canary Deployment's replicas (one merge patch).
func (w *Workload) ScaleCanary(ctx context.Context, t progressive.Target, replicas int) error {
	return w.p.scaleCanary(ctx, t, replicas)
}

func (p *Provider) scaleCanary(ctx context.Context, t progressive.Target, replicas int) error {
	if replicas < 0 {
		return fmt.Errorf("kubernetes: canary replicas %d: must not be negative: %w", replicas, errInvalid)
	}
	if err := t.Validate(); err != nil {
		return fmt.Errorf("kubernetes: target %q: %w", t.String(), err)
	}
	patch := fmt.Sprintf(`{"spec":{"replicas":%d}}`, replicas)
	out, err := p.cs.AppsV1().Deployments(t.Namespace).Patch(ctx, CanaryName(t), types.MergePatchType, []byte(patch), p.patchOpts())
	if err != nil {
		return classify(err, "kubernetes: scale canary Deployment %s/%s to %d (deploy the canary first)", t.Namespace, CanaryName(t), replicas)
	}
	p.wroteDeployment(out)
	return nil
}

// Status reads both Deployments and their ReplicaSets. Each side counts the pods
// of its Deployment's current template: Updated pods exist, Ready of them pass
// readiness. ProgressDeadlineExceeded is the canary Deployment's Progressing
// condition (reason ProgressDeadlineExceeded).
//
// Without WatchStatus it makes three requests: two GETs and a ReplicaSet List.
// While a WatchStatus subscription runs the namespace's informers, it reads
// their caches and makes none, except that it reads directly a stable
// Deployment the cache lacks, and the ReplicaSets when the ReplicaSet informer
// is off (the Role grants no watch on replicasets) or lacks a Deployment's
// current ReplicaSet. A Deployment the provider wrote that the cache has not
// shown yet is read as the write's answer (a Status right after DeployCanary
// or Promote never judges the previous template, and makes no request).
func (w *Workload) Status(ctx context.Context, t progressive.Target) (progressive.WorkloadStatus, error) {
	if err := t.Validate(); err != nil {
		return progressive.WorkloadStatus{}, fmt.Errorf("kubernetes: target %q: %w", t.String(), err)
	}
	if nw := w.p.watches.statusCache(t.Namespace); nw != nil {
		return w.p.cachedStatus(ctx, nw, t)
	}
	stable, err := w.p.getStable(ctx, t)
	if err != nil {
		return progressive.WorkloadStatus{}, err
	}
	canary, err := w.p.getCanary(ctx, t)
	if err != nil {
		return progressive.WorkloadStatus{}, err
	}
	rss, err := w.p.replicaSets(ctx, t.Namespace, bothSides(stable.Spec.Selector), stable, canary)
	if err != nil {
		return progressive.WorkloadStatus{}, err
	}
	return status(stable, canary, rss), nil
}

// bothSides is the stable Deployment's selector without RoleLabel, which selects
// the ReplicaSets of both sides: the canary's pods carry the stable selector's
// labels except the role (Adopt accepts a stable selector with
// RoleLabel=stable, and the canary's pods have RoleLabel=canary).
func bothSides(sel *metav1.LabelSelector) *metav1.LabelSelector {
	out := sel.DeepCopy()
	if out == nil {
		return &metav1.LabelSelector{}
	}
	out.MatchLabels = withRole(out.MatchLabels, "")
	exprs := out.MatchExpressions[:0]
	for _, e := range out.MatchExpressions {
		if e.Key != RoleLabel {
			exprs = append(exprs, e)
		}
	}
	out.MatchExpressions = exprs
	return out
}

// status is Status from the Deployments and their ReplicaSets by owner.
func status(stable, canary *appsv1.Deployment, rss map[types.UID][]appsv1.ReplicaSet) progressive.WorkloadStatus {
	out := progressive.WorkloadStatus{Stable: side(stable, rss[stable.UID])}
	if canary != nil {
		out.Canary = side(canary, rss[canary.UID])
		out.ProgressDeadlineExceeded = progressDeadlineExceeded(canary)
	}
	return out
}

func side(d *appsv1.Deployment, rss []appsv1.ReplicaSet) progressive.VersionStatus {
	vs := progressive.VersionStatus{Version: versionOf(&d.Spec.Template), Replicas: int(*d.Spec.Replicas)}
	if rs := currentReplicaSet(d, rss); rs != nil {
		vs.Updated = int(rs.Status.Replicas)
		vs.Ready = int(rs.Status.ReadyReplicas)
	}
	return vs
}

// Promote gives the stable Deployment the canary's pod template (with
// RoleLabel=stable): exactly what was tested, even if someone changed the stable
// template since. One Update, with the resourceVersion as precondition and conflicts
// retried; the Deployment controller then rolls the stable pods with the stable
// Deployment's own strategy, and the runner polls Status until it finished.
func (w *Workload) Promote(ctx context.Context, t progressive.Target) error {
	canary, err := w.p.getCanary(ctx, t)
	if err != nil {
		return err
	}
	if canary == nil {
		return fmt.Errorf("kubernetes: promote %s: canary Deployment %s/%s not found; nothing to promote: %w", t, t.Namespace, CanaryName(t), errNotFound)
	}
	if _, err := w.p.getStable(ctx, t); err != nil {
		return err
	}
	tpl := canary.Spec.Template.DeepCopy()
	tpl.Labels = withRole(tpl.Labels, roleStable)
	d, err := w.p.updateDeployment(ctx, t.Namespace, t.Name, func(d *appsv1.Deployment) (bool, error) {
		if templatesEqual(&d.Spec.Template, tpl) && !d.Spec.Paused {
			return false, nil
		}
		d.Spec.Template = *tpl
		d.Spec.Paused = false
		return true, nil
	})
	if err != nil {
		return err
	}
	w.p.event(d, corev1.EventTypeNormal, "Promoted", "stable takes the canary's template (%s)", versionOf(tpl))
	return nil
}

// RollbackCanary scales the canary Deployment to zero and leaves stable untouched.
// A missing canary is already rolled back.
func (w *Workload) RollbackCanary(ctx context.Context, t progressive.Target) error {
	canary, err := w.p.getCanary(ctx, t)
	if err != nil {
		return err
	}
	if canary == nil {
		return nil
	}
	if *canary.Spec.Replicas != 0 {
		if err := w.p.scaleCanary(ctx, t, 0); err != nil {
			return err
		}
	}
	if stable, err := w.p.getStable(ctx, t); err == nil {
		w.p.event(stable, corev1.EventTypeWarning, "CanaryRolledBack", "canary %s scaled to 0; stable untouched", versionOf(&canary.Spec.Template))
	}
	return nil
}
