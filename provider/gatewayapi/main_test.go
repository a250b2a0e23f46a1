package gatewayapi_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
	"sigs.k8s.io/gateway-api/pkg/client/clientset/versioned"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/internal/testenv"
	"github.com/agentops/progressive/provider/gatewayapi"
)

var env *testenv.Env

func TestMain(m *testing.M) {
	os.Exit(testenv.RunMain(m, testenv.Options{ModuleCRDs: []testenv.ModuleCRD{testenv.HTTPRouteCRD()}}, &env))
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func ptr[T any](v T) *T { return &v }

func backend(name string, weight *int32) gatewayv1.HTTPBackendRef {
	return gatewayv1.HTTPBackendRef{BackendRef: gatewayv1.BackendRef{
		BackendObjectReference: gatewayv1.BackendObjectReference{Name: gatewayv1.ObjectName(name), Port: ptr(gatewayv1.PortNumber(80))},
		Weight:                 weight,
	}}
}

// userRoute is an HTTPRoute with the user's own rules: /api to the stable
// Service of each name, and /static to a Service the router must not touch.
func userRoute(ns, route string, names ...string) *gatewayv1.HTTPRoute {
	hr := &gatewayv1.HTTPRoute{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: route},
		Spec: gatewayv1.HTTPRouteSpec{
			CommonRouteSpec: gatewayv1.CommonRouteSpec{ParentRefs: []gatewayv1.ParentReference{{Name: "gw"}}},
		},
	}
	for i, n := range names {
		var w *int32 // the first stable backendRef has no weight, the others 5
		if i > 0 {
			w = ptr(int32(5))
		}
		hr.Spec.Rules = append(hr.Spec.Rules, gatewayv1.HTTPRouteRule{
			Matches:     []gatewayv1.HTTPRouteMatch{{Path: &gatewayv1.HTTPPathMatch{Type: ptr(gatewayv1.PathMatchPathPrefix), Value: ptr("/" + n)}}},
			BackendRefs: []gatewayv1.HTTPBackendRef{backend(n, w)},
		})
	}
	hr.Spec.Rules = append(hr.Spec.Rules, gatewayv1.HTTPRouteRule{
		Matches:     []gatewayv1.HTTPRouteMatch{{Path: &gatewayv1.HTTPPathMatch{Type: ptr(gatewayv1.PathMatchPathPrefix), Value: ptr("/static")}}},
		BackendRefs: []gatewayv1.HTTPBackendRef{backend("static", ptr(int32(7)))},
	})
	return hr
}

func setup(t *testing.T, names ...string) (versioned.Interface, string, *gatewayv1.HTTPRoute) {
	e := env.Require(t)
	ns := e.NewNamespace(t)
	cs, err := versioned.NewForConfig(e.Config())
	require.NoError(t, err)
	hr, err := cs.GatewayV1().HTTPRoutes(ns).Create(ctxT(t), userRoute(ns, "shop", names...), metav1.CreateOptions{})
	require.NoError(t, err)
	return cs, ns, hr
}

func newRouter(t *testing.T, opts gatewayapi.Options) *gatewayapi.Router {
	r, err := gatewayapi.New(env.Config(), opts)
	require.NoError(t, err)
	return r
}

func requireRoutes(t *testing.T, r *gatewayapi.Router, tg progressive.Target, want progressive.Routes) {
	t.Helper()
	got, err := r.GetRoutes(ctxT(t), tg)
	require.NoError(t, err)
	require.InDelta(t, want.CanaryWeight, got.CanaryWeight, 0.001)
	require.InDelta(t, want.StableWeight, got.StableWeight, 0.001)
	require.InDelta(t, want.MirrorPercent, got.MirrorPercent, 0.001)
	require.Equal(t, want.Matches, got.Matches)
}
