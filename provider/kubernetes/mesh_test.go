package kubernetes_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/agentops/progressive"
	k8s "github.com/agentops/progressive/provider/kubernetes"
)

// TestLeaveServiceSelector: with a mesh routing, the workload labels the pods
// by role but leaves the Service selecting both sides (the mesh's subsets need
// the canary's endpoints), and the selector-switching router refuses to run.
func TestLeaveServiceSelector(t *testing.T) {
	e := env.Require(t)
	ns := e.NewNamespace(t)
	cs := e.Clientset()
	ctx := context.Background()
	seed(t, cs, ns, "payments", 3, "registry.example/payments:v1")
	opts := fastOptions()
	opts.LeaveServiceSelector = true
	p := newProvider(t, e.Config(), opts)
	tg := target(ns, "payments")

	require.NoError(t, p.Workload().DeployCanary(ctx, tg, progressive.Release{Version: "v2", Image: "registry.example/payments:v2"}, 1))
	svc, err := cs.CoreV1().Services(ns).Get(ctx, "payments", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"app": "payments"}, svc.Spec.Selector, "the Service still selects both sides")
	assert.NotContains(t, svc.Annotations, k8s.SelectorAnnotation)
	stable, err := cs.AppsV1().Deployments(ns).Get(ctx, "payments", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, "stable", stable.Spec.Template.Labels[k8s.RoleLabel], "stable pods carry the role a mesh subset selects")
	canary, err := cs.AppsV1().Deployments(ns).Get(ctx, k8s.CanaryName(tg), metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, "canary", canary.Spec.Template.Labels[k8s.RoleLabel])

	err = p.Router().SetRoutes(ctx, tg, progressive.WeightedRoutes(10))
	require.ErrorIs(t, err, progressive.ErrInvalid)
	assert.Contains(t, err.Error(), "LeaveServiceSelector")
	after, err := cs.CoreV1().Services(ns).Get(ctx, "payments", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, svc.ResourceVersion, after.ResourceVersion, "the refused router wrote nothing")
}
