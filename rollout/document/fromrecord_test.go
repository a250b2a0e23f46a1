package document_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/provider/sim"
	"github.com/agentops/progressive/rollout"
	"github.com/agentops/progressive/rollout/document"
	"github.com/agentops/progressive/strategy"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	testingclock "k8s.io/utils/clock/testing"
)

// runCanary runs a seed canary of payment-service on the simulator, with an
// error rate of errorRate percent on the canary from the start (0 for none),
// and returns its record and plan.
func runCanary(t *testing.T, errorRate float64) (rollout.DecisionRecord, progressive.Plan) {
	t.Helper()
	target := progressive.Target{Namespace: "production", Name: "payment-service"}
	start := time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)
	clk := testingclock.NewFakeClock(start)
	env := sim.New(sim.Options{Clock: clk, Seed: 42})
	require.NoError(t, env.Metrics.SetProfile(target, sim.Profile{RequestRate: 1200}))
	require.NoError(t, env.Workload.AddService(target, sim.ServiceSpec{Replicas: 10, Version: "v1.9.0"}))
	if errorRate > 0 {
		require.NoError(t, env.Metrics.Inject(sim.Incident{Target: target, Role: progressive.Canary, Kind: sim.ErrorRateSet, Value: errorRate, Start: start}))
	}
	// The on-rollback webhook must answer: its retries wait on the fake clock.
	slack := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	t.Cleanup(slack.Close)
	runner, err := rollout.New(rollout.Options{
		Providers: rollout.Providers{
			Routers: []progressive.TrafficRouter{env.Router}, Metrics: []progressive.MetricSource{env.Metrics},
			Workloads: []progressive.Workload{env.Workload},
		},
		Clock:      clk,
		HTTPClient: slack.Client(),
	})
	require.NoError(t, err)
	plan, err := strategy.Canary{Soak: 15 * time.Minute, Replicas: 2, Checks: []progressive.Check{
		{Name: "error-rate", Query: "error_rate", Max: progressive.Float(1)},
		{Name: "latency-p95", Query: "latency_p95", Max: progressive.Float(500)},
		{Name: "cpu", Query: "cpu", Max: progressive.Float(80), Severity: progressive.SeverityWarn},
	}, Hooks: []progressive.HookSpec{{Name: "slack-rollback", Phase: progressive.HookOnRollback, URL: slack.URL + "/services/T0/B0/secret"}}}.
			Plan(target, progressive.Release{Version: "v2.0.0"})
	require.NoError(t, err)
	ctx := context.Background()
	st, err := runner.Start(ctx, plan)
	require.NoError(t, err)
	for calls := 0; calls < 10000; calls++ {
		res, err := runner.Reconcile(ctx, st.ID)
		require.NoError(t, err)
		if res.Phase.Terminal() {
			break
		}
		clk.Step(res.RequeueAfter)
	}
	rec, err := runner.Record(ctx, st.ID)
	require.NoError(t, err)
	got, err := runner.Get(ctx, st.ID)
	require.NoError(t, err)
	return rec, got.Plan
}

// TestFromRecord: a promoted rollout becomes a template that renders, for
// another service, the same strategy and checks with the thresholds that held
// as defaults, and without the exported rollout's webhook URL.
func TestFromRecord(t *testing.T) {
	rec, plan := runCanary(t, 0)
	require.Equal(t, rollout.OutcomePromoted, rec.Impact.Outcome)

	tpl, err := document.FromRecord(rec, plan)
	require.NoError(t, err)
	text, err := tpl.Marshal(document.YAML)
	require.NoError(t, err)
	assert.NotContains(t, string(text), "T0/B0", "the webhook URL is not exported")
	assert.Contains(t, string(text), "It held in rollout production-payment-service-v2-0-0")

	again, err := document.DecodeTemplate(text)
	require.NoError(t, err, "%s", text)
	t.Setenv("SLACK_ROLLBACK_URL", "https://hooks.example.com/x")
	r, err := again.Render(map[string]string{"service": "checkout", "version": "v7", "errorRateMax": "0.5"})
	require.NoError(t, err)
	got, err := r.Plan(context.Background())
	require.NoError(t, err)

	want := plan
	want.Target.Name, want.Release.Version = "checkout", "v7"
	want.Name = strategy.PlanName(want.Target, want.Release)
	want.Checks = append([]progressive.Check(nil), plan.Checks...)
	want.Checks[0].Max = progressive.Float(0.5)
	want.Hooks = []progressive.HookSpec{plan.Hooks[0]}
	want.Hooks[0].URL = "https://hooks.example.com/x"
	got.Reason, want.Reason = "", "" // it names the version
	assert.Equal(t, want, got)
}

func TestFromRecordRefusesARolledBackRollout(t *testing.T) {
	rec, plan := runCanary(t, 5)
	require.Equal(t, rollout.OutcomeRolledBack, rec.Impact.Outcome)
	_, err := document.FromRecord(rec, plan)
	require.Error(t, err)
	assert.ErrorIs(t, err, progressive.ErrInvalid)
	assert.Contains(t, err.Error(), "rolled-back")

	other := plan
	other.Name = "someone-else"
	rec.Impact.Outcome = rollout.OutcomePromoted
	_, err = document.FromRecord(rec, other)
	assert.ErrorIs(t, err, progressive.ErrInvalid)
	assert.True(t, strings.Contains(err.Error(), "someone-else"))
}

// TestEncodeRecord: a decision record for people: durations as strings, the
// queries' < and > as written.
func TestEncodeRecord(t *testing.T) {
	rec, _ := runCanary(t, 5)
	for _, f := range []document.Format{document.JSON, document.YAML} {
		b, err := document.Encode(rec, f)
		require.NoError(t, err)
		s := string(b)
		assert.NotContains(t, s, `\u003c`, f.String())
		assert.NotContains(t, s, `\u003e`, f.String())
		assert.Contains(t, s, "error-rate", f.String())
		assert.Regexp(t, `duration"?: "?[0-9]+m[0-9]+s`, s, "the duration as a string")
	}
}
