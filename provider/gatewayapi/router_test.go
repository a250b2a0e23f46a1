package gatewayapi_test

import (
	"testing"

	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/internal/testenv"
	"github.com/agentops/progressive/provider/gatewayapi"
	"github.com/agentops/progressive/provider/routertest"
)

func TestConformance(t *testing.T) {
	routertest.Run(t, func(t *testing.T) routertest.Setup {
		_, ns, _ := setup(t, "api")
		return routertest.Setup{
			Router:  newRouter(t, gatewayapi.Options{RouteName: "shop"}),
			Target:  progressive.Target{Namespace: ns, Name: "api"},
			Matches: true,
			Mirror:  true,
		}
	})
}

func TestCanaryRollbackAndFinalize(t *testing.T) {
	cs, ns, orig := setup(t, "api")
	ctx := ctxT(t)
	r := newRouter(t, gatewayapi.Options{RouteName: "shop"})
	require.Equal(t, "gatewayapi", r.Name())
	tg := progressive.Target{Namespace: ns, Name: "api"}
	require.NoError(t, r.Initialize(ctx, tg))
	requireRoutes(t, r, tg, progressive.AllStable())

	for _, w := range []float64{0, 10, 9.09, 50, 100} {
		require.NoError(t, r.SetRoutes(ctx, tg, progressive.WeightedRoutes(w)), "weight %g", w)
		requireRoutes(t, r, tg, progressive.WeightedRoutes(w))
		require.NoError(t, r.SetRoutes(ctx, tg, progressive.WeightedRoutes(w)), "idempotent at %g", w)
	}
	// Rollback.
	require.NoError(t, r.SetRoutes(ctx, tg, progressive.AllStable()))
	requireRoutes(t, r, tg, progressive.AllStable())

	// Header match, mirror, then finalize leaves the user's rules as they were.
	ab := progressive.Routes{StableWeight: 90, CanaryWeight: 10, MirrorPercent: 25, Matches: []progressive.Match{
		{Kind: progressive.MatchHeader, Name: "x-version", Value: "green"},
		{Kind: progressive.MatchHeader, Name: "x-beta", Value: "yes|true", Regex: true},
		{Kind: progressive.MatchCookie, Name: "beta.tester", Value: "a+b"},
		{Kind: progressive.MatchCookie, Name: "cohort", Value: "[0-4]", Regex: true},
	}}
	require.NoError(t, r.SetRoutes(ctx, tg, ab))
	requireRoutes(t, r, tg, ab)
	hr, err := cs.GatewayV1().HTTPRoutes(ns).Get(ctx, "shop", metav1.GetOptions{})
	require.NoError(t, err)
	require.Len(t, hr.Spec.Rules, 3, "the match rule is added")
	require.Equal(t, orig.Spec.Rules[1], hr.Spec.Rules[1], "the user's other rule is untouched")

	half := ab
	half.MirrorPercent = 12.5
	half.Matches = nil
	require.NoError(t, r.SetRoutes(ctx, tg, half))
	requireRoutes(t, r, tg, half)

	require.NoError(t, r.Finalize(ctx, tg))
	hr, err = cs.GatewayV1().HTTPRoutes(ns).Get(ctx, "shop", metav1.GetOptions{})
	require.NoError(t, err)
	require.Equal(t, orig.Spec, hr.Spec)
	require.Equal(t, orig.Annotations, hr.Annotations)
	requireRoutes(t, r, tg, progressive.AllStable())
}

func TestSwitchAndSwitchBack(t *testing.T) {
	_, ns, _ := setup(t, "api")
	ctx := ctxT(t)
	r := newRouter(t, gatewayapi.Options{RouteName: "shop"})
	tg := progressive.Target{Namespace: ns, Name: "api"}
	require.NoError(t, r.SetRoutes(ctx, tg, progressive.WeightedRoutes(100)))
	requireRoutes(t, r, tg, progressive.WeightedRoutes(100))
	require.NoError(t, r.SetRoutes(ctx, tg, progressive.AllStable()))
	requireRoutes(t, r, tg, progressive.AllStable())
}

