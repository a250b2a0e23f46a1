package sim_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	testingclock "k8s.io/utils/clock/testing"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/provider/sim"
	"github.com/agentops/progressive/rollout"
	"github.com/agentops/progressive/strategy"
)

var snapStart = time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)

var snapTarget = progressive.Target{Namespace: "production", Name: "payment-service"}

// snapWorld builds the platform of the resume test: a service at 1000 req/s
// whose canary fails 5% of its requests from minute 22 on.
func snapWorld(t *testing.T, fc *testingclock.FakeClock) *sim.Env {
	t.Helper()
	env := sim.New(sim.Options{Clock: fc, Seed: 7})
	require.NoError(t, env.Metrics.SetProfile(snapTarget, sim.Profile{RequestRate: 1000}))
	require.NoError(t, env.Workload.AddService(snapTarget, sim.ServiceSpec{Replicas: 10, Version: "v1", Image: "payment:v1"}))
	require.NoError(t, env.Metrics.Inject(sim.Incident{Target: snapTarget, Role: progressive.Canary, Kind: sim.ErrorRateSet, Value: 5, Start: snapStart.Add(22 * time.Minute)}))
	return env
}

func snapRunner(t *testing.T, env *sim.Env, fc *testingclock.FakeClock, store rollout.StateStore) *rollout.Runner {
	t.Helper()
	r, err := rollout.New(rollout.Options{
		Providers: rollout.Providers{
			Routers:   []progressive.TrafficRouter{env.Router},
			Metrics:   []progressive.MetricSource{env.Metrics},
			Workloads: []progressive.Workload{env.Workload},
		},
		Store: store,
		Clock: fc,
	})
	require.NoError(t, err)
	return r
}

func snapPlan(t *testing.T) progressive.Plan {
	t.Helper()
	p, err := strategy.Canary{Weights: []float64{10, 50, 100}, Soak: 15 * time.Minute, Replicas: 2, Checks: []progressive.Check{
		{Name: "error-rate", Query: "error_rate", Max: progressive.Float(1), Interval: time.Minute},
	}}.Plan(snapTarget, progressive.Release{Version: "v2", Image: "payment:v2"})
	require.NoError(t, err)
	return p
}

// reconcile drives id until it ends, or for at most calls reconciles.
func reconcile(t *testing.T, r *rollout.Runner, fc *testingclock.FakeClock, id string, calls int) rollout.Phase {
	t.Helper()
	for range calls {
		res, err := r.Reconcile(context.Background(), id)
		require.NoError(t, err)
		if res.Phase.Terminal() {
			return res.Phase
		}
		fc.Step(res.RequeueAfter)
	}
	return ""
}

func recordJSON(t *testing.T, r *rollout.Runner, id string) string {
	t.Helper()
	rec, err := r.Record(context.Background(), id)
	require.NoError(t, err)
	b, err := json.Marshal(rec)
	require.NoError(t, err)
	return string(b)
}

// A rollout resumed on a restored snapshot ends exactly as an uninterrupted one:
// same phase, same routes history, same decision record.
func TestSnapshotRestoreResumesARollout(t *testing.T) {
	// The reference: one process, start to end.
	fcRef := testingclock.NewFakeClock(snapStart)
	envRef := snapWorld(t, fcRef)
	refRunner := snapRunner(t, envRef, fcRef, rollout.NewMemoryStore())
	st, err := refRunner.Start(context.Background(), snapPlan(t))
	require.NoError(t, err)
	require.Equal(t, rollout.PhaseRolledBack, reconcile(t, refRunner, fcRef, st.ID, 10_000))
	want := recordJSON(t, refRunner, st.ID)

	// The first process runs 12 reconciles (well into the 10% step), then dies.
	fc := testingclock.NewFakeClock(snapStart)
	env := snapWorld(t, fc)
	dir := t.TempDir()
	store, err := rollout.NewFileStore(dir)
	require.NoError(t, err)
	first := snapRunner(t, env, fc, store)
	st, err = first.Start(context.Background(), snapPlan(t))
	require.NoError(t, err)
	require.Empty(t, reconcile(t, first, fc, st.ID, 12), "the crash point must be mid-rollout")
	snap := env.Snapshot()
	assert.Equal(t, fc.Now(), snap.Time)

	// The platform state outlives the process; a changed original must not leak
	// into the snapshot.
	require.NoError(t, env.Router.SetRoutes(context.Background(), snapTarget, progressive.WeightedRoutes(77)))

	for range 2 { // a snapshot restores any number of times
		fc2 := testingclock.NewFakeClock(snap.Time)
		env2 := sim.New(sim.Options{Clock: fc2, Seed: 7})
		require.NoError(t, env2.Restore(snap))
		// The store as the dead process left it, copied so each resume starts
		// from the crash point.
		copied := t.TempDir()
		require.NoError(t, os.CopyFS(copied, os.DirFS(dir)))
		store2, err := rollout.NewFileStore(copied)
		require.NoError(t, err)
		second := snapRunner(t, env2, fc2, store2)
		require.Equal(t, rollout.PhaseRolledBack, reconcile(t, second, fc2, st.ID, 10_000))
		assert.JSONEq(t, want, recordJSON(t, second, st.ID))
		assert.Equal(t, envRef.Router.History(snapTarget), env2.Router.History(snapTarget))
		routes, err := env2.Router.GetRoutes(context.Background(), snapTarget)
		require.NoError(t, err)
		assert.Equal(t, progressive.AllStable(), routes)
	}
}

