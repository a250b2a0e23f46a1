package rollout_test

import (
	"context"
	"testing"
	"time"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/provider/sim"
	"github.com/agentops/progressive/rollout"
	"github.com/stretchr/testify/require"
	testingclock "k8s.io/utils/clock/testing"
)

var (
	t0      = time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)
	service = progressive.Target{Namespace: "production", Name: "payment-service"}
	release = progressive.Release{Version: "v2.0.0", Image: "registry.example.com/payment-service:v2.0.0"}
	flagRef = progressive.FlagRef{Project: "shop", Environment: "production", Key: "payment_gateway_v2"}
)

// seedChecks are the guide's rollback triggers: error rate > 1%, p95 > 500 ms, and
// CPU > 80% as a warning only.
func seedChecks() []progressive.Check {
	return []progressive.Check{
		{Name: "error-rate", Query: "error_rate", Max: progressive.Float(1), Interval: time.Minute},
		{Name: "latency-p95", Query: "latency_p95", Max: progressive.Float(500), Interval: time.Minute},
		{Name: "cpu", Query: "cpu", Max: progressive.Float(80), Interval: time.Minute, Severity: progressive.SeverityWarn},
	}
}

// world is a simulated platform, a fake clock and a store: everything that
// outlives a runner process.
type world struct {
	t     *testing.T
	clock *testingclock.FakeClock
	env   *sim.Env
	store rollout.StateStore
	gates *rollout.Gates
	hooks map[string]rollout.Hook
	obs   []rollout.Observer
	// metrics and router, when set, replace the simulator's.
	metrics progressive.MetricSource
	router  progressive.TrafficRouter
}

func newWorld(t *testing.T) *world {
	t.Helper()
	fc := testingclock.NewFakeClock(t0)
	env := sim.New(sim.Options{Clock: fc, Seed: 7})
	// The guide's canary territory: over 1000 req/s, so a 10% canary sees enough
	// requests per minute for a 1% error threshold to be meaningful.
	require.NoError(t, env.Metrics.SetProfile(service, sim.Profile{RequestRate: 1000}))
	require.NoError(t, env.Workload.AddService(service, sim.ServiceSpec{Replicas: 10, Version: "v1.5.0", Image: "registry.example.com/payment-service:v1.5.0"}))
	require.NoError(t, env.Flags.AddFlag(progressive.Flag{
		Ref:          flagRef,
		Variations:   []progressive.Variation{{ID: "off", Name: "off", Value: false}, {ID: "on", Name: "on", Value: true}},
		OffVariation: "off",
		Fallthrough:  progressive.PercentRollout("off", "on", 100),
	}))

	return &world{t: t, clock: fc, env: env, store: rollout.NewMemoryStore(), gates: rollout.NewGates(), hooks: map[string]rollout.Hook{}}
}

// runner builds a new runner process over the world.
func (w *world) runner() *rollout.Runner {
	w.t.Helper()
	r, err := rollout.New(rollout.Options{
		Providers: rollout.Providers{
			Routers:   []progressive.TrafficRouter{w.trafficRouter()},
			Metrics:   []progressive.MetricSource{w.metricSource()},
			Flags:     []progressive.FlagStore{w.env.Flags},
			Workloads: []progressive.Workload{w.env.Workload},
			Hooks:     w.hooks,
			Approver:  w.gates,
		},
		Store:        w.store,
		Clock:        w.clock,
		Observers:    w.obs,
		PollInterval: 10 * time.Second,
		RetryBackoff: time.Second,
	})
	require.NoError(w.t, err)
	return r
}

// drive calls Reconcile and advances virtual time by what it asks, until the
// rollout ends or maxCalls reconciles were made. It returns the calls made.
func drive(t *testing.T, r *rollout.Runner, fc *testingclock.FakeClock, id string, maxCalls int) (rollout.State, int) {
	t.Helper()
	ctx := context.Background()
	for calls := 1; calls <= maxCalls; calls++ {
		res, err := r.Reconcile(ctx, id)
		require.NoError(t, err)
		if res.Phase.Terminal() {
			st, err := r.Get(ctx, id)
			require.NoError(t, err)
			return st, calls
		}
		require.Positive(t, res.RequeueAfter, "a running rollout must say when to come back")
		fc.Step(res.RequeueAfter)
	}
	st, err := r.Get(ctx, id)
	require.NoError(t, err)
	return st, maxCalls
}

// execute starts plan on a fresh runner and drives it to the end.
func (w *world) execute(plan progressive.Plan) rollout.State {
	w.t.Helper()
	r := w.runner()
	st, err := r.Start(context.Background(), plan)
	require.NoError(w.t, err)
	final, _ := drive(w.t, r, w.clock, st.ID, 10_000)
	return final
}

// bindFlag makes the users served "on" the canary in the metrics, as a flag
// rollout's queries by variation would see them.
func (w *world) bindFlag() {
	w.t.Helper()
	require.NoError(w.t, w.env.Metrics.BindFlag(service, w.env.Flags, flagRef, "on"))
}

func (w *world) inject(kind sim.IncidentKind, role progressive.Role, value float64, start time.Duration) {
	w.t.Helper()
	require.NoError(w.t, w.env.Metrics.Inject(sim.Incident{Target: service, Role: role, Kind: kind, Value: value, Start: t0.Add(start)}))
}

func (w *world) routes() progressive.Routes {
	w.t.Helper()
	r, err := w.env.Router.GetRoutes(context.Background(), service)
	require.NoError(w.t, err)
	return r
}

func (w *world) status() progressive.WorkloadStatus {
	w.t.Helper()
	s, err := w.env.Workload.Status(context.Background(), service)
	require.NoError(w.t, err)
	return s
}

// record reads the full decision record, observations included, through a runner.
func (w *world) record(id string) rollout.DecisionRecord {
	w.t.Helper()
	rec, err := w.runner().Record(context.Background(), id)
	require.NoError(w.t, err)
	return rec
}

func decisions(st rollout.State, action string) []rollout.Decision {
	var out []rollout.Decision
	for _, d := range st.Record.Decisions {
		if d.Action == action {
			out = append(out, d)
		}
	}
	return out
}

func (w *world) metricSource() progressive.MetricSource {
	if w.metrics != nil {
		return w.metrics
	}
	return w.env.Metrics
}

func (w *world) trafficRouter() progressive.TrafficRouter {
	if w.router != nil {
		return w.router
	}
	return w.env.Router
}
