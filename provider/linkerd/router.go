package linkerd

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/retry"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/provider/gatewayapi"
)

// Name is the provider name plans refer to.
const Name = "linkerd"

// Mode chooses how the router tells Linkerd about weights.
type Mode string

const (
	// ModeGatewayAPI uses an HTTPRoute with a Service parentRef (Linkerd 2.14+).
	ModeGatewayAPI Mode = "gateway-api"
	// ModeSMI uses an SMI TrafficSplit (the linkerd-smi extension).
	ModeSMI Mode = "smi"
)

// SplitCRDName is the CRD ModeSMI needs.
const SplitCRDName = "trafficsplits.split.smi-spec.io"

const smiGroup = "split.smi-spec.io"

const totalWeight = 1000000

// Options configure a Router. The zero value is ready to use.
type Options struct {
	// Mode is ModeGatewayAPI (default) or ModeSMI.
	Mode Mode
	// CanarySuffix makes the canary Service's name; default "-canary".
	CanarySuffix string
	// RouteName names the HTTPRoute (ModeGatewayAPI) or the TrafficSplit
	// (ModeSMI); default the target's name.
	RouteName string
	// Port of the Service; default the Service's first port.
	Port int32
}

// Router is a progressive.TrafficRouter for Linkerd.
type Router struct {
	opts Options
	kube kubernetes.Interface
	dyn  dynamic.Interface
	gw   *gatewayapi.Router
}

var (
	_ progressive.TrafficRouter     = (*Router)(nil)
	_ progressive.RouterInitializer = (*Router)(nil)
)

// New returns a Router using cfg.
func New(cfg *rest.Config, opts Options) (*Router, error) {
	if cfg == nil {
		return nil, fmt.Errorf("linkerd: rest.Config must not be nil: %w", progressive.ErrInvalid)
	}
	if opts.Mode == "" {
		opts.Mode = ModeGatewayAPI
	}
	if opts.Mode != ModeGatewayAPI && opts.Mode != ModeSMI {
		return nil, fmt.Errorf("linkerd: Options.Mode %q: must be %q or %q: %w", opts.Mode, ModeGatewayAPI, ModeSMI, progressive.ErrInvalid)
	}
	if opts.CanarySuffix == "" {
		opts.CanarySuffix = "-canary"
	}
	r := &Router{opts: opts}
	var err error
	if r.kube, err = kubernetes.NewForConfig(cfg); err != nil {
		return nil, fmt.Errorf("linkerd: %w: %w", err, progressive.ErrInvalid)
	}
	if r.dyn, err = dynamic.NewForConfig(cfg); err != nil {
		return nil, fmt.Errorf("linkerd: %w: %w", err, progressive.ErrInvalid)
	}
	if opts.Mode == ModeGatewayAPI {
		r.gw, err = gatewayapi.New(cfg, gatewayapi.Options{
			RouteName: opts.RouteName, CanarySuffix: opts.CanarySuffix, Port: opts.Port,
			NewRoute: r.newRoute, ProviderName: Name,
		})
		if err != nil {
			return nil, err
		}
	}
	return r, nil
}

// Name returns "linkerd".
func (r *Router) Name() string { return Name }

func (r *Router) servicePort(ctx context.Context, t progressive.Target) (int32, error) {
	if r.opts.Port != 0 {
		return r.opts.Port, nil
	}
	svc, err := r.kube.CoreV1().Services(t.Namespace).Get(ctx, t.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return 0, fmt.Errorf("linkerd: Service %s not found: %w: %w", t, err, progressive.ErrNotFound)
	}
	if err != nil {
		return 0, fmt.Errorf("linkerd: reading Service %s: %w: %w", t, err, progressive.ErrTransient)
	}
	if len(svc.Spec.Ports) == 0 {
		return 0, fmt.Errorf("linkerd: Service %s has no ports: %w", t, progressive.ErrInvalid)
	}
	return svc.Spec.Ports[0].Port, nil
}

