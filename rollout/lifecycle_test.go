package rollout_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/provider/sim"
	"github.com/agentops/progressive/rollout"
	"github.com/agentops/progressive/strategy"
)

func canaryOf(t *testing.T, version string) progressive.Plan {
	t.Helper()
	rel := progressive.Release{Version: version, Image: "registry.example.com/payment-service:" + version}
	plan, err := strategy.Canary{Weights: []float64{10, 50}, Soak: 5 * time.Minute, Replicas: 1, Checks: seedChecks()}.Plan(service, rel)
	require.NoError(t, err)
	return plan
}

// Two rollouts of one target would undo each other's steps and measure each
// other's canary: the second Start says which rollout holds the target.
func TestOneUnfinishedRolloutPerTarget(t *testing.T) {
	w := newWorld(t)
	r := w.runner()
	ctx := context.Background()
	first, err := r.Start(ctx, canaryOf(t, "v2.0.0"))
	require.NoError(t, err)

	_, err = r.Start(ctx, canaryOf(t, "v2.0.1"))
	require.ErrorIs(t, err, rollout.ErrTargetBusy)
	require.ErrorIs(t, err, progressive.ErrConflict)
	assert.Contains(t, err.Error(), "target production/payment-service is held by rollout "+first.ID)
	assert.Contains(t, err.Error(), "step 1 of")

	other := canaryOf(t, "v2.0.1")
	other.Target.Namespace = "staging"
	other.Name = strategy.PlanName(other.Target, other.Release)
	require.NoError(t, w.env.Workload.AddService(other.Target, sim.ServiceSpec{Replicas: 10, Version: "v1.5.0", Image: "registry.example.com/payment-service:v1.5.0"}))
	require.NoError(t, w.env.Metrics.SetProfile(other.Target, sim.Profile{RequestRate: 1000}))
	_, err = r.Start(ctx, other)
	require.NoError(t, err, "the same service in another namespace is another target")

	require.NoError(t, r.Abort(ctx, first.ID, "superseded"))
	final, _ := drive(t, r, w.clock, first.ID, 100)
	require.Equal(t, rollout.PhaseAborted, final.Phase)
	_, err = r.Start(ctx, canaryOf(t, "v2.0.1"))
	require.NoError(t, err, "the target is free once the first rollout ended")
}

// A version that was rolled back runs again only when asked to, under a new
// id, so the first run's record stays for the rollback rate and MTTR.
func TestRerunAfterARollback(t *testing.T) {
	w := newWorld(t)
	r := w.runner()
	ctx := context.Background()
	plan := canaryOf(t, "v2.0.0")
	st, err := r.Start(ctx, plan)
	require.NoError(t, err)
	require.NoError(t, r.Rollback(ctx, st.ID, "bad config"))
	first, _ := drive(t, r, w.clock, st.ID, 100)
	require.Equal(t, rollout.PhaseRolledBack, first.Phase)

	_, err = r.Start(ctx, plan)
	require.ErrorIs(t, err, rollout.ErrAlreadyRan)
	assert.Contains(t, err.Error(), "already ran and ended rolled-back")
	assert.Contains(t, err.Error(), "Rerun")

	second, err := r.Rerun(ctx, plan)
	require.NoError(t, err)
	assert.Equal(t, plan.Name+"-run-2", second.ID)
	assert.Contains(t, second.Plan.Reason, "run 2: rollout "+plan.Name+" ended rolled-back")
	_, err = r.Rerun(ctx, plan)
	require.ErrorIs(t, err, rollout.ErrTargetBusy, "run 2 has not ended")

	require.NoError(t, r.Abort(ctx, second.ID, "again"))
	drive(t, r, w.clock, second.ID, 100)
	third, err := r.Rerun(ctx, plan)
	require.NoError(t, err)
	assert.Equal(t, plan.Name+"-run-3", third.ID)
	assert.Contains(t, third.Plan.Reason, "rollout "+second.ID+" ended aborted")

	all, err := w.store.List(ctx)
	require.NoError(t, err)
	assert.Len(t, all, 3, "every run keeps its record")
}

