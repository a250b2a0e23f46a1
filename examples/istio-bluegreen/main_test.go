package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	"istio.io/client-go/pkg/clientset/versioned"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/agentops/progressive"
	istioshared "github.com/agentops/progressive/examples/istio-shared"
	"github.com/agentops/progressive/internal/testenv"
	"github.com/agentops/progressive/provider/istio"
	"github.com/agentops/progressive/rollout"
)

var env *testenv.Env

func TestMain(m *testing.M) { os.Exit(istioshared.RunMain(m, &env)) }

var (
	plain  = istioshared.Request{Path: "/orders"}
	header = istioshared.Request{Path: "/orders", Headers: map[string]string{"x-version": "green"}}
)

func getVS(t *testing.T, e *testenv.Env, ns string) *networkingv1.VirtualService {
	t.Helper()
	ic, err := versioned.NewForConfig(e.Config())
	require.NoError(t, err)
	vs, err := ic.NetworkingV1().VirtualServices(ns).Get(context.Background(), "api", metav1.GetOptions{})
	require.NoError(t, err)
	return vs
}

func deployment(t *testing.T, e *testenv.Env, ns, name string) (image string, replicas, ready int32) {
	t.Helper()
	d, err := e.Clientset().AppsV1().Deployments(ns).Get(context.Background(), name, metav1.GetOptions{})
	require.NoError(t, err)
	return d.Spec.Template.Spec.Containers[0].Image, *d.Spec.Replicas, d.Status.ReadyReplicas
}

// assertUserRoutes checks that the user's two routes are there, unchanged, in
// their order, around whatever the router added.
func assertUserRoutes(t *testing.T, before, vs *networkingv1.VirtualService) {
	t.Helper()
	assert.True(t, istioshared.SameRoutes(before.Spec.GetHttp(), istioshared.UserRoutes(vs, routeName)),
		"the user's routes are unchanged: before %v, now %v", before.Spec.GetHttp(), vs.Spec.GetHttp())
	d := istioshared.Evaluate(vs, header)
	assert.Equal(t, "", d.Route, "x-version: green still takes the user's header route")
	assert.Equal(t, map[string]int32{"green": 100}, d.Weights)
}

func TestSwitch(t *testing.T) {
	e := env.Require(t)
	ns := e.NewNamespace(t)
	ctx := context.Background()
	var out bytes.Buffer
	before, err := setup(ctx, e.Config(), ns, &out)
	require.NoError(t, err)
	require.Len(t, before.Spec.GetHttp(), 2)
	assert.Equal(t, map[string]int32{"blue": 100, "green": 0}, istioshared.Evaluate(before, plain).Weights, "the guide's catch-all: 100/0")

	cfg, writes := istioshared.CountWrites(e.Config())
	r, err := istio.New(cfg, routerOptions)
	require.NoError(t, err)
	tg := target(ns)

	err = Switch(ctx, r, tg, "purple")
	require.Error(t, err)
	assert.True(t, errors.Is(err, progressive.ErrInvalid))
	assert.Contains(t, err.Error(), `"purple"`)
	assert.Zero(t, writes.Writes(), "an unknown version writes nothing")
	assert.Equal(t, before.Generation, getVS(t, e, ns).Generation)

	// Switch to green: one write, read back 0/100.
	n := writes.Writes()
	require.NoError(t, Switch(ctx, r, tg, "green"))
	assert.Equal(t, int64(1), writes.Writes()-n, "the switch is one write")
	vs := getVS(t, e, ns)
	assert.Equal(t, before.Generation+1, vs.Generation, "one change of the spec")
	d := istioshared.Evaluate(vs, plain)
	assert.Equal(t, routeName, d.Route)
	assert.Equal(t, map[string]int32{"blue": 0, "green": 100}, d.Weights)
	assertUserRoutes(t, before, vs)
	got, err := r.GetRoutes(ctx, tg)
	require.NoError(t, err)
	assert.Equal(t, 100.0, got.CanaryWeight)

	// And back to blue: one write, 100/0.
	n = writes.Writes()
	require.NoError(t, Switch(ctx, r, tg, "blue"))
	assert.Equal(t, int64(1), writes.Writes()-n, "the switch back is one write")
	vs = getVS(t, e, ns)
	assert.Equal(t, before.Generation+2, vs.Generation)
	assert.Equal(t, map[string]int32{"blue": 100, "green": 0}, istioshared.Evaluate(vs, plain).Weights)
	assertUserRoutes(t, before, vs)

	// Finalize leaves the user's VirtualService exactly as it was.
	require.NoError(t, r.Finalize(ctx, tg))
	vs = getVS(t, e, ns)
	assert.True(t, istioshared.SameRoutes(before.Spec.GetHttp(), vs.Spec.GetHttp()), "after Finalize: %v", vs.Spec.GetHttp())
	assert.NotContains(t, vs.Annotations, istio.RoutesAnnotation)
}