func (r *Router) newRoute(ctx context.Context, t progressive.Target) (*gatewayv1.HTTPRoute, error) {
	port, err := r.servicePort(ctx, t)
	if err != nil {
		return nil, err
	}
	p := gatewayv1.PortNumber(port)
	group := gatewayv1.Group("core")
	kind := gatewayv1.Kind("Service")
	return &gatewayv1.HTTPRoute{
		Spec: gatewayv1.HTTPRouteSpec{
			CommonRouteSpec: gatewayv1.CommonRouteSpec{ParentRefs: []gatewayv1.ParentReference{{
				Group: &group, Kind: &kind, Name: gatewayv1.ObjectName(t.Name), Port: &p,
			}}},
			Rules: []gatewayv1.HTTPRouteRule{{BackendRefs: []gatewayv1.HTTPBackendRef{{BackendRef: gatewayv1.BackendRef{
				BackendObjectReference: gatewayv1.BackendObjectReference{Name: gatewayv1.ObjectName(t.Name), Port: &p},
			}}}}},
		},
	}, nil
}

// Initialize creates the HTTPRoute (ModeGatewayAPI) when missing, or checks
// that the TrafficSplit CRD is installed (ModeSMI).
func (r *Router) Initialize(ctx context.Context, t progressive.Target) error {
	if r.gw != nil {
		return r.gw.Initialize(ctx, t)
	}
	if err := t.Validate(); err != nil {
		return fmt.Errorf("linkerd: target: %w", err)
	}
	_, err := r.splitResource()
	return err
}

// SetRoutes establishes routes in one write and reads them back.
func (r *Router) SetRoutes(ctx context.Context, t progressive.Target, routes progressive.Routes) error {
	if err := routes.Validate(); err != nil {
		return fmt.Errorf("linkerd: routes: %w", err)
	}
	if routes.MirrorPercent > 0 {
		return fmt.Errorf("linkerd: mirroring: Linkerd does not mirror requests: %w", progressive.ErrUnsupported)
	}
	if r.gw != nil {
		if err := r.gw.Initialize(ctx, t); err != nil {
			return err
		}
		return r.gw.SetRoutes(ctx, t, routes)
	}
	if len(routes.Matches) > 0 {
		return fmt.Errorf("linkerd: matches need Options.Mode %q (linkerd-smi does not route by header): %w", ModeGatewayAPI, progressive.ErrUnsupported)
	}
	return r.setSplit(ctx, t, routes)
}

// GetRoutes reads back what Linkerd was told.
func (r *Router) GetRoutes(ctx context.Context, t progressive.Target) (progressive.Routes, error) {
	if r.gw != nil {
		got, err := r.gw.GetRoutes(ctx, t)
		if errors.Is(err, progressive.ErrNotFound) && apierrors.IsNotFound(err) {
			// No HTTPRoute: Linkerd sends everything to the Service, the stable side.
			return progressive.AllStable(), nil
		}
		return got, err
	}
	return r.getSplit(ctx, t)
}

// Finalize removes what the router added, leaving all traffic on stable.
func (r *Router) Finalize(ctx context.Context, t progressive.Target) error {
	if r.gw != nil {
		err := r.gw.Finalize(ctx, t)
		if apierrors.IsNotFound(err) {
			return nil
		}
		return err
	}
	res, err := r.splitResource()
	if err != nil {
		return err
	}
	err = r.dyn.Resource(res).Namespace(t.Namespace).Delete(ctx, r.splitName(t), metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("linkerd: deleting TrafficSplit %s/%s: %w: %w", t.Namespace, r.splitName(t), err, progressive.ErrTransient)
	}
	return nil
}

func (r *Router) splitName(t progressive.Target) string {
	if r.opts.RouteName != "" {
		return r.opts.RouteName
	}
	return t.Name
}

// splitResource discovers the newest served TrafficSplit version (v1alpha2+).
func (r *Router) splitResource() (schema.GroupVersionResource, error) {
	missing := fmt.Errorf("linkerd: CRD %s is not installed (install the linkerd-smi extension: linkerd smi install | kubectl apply -f -, or use Options.Mode %q on Linkerd 2.14+): %w", SplitCRDName, ModeGatewayAPI, progressive.ErrInvalid)
	groups, err := r.kube.Discovery().ServerGroups()
	if err != nil {
		return schema.GroupVersionResource{}, fmt.Errorf("linkerd: discovery: %w: %w", err, progressive.ErrTransient)
	}
	for _, g := range groups.Groups {
		if g.Name != smiGroup {
			continue
		}
		var versions []string
		for _, v := range g.Versions {
			versions = append(versions, v.Version)
		}
		for _, v := range []string{"v1alpha4", "v1alpha3", "v1alpha2"} {
			if slices.Contains(versions, v) {
				return schema.GroupVersionResource{Group: smiGroup, Version: v, Resource: "trafficsplits"}, nil
			}
		}
		return schema.GroupVersionResource{}, fmt.Errorf("linkerd: TrafficSplit versions %v served; the router needs v1alpha2 or later: %w", versions, progressive.ErrUnsupported)
	}
	return schema.GroupVersionResource{}, missing
}

