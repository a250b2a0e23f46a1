package kubernetes

import (
	"context"
	"fmt"
	"maps"
	"math"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/util/retry"

	"github.com/agentops/progressive"
)

// Router shifts traffic without a service mesh, with the Service named by the
// target. It implements progressive.TrafficRouter and progressive.RouterInitializer.
//
//   - Canary weight 0 (AllStable, a rollback, Finalize): the Service selects
//     RoleLabel=stable. One write.
//   - Canary weight 100 (a blue-green switch): the Service selects
//     RoleLabel=canary. One write, refused when the canary Deployment has no
//     pods, and made only once all of them are ready (waiting up to
//     Options.ReadyTimeout, then progressive.ErrTransient).
//   - Anything between: the weight is a pod ratio. The canary Deployment is
//     scaled to c = round(w·S/(100−w)) pods, S being the stable Deployment's
//     replicas (stable is never scaled down, so a rollback never lacks
//     capacity), and once they are ready the Service selects both sides (its
//     original selector). One write to scale the canary, plus one the first time
//     the selector changes. High weights cost pods: 50% doubles the pod count,
//     90% needs nine canary pods per stable one.
//
// Every write is read back, then SetRoutes waits (Options.SettleTimeout) until the
// EndpointSlices of the Service show the change. GetRoutes reports what the
// EndpointSlices say: the canary's share of the ready endpoints, so 2 canary pods
// beside 20 stable ones are 9.09%, not the 10% asked for. Header and cookie
// matches and mirroring need a mesh or Gateway API: progressive.ErrUnsupported.
type Router struct{ p *Provider }

var (
	_ progressive.TrafficRouter     = (*Router)(nil)
	_ progressive.RouterInitializer = (*Router)(nil)
)

// Name returns "kubernetes".
func (r *Router) Name() string { return Name }

// Initialize adopts the target (see Provider.Adopt) and insists on its Service.
func (r *Router) Initialize(ctx context.Context, t progressive.Target) error {
	if _, err := r.p.getService(ctx, t); err != nil {
		return err
	}
	_, err := r.p.adopt(ctx, t)
	return err
}

func (p *Provider) getService(ctx context.Context, t progressive.Target) (*corev1.Service, error) {
	if err := t.Validate(); err != nil {
		return nil, fmt.Errorf("kubernetes: target %q: %w", t.String(), err)
	}
	if p.opts.LeaveServiceSelector {
		return nil, fmt.Errorf("kubernetes router: %s: Options.LeaveServiceSelector is set, and this router moves traffic with the Service's selector; use the mesh's router (istio, linkerd, gatewayapi) or unset the option: %w", t, errInvalid)
	}
	svc, err := p.cs.CoreV1().Services(t.Namespace).Get(ctx, t.Name, metav1.GetOptions{})
	if err != nil {
		return nil, classify(err, "kubernetes: Service %s (the kubernetes router moves traffic with the selector of the Service named like the target)", t)
	}
	return svc, nil
}

// errMeshOnly explains why matches and mirroring are not available.
func errMeshOnly(what string) error {
	return fmt.Errorf("kubernetes router: %s need a service mesh or Gateway API; a Service can only split by pod ratio (use the istio, linkerd or gatewayapi router): %w", what, errUnsupported)
}

// SetRoutes establishes routes; see Router.
func (r *Router) SetRoutes(ctx context.Context, t progressive.Target, routes progressive.Routes) error {
	// Invalid routes are a mistake whatever the router can do: say so first.
	if err := routes.Validate(); err != nil {
		return fmt.Errorf("kubernetes router: routes: %w", err)
	}
	if len(routes.Matches) > 0 {
		return errMeshOnly("header and cookie matches")
	}
	if routes.MirrorPercent > 0 {
		return errMeshOnly("traffic mirroring")
	}
	p := r.p
	if _, err := p.getService(ctx, t); err != nil {
		return err
	}
	stable, err := p.adopt(ctx, t)
	if err != nil {
		return err
	}
	w := routes.CanaryWeight
	var role string
	var wantCanary int32
	switch {
	case w <= 1e-9:
		role = roleStable
	case w >= 100-1e-9:
		role = roleCanary
		if err := r.awaitCanaryServing(ctx, t); err != nil {
			return err
		}
	default:
		s := *stable.Spec.Replicas
		if s == 0 {
			return fmt.Errorf("kubernetes router: %s: stable Deployment has 0 replicas, so no pod ratio gives %g%%: %w", t, w, errInvalid)
		}
		wantCanary = max(1, int32(math.Round(w*float64(s)/(100-w))))
		if err := r.scaleForWeight(ctx, t, wantCanary); err != nil {
			return err
		}
	}
	svc, changed, err := p.setSelectorRole(ctx, t, role)
	if err != nil {
		return err
	}
	if p.opts.DryRun {
		return nil
	}
	if changed {
		p.event(stable, corev1.EventTypeNormal, "TrafficShifted", "Service %s selects %s (asked: canary %g%%)", t.Name, formatSelector(svc.Spec.Selector), w)
	}
	return p.settle(ctx, t, svc, role, wantCanary)
}