// Prune deletes finished rollouts past the retention, newest kept, and never
// an unfinished one.
func TestPruneKeepsTheNewestFinishedRollouts(t *testing.T) {
	w := newWorld(t)
	r := w.runner()
	ctx := context.Background()
	var ended []string
	for _, v := range []string{"v2.0.0", "v2.0.1", "v2.0.2"} {
		st, err := r.Start(ctx, canaryOf(t, v))
		require.NoError(t, err)
		require.NoError(t, r.Abort(ctx, st.ID, "test"))
		drive(t, r, w.clock, st.ID, 100)
		ended = append(ended, st.ID)
		w.clock.Step(time.Hour)
	}
	running, err := r.Start(ctx, canaryOf(t, "v2.0.3"))
	require.NoError(t, err)

	deleted, err := r.Prune(ctx, rollout.Retention{})
	require.NoError(t, err)
	assert.Empty(t, deleted, "the zero retention keeps everything")

	deleted, err = r.Prune(ctx, rollout.Retention{KeepPerTarget: 2})
	require.NoError(t, err)
	assert.Equal(t, []string{ended[0]}, deleted)

	w.clock.Step(24 * time.Hour)
	deleted, err = r.Prune(ctx, rollout.Retention{MaxAge: 25*time.Hour + 30*time.Minute})
	require.NoError(t, err)
	assert.Equal(t, []string{ended[1]}, deleted, "ended 26 h ago; the newer one 25 h ago")

	_, err = r.Get(ctx, running.ID)
	require.NoError(t, err, "an unfinished rollout is never pruned")
	_, err = r.Prune(ctx, rollout.Retention{KeepPerTarget: -1})
	require.ErrorIs(t, err, progressive.ErrInvalid)
}

func TestStoresDelete(t *testing.T) {
	fs, err := rollout.NewFileStore(t.TempDir())
	require.NoError(t, err)
	for name, store := range map[string]rollout.StateStore{"memory": rollout.NewMemoryStore(), "file": fs} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			st := rollout.State{ID: "production-payment-service-v2-0-0", Phase: rollout.PhaseSucceeded}
			_, err := store.Create(ctx, st)
			require.NoError(t, err)
			require.NoError(t, store.Delete(ctx, st.ID))
			_, err = store.Get(ctx, st.ID)
			require.ErrorIs(t, err, progressive.ErrNotFound)
			require.ErrorIs(t, store.Delete(ctx, st.ID), progressive.ErrNotFound)
			_, err = store.Create(ctx, st)
			require.NoError(t, err, "the id is free again")
		})
	}
}

// slowQueries answers like the simulator, but slowly, as a real backend may
// during Start's preflight.
type slowQueries struct{ progressive.MetricSource }

func (s slowQueries) Query(ctx context.Context, q progressive.Query) (progressive.Result, error) {
	time.Sleep(20 * time.Millisecond)
	return s.MetricSource.Query(ctx, q)
}

// Two Starts for one target at once in one process: exactly one starts, even
// when both pass the first check while their preflight queries run.
func TestConcurrentStartsForOneTarget(t *testing.T) {
	w := newWorld(t)
	w.metrics = slowQueries{w.env.Metrics}
	r := w.runner()
	ctx := context.Background()
	errs := make(chan error, 2)
	for _, v := range []string{"v2.0.0", "v2.0.1"} {
		go func() {
			_, err := r.Start(ctx, canaryOf(t, v))
			errs <- err
		}()
	}
	var started, busy int
	for range 2 {
		err := <-errs
		switch {
		case err == nil:
			started++
		case errors.Is(err, rollout.ErrTargetBusy):
			busy++
		default:
			t.Fatalf("unexpected error: %v", err)
		}
	}
	assert.Equal(t, 1, started)
	assert.Equal(t, 1, busy)
}
