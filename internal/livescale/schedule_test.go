package livescale

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/analysis"
	"github.com/agentops/progressive/metrics"
	"github.com/agentops/progressive/rollout"
	"github.com/agentops/progressive/strategy"
)

func testPlan(t *testing.T) progressive.Plan {
	t.Helper()
	app := metrics.App{Window: "10s"}
	checks := []progressive.Check{app.ErrorRate(1), app.LatencyP95(500)}
	for i := range checks {
		checks[i].Interval = 10 * time.Second
	}
	plan, err := strategy.Canary{StepWeight: 10, MaxWeight: 20, Soak: 10 * time.Second, Checks: checks}.
		Plan(progressive.Target{Namespace: "ns", Name: "svc"}, progressive.Release{Version: "v2", Image: "r/svc:v2"})
	require.NoError(t, err)
	return plan
}

// TestSchedule: each step's plan time is anchored on the actual start of the
// step before; a late step is counted once, where it arose.
func TestSchedule(t *testing.T) {
	plan := testPlan(t)
	kinds := []progressive.StepKind{}
	for _, s := range plan.Steps {
		kinds = append(kinds, s.Kind())
	}
	require.Equal(t, []progressive.StepKind{"deploy", "setWeight", "analyze", "setWeight", "analyze", "promote", "finalize"}, kinds)

	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	rec := NewRecorder()
	ev := func(typ rollout.EventType, step int, ms int) {
		rec.Observe(context.Background(), rollout.Event{Rollout: "r", Type: typ, Step: step, StepKind: kinds[min(step, len(kinds)-1)], Time: at(ms)})
	}
	ev(rollout.EventStepStarted, 0, 0)
	ev(rollout.EventStepStarted, 1, 2300) // canary ready at 2000: 300ms late (a poll)
	ev(rollout.EventStepStarted, 2, 2400) // setWeight took 100ms
	rec.Observe(context.Background(), rollout.Event{Rollout: "r", Type: rollout.EventRoutesChanged, Step: 1, Time: at(2390), Routes: &progressive.Routes{StableWeight: 90, CanaryWeight: 10}})
	ev(rollout.EventMeasured, 2, 12450)    // due at 12400
	ev(rollout.EventMeasured, 2, 12460)    // not the first
	ev(rollout.EventStepStarted, 3, 12500) // planned 12400
	ev(rollout.EventStepStarted, 4, 12510)
	ev(rollout.EventMeasured, 4, 22510)
	ev(rollout.EventStepStarted, 5, 23510) // planned 22510: a second late
	ev(rollout.EventStepStarted, 6, 26000) // promoted pods ready at 25000
	rec.Observe(context.Background(), rollout.Event{Rollout: "r", Type: rollout.EventSucceeded, Step: 6, Time: at(26050)})
	assert.Equal(t, 10.0, rec.Weight("r"))

	vars := analysis.Vars{Namespace: "ns", Service: "svc", CanaryVersion: "v2", StableVersion: "stable"}
	assert.Equal(t, 10*time.Second, AnalysisDuration(plan, *plan.Steps[2].Analyze, vars))
	lags, first, problems := Schedule("r", plan, rec.Timeline("r"), Readiness{CanaryReady: at(2000), PromotedReady: at(25000)}, vars)
	assert.Empty(t, problems)
	got := map[int]time.Duration{}
	basis := map[int]string{}
	for _, l := range lags {
		got[l.Step], basis[l.Step] = l.Lag, l.Basis
	}
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	assert.Equal(t, map[int]time.Duration{1: ms(300), 2: ms(100), 3: ms(100), 4: ms(10), 5: ms(1000), 6: ms(1000), 7: ms(50)}, got)
	assert.Equal(t, map[int]string{1: "ready", 2: "instant", 3: "analysis", 4: "instant", 5: "analysis", 6: "ready", 7: "instant"}, basis)
	require.Len(t, first, 2)
	assert.Equal(t, ms(50), first[0].Lag)
	assert.Equal(t, ms(0), first[1].Lag)

	over := Over(lags, 999*time.Millisecond)
	assert.Len(t, over, 2)
	assert.Equal(t, 5, Worst(lags, 1)[0].Step)
}

// TestScheduleProblems: a rollout that stopped, or a readiness never seen, is
// reported, not counted as on time.
func TestScheduleProblems(t *testing.T) {
	plan := testPlan(t)
	t0 := time.Now()
	tl := Timeline{Steps: []StepTimes{{Kind: progressive.KindDeploy, Started: t0}, {Kind: progressive.KindSetWeight, Started: t0.Add(time.Second)}}}
	lags, _, problems := Schedule("r", plan, tl, Readiness{}, analysis.Vars{})
	assert.Empty(t, lags)
	assert.Equal(t, []string{"r: step 0 (deploy): the watch never saw its pods ready", "r: step 2 (analyze) never started"}, problems)
}

func TestDistribute(t *testing.T) {
	var ds []time.Duration
	for i := 1; i <= 100; i++ {
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	d := Distribute(ds)
	assert.Equal(t, Distribution{N: 100, P50: 50 * time.Millisecond, P90: 90 * time.Millisecond, P99: 99 * time.Millisecond,
		Max: 100 * time.Millisecond, Min: time.Millisecond, Mean: 50500 * time.Microsecond}, d)
	assert.Equal(t, Distribution{}, Distribute(nil))
	assert.Equal(t, "n=0", Distribute(nil).String())
}

func TestResourceOf(t *testing.T) {
	for path, want := range map[string]string{
		"/api/v1/namespaces/{namespace}/configmaps/{name}":                    "core/configmaps",
		"/apis/apps/v1/namespaces/{namespace}/deployments/{name}":             "apps/deployments",
		"/apis/apps/v1/namespaces/{namespace}/deployments/{name}/status":      "apps/deployments/status",
		"/apis/networking.istio.io/v1/namespaces/{namespace}/virtualservices": "networking.istio.io/virtualservices",
		"/apis/networking.istio.io/v1":                                        "networking.istio.io",
		"/api/v1/namespaces/{namespace}/events":                               "core/events",
		"/healthz":                                                            "/healthz",
	} {
		assert.Equal(t, want, resourceOf(path), path)
	}
}

func TestRSS(t *testing.T) {
	rss, peak, err := RSS()
	require.NoError(t, err)
	assert.Positive(t, rss)
	assert.GreaterOrEqual(t, peak, rss)
}

func TestByKind(t *testing.T) {
	ls := []StepLag{
		{After: progressive.KindSetWeight, Lag: time.Second},
		{After: progressive.KindSetWeight, Lag: 3 * time.Second},
		{After: progressive.KindAnalyze, Lag: 2 * time.Second},
	}
	got := ByKind(ls)
	require.Len(t, got, 2)
	assert.Equal(t, "analyze", got[0].Kind)
	assert.Equal(t, "setWeight", got[1].Kind)
	assert.Equal(t, 3*time.Second, got[1].Max)
	assert.Equal(t, 2, got[1].N)
}
