package rollout_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/rollout"
)

// halfDeploy creates the canary, then fails as a wait for its pods would
// under an apiserver that keeps answering 503: the canary exists, and the
// step never completed.
type halfDeploy struct{ progressive.Workload }

func (h halfDeploy) DeployCanary(ctx context.Context, t progressive.Target, r progressive.Release, replicas int) error {
	if err := h.Workload.DeployCanary(ctx, t, r, replicas); err != nil {
		return err
	}
	return fmt.Errorf("wait for the canary's pods: the server is currently unable to handle the request: %w", progressive.ErrTransient)
}

func TestARollbackScalesAwayACanaryWhoseDeployNeverCompleted(t *testing.T) {
	w := newWorld(t)
	r, err := rollout.New(rollout.Options{
		Providers: rollout.Providers{
			Routers:   []progressive.TrafficRouter{w.env.Router},
			Metrics:   []progressive.MetricSource{w.env.Metrics},
			Workloads: []progressive.Workload{halfDeploy{w.env.Workload}},
		},
		Store: w.store, Clock: w.clock, RetryBackoff: 1,
	})
	require.NoError(t, err)
	st, err := r.Start(context.Background(), seedCanary(t))
	require.NoError(t, err)
	final, _ := drive(t, r, w.clock, st.ID, 1000)
	require.Equal(t, rollout.PhaseRolledBack, final.Phase, "the deploy's retries ran out")
	assert.False(t, final.Applied.Deployed, "the deploy step never completed")
	assert.Equal(t, 0, w.status().Canary.Replicas, "the canary it did create is scaled away")
}
