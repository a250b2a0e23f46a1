package kubernetes_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/agentops/progressive"
	k8s "github.com/agentops/progressive/provider/kubernetes"
)

// TestReplicaRatioAndSwitch drives the workload and the router by hand: 20 stable
// pods and 2 canary pods carry 9.09% (reported honestly), a switch moves all
// traffic in one write, and a rollback is one write back.
func TestReplicaRatioAndSwitch(t *testing.T) {
	e := env.Require(t)
	ns := e.NewNamespace(t)
	cs := e.Clientset()
	ctx := context.Background()
	seed(t, cs, ns, "auth", 20, "registry.example/auth:v1")
	p := newProvider(t, e.Config(), fastOptions())
	w, r := p.Workload(), p.Router()
	tg := target(ns, "auth")

	// Deploying the canary adopts the target: the Service now selects stable only,
	// so the canary's pods get no traffic yet.
	require.NoError(t, w.DeployCanary(ctx, tg, progressive.Release{Version: "v2", Image: "registry.example/auth:v2"}, 2))
	svc, err := cs.CoreV1().Services(ns).Get(ctx, "auth", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"app": "auth", k8s.RoleLabel: "stable"}, svc.Spec.Selector)
	eventually(t, testTimeout, func() error {
		st, err := w.Status(ctx, tg)
		if err != nil {
			return err
		}
		if st.Canary.Ready != 2 || st.Stable.Ready != 20 {
			return errorf("status %+v", st)
		}
		return nil
	})
	got, err := r.GetRoutes(ctx, tg)
	require.NoError(t, err)
	assert.Equal(t, 0.0, got.CanaryWeight, "the canary must get no traffic before the router sends it some")

	// 10% asked: 2 canary pods beside 20 stable ones are 9.09%.
	require.NoError(t, r.Initialize(ctx, tg))
	before := p.Stats().Writes
	require.NoError(t, r.SetRoutes(ctx, tg, progressive.WeightedRoutes(10)))
	t.Logf("replica-ratio weight change (first, selector widened): %d API write(s)", p.Stats().Writes-before)
	got, err = r.GetRoutes(ctx, tg)
	require.NoError(t, err)
	assert.InDelta(t, 100*2.0/22, got.CanaryWeight, 1e-9)
	assert.InDelta(t, 100*20.0/22, got.StableWeight, 1e-9)

	// 50%: the canary grows to 20 pods, stable stays at 20.
	before = p.Stats().Writes
	require.NoError(t, r.SetRoutes(ctx, tg, progressive.WeightedRoutes(50)))
	assert.Equal(t, int64(1), p.Stats().Writes-before, "a weight change after the first is one write (the canary's scale)")
	got, err = r.GetRoutes(ctx, tg)
	require.NoError(t, err)
	assert.InDelta(t, 50, got.CanaryWeight, 1e-9)

	// Rollback: one write, verified through the EndpointSlices.
	before = p.Stats().Writes
	require.NoError(t, r.SetRoutes(ctx, tg, progressive.AllStable()))
	assert.Equal(t, int64(1), p.Stats().Writes-before, "a rollback is one write")
	got, err = r.GetRoutes(ctx, tg)
	require.NoError(t, err)
	assert.Equal(t, progressive.AllStable(), got)

	// Blue-green: a switch to a fully ready canary is one write as well.
	require.NoError(t, w.ScaleCanary(ctx, tg, 20))
	eventually(t, testTimeout, func() error {
		st, err := w.Status(ctx, tg)
		if err != nil {
			return err
		}
		if st.Canary.Ready != 20 {
			return errorf("canary %+v", st.Canary)
		}
		return nil
	})
	before = p.Stats().Writes
	require.NoError(t, r.SetRoutes(ctx, tg, progressive.Routes{CanaryWeight: 100}))
	assert.Equal(t, int64(1), p.Stats().Writes-before, "a switch is one write")
	got, err = r.GetRoutes(ctx, tg)
	require.NoError(t, err)
	assert.Equal(t, 100.0, got.CanaryWeight)
	require.NoError(t, r.Finalize(ctx, tg))
	got, err = r.GetRoutes(ctx, tg)
	require.NoError(t, err)
	assert.Equal(t, 0.0, got.CanaryWeight)

	// Rolling the canary back leaves stable untouched.
	stableBefore, err := cs.AppsV1().Deployments(ns).Get(ctx, "auth", metav1.GetOptions{})
	require.NoError(t, err)
	require.NoError(t, w.RollbackCanary(ctx, tg))
	canary, err := cs.AppsV1().Deployments(ns).Get(ctx, "auth-canary", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, int32(0), *canary.Spec.Replicas)
	stableAfter, err := cs.AppsV1().Deployments(ns).Get(ctx, "auth", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, stableBefore.Generation, stableAfter.Generation)
}

