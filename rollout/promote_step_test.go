package rollout_test

import (
	"context"
	"testing"
	"time"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/provider/sim"
	"github.com/agentops/progressive/rollout"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// reconcileUntilStep drives rollout id until its stored step is index (0-based).
func reconcileUntilStep(t *testing.T, w *world, r *rollout.Runner, id string, index int) rollout.State {
	t.Helper()
	ctx := context.Background()
	for range 100 {
		st, err := r.Get(ctx, id)
		require.NoError(t, err)
		if st.Step.Index == index {
			return st
		}
		res, err := r.Reconcile(ctx, id)
		require.NoError(t, err)
		require.False(t, res.Phase.Terminal(), "the rollout ended before step %d", index+1)
		w.clock.Step(res.RequeueAfter)
	}
	t.Fatalf("rollout %s never reached step %d", id, index+1)
	return rollout.State{}
}

func TestPromoteStepAdvancesExactlyOneStep(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	r := w.runner()
	plan := seedCanary(t) // deploy, weight-10, analyze-10, weight-50, analyze-50, promote, finalize
	started, err := r.Start(ctx, plan)
	require.NoError(t, err)

	err = r.PromoteStep(ctx, started.ID, "too early")
	require.ErrorIs(t, err, progressive.ErrInvalid, "a deploy under way is not cut short")
	assert.Contains(t, err.Error(), "step 1 (deploy)")

	st := reconcileUntilStep(t, w, r, started.ID, 2) // analyze-10, soaking
	require.Equal(t, 10.0, w.routes().CanaryWeight)
	soakStart := st.Step.StartedAt

	require.NoError(t, r.PromoteStep(ctx, st.ID, "looks good"))
	res, err := r.Reconcile(ctx, st.ID)
	require.NoError(t, err)
	st, err = r.Get(ctx, st.ID)
	require.NoError(t, err)
	assert.Equal(t, rollout.PhaseProgressing, res.Phase)
	assert.Equal(t, 4, st.Step.Index, "analyze-10 ended, weight-50 ran, analyze-50 soaks in full")
	assert.Equal(t, 50.0, w.routes().CanaryWeight)
	assert.Equal(t, "v1.5.0", w.status().Stable.Version, "no promotion: one step only")
	assert.Less(t, w.clock.Now().Sub(soakStart), 15*time.Minute, "the 15m soak was cut short")
	require.Len(t, decisions(st, "promote-step"), 1)
	assert.Contains(t, decisions(st, "promote-step")[0].Reason, "step 3 (analyze) ended early")

	// The next soak is not skipped: without another command it runs its 15
	// minutes and the rollout then promotes.
	final, _ := drive(t, r, w.clock, st.ID, 1000)
	assert.Equal(t, rollout.PhaseSucceeded, final.Phase)
	assert.GreaterOrEqual(t, w.clock.Now().Sub(soakStart), 15*time.Minute)
	assert.Equal(t, release.Version, w.status().Stable.Version)
}

func TestPromoteStepEndsAHold(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	w.inject(sim.NoTraffic, progressive.Canary, 0, 0) // inconclusive: the rollout holds
	r := w.runner()
	plan := seedCanary(t)
	plan.OnInconclusive = progressive.HoldOnInconclusive
	started, err := r.Start(ctx, plan)
	require.NoError(t, err)
	var st rollout.State
	for range 100 {
		res, err := r.Reconcile(ctx, started.ID)
		require.NoError(t, err)
		if res.Phase == rollout.PhaseHeld {
			break
		}
		w.clock.Step(res.RequeueAfter)
	}
	st, err = r.Get(ctx, started.ID)
	require.NoError(t, err)
	require.Equal(t, rollout.PhaseHeld, st.Phase)
	require.Equal(t, 2, st.Step.Index)

	require.NoError(t, r.PromoteStep(ctx, st.ID, "checked by hand"))
	_, err = r.Reconcile(ctx, st.ID)
	require.NoError(t, err)
	st, err = r.Get(ctx, st.ID)
	require.NoError(t, err)
	assert.Equal(t, rollout.PhaseProgressing, st.Phase)
	assert.Equal(t, 4, st.Step.Index)
	assert.Empty(t, st.HeldReason)
	assert.Equal(t, 50.0, w.routes().CanaryWeight)
}