func (r *Router) splitObject(res schema.GroupVersionResource, t progressive.Target, routes progressive.Routes) map[string]any {
	cw := int64(math.Round(routes.CanaryWeight * totalWeight / 100))
	return map[string]any{
		"service": t.Name,
		"backends": []any{
			map[string]any{"service": t.Name, "weight": int64(totalWeight) - cw},
			map[string]any{"service": t.Name + r.opts.CanarySuffix, "weight": cw},
		},
	}
}

func (r *Router) setSplit(ctx context.Context, t progressive.Target, routes progressive.Routes) error {
	if err := t.Validate(); err != nil {
		return fmt.Errorf("linkerd: target: %w", err)
	}
	res, err := r.splitResource()
	if err != nil {
		return err
	}
	client := r.dyn.Resource(res).Namespace(t.Namespace)
	name := r.splitName(t)
	err = retry.RetryOnConflict(gatewayapi.ConflictBackoff, func() error {
		cur, err := client.Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			obj := &unstructured.Unstructured{Object: map[string]any{
				"apiVersion": res.GroupVersion().String(), "kind": "TrafficSplit",
				"metadata": map[string]any{"name": name, "namespace": t.Namespace},
				"spec":     r.splitObject(res, t, routes),
			}}
			_, err = client.Create(ctx, obj, metav1.CreateOptions{})
			if apierrors.IsAlreadyExists(err) {
				return apierrors.NewConflict(res.GroupResource(), name, err)
			}
			return err
		}
		if err != nil {
			return err
		}
		cur.Object["spec"] = r.splitObject(res, t, routes)
		_, err = client.Update(ctx, cur, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		sentinel := progressive.ErrTransient
		switch {
		case apierrors.IsConflict(err):
			sentinel = progressive.ErrConflict
		case apierrors.IsInvalid(err), apierrors.IsBadRequest(err), apierrors.IsForbidden(err):
			sentinel = progressive.ErrInvalid
		case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
			return fmt.Errorf("linkerd: writing TrafficSplit %s/%s: %w", t.Namespace, name, err)
		}
		return fmt.Errorf("linkerd: writing TrafficSplit %s/%s: %w: %w", t.Namespace, name, err, sentinel)
	}
	got, err := r.getSplit(ctx, t)
	if err != nil {
		return err
	}
	if math.Abs(got.CanaryWeight-routes.CanaryWeight) > 0.0001 {
		return fmt.Errorf("linkerd: TrafficSplit %s/%s reads back %+v, want %+v (another writer?): %w", t.Namespace, name, got, routes, progressive.ErrConflict)
	}
	return nil
}

func (r *Router) getSplit(ctx context.Context, t progressive.Target) (progressive.Routes, error) {
	if err := t.Validate(); err != nil {
		return progressive.Routes{}, fmt.Errorf("linkerd: target: %w", err)
	}
	res, err := r.splitResource()
	if err != nil {
		return progressive.Routes{}, err
	}
	cur, err := r.dyn.Resource(res).Namespace(t.Namespace).Get(ctx, r.splitName(t), metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return progressive.AllStable(), nil // no split: the apex Service takes everything
	}
	if err != nil {
		return progressive.Routes{}, fmt.Errorf("linkerd: reading TrafficSplit: %w: %w", err, progressive.ErrTransient)
	}
	backends, _, _ := unstructured.NestedSlice(cur.Object, "spec", "backends")
	var sw, cw float64
	for _, b := range backends {
		m, _ := b.(map[string]any)
		var w float64
		switch v := m["weight"].(type) {
		case int64:
			w = float64(v)
		case float64:
			w = v
		}
		switch m["service"] {
		case t.Name:
			sw += w
		case t.Name + r.opts.CanarySuffix:
			cw += w
		}
	}
	out := progressive.AllStable()
	if sw+cw > 0 {
		out.CanaryWeight = math.Round(cw/(sw+cw)*100*10000) / 10000
		out.StableWeight = 100 - out.CanaryWeight
	}
	return out, nil
}
