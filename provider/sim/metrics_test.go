package sim_test

import (
	"context"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/provider/sim"
)

func query(t *testing.T, m *sim.Metrics, expr string, role progressive.Role) progressive.Result {
	t.Helper()
	r, err := m.Query(ctx(t), progressive.Query{Expr: expr, Target: checkout, Role: role})
	require.NoError(t, err)
	return r
}

// mean queries expr once a minute for n minutes and averages the values.
func mean(t *testing.T, m *sim.Metrics, expr string, role progressive.Role, from time.Time, n int) float64 {
	t.Helper()
	var sum float64
	for i := range n {
		r, err := m.Query(ctx(t), progressive.Query{Expr: expr, Target: checkout, Role: role, Time: from.Add(time.Duration(i) * time.Minute)})
		require.NoError(t, err)
		require.Equal(t, progressive.StatusValue, r.Status, "%s at minute %d", expr, i)
		sum += r.Value
	}
	return sum / float64(n)
}

// serviceEnv registers checkout with the workload and the router (all stable).
func serviceEnv(t *testing.T, opts sim.Options) (*sim.Env, func(time.Duration)) {
	t.Helper()
	env, fc := newEnv(t, opts)
	require.NoError(t, env.Workload.AddService(checkout, v1))
	require.NoError(t, env.Router.Initialize(ctx(t), checkout))
	return env, fc.Step
}

func TestMetricsName(t *testing.T) {
	env, _ := newEnv(t, sim.Options{})
	assert.Equal(t, "sim", env.Metrics.Name())
}

func TestMetricsMeansFollowTheProfile(t *testing.T) {
	env, _ := serviceEnv(t, sim.Options{Seed: 42})
	m := env.Metrics
	assert.InDelta(t, sim.DefaultErrorRate, mean(t, m, "error_rate", progressive.Stable, t0, 1000), 0.02,
		"mean error rate near the profile's 0.2%")
	assert.InDelta(t, 100-sim.DefaultErrorRate, mean(t, m, "success_rate", progressive.Stable, t0, 200), 0.05)
	assert.InDelta(t, 100, mean(t, m, "request_rate", progressive.Stable, t0, 500), 0.5)
	assert.InDelta(t, 120, mean(t, m, "latency_p95", progressive.Stable, t0, 200), 1.5)
	assert.InDelta(t, 40, mean(t, m, "cpu", progressive.Stable, t0, 200), 1)

	require.NoError(t, m.SetProfile(checkout, sim.Profile{RequestRate: 20, ErrorRate: 3, LatencyP95Ms: 300, CPU: 70}))
	assert.InDelta(t, 3, mean(t, m, "error_rate", progressive.Stable, t0, 500), 0.2)
	assert.InDelta(t, 20, mean(t, m, "request_rate", progressive.Stable, t0, 500), 0.3)
	assert.InDelta(t, 300, mean(t, m, "latency_p95", progressive.Stable, t0, 200), 6)
	assert.InDelta(t, 70, mean(t, m, "cpu", progressive.Stable, t0, 200), 1.5)
}

func TestMetricsNoiseVaries(t *testing.T) {
	env, _ := serviceEnv(t, sim.Options{})
	var values []float64
	for i := range 20 {
		r, err := env.Metrics.Query(ctx(t), progressive.Query{Expr: "request_rate", Target: checkout, Time: t0.Add(time.Duration(i) * time.Minute)})
		require.NoError(t, err)
		values = append(values, r.Value)
	}
	distinct := map[float64]bool{}
	for _, v := range values {
		distinct[v] = true
	}
	assert.Greater(t, len(distinct), 10, "values are noisy: %v", values)
}

func TestMetricsLatencyQuantilesAreOrdered(t *testing.T) {
	env, step := serviceEnv(t, sim.Options{})
	for range 50 {
		p50 := query(t, env.Metrics, "latency_p50", progressive.Stable).Value
		p95 := query(t, env.Metrics, "latency_p95", progressive.Stable).Value
		p99 := query(t, env.Metrics, "latency_p99", progressive.Stable).Value
		require.Less(t, p50, p95)
		require.Less(t, p95, p99)
		step(time.Minute)
	}
}

