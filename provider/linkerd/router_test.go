package linkerd_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/gateway-api/pkg/client/clientset/versioned"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/internal/testenv"
	"github.com/agentops/progressive/provider/linkerd"
	"github.com/agentops/progressive/provider/routertest"
)

func newRouter(t *testing.T, e *testenv.Env, opts linkerd.Options) *linkerd.Router {
	r, err := linkerd.New(e.Config(), opts)
	require.NoError(t, err)
	return r
}

func requireRoutes(t *testing.T, r *linkerd.Router, tg progressive.Target, want progressive.Routes) {
	t.Helper()
	got, err := r.GetRoutes(ctxT(t), tg)
	require.NoError(t, err)
	require.InDelta(t, want.CanaryWeight, got.CanaryWeight, 0.001)
	require.InDelta(t, want.StableWeight, got.StableWeight, 0.001)
	require.Equal(t, want.Matches, got.Matches)
}

func TestConformanceGatewayAPI(t *testing.T) {
	routertest.Run(t, func(t *testing.T) routertest.Setup {
		e := env.Require(t)
		ns := e.NewNamespace(t)
		services(t, e, ns, "api")
		return routertest.Setup{Router: newRouter(t, e, linkerd.Options{}), Target: progressive.Target{Namespace: ns, Name: "api"}, Matches: true}
	})
}

func TestConformanceSMI(t *testing.T) {
	routertest.Run(t, func(t *testing.T) routertest.Setup {
		e := env.Require(t)
		installSplitCRD(t, e)
		ns := e.NewNamespace(t)
		return routertest.Setup{Router: newRouter(t, e, linkerd.Options{Mode: linkerd.ModeSMI}), Target: progressive.Target{Namespace: ns, Name: "api"}}
	})
}

func TestGatewayAPIRouteWithServiceParent(t *testing.T) {
	e := env.Require(t)
	ns := e.NewNamespace(t)
	services(t, e, ns, "api", "cart")
	ctx := ctxT(t)
	api := progressive.Target{Namespace: ns, Name: "api"}
	cart := progressive.Target{Namespace: ns, Name: "cart"}
	ra, rc := newRouter(t, e, linkerd.Options{}), newRouter(t, e, linkerd.Options{})
	require.Equal(t, "linkerd", ra.Name())
	for _, w := range []float64{0, 10, 50, 100, 0} {
		require.NoError(t, ra.SetRoutes(ctx, api, progressive.WeightedRoutes(w)))
		requireRoutes(t, ra, api, progressive.WeightedRoutes(w))
	}
	require.NoError(t, rc.SetRoutes(ctx, cart, progressive.WeightedRoutes(40)))
	require.NoError(t, ra.SetRoutes(ctx, api, progressive.WeightedRoutes(20)))
	requireRoutes(t, rc, cart, progressive.WeightedRoutes(40))

	gw, err := versioned.NewForConfig(e.Config())
	require.NoError(t, err)
	hr, err := gw.GatewayV1().HTTPRoutes(ns).Get(ctx, "api", metav1.GetOptions{})
	require.NoError(t, err)
	require.Equal(t, "Service", string(*hr.Spec.ParentRefs[0].Kind))
	require.Equal(t, "core", string(*hr.Spec.ParentRefs[0].Group))
	require.Equal(t, 8080, int(*hr.Spec.ParentRefs[0].Port))

	err = ra.SetRoutes(ctx, api, progressive.Routes{StableWeight: 100, MirrorPercent: 10})
	require.ErrorIs(t, err, progressive.ErrUnsupported)
	err = ra.SetRoutes(ctx, api, progressive.Routes{StableWeight: 50, CanaryWeight: 40})
	require.ErrorIs(t, err, progressive.ErrInvalid)
	requireRoutes(t, ra, api, progressive.WeightedRoutes(20))

	require.NoError(t, ra.Finalize(ctx, api))
	_, err = gw.GatewayV1().HTTPRoutes(ns).Get(ctx, "api", metav1.GetOptions{})
	require.True(t, apierrors.IsNotFound(err), "the route the router created is deleted: %v", err)
	requireRoutes(t, rc, cart, progressive.WeightedRoutes(40))
	require.NoError(t, rc.Finalize(ctx, cart))
}