func TestSnapshotIsADeepCopy(t *testing.T) {
	ctx := context.Background()
	fc := testingclock.NewFakeClock(snapStart)
	env := snapWorld(t, fc)
	ref := progressive.FlagRef{Project: "shop", Environment: "prod", Key: "new-checkout"}
	require.NoError(t, env.Flags.AddFlag(progressive.Flag{Ref: ref, Variations: []progressive.Variation{{ID: "off"}, {ID: "on"}},
		OffVariation: "off", On: true, Fallthrough: progressive.PercentRollout("on", "off", 10)}))
	require.NoError(t, env.Metrics.BindFlag(snapTarget, env.Flags, ref, "on"))
	require.NoError(t, env.Workload.DeployCanary(ctx, snapTarget, progressive.Release{Version: "v2", Image: "payment:v2"}, 2))
	env.Workload.NeverReady("payment:v2")
	snap := env.Snapshot()

	// Change everything after the snapshot.
	require.NoError(t, env.Flags.SetRollout(ctx, ref, progressive.PercentRollout("on", "off", 90)))
	require.NoError(t, env.Workload.ScaleCanary(ctx, snapTarget, 5))
	require.NoError(t, env.Workload.Promote(ctx, snapTarget))
	env.Metrics.ClearIncidents()

	restored := sim.New(sim.Options{Clock: fc, Seed: 7})
	require.NoError(t, restored.Restore(snap))
	f, err := restored.Flags.GetFlag(ctx, ref)
	require.NoError(t, err)
	assert.Equal(t, 10.0, f.Fallthrough.WeightOf("on"), "the flag as it was")
	st, err := restored.Workload.Status(ctx, snapTarget)
	require.NoError(t, err)
	assert.Equal(t, "v1", st.Stable.Version, "not promoted")
	assert.Equal(t, 2, st.Canary.Replicas)
	assert.Zero(t, st.Canary.Ready, "never-ready images are part of the snapshot")

	// The binding follows the restored store, not the original one.
	require.NoError(t, restored.Flags.SetOn(ctx, ref, false))
	r, err := restored.Metrics.Query(ctx, progressive.Query{Expr: sim.SeriesRequestRate, Target: snapTarget, Role: progressive.Canary})
	require.NoError(t, err)
	assert.Equal(t, progressive.StatusNoData, r.Status, "a flag turned off in the restored store serves no one the canary")
	fc.Step(30 * time.Minute)
	r, err = restored.Metrics.Query(ctx, progressive.Query{Expr: sim.SeriesErrorRate, Target: snapTarget})
	require.NoError(t, err)
	assert.Greater(t, r.Value, 0.0)
}

func TestRestoreNilIsInvalid(t *testing.T) {
	err := sim.New(sim.Options{}).Restore(nil)
	require.ErrorIs(t, err, progressive.ErrInvalid)
	assert.Contains(t, err.Error(), "snapshot")
}

// Example_snapshot rehearses what happens after a crash twice from one saved
// platform state.
func Example_snapshot() {
	ctx := context.Background()
	fc := testingclock.NewFakeClock(snapStart)
	env := sim.New(sim.Options{Clock: fc})
	_ = env.Workload.AddService(snapTarget, sim.ServiceSpec{Replicas: 4, Version: "v1"})
	_ = env.Router.SetRoutes(ctx, snapTarget, progressive.WeightedRoutes(10))
	snap := env.Snapshot()

	for _, weight := range []float64{50, 0} {
		again := sim.New(sim.Options{Clock: testingclock.NewFakeClock(snap.Time)})
		_ = again.Restore(snap)
		_ = again.Router.SetRoutes(ctx, snapTarget, progressive.WeightedRoutes(weight))
		fmt.Println(len(again.Router.History(snapTarget)), "writes, canary at", weight)
	}
	// Output:
	// 2 writes, canary at 50
	// 2 writes, canary at 0
}
