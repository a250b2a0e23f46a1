package main

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/agentops/progressive/rollout"
	"github.com/agentops/progressive/testkit/promtest"
)

// checklist: a production-gated canary on the kubernetes router, with nobody
// attesting anything. The rollback path is rehearsed through the API
// server's dry runs (routes back to stable, the canary scaled away) and the
// checks answer at preflight, so those items hold with their evidence; the
// start is refused (exit 4) for the items only staging or a person can give,
// and nothing in the cluster moved.
func (w *world) checklist(t *testing.T) {
	ctx := context.Background()
	ns := w.e.NewNamespace(t)
	cs := w.e.Clientset()
	seed(ctx, t, cs, ns, "payment-service", 3)
	w.app.Service(promtest.ServiceSpec{Namespace: ns, Name: "payment-service", CanaryVersion: "v2.0.1", CanaryShare: func() float64 { return 0 }})
	w.waitStable(ctx, t, ns, "payment-service")
	dir := t.TempDir()
	cfg := w.config(t, dir, ns, "kubernetes", map[string]any{
		"checklist": map[string]any{"namespaces": []string{ns}},
	})
	r := exe(t, w.prog, w.environ(dir), args([]string{"run", "--config", cfg}, sets(
		"spec.target.namespace="+ns, "spec.release.version=v2.0.1", "spec.release.image=registry.example/payment-service:v2.0.1",
		"spec.checks[0].interval=500ms", "spec.checks[1].interval=500ms", "spec.checks[2].interval=500ms",
	), examples+"payment-service-canary.yaml")...)
	require.Equal(t, 4, r.code, "not started")
	assert.Regexp(t, `ok +`+rollout.ItemRollbackTested+` +.*routes back to stable.*canary scaled away`, r.stderr)
	assert.Regexp(t, `ok +`+rollout.ItemMetricsDefined+` `, r.stderr)
	assert.Regexp(t, `MISSING +`+rollout.ItemStagingValidated+` `, r.stderr)
	assert.Regexp(t, `MISSING +`+rollout.ItemOnCallNotified+` `, r.stderr)

	d, err := cs.AppsV1().Deployments(ns).Get(ctx, "payment-service", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, "registry.example/payment-service:v1", d.Spec.Template.Spec.Containers[0].Image, "stable untouched")
	_, err = cs.AppsV1().Deployments(ns).Get(ctx, "payment-service-canary", metav1.GetOptions{})
	assert.True(t, apierrors.IsNotFound(err), "the rehearsal created no canary: %v", err)
}
