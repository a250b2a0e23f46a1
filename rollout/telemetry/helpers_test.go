package telemetry_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	testingclock "k8s.io/utils/clock/testing"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/provider/sim"
	"github.com/agentops/progressive/rollout"
	"github.com/agentops/progressive/strategy"
)

var (
	start  = time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)
	target = progressive.Target{Namespace: "shop", Name: "checkout"}
	v2     = progressive.Release{Version: "v2", Image: "shop/checkout:v2"}
)

// simRun is a canary of checkout on the simulator, driven in virtual time one
// Reconcile at a time so that a test can stop in the middle.
type simRun struct {
	t      testing.TB
	clk    *testingclock.FakeClock
	env    *sim.Env
	runner *rollout.Runner
	id     string
	last   rollout.Result
}

// newSimRun starts the rollout with the observers; a bad release answers 8% of
// the canary's requests with a 5xx from the start.
func newSimRun(t testing.TB, bad bool, observers ...rollout.Observer) *simRun {
	t.Helper()
	return newSimRunCtx(context.Background(), t, "", bad, observers...)
}

// newSimRunNamed is newSimRun with the rollout's id (default checkout-v2).
func newSimRunNamed(t testing.TB, name string, bad bool, observers ...rollout.Observer) *simRun {
	t.Helper()
	return newSimRunCtx(context.Background(), t, name, bad, observers...)
}

// newSimRunOn is a healthy rollout of another target.
func newSimRunOn(t testing.TB, tgt progressive.Target, observers ...rollout.Observer) *simRun {
	t.Helper()
	return newSimRunFull(context.Background(), t, tgt, "", false, observers...)
}

// newSimRunCtx starts the rollout with ctx (the caller's span, say).
func newSimRunCtx(ctx context.Context, t testing.TB, name string, bad bool, observers ...rollout.Observer) *simRun {
	t.Helper()
	return newSimRunFull(ctx, t, target, name, bad, observers...)
}

func newSimRunFull(ctx context.Context, t testing.TB, target progressive.Target, name string, bad bool, observers ...rollout.Observer) *simRun {
	t.Helper()
	clk := testingclock.NewFakeClock(start)
	env := sim.New(sim.Options{Clock: clk, Seed: 7})
	require.NoError(t, env.Metrics.SetProfile(target, sim.Profile{RequestRate: 1000, ErrorRate: 0.2}))
	require.NoError(t, env.Workload.AddService(target, sim.ServiceSpec{Replicas: 10, Version: "v1", Image: "shop/checkout:v1"}))
	if bad {
		require.NoError(t, env.Metrics.Inject(sim.Incident{Target: target, Role: progressive.Canary, Kind: sim.ErrorRateSet, Value: 8, Start: start}))
	}
	runner, err := rollout.New(rollout.Options{
		Providers: rollout.Providers{
			Routers:   []progressive.TrafficRouter{env.Router},
			Metrics:   []progressive.MetricSource{env.Metrics},
			Workloads: []progressive.Workload{env.Workload},
		},
		Clock:     clk,
		Observers: observers,
	})
	require.NoError(t, err)
	plan, err := strategy.Canary{
		Weights: []float64{10, 50, 100},
		Soak:    10 * time.Minute,
		Checks:  []progressive.Check{{Name: "error-rate", Query: "error_rate", Max: progressive.Float(1)}},
	}.Plan(target, v2)
	require.NoError(t, err)
	if name != "" {
		plan.Name = name
	}
	st, err := runner.Start(ctx, plan)
	require.NoError(t, err)
	return &simRun{t: t, clk: clk, env: env, runner: runner, id: st.ID}
}

// until reconciles, stepping the clock by what each call asks, until done
// holds or the rollout ends.
func (r *simRun) until(done func(rollout.Result) bool) rollout.Result {
	r.t.Helper()
	for i := 0; i < 500; i++ {
		res, err := r.runner.Reconcile(context.Background(), r.id)
		require.NoError(r.t, err)
		r.last = res
		if res.Phase.Terminal() || done(res) {
			return res
		}
		r.clk.Step(res.RequeueAfter)
	}
	r.t.Fatalf("rollout %s did not get there in 500 reconciles", r.id)
	return rollout.Result{}
}

func (r *simRun) finish() rollout.Result {
	return r.until(func(rollout.Result) bool { return false })
}

func (r *simRun) record() rollout.DecisionRecord {
	rec, err := r.runner.Record(context.Background(), r.id)
	require.NoError(r.t, err)
	return rec
}

// events collects what the runner emits, for comparing with what an observer
// made of it.
type eventLog struct{ list []rollout.Event }

func (c *eventLog) Observe(_ context.Context, e rollout.Event) { c.list = append(c.list, e) }
