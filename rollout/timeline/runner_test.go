package timeline_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/provider/sim"
	"github.com/agentops/progressive/rollout"
	"github.com/agentops/progressive/rollout/timeline"
	"github.com/agentops/progressive/strategy"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	testingclock "k8s.io/utils/clock/testing"
)

// TestWeightsFollowTheRunner runs canaries through the real runner in the
// simulator and checks the picture's weight levels against the weights the
// router reported in the runner's events, from the record as written and from
// the same record with every sentence reworded: the weights and bounds come
// from the record's values, not its wording.
func TestWeightsFollowTheRunner(t *testing.T) {
	for _, tc := range []struct {
		name    string
		regress bool
		outcome rollout.Outcome
	}{
		{"promoted", false, rollout.OutcomePromoted},
		{"rolled back", true, rollout.OutcomeRolledBack},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			clk := testingclock.NewFakeClock(t0)
			env := sim.New(sim.Options{Clock: clk, Seed: 3})
			svc := progressive.Target{Namespace: "shop", Name: "checkout"}
			require.NoError(t, env.Metrics.SetProfile(svc, sim.Profile{RequestRate: 800}))
			require.NoError(t, env.Workload.AddService(svc, sim.ServiceSpec{Replicas: 5, Version: "v1", Image: "checkout:v1"}))
			if tc.regress {
				require.NoError(t, env.Metrics.Inject(sim.Incident{Target: svc, Role: progressive.Canary, Kind: sim.ErrorRateSet, Value: 6, Start: t0.Add(13 * time.Minute)}))
			}

			var levels []string
			observer := rollout.ObserverFunc(func(_ context.Context, e rollout.Event) {
				if e.Type == rollout.EventRoutesChanged && e.Routes != nil {
					levels = append(levels, fmt.Sprintf("%s=%g", e.Time.UTC().Format(time.RFC3339Nano), e.Routes.CanaryWeight))
				}
			})
			runner, err := rollout.New(rollout.Options{
				Providers: rollout.Providers{Routers: []progressive.TrafficRouter{env.Router}, Metrics: []progressive.MetricSource{env.Metrics}, Workloads: []progressive.Workload{env.Workload}},
				Clock:     clk,
				Observers: []rollout.Observer{observer},
			})
			require.NoError(t, err)
			plan, err := strategy.Canary{Weights: []float64{5, 25, 60}, Soak: 5 * time.Minute, Replicas: 1,
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
			rec, err := runner.Record(ctx, st.ID)
			require.NoError(t, err)
			require.Equal(t, tc.outcome, rec.Impact.Outcome)
			require.GreaterOrEqual(t, len(levels), 3)
			assert.True(t, strings.HasSuffix(levels[len(levels)-1], "=0"), "the canary ends with no traffic: %v", levels)

			var buf bytes.Buffer
			require.NoError(t, timeline.SVG(&buf, rec, timeline.Options{}))
			svg := parse(t, &buf)
			weight := svg.all("path", "series", "weight")
			require.Len(t, weight, 1)
			assert.Equal(t, strings.Join(levels, " "), weight[0].Attrs["data-levels"], "the picture's weights are the router's")
			assert.Len(t, svg.all("g", "decision"), len(rec.Decisions))
			th := svg.all("line", "threshold")
			require.Len(t, th, 1, "the bound of the runner's own check")
			assert.Equal(t, "1", th[0].Attrs["data-value"])

			reworded, bounds := levelsAndBounds(t, reword(rec))
			assert.Equal(t, strings.Join(levels, " "), reworded, "the weights do not depend on the sentences")
			assert.Equal(t, []string{"max 1"}, bounds)
		})
	}
}
