package analysis_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	testingclock "k8s.io/utils/clock/testing"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/analysis"
	"github.com/agentops/progressive/provider/sim"
	"github.com/agentops/progressive/rollout"
	"github.com/agentops/progressive/strategy"
)

// statisticalChecks judge the canary against the baseline: a sequential test of the
// error rate every minute, and a Mann-Whitney comparison of p95 latency over the
// analysis so far, once five minutes of samples exist.
func statisticalChecks() []progressive.Check {
	return []progressive.Check{
		{
			Name: "error-rate", Query: sim.SeriesErrorRate, InitialDelay: time.Minute,
			// The simulator's error_rate is a percentage and request_rate a
			// per-second rate over one-minute windows.
			Judge: &progressive.JudgeSpec{Kind: analysis.KindSPRT, Params: map[string]float64{
				analysis.SPRTRatio: 100, analysis.SPRTScale: 60}},
		},
		{
			Name: "latency-p95", Query: sim.SeriesLatencyP95, InitialDelay: 5 * time.Minute,
			Judge: &progressive.JudgeSpec{Kind: analysis.KindMannWhitney, Params: map[string]float64{
				analysis.MWAllowedIncrease: 0.2}},
		},
	}
}

// e2eRollout runs the guide's canary (10% -> 50% -> 100%, 15-minute soaks) of a
// 1,000 req/s service in the simulator with the statistical checks, after
// prepare has scripted incidents, and returns the final state and its record.
func e2eRollout(t *testing.T, prepare func(env *sim.Env, start time.Time)) (rollout.State, rollout.DecisionRecord) {
	t.Helper()
	start := time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)
	service := progressive.Target{Namespace: "production", Name: "payment-service"}
	fc := testingclock.NewFakeClock(start)
	env := sim.New(sim.Options{Clock: fc, Seed: 11})
	require.NoError(t, env.Metrics.SetProfile(service, sim.Profile{RequestRate: 1000}))
	require.NoError(t, env.Workload.AddService(service, sim.ServiceSpec{Replicas: 10, Version: "v1.5.0", Image: "registry.example.com/payment-service:v1.5.0"}))
	prepare(env, start)

	runner, err := rollout.New(rollout.Options{
		Providers: rollout.Providers{
			Routers:   []progressive.TrafficRouter{env.Router},
			Metrics:   []progressive.MetricSource{env.Metrics},
			Workloads: []progressive.Workload{env.Workload},
		},
		Clock:  fc,
		Logger: discardLogger(),
		Judges: map[string]analysis.Judge{
			analysis.KindSPRT:        analysis.SPRTJudge{Requests: analysis.RequestsExpr(sim.SeriesRequestRate)},
			analysis.KindMannWhitney: analysis.MannWhitneyJudge{},
		},
	})
	require.NoError(t, err)
	plan, err := strategy.Canary{Weights: []float64{10, 50, 100}, Soak: 15 * time.Minute, Checks: statisticalChecks(), Replicas: 2}.
		Plan(service, progressive.Release{Version: "v2.0.0", Image: "registry.example.com/payment-service:v2.0.0"})
	require.NoError(t, err)
	ctx := context.Background()
	st, err := runner.Start(ctx, plan)
	require.NoError(t, err)
	for range 10_000 {
		res, err := runner.Reconcile(ctx, st.ID)
		require.NoError(t, err)
		if res.Phase.Terminal() {
			break
		}
		fc.Step(res.RequeueAfter)
	}
	st, err = runner.Get(ctx, st.ID)
	require.NoError(t, err)
	rec, err := runner.Record(ctx, st.ID)
	require.NoError(t, err)
	return st, rec
}

func TestJudgesEndToEndHealthyCanaryIsPromoted(t *testing.T) {
	st, rec := e2eRollout(t, func(*sim.Env, time.Time) {})
	require.Equal(t, rollout.PhaseSucceeded, st.Phase, "decisions: %+v", st.Record.Decisions)
	assert.Equal(t, rollout.OutcomePromoted, rec.Impact.Outcome)
	assert.Equal(t, 30*time.Minute, time.Duration(rec.Impact.Duration), "two 15-minute soaks")

	var sprt, mw int
	for _, m := range rec.Observations {
		assert.Equal(t, analysis.OutcomePass, m.Outcome, "%s: %s", m.Check, m.Reason)
		switch m.Check {
		case "error-rate":
			sprt++
			assert.Contains(t, m.Reason, "no regression found so far")
			assert.Equal(t, 1.0, m.Details["newSamples"], "one new minute per tick")
		case "latency-p95":
			mw++
			assert.Contains(t, m.Reason, "Mann-Whitney")
		}
	}
	assert.Equal(t, 2*15, sprt, "every minute of both soaks")
	assert.Equal(t, 2*11, mw, "minutes 5 to 15 of both soaks")
}

func TestJudgesEndToEndErrorRegressionRollsBack(t *testing.T) {
	service := progressive.Target{Namespace: "production", Name: "payment-service"}
	st, rec := e2eRollout(t, func(env *sim.Env, _ time.Time) {
		require.NoError(t, env.Metrics.Inject(sim.Incident{Target: service, Role: progressive.Canary, Kind: sim.ErrorRateFactor, Value: 5}))
	})
	require.Equal(t, rollout.PhaseRolledBack, st.Phase, "decisions: %+v", st.Record.Decisions)
	assert.True(t, rec.Impact.RolledBack)
	assert.Equal(t, 10.0, rec.Impact.MaxCanaryWeight, "caught at 10%%, never went to 50%%")
	require.NotNil(t, rec.Impact.TimeToDetect)
	assert.Equal(t, time.Minute, time.Duration(*rec.Impact.TimeToDetect), "the first minute of canary traffic suffices")

	rb := e2eDecisions(st, "rollback")
	require.Len(t, rb, 1)
	assert.Contains(t, rb[0].Reason, `check "error-rate" failed`)
	assert.Contains(t, rb[0].Reason, "error-rate high: log-likelihood ratio")
	last := rec.Observations[len(rec.Observations)-1]
	assert.Equal(t, analysis.OutcomeFail, last.Outcome)
	assert.Greater(t, last.Details["llr"], last.Details["upperBound"])
	b, err := json.Marshal(last)
	require.NoError(t, err)
	assert.Contains(t, string(b), `"observedRatio"`)
}

func TestJudgesEndToEndLatencyRegressionRollsBack(t *testing.T) {
	service := progressive.Target{Namespace: "production", Name: "payment-service"}
	st, rec := e2eRollout(t, func(env *sim.Env, _ time.Time) {
		require.NoError(t, env.Metrics.Inject(sim.Incident{Target: service, Role: progressive.Canary, Kind: sim.LatencyFactor, Value: 2}))
	})
	require.Equal(t, rollout.PhaseRolledBack, st.Phase)
	rb := e2eDecisions(st, "rollback")
	require.Len(t, rb, 1)
	assert.Contains(t, rb[0].Reason, "latency-p95 high: shift +")
	assert.Equal(t, 10.0, rec.Impact.MaxCanaryWeight)
}

func e2eDecisions(st rollout.State, action string) []rollout.Decision {
	var out []rollout.Decision
	for _, d := range st.Record.Decisions {
		if d.Action == action {
			out = append(out, d)
		}
	}
	return out
}