func cfg(ns string) config {
	return config{Namespace: ns, Monitor: 1500 * time.Millisecond, Decommission: 500 * time.Millisecond}
}

func TestAPIBlueGreen(t *testing.T) {
	e := env.Require(t)
	ns := e.NewNamespace(t)
	var out bytes.Buffer
	res, err := run(context.Background(), e.Config(), cfg(ns), &out)
	t.Log("\n" + out.String())
	require.NoError(t, err)
	require.Equal(t, rollout.PhaseSucceeded, res.State.Phase)

	require.Len(t, res.Changes, 2)
	sw := res.Changes[0]
	assert.Equal(t, int64(1), sw.Writes, "the switch is one write")
	assert.Equal(t, sw.GenerationBefore+1, sw.GenerationAfter)
	assert.Equal(t, map[string]int32{"blue": 0, "green": 100}, istioshared.Evaluate(sw.VS, plain).Weights)
	assertUserRoutes(t, res.Before, sw.VS)
	assert.True(t, res.Changes[1].Finalize)

	vs := getVS(t, e, ns)
	assert.True(t, istioshared.SameRoutes(res.Before.Spec.GetHttp(), vs.Spec.GetHttp()), "after Finalize the user's routes are exactly as before: %v", vs.Spec.GetHttp())
	assert.Equal(t, map[string]int32{"blue": 100, "green": 0}, istioshared.Evaluate(vs, plain).Weights)
	img, replicas, _ := deployment(t, e, ns, "api-blue")
	assert.Equal(t, "registry.example.com/api:v2.0.0", img, "blue took green's template, so the catch-all serves v2.0.0")
	assert.Equal(t, int32(10), replicas)
	_, replicas, _ = deployment(t, e, ns, "api-green")
	assert.Equal(t, int32(0), replicas, "green was scaled away")
}

func TestAPISwitchBackOnFailedMonitor(t *testing.T) {
	e := env.Require(t)
	ns := e.NewNamespace(t)
	c := cfg(ns)
	c.FailAfterSwitch = true
	var out bytes.Buffer
	res, err := run(context.Background(), e.Config(), c, &out)
	t.Log("\n" + out.String())
	require.NoError(t, err)
	require.Equal(t, rollout.PhaseRolledBack, res.State.Phase)
	assert.Contains(t, res.State.Rollback.Reason, `check "error-rate" failed`)

	require.Len(t, res.Changes, 3, "switch, switch back, and the router's route removed")
	assert.Equal(t, map[string]int32{"blue": 0, "green": 100}, istioshared.Evaluate(res.Changes[0].VS, plain).Weights)
	back := res.Changes[1]
	assert.False(t, back.Finalize)
	assert.Equal(t, int64(1), back.Writes, "the switch back is one write")
	assert.Equal(t, back.GenerationBefore+1, back.GenerationAfter)
	d := istioshared.Evaluate(back.VS, plain)
	assert.Equal(t, routeName, d.Route)
	assert.Equal(t, map[string]int32{"blue": 100, "green": 0}, d.Weights, "switched back to blue automatically")
	assertUserRoutes(t, res.Before, back.VS)
	assert.True(t, res.Changes[2].Finalize)

	vs := getVS(t, e, ns)
	assert.True(t, istioshared.SameRoutes(res.Before.Spec.GetHttp(), vs.Spec.GetHttp()))
	img, replicas, ready := deployment(t, e, ns, "api-blue")
	assert.Equal(t, "registry.example.com/api:v1.5.0", img, "blue untouched")
	assert.Equal(t, int32(10), replicas)
	assert.Equal(t, int32(10), ready)
	_, replicas, _ = deployment(t, e, ns, "api-green")
	assert.Equal(t, int32(0), replicas, "green was scaled away")
}