// canaryCanServe refuses a switch to a canary that could not take the traffic.
func canaryCanServe(t progressive.Target, canary *appsv1.Deployment) error {
	switch {
	case canary == nil:
		return fmt.Errorf("kubernetes router: %s: no canary Deployment %s to switch to; deploy it first: %w", t, CanaryName(t), errNotFound)
	case *canary.Spec.Replicas == 0:
		return fmt.Errorf("kubernetes router: %s: canary Deployment %s has 0 replicas; switching would leave the Service without endpoints: %w", t, canary.Name, errInvalid)
	case canary.Status.ObservedGeneration < canary.Generation || canary.Status.ReadyReplicas < *canary.Spec.Replicas || canary.Status.UpdatedReplicas < *canary.Spec.Replicas:
		return fmt.Errorf("kubernetes router: %s: canary Deployment %s has %d of %d pods ready; not switching all traffic to it: %w",
			t, canary.Name, canary.Status.ReadyReplicas, *canary.Spec.Replicas, errTransient)
	}
	return nil
}

// awaitCanaryServing waits up to Options.ReadyTimeout for the canary to be able
// to take all the traffic: right after a scale-up the Deployment's status may
// briefly lag its pods, and a switch should not fail on that.
func (r *Router) awaitCanaryServing(ctx context.Context, t progressive.Target) error {
	p := r.p
	if p.opts.DryRun {
		canary, err := p.getCanary(ctx, t)
		if err != nil {
			return err
		}
		return canaryCanServe(t, canary)
	}
	return p.poll(ctx, p.opts.ReadyTimeout, func(ctx context.Context) (bool, string, error) {
		canary, err := p.getCanary(ctx, t)
		if err != nil {
			return false, "", err
		}
		if err := canaryCanServe(t, canary); err != nil {
			if isTransient(err) {
				return false, err.Error(), nil
			}
			return false, "", err
		}
		return true, "", nil
	})
}

// scaleForWeight scales the canary to n pods and waits until they are ready.
func (r *Router) scaleForWeight(ctx context.Context, t progressive.Target, n int32) error {
	p := r.p
	canary, err := p.getCanary(ctx, t)
	if err != nil {
		return err
	}
	if canary == nil {
		return fmt.Errorf("kubernetes router: %s: no canary Deployment %s to send traffic to; deploy it first: %w", t, CanaryName(t), errNotFound)
	}
	if *canary.Spec.Replicas != n {
		if err := p.scaleCanary(ctx, t, int(n)); err != nil {
			return err
		}
	}
	if p.opts.DryRun {
		return nil
	}
	return p.poll(ctx, p.opts.ReadyTimeout, func(ctx context.Context) (bool, string, error) {
		c, err := p.getCanary(ctx, t)
		if err != nil || c == nil {
			return false, "", err
		}
		if progressDeadlineExceeded(c) {
			return false, "", fmt.Errorf("kubernetes router: %s: canary Deployment exceeded its progress deadline with %d of %d pods ready; traffic not moved: %w", t, c.Status.ReadyReplicas, n, errInvalid)
		}
		ok := c.Status.ObservedGeneration >= c.Generation && c.Status.UpdatedReplicas >= n && c.Status.ReadyReplicas >= n
		return ok, fmt.Sprintf("kubernetes router: %s: canary has %d of %d pods ready; traffic not moved", t, c.Status.ReadyReplicas, n), nil
	})
}

// setSelectorRole writes the Service's selector as its base selector plus role
// ("" for both sides) in one Update guarded by its resourceVersion, retrying on
// conflicts, and reads it back.
func (p *Provider) setSelectorRole(ctx context.Context, t progressive.Target, role string) (*corev1.Service, bool, error) {
	var out *corev1.Service
	changed := false
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		svc, err := p.cs.CoreV1().Services(t.Namespace).Get(ctx, t.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		want := withRole(baseSelector(svc), role)
		if maps.Equal(svc.Spec.Selector, want) {
			out = svc
			return nil
		}
		svc.Spec.Selector = want
		out, err = p.cs.CoreV1().Services(t.Namespace).Update(ctx, svc, p.updateOpts())
		changed = err == nil
		return err
	})
	if err != nil {
		return nil, false, classify(err, "kubernetes router: set the selector of Service %s", t)
	}
	if p.opts.DryRun || !changed {
		return out, changed, nil
	}
	back, err := p.cs.CoreV1().Services(t.Namespace).Get(ctx, t.Name, metav1.GetOptions{})
	if err != nil {
		return nil, true, classify(err, "kubernetes router: read Service %s back", t)
	}
	if !maps.Equal(back.Spec.Selector, out.Spec.Selector) {
		return nil, true, fmt.Errorf("kubernetes router: Service %s read back with selector %s after writing %s; someone else changed it: %w",
			t, formatSelector(back.Spec.Selector), formatSelector(out.Spec.Selector), errConflict)
	}
	return back, true, nil
}