func TestRouterUnsupportedAndBadInput(t *testing.T) {
	e := env.Require(t)
	ns := e.NewNamespace(t)
	cs := e.Clientset()
	ctx := context.Background()
	p := newProvider(t, e.Config(), fastOptions())
	r, w := p.Router(), p.Workload()

	err := r.SetRoutes(ctx, target(ns, "x"), progressive.Routes{StableWeight: 100, Matches: []progressive.Match{{Kind: progressive.MatchHeader, Name: "x-version", Value: "green"}}})
	require.ErrorIs(t, err, progressive.ErrUnsupported)
	assert.Contains(t, err.Error(), "service mesh or Gateway API")
	err = r.SetRoutes(ctx, target(ns, "x"), progressive.Routes{StableWeight: 100, MirrorPercent: 10})
	require.ErrorIs(t, err, progressive.ErrUnsupported)
	assert.Contains(t, err.Error(), "mirroring")

	// Missing Deployment and Service.
	err = w.DeployCanary(ctx, target(ns, "missing"), progressive.Release{Version: "v2", Image: "img:v2"}, 1)
	require.ErrorIs(t, err, progressive.ErrNotFound)
	assert.Contains(t, err.Error(), "stable Deployment "+ns+"/missing")
	_, err = w.Status(ctx, target(ns, "missing"))
	require.ErrorIs(t, err, progressive.ErrNotFound)
	err = r.SetRoutes(ctx, target(ns, "missing"), progressive.AllStable())
	require.ErrorIs(t, err, progressive.ErrNotFound)
	assert.Contains(t, err.Error(), "Service "+ns+"/missing")
	err = w.Promote(ctx, target(ns, "missing"))
	require.ErrorIs(t, err, progressive.ErrNotFound)

	// A Service whose selector matches none of the Deployment's pods.
	seed(t, cs, ns, "orders", 2, "registry.example/orders:v1")
	svc, err := cs.CoreV1().Services(ns).Get(ctx, "orders", metav1.GetOptions{})
	require.NoError(t, err)
	svc.Spec.Selector = map[string]string{"app": "orders-typo"}
	_, err = cs.CoreV1().Services(ns).Update(ctx, svc, metav1.UpdateOptions{})
	require.NoError(t, err)
	err = r.Initialize(ctx, target(ns, "orders"))
	require.ErrorIs(t, err, progressive.ErrInvalid)
	assert.Contains(t, err.Error(), "matches none of the pods")
	err = w.DeployCanary(ctx, target(ns, "orders"), progressive.Release{Version: "v2", Image: "img:v2"}, 1)
	require.ErrorIs(t, err, progressive.ErrInvalid)
	_, err = cs.AppsV1().Deployments(ns).Get(ctx, "orders-canary", metav1.GetOptions{})
	assert.True(t, err != nil, "no canary may be created for a target whose Service cannot be narrowed")

	// A switch to a canary that does not exist or has no pods.
	svc, err = cs.CoreV1().Services(ns).Get(ctx, "orders", metav1.GetOptions{})
	require.NoError(t, err)
	svc.Spec.Selector = map[string]string{"app": "orders"}
	_, err = cs.CoreV1().Services(ns).Update(ctx, svc, metav1.UpdateOptions{})
	require.NoError(t, err)
	err = r.SetRoutes(ctx, target(ns, "orders"), progressive.Routes{CanaryWeight: 100})
	require.ErrorIs(t, err, progressive.ErrNotFound)
	require.NoError(t, w.DeployCanary(ctx, target(ns, "orders"), progressive.Release{Version: "v2", Image: "img:v2"}, 0))
	err = r.SetRoutes(ctx, target(ns, "orders"), progressive.Routes{CanaryWeight: 100})
	require.ErrorIs(t, err, progressive.ErrInvalid)
	assert.Contains(t, err.Error(), "without endpoints")
	got, err := r.GetRoutes(ctx, target(ns, "orders"))
	require.NoError(t, err)
	assert.Equal(t, progressive.AllStable(), got, "a refused switch moves nothing")

	// A bad release container.
	err = w.DeployCanary(ctx, target(ns, "orders"), progressive.Release{Version: "v2", Image: "img:v2", Container: "sidecar"}, 1)
	require.ErrorIs(t, err, progressive.ErrInvalid)
	assert.Contains(t, err.Error(), `container "sidecar"`)
	assert.False(t, errors.Is(err, progressive.ErrTransient))
}
