package rollout_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/rollout"
)

// pendingDeploy answers every DeployCanary with "not yet", as the kubernetes
// workload does while adopting a target restarts its pods.
type pendingDeploy struct{ progressive.Workload }

func (pendingDeploy) DeployCanary(context.Context, progressive.Target, progressive.Release, int) error {
	return progressive.Pending(time.Minute, "adopting: waiting for the relabelled pods")
}

func neverReadyPlan(readyTimeout time.Duration) progressive.Plan {
	return progressive.Plan{
		Name:    "never-ready",
		Target:  service,
		Release: release,
		Steps: []progressive.Step{
			{Deploy: &progressive.DeployStep{Replicas: 2, ReadyTimeout: readyTimeout}},
			{Promote: &progressive.PromoteStep{}},
		},
	}
}

// resumeEveryMinute reconciles rollout id once a virtual minute, each time in a
// new runner (a process that crashed, or a replica that took the rollout
// over), until it leaves the deploy step; it returns the virtual time at which
// it did and the state.
func resumeEveryMinute(t *testing.T, w *world, id string, newRunner func() *rollout.Runner) (time.Time, rollout.State) {
	t.Helper()
	ctx := context.Background()
	for range 60 {
		_, err := newRunner().Reconcile(ctx, id)
		require.NoError(t, err)
		st, err := w.store.Get(ctx, id)
		require.NoError(t, err)
		if st.Phase != rollout.PhaseProgressing || st.Step.Index != 0 {
			return w.clock.Now(), st
		}
		w.clock.Step(time.Minute)
	}
	t.Fatal("the deploy step never timed out")
	return time.Time{}, rollout.State{}
}

// TestDeployTimeoutCountsFromTheFirstClaim: a rollout started at t0 waits 20
// minutes for a driver (a thousand started at once), then is driven by a new
// process every minute. Its deploy step's ReadyTimeout counts from the first
// process that took the step on, as stored in the state: not from Start
// (which would roll it back at its first Reconcile), nor from each process's
// first look (which would never roll it back).
func TestDeployTimeoutCountsFromTheFirstClaim(t *testing.T) {
	w := newWorld(t)
	w.env.Workload.NeverReady(release.Image)
	const timeout = 5 * time.Minute
	st, err := w.runner().Start(context.Background(), neverReadyPlan(timeout))
	require.NoError(t, err)
	w.clock.Step(20 * time.Minute)
	claimed := w.clock.Now()

	at, final := resumeEveryMinute(t, w, st.ID, w.runner)
	assert.Equal(t, claimed.Add(timeout), at, "rolled back at the first claim + ReadyTimeout")
	assert.Equal(t, rollout.PhaseRolledBack, final.Phase)
	require.NotNil(t, final.Rollback)
	assert.Contains(t, final.Rollback.Reason, fmt.Sprintf("canary not ready within %s", "5m"))
}

// TestPendingDeployTimeoutCountsFromTheFirstClaim: a deploy that keeps
// answering "not yet" stores nothing but its first claim, and times out
// DefaultReadyTimeout after it however many processes asked again.
func TestPendingDeployTimeoutCountsFromTheFirstClaim(t *testing.T) {
	w := newWorld(t)
	st, err := w.runner().Start(context.Background(), neverReadyPlan(0))
	require.NoError(t, err)
	w.clock.Step(30 * time.Minute)
	claimed := w.clock.Now()
	pending := func() *rollout.Runner {
		r, err := rollout.New(rollout.Options{
			Providers: rollout.Providers{
				Routers:   []progressive.TrafficRouter{w.env.Router},
				Metrics:   []progressive.MetricSource{w.env.Metrics},
				Workloads: []progressive.Workload{pendingDeploy{w.env.Workload}},
			},
			Store: w.store, Clock: w.clock, RetryBackoff: time.Second, MaxAttempts: 1,
		})
		require.NoError(t, err)
		return r
	}
	at, final := resumeEveryMinute(t, w, st.ID, pending)
	assert.Equal(t, claimed.Add(rollout.DefaultReadyTimeout), at, "gave up at the first claim + DefaultReadyTimeout")
	assert.NotEqual(t, rollout.PhaseProgressing, final.Phase)
}