func TestMetricsShareFollowsTheRouter(t *testing.T) {
	env, _ := serviceEnv(t, sim.Options{})
	m := env.Metrics
	require.NoError(t, env.Router.SetRoutes(ctx(t), checkout, progressive.WeightedRoutes(20)))
	assert.InDelta(t, 20, mean(t, m, "request_rate", progressive.Canary, t0, 300), 0.3)
	assert.InDelta(t, 80, mean(t, m, "request_rate", progressive.Stable, t0, 300), 0.5)
	assert.InDelta(t, 100, mean(t, m, "request_rate", "", t0, 300), 0.6, `role "" is the whole service`)

	require.NoError(t, env.Router.SetRoutes(ctx(t), checkout, progressive.Routes{StableWeight: 100, MirrorPercent: 50}))
	assert.InDelta(t, 50, mean(t, m, "request_rate", progressive.Canary, t0, 300), 0.5, "mirrored traffic reaches the canary")
	assert.InDelta(t, 100, mean(t, m, "request_rate", progressive.Stable, t0, 300), 0.6)

	require.NoError(t, env.Router.SetRoutes(ctx(t), checkout, progressive.Routes{StableWeight: 100,
		Matches: []progressive.Match{{Kind: progressive.MatchHeader, Name: "x-beta", Value: "1"}}}))
	assert.InDelta(t, sim.DefaultMatchShare, mean(t, m, "request_rate", progressive.Canary, t0, 300), 0.15,
		"matching requests reach the canary")
	assert.InDelta(t, 100-sim.DefaultMatchShare, mean(t, m, "request_rate", progressive.Stable, t0, 300), 0.6)

	require.NoError(t, env.Router.SetRoutes(ctx(t), checkout, progressive.WeightedRoutes(100)))
	assert.Equal(t, progressive.StatusNoData, query(t, m, "request_rate", progressive.Stable).Status,
		"after a blue-green switch stable has no traffic")
}

func TestMetricsCanaryWithoutTrafficHasNoData(t *testing.T) {
	env, _ := serviceEnv(t, sim.Options{})
	m := env.Metrics
	for _, expr := range []string{"request_rate", "error_rate", "success_rate", "latency_p50", "latency_p95", "latency_p99", "cpu"} {
		r := query(t, m, expr, progressive.Canary)
		assert.Equal(t, progressive.StatusNoData, r.Status, expr)
		assert.Equal(t, t0, r.Time)
	}
	require.NoError(t, env.Workload.DeployCanary(ctx(t), checkout, r2, 1))
	assert.Equal(t, progressive.StatusNoData, query(t, m, "error_rate", progressive.Canary).Status, "pods but no weight yet")
	assert.Equal(t, progressive.StatusValue, query(t, m, "cpu", progressive.Canary).Status, "its pods use CPU")
	assert.Equal(t, progressive.StatusValue, query(t, m, "error_rate", progressive.Stable).Status)
}

func TestMetricsNoTrafficIsNaN(t *testing.T) {
	env, _ := serviceEnv(t, sim.Options{})
	m := env.Metrics
	require.NoError(t, env.Router.SetRoutes(ctx(t), checkout, progressive.WeightedRoutes(10)))
	require.NoError(t, m.Inject(sim.Incident{Target: checkout, Role: progressive.Canary, Kind: sim.NoTraffic}))

	rate := query(t, m, "request_rate", progressive.Canary)
	assert.Equal(t, progressive.StatusValue, rate.Status)
	assert.Zero(t, rate.Value)
	for _, expr := range []string{"error_rate", "success_rate", "latency_p99"} {
		r := query(t, m, expr, progressive.Canary)
		assert.Equal(t, progressive.StatusNaN, r.Status, expr)
		assert.True(t, math.IsNaN(r.Value), expr)
	}
	assert.Equal(t, progressive.StatusValue, query(t, m, "error_rate", progressive.Stable).Status, "stable still serves")
	assert.InDelta(t, 90, mean(t, m, "request_rate", "", t0, 100), 0.6, "the service lost the canary's share")
}

