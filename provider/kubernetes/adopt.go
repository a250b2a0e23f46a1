package kubernetes

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"

	"github.com/agentops/progressive"
)

// Adopt prepares a target for its first rollout, and does nothing when it is
// prepared already. DeployCanary and Router.Initialize call it; call it yourself to
// do it ahead of time (in a deploy pipeline's first run, say).
//
//  1. The stable Deployment's pod template gets RoleLabel=stable. That changes
//     the template, so Kubernetes replaces its pods once, at the same version, with
//     its own rolling update; Adopt waits until that finished (Options.ReadyTimeout).
//     Put the label in your manifests to avoid it.
//  2. The Service named like the target keeps its selector in SelectorAnnotation
//     and gets RoleLabel=stable added to it, so the canary's pods, which carry the
//     stable labels plus RoleLabel=canary, receive no traffic until the router
//     sends them some. Before this write Adopt checks that the selector selects the
//     stable pods (a selector that matches nothing is a configuration error), and
//     the stable pods carry the role label by then, so the Service never loses an
//     endpoint. A target without a Service (a worker) skips this step, and so
//     does a provider with Options.LeaveServiceSelector (a mesh routes).
func (p *Provider) Adopt(ctx context.Context, t progressive.Target) error {
	_, err := p.adopt(ctx, t)
	return err
}

// RestartWarning says, before anything is written, whether adopting t will
// restart the stable Deployment's pods: its pod template lacks RoleLabel=stable,
// and adding it makes a new ReplicaSet revision, so Kubernetes replaces every
// pod once (same version) before the canary starts. It returns "" when the
// label is there already. rollout.DryRun reports it as a warning naming the
// Deployment; the cure is the label in your manifests.
func (p *Provider) RestartWarning(ctx context.Context, t progressive.Target) (string, error) {
	d, err := p.getStable(ctx, t)
	if err != nil {
		return "", err
	}
	if d.Spec.Template.Labels[RoleLabel] == roleStable {
		return "", nil
	}
	return fmt.Sprintf("adopting Deployment %s adds %s=%s to its pod template: Kubernetes replaces all %d of its pods once "+
		"(a new ReplicaSet revision, same version) before the canary starts; add the label to the Deployment's pod template in your manifests to avoid it",
		t, RoleLabel, roleStable, *d.Spec.Replicas), nil
}

// RestartWarning is Provider.RestartWarning: the workload adopts its target
// at the deploy step.
func (w *Workload) RestartWarning(ctx context.Context, t progressive.Target) (string, error) {
	return w.p.RestartWarning(ctx, t)
}

// RestartWarning is Provider.RestartWarning: the router adopts its target when
// it first sets routes.
func (r *Router) RestartWarning(ctx context.Context, t progressive.Target) (string, error) {
	return r.p.RestartWarning(ctx, t)
}

