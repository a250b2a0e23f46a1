package linkerd

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"

	splitv1alpha2 "github.com/servicemeshinterface/smi-sdk-go/pkg/apis/split/v1alpha2"
	splitv1alpha4 "github.com/servicemeshinterface/smi-sdk-go/pkg/apis/split/v1alpha4"
	smiclient "github.com/servicemeshinterface/smi-sdk-go/pkg/gen/client/split/clientset/versioned"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/util/retry"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/provider/gatewayapi"
)

// backend is one weighted Service of a TrafficSplit, whatever its API version.
type backend struct {
	service string
	weight  int
}

// splits reads and writes TrafficSplits of one served API version through the
// typed smi-sdk-go client of that version; the rest of the router sees only
// the apex Service and the backends, which every version from v1alpha2 on
// spells the same way.
type splits interface {
	version() string
	// get returns the backends and whether the TrafficSplit exists.
	get(ctx context.Context, ns, name string) ([]backend, bool, error)
	// put creates the TrafficSplit or replaces its spec, in one write guarded
	// by the resourceVersion it read.
	put(ctx context.Context, ns, name, apex string, backends []backend) error
	remove(ctx context.Context, ns, name string) error
}

// splitClient is what the typed TrafficSplit clients of every version offer.
type splitClient[T any] interface {
	Get(ctx context.Context, name string, opts metav1.GetOptions) (T, error)
	Create(ctx context.Context, obj T, opts metav1.CreateOptions) (T, error)
	Update(ctx context.Context, obj T, opts metav1.UpdateOptions) (T, error)
	Delete(ctx context.Context, name string, opts metav1.DeleteOptions) error
}

// typedSplits adapts one version's client: build makes a new object (or
// rewrites cur when it is not nil), backends reads one.
type typedSplits[T any] struct {
	v        string
	client   func(ns string) splitClient[T]
	build    func(cur T, meta metav1.ObjectMeta, apex string, backends []backend) T
	backends func(T) []backend
}

func (s typedSplits[T]) version() string { return s.v }

func (s typedSplits[T]) get(ctx context.Context, ns, name string) ([]backend, bool, error) {
	obj, err := s.client(ns).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return s.backends(obj), true, nil
}

func (s typedSplits[T]) put(ctx context.Context, ns, name, apex string, backends []backend) error {
	c := s.client(ns)
	cur, err := c.Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		var none T
		_, err = c.Create(ctx, s.build(none, metav1.ObjectMeta{Name: name, Namespace: ns}, apex, backends), metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			// Someone created it between our read and our write: read again.
			return apierrors.NewConflict(schema.GroupResource{Group: smiGroup, Resource: "trafficsplits"}, name, err)
		}
		return err
	}
	if err != nil {
		return err
	}
	_, err = c.Update(ctx, s.build(cur, metav1.ObjectMeta{}, apex, backends), metav1.UpdateOptions{})
	return err
}

func (s typedSplits[T]) remove(ctx context.Context, ns, name string) error {
	return s.client(ns).Delete(ctx, name, metav1.DeleteOptions{})
}

// splitsFor returns the typed access for a served version, nil for one the
// router does not speak: v1alpha2 is what the linkerd-smi extension stores,
// v1alpha4 the last SMI release (the CRD of smi-sdk-go).
func splitsFor(cs smiclient.Interface, version string) splits {
	switch version {
	case "v1alpha4":
		return typedSplits[*splitv1alpha4.TrafficSplit]{
			v:      version,
			client: func(ns string) splitClient[*splitv1alpha4.TrafficSplit] { return cs.SplitV1alpha4().TrafficSplits(ns) },
			build: func(cur *splitv1alpha4.TrafficSplit, meta metav1.ObjectMeta, apex string, bs []backend) *splitv1alpha4.TrafficSplit {
				if cur == nil {
					cur = &splitv1alpha4.TrafficSplit{ObjectMeta: meta}
				}
				cur.Spec.Service, cur.Spec.Backends = apex, nil
				for _, b := range bs {
					cur.Spec.Backends = append(cur.Spec.Backends, splitv1alpha4.TrafficSplitBackend{Service: b.service, Weight: b.weight})
				}
				return cur
			},
			backends: func(o *splitv1alpha4.TrafficSplit) (out []backend) {
				for _, b := range o.Spec.Backends {
					out = append(out, backend{b.Service, b.Weight})
				}
				return out
			},
		}
	case "v1alpha2":
		return typedSplits[*splitv1alpha2.TrafficSplit]{
			v:      version,
			client: func(ns string) splitClient[*splitv1alpha2.TrafficSplit] { return cs.SplitV1alpha2().TrafficSplits(ns) },
			build: func(cur *splitv1alpha2.TrafficSplit, meta metav1.ObjectMeta, apex string, bs []backend) *splitv1alpha2.TrafficSplit {
				if cur == nil {
					cur = &splitv1alpha2.TrafficSplit{ObjectMeta: meta}
				}
				cur.Spec.Service, cur.Spec.Backends = apex, nil
				for _, b := range bs {
					cur.Spec.Backends = append(cur.Spec.Backends, splitv1alpha2.TrafficSplitBackend{Service: b.service, Weight: b.weight})
				}
				return cur
			},
			backends: func(o *splitv1alpha2.TrafficSplit) (out []backend) {
				for _, b := range o.Spec.Backends {
					out = append(out, backend{b.Service, b.Weight})
				}
				return out
			},
		}
	}
	return nil
}