func TestMetricsTinyShareCanBeNaN(t *testing.T) {
	env, _ := serviceEnv(t, sim.Options{})
	require.NoError(t, env.Metrics.SetProfile(checkout, sim.Profile{RequestRate: 0.01}))
	require.NoError(t, env.Router.SetRoutes(ctx(t), checkout, progressive.WeightedRoutes(1)))
	// 0.01 req/s * 1% * 60 s: almost never a request in the window.
	r := query(t, env.Metrics, "error_rate", progressive.Canary)
	assert.Equal(t, progressive.StatusNaN, r.Status)
}

func TestMetricsBackendDown(t *testing.T) {
	env, step := serviceEnv(t, sim.Options{})
	m := env.Metrics
	require.NoError(t, m.Inject(sim.Incident{Kind: sim.BackendDown, Start: t0.Add(time.Minute), End: t0.Add(3 * time.Minute)}))
	_, err := m.Query(ctx(t), progressive.Query{Expr: "error_rate", Target: checkout})
	require.NoError(t, err, "not yet")
	step(time.Minute)
	for _, role := range []progressive.Role{"", progressive.Stable, progressive.Canary} {
		_, err = m.Query(ctx(t), progressive.Query{Expr: "error_rate", Target: checkout, Role: role})
		require.ErrorIs(t, err, progressive.ErrTransient)
		assert.True(t, progressive.IsTransient(err))
		assert.ErrorContains(t, err, "backend unreachable")
	}
	_, err = m.QueryRange(ctx(t), progressive.Query{Expr: "error_rate", Target: checkout}, t0, t0.Add(time.Minute), time.Second)
	require.ErrorIs(t, err, progressive.ErrTransient)
	step(2 * time.Minute)
	_, err = m.Query(ctx(t), progressive.Query{Expr: "error_rate", Target: checkout})
	require.NoError(t, err, "the backend is back at End")
}

func TestMetricsBadQueries(t *testing.T) {
	env, _ := serviceEnv(t, sim.Options{})
	m := env.Metrics
	_, err := m.Query(ctx(t), progressive.Query{Expr: `sum(rate(http_requests_total{code=~"5.."}[1m]))`, Target: checkout})
	require.ErrorIs(t, err, progressive.ErrInvalid)
	assert.True(t, progressive.IsInvalid(err))
	for _, name := range []string{"request_rate", "error_rate", "success_rate", "latency_p50", "latency_p95", "latency_p99", "cpu"} {
		assert.ErrorContains(t, err, name, "the error lists the known series")
	}
	_, err = m.Query(ctx(t), progressive.Query{Expr: "error_rate", Target: checkout, Role: "baseline"})
	assert.ErrorIs(t, err, progressive.ErrInvalid)
	_, err = m.Query(ctx(t), progressive.Query{Expr: "error_rate", Target: progressive.Target{}})
	assert.ErrorIs(t, err, progressive.ErrInvalid)
	_, err = m.QueryRange(ctx(t), progressive.Query{Expr: "nope", Target: checkout}, t0, t0, time.Second)
	assert.ErrorIs(t, err, progressive.ErrInvalid)

	r, err := m.Query(ctx(t), progressive.Query{Expr: " error_rate ", Target: checkout})
	require.NoError(t, err, "surrounding spaces are fine")
	assert.Equal(t, progressive.StatusValue, r.Status)

	c, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = m.Query(c, progressive.Query{Expr: "error_rate", Target: checkout})
	assert.ErrorIs(t, err, context.Canceled)
}

