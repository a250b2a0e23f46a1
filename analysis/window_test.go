package analysis_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/analysis"
)

func TestQueryWindow(t *testing.T) {
	cases := []struct {
		expr string
		want time.Duration
		ok   bool
	}{
		{`sum(rate(http_requests_total{code=~"5.."}[10s])) / sum(rate(http_requests_total[10s]))`, 10 * time.Second, true},
		{`rate(x[1m30s])`, 90 * time.Second, true},
		{`rate(x[1m]) / rate(y[5m])`, 5 * time.Minute, true},
		{`rate(x[1m] offset 1m)`, 2 * time.Minute, true},
		{`rate(x[1m] offset -1m)`, time.Minute, true},
		{`max_over_time(rate(x[1m])[5m:30s])`, 5 * time.Minute, true},
		{`max_over_time(rate(x[30s])[2m:])`, 2 * time.Minute, true},
		{`rate(x[ 500ms ])`, 500 * time.Millisecond, true},
		{`increase(x[1d])`, 24 * time.Hour, true},
		{`up{job="a"}`, 0, false},
		{`cpu_usage`, 0, false},
		{`x{le="[5m]"}`, 5 * time.Minute, true}, // lexical: a string that looks like a range errs long
		{`x[5q]`, 0, false},
	}
	for _, tc := range cases {
		got, ok := analysis.QueryWindow(tc.expr)
		assert.Equal(t, tc.ok, ok, tc.expr)
		assert.Equal(t, tc.want, got, tc.expr)
	}
}

func TestWindowOfACheck(t *testing.T) {
	vars := analysis.Vars{Namespace: "shop", Service: "payment", CanaryVersion: "v2", StableVersion: "v1"}
	c := progressive.Check{Name: "e", Query: `rate(x{version="{{.Version}}"}[{{.Interval}}])`, Interval: 10 * time.Second, Max: progressive.Float(1)}
	assert.Equal(t, 10*time.Second, analysis.Window(c, vars), "the interval rendered into the range")

	c.Query = `rate(x[2m])`
	assert.Equal(t, 2*time.Minute, analysis.Window(c, vars), "the query's own range, longer than the interval")

	c.Query = `gauge{version="{{.Version}}"}`
	assert.Equal(t, 10*time.Second, analysis.Window(c, vars), "no range: the interval")

	c.Window = 45 * time.Second
	assert.Equal(t, 45*time.Second, analysis.Window(c, vars), "an explicit window wins")

	c.InitialDelay = time.Minute
	assert.Equal(t, time.Minute, analysis.FirstMeasurement(c, vars), "the longer of delay and window")
	c.InitialDelay = 0
	assert.Equal(t, 45*time.Second, analysis.FirstMeasurement(c, vars))

	assert.Equal(t, 135*time.Second, analysis.WarmUp(c, 45*time.Second), "three windows by default")
	c.WarmUp = time.Minute
	assert.Equal(t, time.Minute, analysis.WarmUp(c, 45*time.Second))
	c.WarmUp = -1
	assert.Zero(t, analysis.WarmUp(c, 45*time.Second), "negative turns it off")
}

func TestMinSamplesFor(t *testing.T) {
	assert.Equal(t, 101.0, progressive.MinSamplesFor(1, 100), "1%: one error in 100 reads exactly 1%, not over")
	assert.Equal(t, 51.0, progressive.MinSamplesFor(2, 100))
	assert.Equal(t, 21.0, progressive.MinSamplesFor(0.05, 1), "a fraction")
	assert.Equal(t, 0.0, progressive.MinSamplesFor(0, 100))
	assert.Equal(t, 0.0, progressive.MinSamplesFor(-1, 100))
}