func (p *Provider) adopt(ctx context.Context, t progressive.Target) (*appsv1.Deployment, error) {
	d, err := p.getStable(ctx, t)
	if err != nil {
		return nil, err
	}
	if v, ok := d.Spec.Selector.MatchLabels[RoleLabel]; ok && v != roleStable {
		return nil, fmt.Errorf("kubernetes: Deployment %s selects %s=%s; the stable Deployment must select %s=%s or leave the label out: %w", t, RoleLabel, v, RoleLabel, roleStable, errInvalid)
	}
	if d.Spec.Template.Labels[RoleLabel] != roleStable {
		patch := fmt.Sprintf(`{"spec":{"template":{"metadata":{"labels":{%q:%q}}}}}`, RoleLabel, roleStable)
		d, err = p.cs.AppsV1().Deployments(t.Namespace).Patch(ctx, t.Name, types.StrategicMergePatchType, []byte(patch), p.patchOpts())
		if err != nil {
			return nil, classify(err, "kubernetes: label the pods of Deployment %s with %s=%s", t, RoleLabel, roleStable)
		}
		p.wroteDeployment(d)
		if d.Spec.Replicas == nil {
			one := int32(1)
			d.Spec.Replicas = &one
		}
		p.event(d, corev1.EventTypeNormal, "Adopted", "pods labelled %s=%s so that a Service can tell them from a canary's (one rolling restart)", RoleLabel, roleStable)
		if !p.opts.DryRun {
			if err := p.waitRolledOut(ctx, t.Namespace, t.Name); err != nil {
				return nil, fmt.Errorf("kubernetes: adopting %s: waiting for the relabelled pods: %w", t, err)
			}
		}
	} else if progressive.PendingAllowed(ctx) && !p.opts.DryRun {
		// Called again after a "not yet": the relabelling restart may still
		// be rolling, and nothing may go on until it finished.
		if ok, why := rolledOut(d); !ok {
			return nil, progressive.Pending(p.opts.PollInterval, "kubernetes: adopting %s: waiting for the relabelled pods: %s", t, why)
		}
	}
	if p.opts.LeaveServiceSelector {
		return d, nil
	}
	svc, err := p.cs.CoreV1().Services(t.Namespace).Get(ctx, t.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return d, nil
	}
	if err != nil {
		return nil, classify(err, "kubernetes: Service %s", t)
	}
	if adopted(svc) {
		return d, nil
	}
	if err := selectsTemplate(svc, d); err != nil {
		return nil, err
	}
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		svc, err := p.cs.CoreV1().Services(t.Namespace).Get(ctx, t.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if adopted(svc) {
			return nil
		}
		orig, _ := json.Marshal(svc.Spec.Selector)
		if svc.Annotations == nil {
			svc.Annotations = map[string]string{}
		}
		svc.Annotations[SelectorAnnotation] = string(orig)
		svc.Spec.Selector = withRole(svc.Spec.Selector, roleStable)
		_, err = p.cs.CoreV1().Services(t.Namespace).Update(ctx, svc, p.updateOpts())
		return err
	})
	if err != nil {
		return nil, classify(err, "kubernetes: narrow the selector of Service %s to %s=%s", t, RoleLabel, roleStable)
	}
	p.event(d, corev1.EventTypeNormal, "Adopted", "Service %s now selects %s=%s", t.Name, RoleLabel, roleStable)
	return d, nil
}

// adopted reports whether the provider manages the Service's selector already:
// it selects by role, or selects both sides (its original selector, kept in the
// annotation).
func adopted(svc *corev1.Service) bool {
	if _, ok := svc.Spec.Selector[RoleLabel]; ok {
		return true
	}
	_, ok := svc.Annotations[SelectorAnnotation]
	return ok
}

// selectsTemplate checks that svc's selector (without the role) selects d's pods.
func selectsTemplate(svc *corev1.Service, d *appsv1.Deployment) error {
	base := baseSelector(svc)
	if len(base) == 0 {
		return fmt.Errorf("kubernetes: Service %s/%s has no selector; the kubernetes router switches traffic by selector: %w", svc.Namespace, svc.Name, errInvalid)
	}
	labels := d.Spec.Template.Labels
	for k, v := range base {
		if labels[k] != v {
			return fmt.Errorf("kubernetes: Service %s/%s selects %s, which matches none of the pods of Deployment %s/%s (pod labels %s): %w",
				svc.Namespace, svc.Name, formatSelector(base), d.Namespace, d.Name, formatSelector(withRole(labels, "")), errInvalid)
		}
	}
	return nil
}

// baseSelector is the Service's selector without the role: the one it had before
// adoption.
func baseSelector(svc *corev1.Service) map[string]string {
	if s := svc.Annotations[SelectorAnnotation]; s != "" {
		var orig map[string]string
		if json.Unmarshal([]byte(s), &orig) == nil && len(orig) > 0 {
			return withRole(orig, "")
		}
	}
	return withRole(maps.Clone(svc.Spec.Selector), "")
}
