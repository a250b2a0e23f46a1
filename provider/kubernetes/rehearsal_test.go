package kubernetes_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/strategy"
)

// TestRunnerDryRunRehearsesThroughTheAPIServer: Runner.DryRun with the
// provider in dry-run mode sends each step's write to the API server as a
// server-side dry run (the workload and the router say they are in dry-run
// mode; before they did, every step was only described), and nothing in the
// cluster changes.
func TestRunnerDryRunRehearsesThroughTheAPIServer(t *testing.T) {
	e := env.Require(t)
	ns := e.NewNamespace(t)
	ctx := context.Background()
	cs := e.Clientset()
	seed(t, cs, ns, "catalog", 4, "registry.example/catalog:v1")
	opts := fastOptions()
	opts.DryRun = true
	p := newProvider(t, e.Config(), opts)
	r := newRunner(t, p, nil, newFixedMetrics(0.1, 0.1), nil)
	plan, err := strategy.Canary{Weights: []float64{25, 50}, Soak: time.Minute, Checks: errorRate(), Replicas: 2}.
		Plan(target(ns, "catalog"), progressive.Release{Version: "v2", Image: "registry.example/catalog:v2"})
	require.NoError(t, err)

	report, err := r.DryRun(ctx, plan)
	require.NoError(t, err)
	rehearsed := 0
	for _, s := range report.Steps {
		assert.Empty(t, s.Error, "step %d (%s)", s.Step, s.Description)
		if s.Rehearsed {
			rehearsed++
		}
		assert.NotContains(t, s.Note, "no dry-run mode", "step %d (%s)", s.Step, s.Description)
	}
	assert.GreaterOrEqual(t, rehearsed, 3, "the deploy and both weights were sent: %+v", report.Steps)
	assert.Positive(t, p.Stats().Writes, "the writes went to the apiserver")

	_, err = cs.AppsV1().Deployments(ns).Get(ctx, "catalog-canary", metav1.GetOptions{})
	assert.True(t, apierrors.IsNotFound(err), "no canary was created")
	d, err := cs.AppsV1().Deployments(ns).Get(ctx, "catalog", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, "registry.example/catalog:v1", d.Spec.Template.Spec.Containers[0].Image)
	svc, err := cs.CoreV1().Services(ns).Get(ctx, "catalog", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"app": "catalog"}, svc.Spec.Selector)
}