func TestTwoRoutersDoNotDisturbEachOther(t *testing.T) {
	cs, ns, orig := setup(t, "api", "cart")
	ctx := ctxT(t)
	api := progressive.Target{Namespace: ns, Name: "api"}
	cart := progressive.Target{Namespace: ns, Name: "cart"}
	ra := newRouter(t, gatewayapi.Options{RouteName: "shop"})
	rc := newRouter(t, gatewayapi.Options{RouteName: "shop"})
	require.NoError(t, ra.SetRoutes(ctx, api, progressive.WeightedRoutes(30)))
	require.NoError(t, rc.SetRoutes(ctx, cart, progressive.Routes{StableWeight: 50, CanaryWeight: 50, Matches: []progressive.Match{{Kind: progressive.MatchHeader, Name: "x-cart", Value: "new"}}}))
	requireRoutes(t, ra, api, progressive.WeightedRoutes(30))
	require.NoError(t, ra.Finalize(ctx, api))
	requireRoutes(t, rc, cart, progressive.Routes{StableWeight: 50, CanaryWeight: 50, Matches: []progressive.Match{{Kind: progressive.MatchHeader, Name: "x-cart", Value: "new"}}})
	require.NoError(t, rc.Finalize(ctx, cart))
	require.NoError(t, rc.Finalize(ctx, cart), "Finalize is idempotent")
	hr, err := cs.GatewayV1().HTTPRoutes(ns).Get(ctx, "shop", metav1.GetOptions{})
	require.NoError(t, err)
	require.Equal(t, orig.Spec, hr.Spec, "weights restored, nothing left behind")
	require.Empty(t, hr.Annotations)
}

func TestBadInput(t *testing.T) {
	_, ns, _ := setup(t, "api")
	ctx := ctxT(t)
	tg := progressive.Target{Namespace: ns, Name: "api"}
	r := newRouter(t, gatewayapi.Options{RouteName: "shop"})
	require.NoError(t, r.SetRoutes(ctx, tg, progressive.WeightedRoutes(20)))

	err := r.SetRoutes(ctx, tg, progressive.Routes{StableWeight: 70, CanaryWeight: 20})
	require.ErrorIs(t, err, progressive.ErrInvalid)
	requireRoutes(t, r, tg, progressive.WeightedRoutes(20))

	err = r.SetRoutes(ctx, tg, progressive.Routes{StableWeight: 100, Matches: []progressive.Match{{Kind: "query", Name: "beta", Value: "1"}}})
	require.ErrorIs(t, err, progressive.ErrInvalid)
	requireRoutes(t, r, tg, progressive.WeightedRoutes(20))

	missing := newRouter(t, gatewayapi.Options{RouteName: "nope"})
	err = missing.SetRoutes(ctx, tg, progressive.WeightedRoutes(10))
	require.ErrorIs(t, err, progressive.ErrNotFound)
	require.ErrorContains(t, err, "HTTPRoute "+ns+"/nope")

	other := progressive.Target{Namespace: ns, Name: "ghost"}
	err = newRouter(t, gatewayapi.Options{RouteName: "shop"}).SetRoutes(ctx, other, progressive.WeightedRoutes(10))
	require.ErrorIs(t, err, progressive.ErrNotFound)
	requireRoutes(t, r, tg, progressive.WeightedRoutes(20))
}

func TestCRDMissing(t *testing.T) {
	env.Require(t)
	e := testenv.StartForTest(t, testenv.Options{Nodes: 1})
	r, err := gatewayapi.New(e.Config(), gatewayapi.Options{})
	require.NoError(t, err)
	err = r.SetRoutes(ctxT(t), progressive.Target{Namespace: "default", Name: "api"}, progressive.WeightedRoutes(10))
	require.ErrorIs(t, err, progressive.ErrInvalid)
	require.ErrorContains(t, err, gatewayapi.CRDName)
	require.ErrorContains(t, err, "standard-install.yaml")
}

// TestConcurrentRoutersOnOneRoute has two routers write the same HTTPRoute at
// once: every write is resourceVersion-guarded and retried from a fresh read,
// so neither loses the other's change.
func TestConcurrentRoutersOnOneRoute(t *testing.T) {
	_, ns, _ := setup(t, "api", "cart")
	ctx := ctxT(t)
	api := progressive.Target{Namespace: ns, Name: "api"}
	cart := progressive.Target{Namespace: ns, Name: "cart"}
	errs := make(chan error, 2)
	for _, tg := range []progressive.Target{api, cart} {
		go func() {
			r := newRouter(t, gatewayapi.Options{RouteName: "shop"})
			for w := range 10 {
				if err := r.SetRoutes(ctx, tg, progressive.WeightedRoutes(float64(w*10))); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	require.NoError(t, <-errs)
	require.NoError(t, <-errs)
	r := newRouter(t, gatewayapi.Options{RouteName: "shop"})
	requireRoutes(t, r, api, progressive.WeightedRoutes(90))
	requireRoutes(t, r, cart, progressive.WeightedRoutes(90))
}
