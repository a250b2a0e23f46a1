package istioshared

import (
	"bytes"
	"flag"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apinetworking "istio.io/api/networking/v1"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/agentops/progressive"
	shared "github.com/agentops/progressive/examples/k8s-shared"
)

var releaseV2 = progressive.Release{Version: "v2.0.0", Image: "registry.example.com/api:v2.0.0"}

func dest(subset string, weight int32) *apinetworking.HTTPRouteDestination {
	return &apinetworking.HTTPRouteDestination{Destination: &apinetworking.Destination{Host: "api", Subset: subset}, Weight: weight}
}

func TestEvaluate(t *testing.T) {
	vs := &networkingv1.VirtualService{}
	vs.Spec.Http = []*apinetworking.HTTPRoute{
		{Name: "admin", Match: []*apinetworking.HTTPMatchRequest{{Uri: &apinetworking.StringMatch{MatchType: &apinetworking.StringMatch_Prefix{Prefix: "/admin"}}}},
			Route: []*apinetworking.HTTPRouteDestination{dest("blue", 0)}},
		{Name: "ab", Match: []*apinetworking.HTTPMatchRequest{
			{Headers: map[string]*apinetworking.StringMatch{"x-version": {MatchType: &apinetworking.StringMatch_Exact{Exact: "green"}}}},
			{Headers: map[string]*apinetworking.StringMatch{"cookie": {MatchType: &apinetworking.StringMatch_Regex{Regex: `(.*;\s*)?ab=green(;.*)?`}}}},
		}, Route: []*apinetworking.HTTPRouteDestination{dest("green", 100)}},
		{Name: "method", Match: []*apinetworking.HTTPMatchRequest{{Method: &apinetworking.StringMatch{MatchType: &apinetworking.StringMatch_Exact{Exact: "POST"}}}},
			Route: []*apinetworking.HTTPRouteDestination{dest("green", 0)}},
		{Name: "default", Route: []*apinetworking.HTTPRouteDestination{dest("blue", 90), dest("green", 10)}},
	}
	for _, tc := range []struct {
		req   Request
		route string
		w     map[string]int32
	}{
		{Request{Path: "/admin/x", Headers: map[string]string{"x-version": "green"}}, "admin", map[string]int32{"blue": 100}},
		{Request{Path: "/", Headers: map[string]string{"x-version": "green"}}, "ab", map[string]int32{"green": 100}},
		{Request{Path: "/", Headers: map[string]string{"cookie": "s=1; ab=green"}}, "ab", map[string]int32{"green": 100}},
		{Request{Path: "/", Headers: map[string]string{"cookie": "ab=greenish"}}, "default", map[string]int32{"blue": 90, "green": 10}},
		{Request{Path: "/"}, "default", map[string]int32{"blue": 90, "green": 10}},
	} {
		d := Evaluate(vs, tc.req)
		assert.Equal(t, tc.route, d.Route, "%+v", tc.req)
		assert.Equal(t, tc.w, d.Weights, "%+v", tc.req)
	}
	assert.Equal(t, Destination{}, Evaluate(nil, Request{Path: "/"}))
	assert.Equal(t, []string{"admin", "method", "default"}, RouteNames(&networkingv1.VirtualService{Spec: apinetworking.VirtualService{Http: UserRoutes(vs, "ab")}}))
	assert.True(t, SameRoutes(vs.Spec.Http, UserRoutes(vs)))
	assert.False(t, SameRoutes(vs.Spec.Http, UserRoutes(vs, "default")))
}

func TestVersionAndSide(t *testing.T) {
	tpl := &corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Image: "registry.example.com:5000/api:v1.5.0"}}}}
	assert.Equal(t, "v1.5.0", Version(tpl))
	require.NoError(t, applyRelease(tpl, releaseV2))
	assert.Equal(t, "v2.0.0", Version(tpl))
	assert.Equal(t, "registry.example.com/api:v2.0.0", tpl.Spec.Containers[0].Image)

	ten := int32(10)
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Generation: 2}, Spec: appsv1.DeploymentSpec{Replicas: &ten, Template: *tpl}}
	d.Status = appsv1.DeploymentStatus{ObservedGeneration: 1, Replicas: 10, UpdatedReplicas: 10, ReadyReplicas: 10}
	assert.Zero(t, side(d).Ready, "the controller has not seen the new template yet")
	d.Status = appsv1.DeploymentStatus{ObservedGeneration: 2, Replicas: 13, UpdatedReplicas: 10, ReadyReplicas: 12}
	assert.Equal(t, 9, side(d).Ready, "three old pods may be among the ready ones")
	d.Status = appsv1.DeploymentStatus{ObservedGeneration: 2, Replicas: 10, UpdatedReplicas: 10, ReadyReplicas: 10}
	assert.Equal(t, 10, side(d).Ready)
}

func TestShortWithTestenv(t *testing.T) {
	for _, testenv := range []bool{false, true} {
		fs := flag.NewFlagSet("x", flag.ContinueOnError)
		phase := fs.Duration("phase", 15*time.Minute, "")
		monitor := fs.Duration("monitor", 15*time.Minute, "")
		require.NoError(t, fs.Parse([]string{"--monitor", "3s"}))
		var log bytes.Buffer
		require.NoError(t, ShortWithTestenv(fs, &shared.Flags{Testenv: testenv}, map[string]time.Duration{"phase": 5 * time.Second, "monitor": time.Second}, &log))
		assert.Equal(t, 3*time.Second, *monitor, "given on the command line")
		if testenv {
			assert.Equal(t, 5*time.Second, *phase)
			assert.Contains(t, log.String(), "--phase 5s")
		} else {
			assert.Equal(t, 15*time.Minute, *phase)
			assert.Empty(t, log.String())
		}
	}
}