// splitAPI discovers the TrafficSplit version the cluster serves, preferring
// the newest the router speaks.
func (r *Router) splitAPI() (splits, error) {
	groups, err := r.kube.Discovery().ServerGroups()
	if err != nil {
		return nil, fmt.Errorf("linkerd: discovery: %w: %w", err, progressive.ErrTransient)
	}
	for _, g := range groups.Groups {
		if g.Name != smiGroup {
			continue
		}
		var versions []string
		for _, v := range g.Versions {
			versions = append(versions, v.Version)
		}
		for _, v := range []string{"v1alpha4", "v1alpha2"} {
			if slices.Contains(versions, v) {
				return splitsFor(r.smi, v), nil
			}
		}
		return nil, fmt.Errorf("linkerd: TrafficSplit versions %v served; the router speaks v1alpha2 (linkerd-smi) and v1alpha4: %w", versions, progressive.ErrUnsupported)
	}
	return nil, fmt.Errorf("linkerd: CRD %s is not installed (install the linkerd-smi extension: linkerd smi install | kubectl apply -f -, or use Options.Mode %q on Linkerd 2.14+): %w",
		SplitCRDName, ModeGatewayAPI, progressive.ErrInvalid)
}

func (r *Router) splitName(t progressive.Target) string {
	if r.opts.RouteName != "" {
		return r.opts.RouteName
	}
	return t.Name
}

// splitBackends turns routes into millionths of the apex Service's traffic.
func (r *Router) splitBackends(t progressive.Target, routes progressive.Routes) []backend {
	cw := int(math.Round(routes.CanaryWeight * totalWeight / 100))
	return []backend{{t.Name, totalWeight - cw}, {t.Name + r.opts.CanarySuffix, cw}}
}

func (r *Router) setSplit(ctx context.Context, t progressive.Target, routes progressive.Routes) error {
	if err := t.Validate(); err != nil {
		return fmt.Errorf("linkerd: target: %w", err)
	}
	api, err := r.splitAPI()
	if err != nil {
		return err
	}
	name := r.splitName(t)
	err = retry.RetryOnConflict(gatewayapi.DefaultConflictBackoff(), func() error {
		return api.put(ctx, t.Namespace, name, t.Name, r.splitBackends(t, routes))
	})
	if err != nil {
		sentinel := progressive.ErrTransient
		switch {
		case apierrors.IsConflict(err):
			sentinel = progressive.ErrConflict
		case apierrors.IsInvalid(err), apierrors.IsBadRequest(err), apierrors.IsForbidden(err):
			sentinel = progressive.ErrInvalid
		case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
			return fmt.Errorf("linkerd: writing TrafficSplit %s/%s (%s): %w", t.Namespace, name, api.version(), err)
		}
		return fmt.Errorf("linkerd: writing TrafficSplit %s/%s (%s): %w: %w", t.Namespace, name, api.version(), err, sentinel)
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
	api, err := r.splitAPI()
	if err != nil {
		return progressive.Routes{}, err
	}
	backends, found, err := api.get(ctx, t.Namespace, r.splitName(t))
	if err != nil {
		return progressive.Routes{}, fmt.Errorf("linkerd: reading TrafficSplit %s/%s: %w: %w", t.Namespace, r.splitName(t), err, progressive.ErrTransient)
	}
	if !found {
		return progressive.AllStable(), nil // no split: the apex Service takes everything
	}
	var sw, cw float64
	for _, b := range backends {
		switch b.service {
		case t.Name:
			sw += float64(b.weight)
		case t.Name + r.opts.CanarySuffix:
			cw += float64(b.weight)
		}
	}
	out := progressive.AllStable()
	if sw+cw > 0 {
		out.CanaryWeight = math.Round(cw/(sw+cw)*100*10000) / 10000
		out.StableWeight = 100 - out.CanaryWeight
	}
	return out, nil
}

// deleteSplit removes the TrafficSplit the router made: without it Linkerd
// sends the apex Service's traffic to its own endpoints, the stable pods.
func (r *Router) deleteSplit(ctx context.Context, t progressive.Target) error {
	api, err := r.splitAPI()
	if err != nil {
		return err
	}
	err = api.remove(ctx, t.Namespace, r.splitName(t))
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("linkerd: deleting TrafficSplit %s/%s: %w: %w", t.Namespace, r.splitName(t), err, progressive.ErrTransient)
	}
	return nil
}