func TestMetricsUnknownTargetHasNoData(t *testing.T) {
	env, _ := newEnv(t, sim.Options{})
	r, err := env.Metrics.Query(ctx(t), progressive.Query{Expr: "error_rate", Target: unknown})
	require.NoError(t, err)
	assert.Equal(t, progressive.StatusNoData, r.Status)

	require.NoError(t, env.Metrics.SetProfile(unknown, sim.Profile{}))
	r, err = env.Metrics.Query(ctx(t), progressive.Query{Expr: "error_rate", Target: unknown})
	require.NoError(t, err)
	assert.Equal(t, progressive.StatusValue, r.Status, "a profile alone makes a target known, all traffic on stable")
}

func TestMetricsIncidentWindow(t *testing.T) {
	env, fc := newEnv(t, sim.Options{Seed: 7})
	require.NoError(t, env.Workload.AddService(checkout, v1))
	require.NoError(t, env.Router.SetRoutes(ctx(t), checkout, progressive.WeightedRoutes(50)))
	m := env.Metrics
	require.NoError(t, m.Inject(sim.Incident{
		Target: checkout, Role: progressive.Canary, Kind: sim.ErrorRateSet, Value: 20,
		Start: t0.Add(10 * time.Minute), End: t0.Add(20 * time.Minute),
	}))
	require.NoError(t, m.Inject(sim.Incident{
		Target: checkout, Role: progressive.Canary, Kind: sim.LatencyFactor, Value: 3,
		Start: t0.Add(10 * time.Minute), End: t0.Add(20 * time.Minute),
	}))
	at := func(d time.Duration, expr string, role progressive.Role) float64 {
		t.Helper()
		fc.SetTime(t0.Add(d))
		return query(t, m, expr, role).Value
	}
	assert.Less(t, at(10*time.Minute-time.Second, "error_rate", progressive.Canary), 1.5, "before Start")
	assert.InDelta(t, 20, at(10*time.Minute, "error_rate", progressive.Canary), 3, "from Start")
	assert.InDelta(t, 360, at(15*time.Minute, "latency_p95", progressive.Canary), 30)
	assert.InDelta(t, 20, at(20*time.Minute-time.Second, "error_rate", progressive.Canary), 3)
	assert.Less(t, at(15*time.Minute, "error_rate", progressive.Stable), 1.5, "stable is not hit")
	assert.InDelta(t, 10, at(15*time.Minute, "error_rate", ""), 2.5, "the whole service sees half of it")
	assert.Less(t, at(20*time.Minute, "error_rate", progressive.Canary), 1.5, "over at End")
	assert.InDelta(t, 120, at(20*time.Minute, "latency_p95", progressive.Canary), 12)

	m.ClearIncidents()
	assert.Less(t, at(15*time.Minute, "error_rate", progressive.Canary), 1.5, "cleared")
}

func TestMetricsIncidentKinds(t *testing.T) {
	env, _ := serviceEnv(t, sim.Options{})
	m := env.Metrics
	require.NoError(t, m.SetProfile(checkout, sim.Profile{ErrorRate: 1}))
	require.NoError(t, m.Inject(sim.Incident{Target: checkout, Kind: sim.ErrorRateFactor, Value: 5}))
	assert.InDelta(t, 5, mean(t, m, "error_rate", progressive.Stable, t0, 200), 0.3, "factor multiplies")
	require.NoError(t, m.Inject(sim.Incident{Kind: sim.ErrorRateFactor, Value: 1000}))
	assert.Equal(t, 100.0, query(t, m, "error_rate", progressive.Stable).Value, "capped at 100%")
	require.NoError(t, m.Inject(sim.Incident{Target: checkout, Kind: sim.ErrorRateSet, Value: 0}))
	assert.Zero(t, query(t, m, "error_rate", progressive.Stable).Value, "a later set overrides")
	require.NoError(t, m.Inject(sim.Incident{Target: checkout, Role: progressive.Stable, Kind: sim.CPUSet, Value: 93}))
	assert.Equal(t, 93.0, query(t, m, "cpu", progressive.Stable).Value)

	other := progressive.Target{Namespace: "shop", Name: "cart"}
	require.NoError(t, m.SetProfile(other, sim.Profile{}))
	r, err := m.Query(ctx(t), progressive.Query{Expr: "cpu", Target: other})
	require.NoError(t, err)
	assert.InDelta(t, 40, r.Value, 10, "another target is not hit")
}

