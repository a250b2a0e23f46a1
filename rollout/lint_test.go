package rollout_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/rollout"
	"github.com/agentops/progressive/strategy"
)

// flaggerErrorRate is the error ratio as Flagger's built-in query writes it: its
// numerator has no series until the canary's first 5xx.
func flaggerErrorRate(max float64) progressive.Check {
	return progressive.Check{
		Name: "error-rate", Interval: time.Minute, Max: progressive.Float(max),
		Query: `sum(rate(http_requests_total{service="{{.Service}}",version="{{.Version}}",code=~"5.."}[{{.Interval}}])) / ` +
			`sum(rate(http_requests_total{service="{{.Service}}",version="{{.Version}}"}[{{.Interval}}])) * 100`,
	}
}

func warningsText(ws []progressive.Warning) string {
	var b strings.Builder
	for _, w := range ws {
		b.WriteString(w.String() + "\n")
	}
	return b.String()
}

func TestLintFindsAMissingNumerator(t *testing.T) {
	plan := mustPlan(t, strategy.Canary{Weights: []float64{10, 50}, Soak: 5 * time.Minute, Checks: []progressive.Check{flaggerErrorRate(1)}})
	ws := rollout.Lint(plan)
	require.Len(t, ws, 1, warningsText(ws))
	assert.Equal(t, "checks[0].query", ws[0].Field)
	assert.Contains(t, ws[0].Message, `code=~"5.."`)
	assert.Contains(t, ws[0].Message, "or on() vector(0)")
	assert.Contains(t, rollout.Explain(plan), "Warnings:\n  - checks[0].query: check \"error-rate\" divides series")

	fixed := flaggerErrorRate(1)
	fixed.Query = `(sum(rate(http_requests_total{code=~"5.."}[1m])) or on() vector(0)) / sum(rate(http_requests_total[1m]))`
	plan = mustPlan(t, strategy.Canary{Weights: []float64{10, 50}, Soak: 5 * time.Minute, Checks: []progressive.Check{fixed}})
	assert.Empty(t, rollout.Lint(plan))
	assert.NotContains(t, rollout.Explain(plan), "Warnings:")
}

func TestLintWarnsWhereTrafficCannotSupportAThreshold(t *testing.T) {
	// The flag rollout of the issue: 1% of 100 req/s is about 60 requests a
	// minute, and one error among them reads 1.7%, over a 1% threshold.
	plan := mustPlan(t, strategy.Canary{Weights: []float64{1, 10, 50}, Soak: 5 * time.Minute, Checks: []progressive.Check{flaggerErrorRate(1)}})
	plan.Traffic = &progressive.TrafficEstimate{RequestsPerSecond: 100}
	text := warningsText(rollout.Lint(plan))
	assert.Contains(t, text, `at 1% of the expected 100 requests a second, check "error-rate" sees about 60 requests per 1m window: one error reads 1.67, over its max 1`)
	assert.Contains(t, text, "min 101 for this max")
	assert.NotContains(t, text, "at 10%", "600 requests a window support a 1% threshold")

	withSamples := flaggerErrorRate(1)
	withSamples.Samples = &progressive.SampleSize{Query: `sum(increase(http_requests_total{version="{{.Version}}"}[{{.Interval}}]))`, Min: 101}
	plan = mustPlan(t, strategy.Canary{Weights: []float64{1, 10, 50}, Soak: 5 * time.Minute, Checks: []progressive.Check{withSamples}})
	plan.Traffic = &progressive.TrafficEstimate{RequestsPerSecond: 100}
	text = warningsText(rollout.Lint(plan))
	assert.Contains(t, text, "at 1% of the expected 100 requests a second")
	assert.Contains(t, text, "fewer than its samples.min 101: its measurements wait for data during the warm-up and then count as inconclusive")
	assert.Contains(t, rollout.Explain(plan), "fewer than its samples.min 101")

	plan.Traffic.RequestsPerSecond = -1
	require.ErrorContains(t, plan.Validate(), "traffic.requestsPerSecond")
}

func TestLintWarnsWhenAWindowOutlastsTheSoak(t *testing.T) {
	c := flaggerErrorRate(1)
	c.Query = `(sum(rate(errors[5m])) or on() vector(0)) / sum(rate(requests[5m]))`
	plan := mustPlan(t, strategy.Canary{Weights: []float64{10}, Soak: time.Minute, Checks: []progressive.Check{c}})
	ws := rollout.Lint(plan)
	require.Len(t, ws, 1, warningsText(ws))
	assert.Contains(t, ws[0].Message, "the soak is 1m but a check's first measurement comes 5m after the step starts")
	explained := rollout.Explain(plan)
	assert.Contains(t, explained, "Least duration when healthy: 5m")
	assert.Contains(t, explained, "first measurement at +5m")
}

func TestDryRunMeasuresTheRequestRate(t *testing.T) {
	w := newWorld(t)
	// 60 requests per 1m window on the stable side: 1 req/s. At 10% the canary
	// would see 6 a window, below the check's 101.
	src := &funcMetrics{f: func(q progressive.Query) progressive.Result {
		if strings.Contains(q.Expr, "increase(") {
			return progressive.Result{Status: progressive.StatusValue, Value: 60}
		}
		return progressive.Result{Status: progressive.StatusValue, Value: 0.1}
	}}
	w.metrics = src
	c := flaggerErrorRate(1)
	c.Query = `(sum(rate(errors{version="{{.Version}}"}[1m])) or on() vector(0)) / sum(rate(requests{version="{{.Version}}"}[1m]))`
	c.Samples = &progressive.SampleSize{Query: `sum(increase(requests{version="{{.Version}}"}[1m]))`, Min: 101}
	plan := mustPlan(t, strategy.Canary{Weights: []float64{10, 50}, Soak: 5 * time.Minute, Checks: []progressive.Check{c}})
	report, err := w.runner().DryRun(context.Background(), plan)
	require.NoError(t, err)
	assert.InDelta(t, 1.0, report.MeasuredRequestsPerSecond, 1e-9)
	text := warningsText(report.Warnings)
	assert.Contains(t, text, `at 10% of the measured 1 requests a second, check "error-rate" sees about 6 requests per 1m window, fewer than its samples.min 101`)
	assert.Contains(t, text, "at 50% of the measured 1 requests a second")
	assert.True(t, report.OK(), "warnings do not fail a dry run")
}

// funcMetrics answers every query from a function.
type funcMetrics struct {
	f func(progressive.Query) progressive.Result
}

func (m *funcMetrics) Name() string { return "func" }

func (m *funcMetrics) Query(_ context.Context, q progressive.Query) (progressive.Result, error) {
	r := m.f(q)
	r.Time = q.Time
	return r, nil
}
