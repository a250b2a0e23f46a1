package kubernetes_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/internal/testenv"
)

// Under progressive.AllowPending (how the runner calls it) the router answers
// a weight whose pods are not ready with "not yet" instead of polling for
// ReadyTimeout; called directly it still waits, and fails at the timeout.
func TestRouterAnswersPendingInsteadOfWaiting(t *testing.T) {
	e := env.Require(t)
	ns := e.NewNamespace(t)
	ctx := context.Background()
	seed(t, e.Clientset(), ns, "search", 4, "registry.example/search:v1")
	opts := fastOptions()
	p := newProvider(t, e.Config(), opts)
	tg := target(ns, "search")
	rel := progressive.Release{Version: "v2", Image: "registry.example/search:v2-" + testenv.NeverReadyImageMarker}
	require.NoError(t, p.Workload().DeployCanary(ctx, tg, rel, 1))

	for range 2 {
		err := p.Router().SetRoutes(progressive.AllowPending(ctx), tg, progressive.WeightedRoutes(50))
		require.ErrorIs(t, err, progressive.ErrPending)
		assert.Contains(t, err.Error(), "pods ready")
		assert.Equal(t, opts.PollInterval, progressive.RetryAfter(err))
	}

	short := opts
	short.ReadyTimeout = 2 * time.Second
	err := newProvider(t, e.Config(), short).Router().SetRoutes(ctx, tg, progressive.WeightedRoutes(50))
	require.Error(t, err)
	assert.False(t, progressive.IsPending(err), "a direct call waits and reports the timeout: %v", err)
	assert.True(t, progressive.IsTransient(err), "%v", err)
	got, err := p.Router().GetRoutes(ctx, tg)
	require.NoError(t, err)
	assert.Zero(t, got.CanaryWeight, "traffic not moved to pods that are not ready")
}