func TestMetricsRejectsBadProfilesAndIncidents(t *testing.T) {
	env, _ := newEnv(t, sim.Options{})
	m := env.Metrics
	assert.ErrorIs(t, m.SetProfile(checkout, sim.Profile{ErrorRate: 120}), progressive.ErrInvalid)
	assert.ErrorIs(t, m.SetProfile(checkout, sim.Profile{RequestRate: -1}), progressive.ErrInvalid)
	assert.ErrorIs(t, m.SetProfile(checkout, sim.Profile{MatchShare: math.NaN()}), progressive.ErrInvalid)
	assert.ErrorIs(t, m.SetProfile(progressive.Target{Name: "-x"}, sim.Profile{}), progressive.ErrInvalid)
	for name, inc := range map[string]sim.Incident{
		"unknown kind":       {Kind: "meteor"},
		"negative value":     {Kind: sim.LatencyFactor, Value: -2},
		"percent over 100":   {Kind: sim.ErrorRateSet, Value: 101},
		"end before start":   {Kind: sim.NoTraffic, Start: t0, End: t0.Add(-time.Second)},
		"unknown role":       {Kind: sim.NoTraffic, Role: "primary"},
		"invalid target":     {Kind: sim.NoTraffic, Target: progressive.Target{Name: "Bad"}},
		"set CPU below zero": {Kind: sim.CPUSet, Value: -1},
	} {
		assert.ErrorIs(t, m.Inject(inc), progressive.ErrInvalid, name)
	}
}

func TestMetricsReplicaRatioWithoutRouter(t *testing.T) {
	env, _ := newEnv(t, sim.Options{})
	require.NoError(t, env.Workload.AddService(checkout, sim.ServiceSpec{Replicas: 3, Version: "v1"}))
	assert.Equal(t, progressive.StatusNoData, query(t, env.Metrics, "request_rate", progressive.Canary).Status)
	require.NoError(t, env.Workload.DeployCanary(ctx(t), checkout, r2, 1))
	assert.InDelta(t, 25, mean(t, env.Metrics, "request_rate", progressive.Canary, t0, 300), 0.4,
		"one ready canary pod of four carries a quarter")
}

func TestMetricsDeterministic(t *testing.T) {
	values := func(seed uint64) []float64 {
		env, _ := serviceEnv(t, sim.Options{Seed: seed})
		require.NoError(t, env.Router.SetRoutes(ctx(t), checkout, progressive.WeightedRoutes(30)))
		var out []float64
		for i := range 30 {
			for _, expr := range []string{"request_rate", "error_rate", "latency_p99", "cpu"} {
				r, err := env.Metrics.Query(ctx(t), progressive.Query{Expr: expr, Target: checkout,
					Role: progressive.Canary, Time: t0.Add(time.Duration(i) * 17 * time.Second)})
				require.NoError(t, err)
				out = append(out, r.Value)
			}
		}
		return out
	}
	assert.Equal(t, values(9), values(9), "same seed, same answers")
	assert.NotEqual(t, values(9), values(10), "another seed, other answers")

	env, _ := serviceEnv(t, sim.Options{})
	first := query(t, env.Metrics, "error_rate", progressive.Stable)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 50 {
				r, err := env.Metrics.Query(ctx(t), progressive.Query{Expr: "error_rate", Target: checkout, Role: progressive.Stable})
				assert.NoError(t, err)
				assert.Equal(t, first, r, "the same instant gives the same answer, concurrently too")
			}
		})
	}
	wg.Wait()
}

