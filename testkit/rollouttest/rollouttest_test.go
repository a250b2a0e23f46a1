package rollouttest_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	testingclock "k8s.io/utils/clock/testing"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/provider/sim"
	"github.com/agentops/progressive/strategy"
	"github.com/agentops/progressive/testkit/rollouttest"
)

func checks() []progressive.Check {
	return []progressive.Check{
		{Name: "error-rate", Query: "error_rate", Max: progressive.Float(1), Interval: time.Minute},
		{Name: "latency-p95", Query: "latency_p95", Max: progressive.Float(500), Interval: time.Minute},
	}
}

func canary(t *testing.T, h *rollouttest.Harness) progressive.Plan {
	t.Helper()
	p, err := strategy.Canary{Weights: []float64{10, 50, 100}, Soak: 10 * time.Minute, Replicas: 2, Checks: checks()}.
		Plan(h.Target, progressive.Release{Version: "v2", Image: "registry.example/checkout:v2"})
	require.NoError(t, err)
	return p
}

func TestHealthyCanaryOnTheSimulatorIsPromoted(t *testing.T) {
	h := rollouttest.New(t, rollouttest.Options{Profile: sim.Profile{RequestRate: 1000}})
	out := h.Run(t, canary(t, h))
	rollouttest.Promoted(t, out)
	rollouttest.FinalRoutes(t, out, progressive.AllStable())
	assert.GreaterOrEqual(t, out.Ended.Sub(out.Started), 20*time.Minute, "the 10% and 50% steps soaked 10 minutes each, in virtual time")
	st, err := h.Sim.Workload.Status(t.Context(), h.Target)
	require.NoError(t, err)
	assert.Equal(t, "v2", st.Stable.Version)
}

func TestRegressionOnTheSimulatorIsRolledBackWithinThreeIntervals(t *testing.T) {
	h := rollouttest.New(t, rollouttest.Options{Profile: sim.Profile{RequestRate: 1000}})
	regression := h.Start.Add(15 * time.Minute) // during the 50% step
	require.NoError(t, h.Sim.Metrics.Inject(sim.Incident{Target: h.Target, Role: progressive.Canary, Kind: sim.ErrorRateSet, Value: 6, Start: regression}))
	out := h.Run(t, canary(t, h))
	rollouttest.RolledBackWithin(t, out, regression, 3, time.Minute)
	rollouttest.NeverPromoted(t, out)
	rollouttest.MaxCanaryWeight(t, out, 50)
	rollouttest.FinalRoutes(t, out, progressive.AllStable())
}

func TestScriptedMetrics(t *testing.T) {
	healthy := map[string]float64{"error_rate": 0.1, "latency_p95": 120}
	cases := []struct {
		name   string
		script func(t *testing.T, m *rollouttest.Metrics)
		check  func(t *testing.T, h *rollouttest.Harness, out rollouttest.Outcome)
	}{
		{"fixed healthy values are promoted", func(*testing.T, *rollouttest.Metrics) {}, func(t *testing.T, _ *rollouttest.Harness, out rollouttest.Outcome) {
			rollouttest.Promoted(t, out)
		}},
		{"an error rate scripted over time is rolled back", func(t *testing.T, m *rollouttest.Metrics) {
			require.NoError(t, m.Script("error_rate", progressive.Canary, rollouttest.At(0, rollouttest.Value(0.1)), rollouttest.At(12*time.Minute, rollouttest.Value(7))))
		}, func(t *testing.T, h *rollouttest.Harness, out rollouttest.Outcome) {
			rollouttest.RolledBackWithin(t, out, h.Start.Add(12*time.Minute), 2, time.Minute)
			rollouttest.NeverPromoted(t, out)
			rollouttest.FinalRoutes(t, out, progressive.AllStable())
		}},
		{"no data is never a pass", func(_ *testing.T, m *rollouttest.Metrics) {
			m.Set("error_rate", progressive.Canary, rollouttest.NoData())
		}, func(t *testing.T, _ *rollouttest.Harness, out rollouttest.Outcome) {
			rollouttest.NeverPromoted(t, out)
		}},
		{"NaN is never a pass", func(_ *testing.T, m *rollouttest.Metrics) {
			m.Set("latency_p95", "", rollouttest.NaN())
		}, func(t *testing.T, _ *rollouttest.Harness, out rollouttest.Outcome) {
			rollouttest.NeverPromoted(t, out)
		}},
		{"a backend that goes down for good is never a pass", func(t *testing.T, m *rollouttest.Metrics) {
			// Up for the preflight at Start, which would refuse to start otherwise.
			require.NoError(t, m.Script("error_rate", "", rollouttest.At(0, rollouttest.Value(0.1)), rollouttest.At(time.Minute, rollouttest.Transient())))
		}, func(t *testing.T, _ *rollouttest.Harness, out rollouttest.Outcome) {
			rollouttest.NeverPromoted(t, out)
		}},
		{"two transient errors that clear up are ridden out", func(t *testing.T, m *rollouttest.Metrics) {
			require.NoError(t, m.Sequence("error_rate", "", rollouttest.Value(0.1), rollouttest.Transient(), rollouttest.Transient(), rollouttest.Value(0.1)))
		}, func(t *testing.T, _ *rollouttest.Harness, out rollouttest.Outcome) {
			rollouttest.Promoted(t, out)
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			fc := testingclock.NewFakeClock(rollouttest.DefaultStart)
			m := rollouttest.Fixed(fc, healthy)
			h := rollouttest.New(t, rollouttest.Options{Clock: fc, Metrics: m})
			c.script(t, m)
			out := h.Run(t, canary(t, h))
			c.check(t, h, out)
			assert.NotEmpty(t, m.Queries(), "the analysis asked the scripted source")
		})
	}
}