func TestSMI(t *testing.T) {
	e := env.Require(t)
	ns := e.NewNamespace(t)
	ctx := ctxT(t)
	api := progressive.Target{Namespace: ns, Name: "api"}
	cart := progressive.Target{Namespace: ns, Name: "cart"}
	ra := newRouter(t, e, linkerd.Options{Mode: linkerd.ModeSMI})
	rc := newRouter(t, e, linkerd.Options{Mode: linkerd.ModeSMI})

	installSplitCRD(t, e)

	for _, w := range []float64{0, 10, 50, 100, 0} {
		require.NoError(t, ra.SetRoutes(ctx, api, progressive.WeightedRoutes(w)))
		requireRoutes(t, ra, api, progressive.WeightedRoutes(w))
	}
	require.NoError(t, rc.SetRoutes(ctx, cart, progressive.WeightedRoutes(40)))
	require.NoError(t, ra.SetRoutes(ctx, api, progressive.WeightedRoutes(9.09)))
	requireRoutes(t, ra, api, progressive.WeightedRoutes(9.09))
	requireRoutes(t, rc, cart, progressive.WeightedRoutes(40))

	err := ra.SetRoutes(ctx, api, progressive.Routes{StableWeight: 50, CanaryWeight: 40})
	require.ErrorIs(t, err, progressive.ErrInvalid)
	err = ra.SetRoutes(ctx, api, progressive.Routes{StableWeight: 100, Matches: []progressive.Match{{Kind: progressive.MatchHeader, Name: "x", Value: "y"}}})
	require.ErrorIs(t, err, progressive.ErrUnsupported)
	requireRoutes(t, ra, api, progressive.WeightedRoutes(9.09))

	require.NoError(t, ra.Finalize(ctx, api))
	requireRoutes(t, ra, api, progressive.AllStable())
	requireRoutes(t, rc, cart, progressive.WeightedRoutes(40))
}

func TestBadOptions(t *testing.T) {
	_, err := linkerd.New(nil, linkerd.Options{})
	require.ErrorIs(t, err, progressive.ErrInvalid)
	_, err = linkerd.New(&rest.Config{Host: "https://127.0.0.1:1"}, linkerd.Options{Mode: "istio"})
	require.ErrorIs(t, err, progressive.ErrInvalid)
	require.ErrorContains(t, err, `"gateway-api"`)
}

// TestCRDMissing runs on a private control plane without any CRD.
func TestCRDMissing(t *testing.T) {
	env.Require(t)
	e := testenv.StartForTest(t, testenv.Options{Nodes: 1})
	ns := e.NewNamespace(t)
	services(t, e, ns, "api")
	ctx := ctxT(t)
	tg := progressive.Target{Namespace: ns, Name: "api"}

	err := newRouter(t, e, linkerd.Options{Mode: linkerd.ModeSMI}).SetRoutes(ctx, tg, progressive.WeightedRoutes(10))
	require.ErrorIs(t, err, progressive.ErrInvalid)
	require.ErrorContains(t, err, linkerd.SplitCRDName)
	require.ErrorContains(t, err, "linkerd smi install")

	err = newRouter(t, e, linkerd.Options{}).SetRoutes(ctx, tg, progressive.WeightedRoutes(10))
	require.ErrorIs(t, err, progressive.ErrInvalid)
	require.ErrorContains(t, err, "httproutes.gateway.networking.k8s.io")
	require.ErrorContains(t, err, "standard-install.yaml")
}

// TestSMIv1alpha2 runs the conformance suite on a private control plane whose
// TrafficSplit CRD is served like the linkerd-smi extension serves it
// (v1alpha1 and v1alpha2, stored as v1alpha2), so the router speaks v1alpha2.
func TestSMIv1alpha2(t *testing.T) {
	env.Require(t)
	e := testenv.StartForTest(t, testenv.Options{Nodes: 1})
	require.NoError(t, applySplitCRD(e, []string{"v1alpha2", "v1alpha1"}))
	routertest.Run(t, func(t *testing.T) routertest.Setup {
		ns := e.NewNamespace(t)
		services(t, e, ns, "api")
		return routertest.Setup{Router: newRouter(t, e, linkerd.Options{Mode: linkerd.ModeSMI}), Target: progressive.Target{Namespace: ns, Name: "api"}}
	})
	// What was written is a v1alpha2 object, read back through that version.
	ns := e.NewNamespace(t)
	services(t, e, ns, "api")
	tg := progressive.Target{Namespace: ns, Name: "api"}
	require.NoError(t, newRouter(t, e, linkerd.Options{Mode: linkerd.ModeSMI}).SetRoutes(ctxT(t), tg, progressive.WeightedRoutes(25)))
	gvr := schema.GroupVersionResource{Group: "split.smi-spec.io", Version: "v1alpha2", Resource: "trafficsplits"}
	got, err := e.Dynamic().Resource(gvr).Namespace(ns).Get(ctxT(t), "api", metav1.GetOptions{})
	require.NoError(t, err)
	backends, _, _ := unstructured.NestedSlice(got.Object, "spec", "backends")
	require.Len(t, backends, 2)
	assert.Equal(t, map[string]any{"service": "api-canary", "weight": int64(250000)}, backends[1])
}