// endpoints counts the endpoints of a Service per side.
type endpoints struct {
	stableReady, canaryReady int
	stableAll, canaryAll     int
}

func (e endpoints) String() string {
	return fmt.Sprintf("%d stable (%d ready) and %d canary (%d ready) endpoints", e.stableAll, e.stableReady, e.canaryAll, e.canaryReady)
}

// countEndpoints reads the Service's EndpointSlices and tells their pods apart by
// RoleLabel (a pod without it is a stable one: canary pods always carry it).
func (p *Provider) countEndpoints(ctx context.Context, svc *corev1.Service) (endpoints, error) {
	var e endpoints
	slices, err := p.cs.DiscoveryV1().EndpointSlices(svc.Namespace).List(ctx, metav1.ListOptions{
		LabelSelector: labels.Set{discoveryv1.LabelServiceName: svc.Name}.String(),
	})
	if err != nil {
		return e, classify(err, "kubernetes router: list EndpointSlices of Service %s/%s", svc.Namespace, svc.Name)
	}
	pods, err := p.cs.CoreV1().Pods(svc.Namespace).List(ctx, metav1.ListOptions{
		LabelSelector: labels.Set(baseSelector(svc)).String(),
	})
	if err != nil {
		return e, classify(err, "kubernetes router: list pods of Service %s/%s", svc.Namespace, svc.Name)
	}
	roles := make(map[string]string, len(pods.Items))
	for _, pod := range pods.Items {
		roles[pod.Name] = pod.Labels[RoleLabel]
	}
	seen := map[string]bool{}
	for _, s := range slices.Items {
		for _, ep := range s.Endpoints {
			if ep.TargetRef == nil || ep.TargetRef.Kind != "Pod" || seen[ep.TargetRef.Name] {
				continue
			}
			seen[ep.TargetRef.Name] = true
			ready := ep.Conditions.Ready == nil || *ep.Conditions.Ready
			if roles[ep.TargetRef.Name] == roleCanary {
				e.canaryAll++
				if ready {
					e.canaryReady++
				}
			} else {
				e.stableAll++
				if ready {
					e.stableReady++
				}
			}
		}
	}
	return e, nil
}

// settle waits until the EndpointSlices show what the selector asks for.
func (p *Provider) settle(ctx context.Context, t progressive.Target, svc *corev1.Service, role string, wantCanary int32) error {
	return p.poll(ctx, p.opts.SettleTimeout, func(ctx context.Context) (bool, string, error) {
		e, err := p.countEndpoints(ctx, svc)
		if err != nil {
			return false, "", err
		}
		var ok bool
		switch role {
		case roleStable:
			ok = e.canaryAll == 0 && e.stableReady > 0
		case roleCanary:
			ok = e.stableAll == 0 && e.canaryReady > 0
		default:
			// Exactly: after a scale-down the EndpointSlices keep the surplus
			// canary pods as ready for a moment, and GetRoutes would report the
			// old, higher weight.
			ok = e.canaryReady == int(wantCanary) && e.stableReady > 0
		}
		return ok, fmt.Sprintf("kubernetes router: Service %s selects %s but its EndpointSlices show %s", t, formatSelector(svc.Spec.Selector), e), nil
	})
}

// GetRoutes reports the canary's share of the Service's ready endpoints.
func (r *Router) GetRoutes(ctx context.Context, t progressive.Target) (progressive.Routes, error) {
	svc, err := r.p.getService(ctx, t)
	if err != nil {
		return progressive.Routes{}, err
	}
	e, err := r.p.countEndpoints(ctx, svc)
	if err != nil {
		return progressive.Routes{}, err
	}
	total := e.stableReady + e.canaryReady
	if total == 0 {
		return progressive.Routes{}, fmt.Errorf("kubernetes router: Service %s (selector %s) has no ready endpoints (%s): %w", t, formatSelector(svc.Spec.Selector), e, errTransient)
	}
	canary := 100 * float64(e.canaryReady) / float64(total)
	return progressive.Routes{StableWeight: 100 - canary, CanaryWeight: canary}, nil
}

// Finalize leaves all traffic on the stable side (RoleLabel=stable), which after a
// promotion runs the new release. The canary Deployment is the workload's to scale
// away; the Service keeps its role selector for the next rollout.
func (r *Router) Finalize(ctx context.Context, t progressive.Target) error {
	return r.SetRoutes(ctx, t, progressive.AllStable())
}