func TestMetricsAnswers(t *testing.T) {
	h := rollouttest.New(t, rollouttest.Options{})
	m := rollouttest.NewMetrics(h.Clock)
	require.NoError(t, m.Script("error_rate", "", rollouttest.At(time.Minute, rollouttest.Value(1)), rollouttest.At(2*time.Minute, rollouttest.Value(2))))
	q := progressive.Query{Expr: "error_rate", Target: h.Target}
	ctx := context.Background()
	at := func(d time.Duration) progressive.Result {
		q.Time = h.Start.Add(d)
		r, err := m.Query(ctx, q)
		require.NoError(t, err)
		return r
	}
	assert.Equal(t, progressive.StatusNoData, at(30*time.Second).Status, "before the first step")
	assert.Equal(t, 1.0, at(time.Minute).Value)
	assert.Equal(t, 1.0, at(119*time.Second).Value)
	assert.Equal(t, 2.0, at(time.Hour).Value)

	_, err := m.Query(ctx, progressive.Query{Expr: "eror_rate", Target: h.Target})
	require.ErrorIs(t, err, progressive.ErrInvalid, "a typo fails fast")
	assert.Contains(t, err.Error(), "eror_rate")
}

func TestInvalidInputNamesTheField(t *testing.T) {
	m := rollouttest.NewMetrics(nil)
	err := m.Script("error_rate", "", rollouttest.At(time.Minute, rollouttest.Value(1)), rollouttest.At(time.Second, rollouttest.Value(2)))
	require.ErrorIs(t, err, progressive.ErrInvalid)
	assert.Contains(t, err.Error(), "steps[1].at 1s")
	err = m.Script("error_rate", "", rollouttest.At(-time.Second, rollouttest.Value(1)))
	require.ErrorIs(t, err, progressive.ErrInvalid)
	assert.Contains(t, err.Error(), "-1s")
	err = m.Sequence("error_rate", "", rollouttest.Answer{Status: "maybe"})
	require.ErrorIs(t, err, progressive.ErrInvalid)
	assert.Contains(t, err.Error(), `"maybe"`)

	_, err = rollouttest.NewHarness(rollouttest.Options{Replicas: -2})
	require.ErrorIs(t, err, progressive.ErrInvalid)
	assert.Contains(t, err.Error(), "replicas")
	assert.Contains(t, err.Error(), "-2")
	_, err = rollouttest.NewHarness(rollouttest.Options{Target: progressive.Target{Name: "Not A Name"}})
	require.ErrorIs(t, err, progressive.ErrInvalid)
	assert.Contains(t, err.Error(), "Not A Name")
}

// A canary whose error rate jumps to 7% twelve minutes in, during the 50%
// step, is rolled back within two measurements and never promoted.
func Example() {
	fc := testingclock.NewFakeClock(rollouttest.DefaultStart)
	m := rollouttest.NewMetrics(fc)
	_ = m.Script("error_rate", "", rollouttest.At(0, rollouttest.Value(0.1)), rollouttest.At(12*time.Minute, rollouttest.Value(7)))
	h, _ := rollouttest.NewHarness(rollouttest.Options{Clock: fc, Metrics: m})

	plan, _ := strategy.Canary{Weights: []float64{10, 50, 100}, Soak: 10 * time.Minute, Replicas: 2, Checks: []progressive.Check{
		{Name: "error-rate", Query: "error_rate", Max: progressive.Float(1), Interval: time.Minute},
	}}.Plan(h.Target, progressive.Release{Version: "v2"})
	out, err := h.Execute(context.Background(), plan)
	if err != nil {
		fmt.Println(err)
		return
	}
	at, _ := out.RollbackStarted()
	fmt.Println(out.State.Phase, "promoted:", out.Promoted())
	fmt.Println("rollback began", at.Sub(h.Start), "in; canary peaked at", out.State.Applied.MaxCanaryWeight, "percent")
	fmt.Printf("final routes: stable %g%%, canary %g%%\n", out.Routes.StableWeight, out.Routes.CanaryWeight)
	// Output:
	// rolled-back promoted: false
	// rollback began 12m0s in; canary peaked at 50 percent
	// final routes: stable 100%, canary 0%
}
