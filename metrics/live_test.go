package metrics_test

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/analysis"
	"github.com/agentops/progressive/internal/promtest"
	"github.com/agentops/progressive/metrics"
	"github.com/agentops/progressive/provider/prometheus"
)

// TestAgainstPrometheus runs every template against a real Prometheus scraping
// an application with known behavior, and checks the numbers and the missing-data
// answers.
func TestAgainstPrometheus(t *testing.T) {
	app := promtest.NewApp()
	t.Cleanup(app.Close)
	half := func() float64 { return 50 }
	app.Service(promtest.ServiceSpec{Namespace: "shop", Name: "checkout", CanaryVersion: "v2", RPS: 200, CanaryShare: half,
		Stable: promtest.Behavior{ErrorPercent: 0, Latency: 100 * time.Millisecond, CPU: 30},
		Canary: promtest.Behavior{ErrorPercent: 10, Latency: 200 * time.Millisecond, CPU: 60},
	})
	// quiet's canary never gets a request: no series at all.
	app.Service(promtest.ServiceSpec{Namespace: "shop", Name: "quiet", CanaryVersion: "v2"})
	// stopped's canary served, then stopped: its counters exist and stand still.
	stopped := app.Service(promtest.ServiceSpec{Namespace: "shop", Name: "stopped", CanaryVersion: "v2", CanaryShare: half})

	prom := promtest.Start(t, promtest.Options{Targets: []string{app.Addr()}})
	src, err := prometheus.New(prometheus.Options{Address: prom.URL, Timeout: 5 * time.Second})
	require.NoError(t, err)
	ctx := t.Context()
	require.NoError(t, prom.WaitFor(ctx, `http_requests_total{service="stopped",version="v2"}`, 30*time.Second))
	stopped.SetCanary(promtest.Behavior{NoTraffic: true})
	// Two more scrapes fill a 4s window for checkout; five seconds leave stopped's
	// 4s window flat.
	time.Sleep(5 * time.Second)

	query := func(c progressive.Check, service string, role progressive.Role) progressive.Result {
		t.Helper()
		c.Interval = 4 * time.Second
		expr, err := analysis.Render(c, analysis.Vars{Namespace: "shop", Service: service, CanaryVersion: "v2", StableVersion: "stable"}, role)
		require.NoError(t, err)
		res, err := src.Query(ctx, progressive.Query{Name: c.Name, Expr: expr})
		require.NoError(t, err, "%s: %s", c.Name, expr)
		return res
	}
	value := func(c progressive.Check, service string, role progressive.Role) float64 {
		t.Helper()
		res := query(c, service, role)
		require.Equal(t, progressive.StatusValue, res.Status, "%s %s", c.Name, role)
		return res.Value
	}

	assert.InDelta(t, 10, value(metrics.ErrorRate(1), "checkout", progressive.Canary), 1.5)
	assert.InDelta(t, 0.0, value(metrics.ErrorRate(1), "checkout", progressive.Stable), 1e-9, "no 5xx series is an error rate of 0, not no data")
	assert.InDelta(t, 90, value(metrics.SuccessRate(99), "checkout", progressive.Canary), 1.5)
	// rate(x)/rate(x)*100 may come back as 100.00000000000001.
	assert.InDelta(t, 100.0, value(metrics.SuccessRate(99), "checkout", progressive.Stable), 1e-9)

	// Durations spread over [0.6, 1.4] x the median; the histogram's buckets bound
	// what its quantiles can say.
	p50 := value(metrics.LatencyP50(1), "checkout", progressive.Canary)
	assert.Greater(t, p50, 100.0)
	assert.LessOrEqual(t, p50, 250.0)
	p95 := value(metrics.LatencyP95(1), "checkout", progressive.Canary)
	assert.Greater(t, p95, 250.0)
	assert.LessOrEqual(t, p95, 500.0)
	assert.LessOrEqual(t, value(metrics.LatencyP99(1), "checkout", progressive.Stable), 250.0)

	assert.InDelta(t, 60, value(metrics.CPU(80), "checkout", progressive.Canary), 5)
	assert.InDelta(t, 30, value(metrics.CPU(80), "checkout", progressive.Stable), 5)

	// Missing data: never a number.
	for _, c := range []progressive.Check{metrics.ErrorRate(1), metrics.SuccessRate(99), metrics.LatencyP95(500)} {
		assert.Equal(t, progressive.StatusNoData, query(c, "quiet", progressive.Canary).Status, "%s of a canary that never served", c.Name)
		res := query(c, "stopped", progressive.Canary)
		assert.Equal(t, progressive.StatusNaN, res.Status, "%s of a canary whose counters stood still", c.Name)
		assert.True(t, math.IsNaN(res.Value))
	}

	// The Istio and Kubernetes variants parse and run (there is no mesh here: no
	// data, and no bad query).
	for _, c := range all() {
		for _, role := range []progressive.Role{progressive.Canary, progressive.Stable} {
			query(c, "nomesh", role)
		}
	}

	// The guide's monitor passes the preflight against this Prometheus.
	engine, err := analysis.NewEngine(analysis.Options{Sources: func(string) (progressive.MetricSource, error) { return src, nil }})
	require.NoError(t, err)
	require.NoError(t, engine.Preflight(context.Background(), metrics.Monitor(nil, metrics.Kubernetes{}),
		analysis.Vars{Namespace: "shop", Service: "checkout", CanaryVersion: "v2", StableVersion: "stable"}, time.Now()))
}