func TestMetricsQueryRange(t *testing.T) {
	env, _ := serviceEnv(t, sim.Options{})
	m := env.Metrics
	q := progressive.Query{Expr: "latency_p95", Target: checkout, Role: progressive.Stable}
	samples, err := m.QueryRange(ctx(t), q, t0, t0.Add(10*time.Minute), time.Minute)
	require.NoError(t, err)
	require.Len(t, samples, 11)
	for i, s := range samples {
		assert.Equal(t, t0.Add(time.Duration(i)*time.Minute), s.Time)
		r, err := m.Query(ctx(t), progressive.Query{Expr: q.Expr, Target: checkout, Role: q.Role, Time: s.Time})
		require.NoError(t, err)
		assert.Equal(t, r.Value, s.Value, "a range is a series of instant answers")
	}

	samples, err = m.QueryRange(ctx(t), progressive.Query{Expr: "error_rate", Target: checkout, Role: progressive.Canary}, t0, t0.Add(time.Hour), time.Minute)
	require.NoError(t, err)
	assert.Empty(t, samples, "instants without data are left out")

	_, err = m.QueryRange(ctx(t), q, t0, t0.Add(time.Hour), 0)
	assert.ErrorIs(t, err, progressive.ErrInvalid)
	_, err = m.QueryRange(ctx(t), q, t0.Add(time.Hour), t0, time.Minute)
	assert.ErrorIs(t, err, progressive.ErrInvalid)
	_, err = m.QueryRange(ctx(t), q, t0, t0.Add(24*time.Hour), time.Second)
	assert.ErrorIs(t, err, progressive.ErrInvalid, "too many points")
}

func TestMetricsWithoutRouterOrWorkload(t *testing.T) {
	m := sim.NewMetrics(sim.Options{}, nil, nil)
	require.NoError(t, m.SetProfile(checkout, sim.Profile{}))
	r, err := m.Query(context.Background(), progressive.Query{Expr: "request_rate", Target: checkout})
	require.NoError(t, err)
	assert.Equal(t, progressive.StatusValue, r.Status)
	assert.WithinDuration(t, time.Now(), r.Time, time.Minute, "the real clock by default")
}

func BenchmarkQuery(b *testing.B) {
	env := sim.New(sim.Options{})
	c := context.Background()
	if err := env.Workload.AddService(checkout, v1); err != nil {
		b.Fatal(err)
	}
	if err := env.Router.SetRoutes(c, checkout, progressive.WeightedRoutes(10)); err != nil {
		b.Fatal(err)
	}
	q := progressive.Query{Expr: "latency_p99", Target: checkout, Role: progressive.Canary}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		q.Time = t0.Add(time.Duration(i) * time.Second)
		i++
		if _, err := env.Metrics.Query(c, q); err != nil {
			b.Fatal(err)
		}
	}
}

func TestMetricsUseTheRoutesOfTheQueryTime(t *testing.T) {
	env, step := serviceEnv(t, sim.Options{})
	step(10 * time.Minute)
	require.NoError(t, env.Router.SetRoutes(ctx(t), checkout, progressive.WeightedRoutes(40)))
	step(10 * time.Minute)
	samples, err := env.Metrics.QueryRange(ctx(t), progressive.Query{Expr: "request_rate", Target: checkout, Role: progressive.Canary},
		t0, t0.Add(20*time.Minute), time.Minute)
	require.NoError(t, err)
	require.Len(t, samples, 11, "no canary data before the weight moved at minute 10")
	assert.Equal(t, t0.Add(10*time.Minute), samples[0].Time)
	for _, s := range samples {
		assert.InDelta(t, 40, s.Value, 4)
	}
	r, err := env.Metrics.Query(ctx(t), progressive.Query{Expr: "request_rate", Target: checkout, Role: progressive.Canary, Time: t0.Add(-time.Hour)})
	require.NoError(t, err)
	assert.Equal(t, progressive.StatusNoData, r.Status, "before the router knew the target, the workload ratio applies")
}
