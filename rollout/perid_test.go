package rollout

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	testingclock "k8s.io/utils/clock/testing"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/provider/sim"
)

// A runner that drives rollouts for months must not keep memory for each one
// it ever drove: the per-rollout lock and wake-up entries go when the last
// Reconcile or Run of a rollout returns.
func TestRunnerForgetsRolloutsItNoLongerDrives(t *testing.T) {
	fc := testingclock.NewFakeClock(time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC))
	env := sim.New(sim.Options{Clock: fc, Seed: 3})
	r, err := New(Options{
		Providers: Providers{
			Routers: []progressive.TrafficRouter{env.Router}, Metrics: []progressive.MetricSource{env.Metrics},
			Workloads: []progressive.Workload{env.Workload},
		},
		Clock: fc, PollInterval: time.Second,
	})
	require.NoError(t, err)
	ctx := context.Background()
	var ids []string
	for i := range 20 {
		target := progressive.Target{Namespace: "shop", Name: fmt.Sprintf("svc-%d", i)}
		require.NoError(t, env.Workload.AddService(target, sim.ServiceSpec{Replicas: 2, Version: "v1", Image: "img:v1"}))
		require.NoError(t, env.Metrics.SetProfile(target, sim.Profile{RequestRate: 1000}))
		plan := progressive.Plan{
			Name: "svc-" + fmt.Sprint(i) + "-v2", Target: target, Release: progressive.Release{Version: "v2", Image: "img:v2"},
			Checks: []progressive.Check{{Name: "error-rate", Query: "error_rate", Max: progressive.Float(5), Interval: time.Minute}},
			Steps: []progressive.Step{
				{Name: "deploy", Deploy: &progressive.DeployStep{Replicas: 1}},
				{Name: "weight-10", SetWeight: &progressive.SetWeightStep{Weight: 10}},
				{Name: "analyze-10", Analyze: &progressive.AnalyzeStep{Duration: 5 * time.Minute}},
				{Name: "promote", Promote: &progressive.PromoteStep{}},
				{Name: "finalize", Finalize: &progressive.FinalizeStep{}},
			},
		}
		st, err := r.Start(ctx, plan)
		require.NoError(t, err)
		ids = append(ids, st.ID)
	}
	// Half are reconciled by hand to the end, half are driven by Run and aborted.
	for _, id := range ids[:10] {
		for range 100 {
			res, err := r.Reconcile(ctx, id)
			require.NoError(t, err)
			if res.Phase.Terminal() {
				break
			}
			fc.Step(res.RequeueAfter)
		}
	}
	done := make(chan error, 10)
	for _, id := range ids[10:] {
		go func() {
			_, err := r.Run(ctx, id)
			done <- err
		}()
	}
	require.Eventually(t, func() bool { return r.tracked() == 10 }, 10*time.Second, time.Millisecond, "ten Run loops subscribed")
	for _, id := range ids[10:] {
		require.NoError(t, r.Abort(ctx, id, "test"))
	}
	for range ids[10:] {
		require.NoError(t, <-done)
	}
	for _, id := range ids {
		st, err := r.Get(ctx, id)
		require.NoError(t, err)
		require.True(t, st.Phase.Terminal(), "%s: %s", id, st.Phase)
	}
	require.Zero(t, r.tracked(), "entries left behind")
}
