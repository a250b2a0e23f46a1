package linkerd

import (
	"context"
	"errors"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	smiclient "github.com/servicemeshinterface/smi-sdk-go/pkg/gen/client/split/clientset/versioned"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/internal/kubeclient"
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
	smi  smiclient.Interface
	gw   *gatewayapi.Router
}

var (
	_ progressive.TrafficRouter     = (*Router)(nil)
	_ progressive.RouterInitializer = (*Router)(nil)
)

// New returns a Router using cfg.
//
// A cfg without a rate limit (QPS 0 and no RateLimiter) gets 200 requests per
// second with bursts of 400 instead of client-go's 5 and 10: the router's
// clients are shared by every rollout it drives, and client-go's default
// throttles a process driving many of them. A caller that sets QPS or a
// RateLimiter keeps theirs; cfg itself is not modified.
func New(cfg *rest.Config, opts Options) (*Router, error) {
	if cfg == nil {
		return nil, fmt.Errorf("linkerd: rest.Config must not be nil: %w", progressive.ErrInvalid)
	}
	cfg = kubeclient.WithDefaultRateLimit(cfg)
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
	if r.smi, err = smiclient.NewForConfig(cfg); err != nil {
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
	_, err := r.splitAPI()
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
	return r.deleteSplit(ctx, t)
}
