package main

import (
	"bytes"
	"context"
	"os"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apinetworking "istio.io/api/networking/v1"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	"istio.io/client-go/pkg/clientset/versioned"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/agentops/progressive"
	istioshared "github.com/agentops/progressive/examples/istio-shared"
	"github.com/agentops/progressive/internal/testenv"
	"github.com/agentops/progressive/rollout"
)

var env *testenv.Env

func TestMain(m *testing.M) { os.Exit(istioshared.RunMain(m, &env)) }

var (
	plain  = istioshared.Request{Path: "/orders"}
	header = istioshared.Request{Path: "/orders", Headers: map[string]string{"x-version": "green"}}
	cookie = istioshared.Request{Path: "/orders", Headers: map[string]string{"cookie": "session=1f3a; ab-group=green"}}
	other  = istioshared.Request{Path: "/orders", Headers: map[string]string{"x-version": "blue", "cookie": "ab-group=blue"}}
	admin  = istioshared.Request{Path: "/admin/users", Headers: map[string]string{"x-version": "green"}}
)

func getVS(t *testing.T, e *testenv.Env, ns string) *networkingv1.VirtualService {
	t.Helper()
	ic, err := versioned.NewForConfig(e.Config())
	require.NoError(t, err)
	vs, err := ic.NetworkingV1().VirtualServices(ns).Get(context.Background(), "api", metav1.GetOptions{})
	require.NoError(t, err)
	return vs
}

func deployment(t *testing.T, e *testenv.Env, ns, name string) (string, int32) {
	t.Helper()
	d, err := e.Clientset().AppsV1().Deployments(ns).Get(context.Background(), name, metav1.GetOptions{})
	require.NoError(t, err)
	return d.Spec.Template.Spec.Containers[0].Image, *d.Spec.Replicas
}

func route(vs *networkingv1.VirtualService, name string) *apinetworking.HTTPRoute {
	for _, r := range vs.Spec.GetHttp() {
		if r.GetName() == name {
			return r
		}
	}
	return nil
}

func TestMatches(t *testing.T) {
	ms, err := matches("")
	require.NoError(t, err)
	assert.Equal(t, []progressive.Match{{Kind: progressive.MatchHeader, Name: "x-version", Value: "green"}}, ms)
	ms, err = matches("ab-group=green")
	require.NoError(t, err)
	require.Len(t, ms, 2)
	assert.Equal(t, progressive.Match{Kind: progressive.MatchCookie, Name: "ab-group", Value: "green"}, ms[1])
	for _, bad := range []string{"ab-group", "=green", "ab-group=", "a b=c"} {
		_, err := matches(bad)
		assert.ErrorContains(t, err, bad)
	}
}

func TestABTestPromoted(t *testing.T) {
	e := env.Require(t)
	ns := e.NewNamespace(t)
	var out bytes.Buffer
	res, err := run(context.Background(), e.Config(), config{Namespace: ns, Cookie: "ab-group=green", Duration: 1500 * time.Millisecond}, &out)
	t.Log("\n" + out.String())
	require.NoError(t, err)
	require.Equal(t, rollout.PhaseSucceeded, res.State.Phase)
	require.Len(t, res.Changes, 2)

	// During the test: the match route, ahead of the weighted one and of the
	// user's catch-all, behind the user's /admin route.
	during := res.Changes[0]
	assert.Equal(t, int64(1), during.Writes, "both routes in one write")
	assert.Equal(t, []string{"admin", abRouteName, routeName, "default"}, istioshared.RouteNames(during.VS))
	ab := route(during.VS, abRouteName)
	require.NotNil(t, ab)
	require.Len(t, ab.GetMatch(), 2)
	assert.Equal(t, "green", ab.GetMatch()[0].GetHeaders()["x-version"].GetExact())
	re := ab.GetMatch()[1].GetHeaders()["cookie"].GetRegex()
	require.NotEmpty(t, re)
	assert.Regexp(t, regexp.MustCompile(re), "session=1f3a; ab-group=green")
	assert.NotRegexp(t, regexp.MustCompile(re), "ab-group=blue")
	for _, req := range []istioshared.Request{header, cookie} {
		d := istioshared.Evaluate(during.VS, req)
		assert.Equal(t, abRouteName, d.Route, "%v", req)
		assert.Equal(t, map[string]int32{"green": 100}, d.Weights, "%v goes to green", req)
	}
	for _, req := range []istioshared.Request{plain, other} {
		d := istioshared.Evaluate(during.VS, req)
		assert.Equal(t, routeName, d.Route, "%v", req)
		assert.Equal(t, map[string]int32{"blue": 100, "green": 0}, d.Weights, "%v stays on blue", req)
	}
	assert.Equal(t, "admin", istioshared.Evaluate(during.VS, admin).Route, "the user's /admin route keeps precedence")
	assert.True(t, istioshared.SameRoutes(res.Before.Spec.GetHttp(), istioshared.UserRoutes(during.VS, routeName, abRouteName)), "the user's routes are untouched during the test")

	// After: the match route is gone and the user's routes are exactly as before.
	assert.True(t, res.Changes[1].Finalize)
	vs := getVS(t, e, ns)
	assert.Nil(t, route(vs, abRouteName))
	assert.True(t, istioshared.SameRoutes(res.Before.Spec.GetHttp(), vs.Spec.GetHttp()), "after the test: %v", vs.Spec.GetHttp())
	assert.Equal(t, "default", istioshared.Evaluate(vs, header).Route)
	img, replicas := deployment(t, e, ns, "api-blue")
	assert.Equal(t, "registry.example.com/api:v2.0.0", img, "blue took green's template")
	assert.Equal(t, int32(10), replicas)
	_, replicas = deployment(t, e, ns, "api-green")
	assert.Equal(t, int32(0), replicas)
}

func TestABTestRolledBack(t *testing.T) {
	e := env.Require(t)
	ns := e.NewNamespace(t)
	var out bytes.Buffer
	res, err := run(context.Background(), e.Config(), config{Namespace: ns, Duration: 1500 * time.Millisecond, Bad: true}, &out)
	t.Log("\n" + out.String())
	require.NoError(t, err)
	require.Equal(t, rollout.PhaseRolledBack, res.State.Phase)
	assert.Contains(t, res.State.Rollback.Reason, `check "error-rate" failed`)

	require.Len(t, res.Changes, 3, "the segment routed, the rollback, the router's route removed")
	assert.Equal(t, map[string]int32{"green": 100}, istioshared.Evaluate(res.Changes[0].VS, header).Weights)
	back := res.Changes[1]
	assert.Equal(t, int64(1), back.Writes, "the rollback is one write")
	assert.Nil(t, route(back.VS, abRouteName), "the match route went in the rollback's write")
	d := istioshared.Evaluate(back.VS, header)
	assert.Equal(t, routeName, d.Route)
	assert.Equal(t, map[string]int32{"blue": 100, "green": 0}, d.Weights, "x-version: green is back on blue")

	vs := getVS(t, e, ns)
	assert.True(t, istioshared.SameRoutes(res.Before.Spec.GetHttp(), vs.Spec.GetHttp()), "after the rollback: %v", vs.Spec.GetHttp())
	img, _ := deployment(t, e, ns, "api-blue")
	assert.Equal(t, "registry.example.com/api:v1.5.0", img, "blue untouched")
	_, replicas := deployment(t, e, ns, "api-green")
	assert.Equal(t, int32(0), replicas, "green was scaled away")
}
