package progress_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/provider/sim"
	"github.com/agentops/progressive/rollout"
	"github.com/agentops/progressive/rollout/progress"
	"github.com/agentops/progressive/strategy"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	testingclock "k8s.io/utils/clock/testing"
)

// TestFollowsARealRollout drives a canary through the runner in the simulator:
// the printer reads step lengths and thresholds from the runner's own
// sentences, so this is where a change of wording would show.
func TestFollowsARealRollout(t *testing.T) {
	ctx := context.Background()
	clk := testingclock.NewFakeClock(t0)
	env := sim.New(sim.Options{Clock: clk, Seed: 7})
	svc := progressive.Target{Namespace: "shop", Name: "checkout"}
	require.NoError(t, env.Metrics.SetProfile(svc, sim.Profile{RequestRate: 500}))
	require.NoError(t, env.Workload.AddService(svc, sim.ServiceSpec{Replicas: 4, Version: "v1", Image: "checkout:v1"}))

	var out bytes.Buffer
	printer, err := progress.New(progress.Options{Out: &out, Mode: progress.ModeLines, TimeFormat: "15:04"})
	require.NoError(t, err)
	runner, err := rollout.New(rollout.Options{
		Providers: rollout.Providers{Routers: []progressive.TrafficRouter{env.Router}, Metrics: []progressive.MetricSource{env.Metrics}, Workloads: []progressive.Workload{env.Workload}},
		Clock:     clk,
		Observers: []rollout.Observer{printer},
	})
	require.NoError(t, err)
	plan, err := strategy.Canary{Weights: []float64{20}, Soak: 10 * time.Minute, Replicas: 1,
		Checks: []progressive.Check{{Name: "error-rate", Query: "error_rate", Max: progressive.Float(1)}}}.Plan(svc, progressive.Release{Version: "v2", Image: "checkout:v2"})
	require.NoError(t, err)
	st, err := runner.Start(ctx, plan)
	require.NoError(t, err)
	for range 1000 {
		res, err := runner.Reconcile(ctx, st.ID)
		require.NoError(t, err)
		if res.Phase.Terminal() {
			break
		}
		clk.Step(res.RequeueAfter)
	}
	text := out.String()
	assert.Contains(t, text, "traffic   canary  20.0%  routes set: 80% stable / 20% canary")
	assert.Contains(t, text, "analyze for 10m\n", "the analysis step in one clause")
	assert.Regexp(t, `09:01  analyze   canary  20\.0%  error-rate \S+ <= 1  -> running, 9m left`, text, "value, threshold and time left")
	assert.Regexp(t, `analyze   canary  20\.0%  error-rate \S+ <= 1  -> pass\n`, text)
	assert.Equal(t, 1, strings.Count(text, "SUCCEEDED promoted v2"), text)
	require.NoError(t, printer.Err())
}
