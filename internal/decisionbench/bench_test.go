package decisionbench

import (
	"bytes"
	"context"
	"os"
	"runtime/debug"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMain(m *testing.M) {
	// The analysis engine allocates per measurement; a larger heap target
	// halves the time the benchmark's tests spend collecting.
	debug.SetGCPercent(400)
	os.Exit(m.Run())
}

func scenarios(names ...string) []Scenario {
	var out []Scenario
	for _, sc := range Scenarios() {
		for _, n := range names {
			if sc.Name == n {
				out = append(out, sc)
			}
		}
	}
	return out
}

func goalsOf(t *testing.T, res Result, rule string, cond Regime) map[string]Goal {
	t.Helper()
	out := map[string]Goal{}
	for _, g := range res.Goals(rule) {
		if g.Regime == cond {
			out[g.Name] = g
		}
	}
	require.Len(t, out, 3)
	return out
}

// TestGoalsHoldWhereTheyWereStated checks the project's goals for the
// statistical rule with its defaults, at the condition they were stated for (a
// 0.5% healthy error rate, 100 req/s), over three seeds: 1,000 healthy runs
// (enough to tell a 1% false-rollback rate from the 0.2% the rule has) and 100
// runs of each regressed scenario.
func TestGoalsHoldWhereTheyWereStated(t *testing.T) {
	rule := Statistical{}
	cond := Regime{ErrorRate: 0.005, Rate: 100}
	res, err := Run(context.Background(), Config{
		Runs: 100, HealthyRuns: 1000, Rates: []float64{cond.Rate}, ErrorRates: []float64{cond.ErrorRate}, Rules: []Rule{rule},
		Scenarios: scenarios("healthy", "errors x2", "errors x5", "errors x10", "latency +100%", "no canary traffic"),
	})
	require.NoError(t, err)
	for _, g := range goalsOf(t, res, rule.Name(), cond) {
		assert.True(t, g.Measured && g.Met, "%s: %s", g.Name, g.Detail)
		t.Logf("%s: %s", g.Name, g.Detail)
	}
	assert.True(t, goalsOf(t, res, rule.Name(), cond)[GoalDetect].Target)
	t.Logf("took %s", res.Elapsed)
}

// TestGoalsDoNotHoldAtALowErrorRateAndLowTraffic pins what the README says: at
// a 0.1% healthy error rate and 10 req/s, a 10% canary serves 60 requests a
// minute and an x5 regression adds one error every 4 minutes; the statistical
// rule promotes some of those canaries, and the goals report it.
func TestGoalsDoNotHoldAtALowErrorRateAndLowTraffic(t *testing.T) {
	rule := Statistical{}
	cond := Regime{ErrorRate: 0.001, Rate: 10}
	res, err := Run(context.Background(), Config{
		Runs: 60, Rates: []float64{cond.Rate}, ErrorRates: []float64{cond.ErrorRate}, Rules: []Rule{rule},
		Scenarios: scenarios("errors x5"),
	})
	require.NoError(t, err)
	c, ok := res.Cell(cond.ErrorRate, "errors x5", cond.Rate, rule.Name())
	require.True(t, ok)
	assert.Positive(t, c.Promoted, "some x5 canaries are promoted at 0.1%% and 10 req/s")
	g := goalsOf(t, res, rule.Name(), cond)[GoalNoPromote]
	assert.True(t, g.Measured)
	assert.False(t, g.Met, g.Detail)
	assert.Contains(t, g.Detail, "errors x5")
	d := goalsOf(t, res, rule.Name(), cond)[GoalDetect]
	assert.False(t, d.Met, d.Detail)
	assert.False(t, d.Target)
}

// TestModelsInTheBenchmarkKeepTheToolsTimings runs the Flagger and Argo rules
// on the simulated world, where their outcomes are determined, and checks the
// timings the cited behaviours imply (times from the canary's first traffic).
func TestModelsInTheBenchmarkKeepTheToolsTimings(t *testing.T) {
	argoDefaults, argoDocs := Argo{Label: "defaults"}, Argo{Label: "docs example", Interval: 5 * time.Minute, FailureLimit: 3}
	flaggerDefaults, flaggerTutorial := Flagger{Label: "defaults", Config: FlaggerDefaults()}, Flagger{Label: "tutorial", Config: FlaggerTutorial()}
	// 2% healthy errors at 1,000 req/s: no rule's check fails by chance, so
	// each outcome follows from the rule alone.
	res, err := Run(context.Background(), Config{
		Seeds: []uint64{7}, Runs: 20, Rates: []float64{1000}, ErrorRates: []float64{0.02},
		Rules:     []Rule{flaggerDefaults, flaggerTutorial, argoDefaults, argoDocs},
		Scenarios: scenarios("errors x10", "backend outage 5m", "no canary traffic"),
	})
	require.NoError(t, err)
	every := func(scenario string, rule Rule, want time.Duration) {
		t.Helper()
		c, ok := res.Cell(0.02, scenario, 1000, rule.Name())
		require.True(t, ok)
		require.Equal(t, c.Runs, c.RolledBack, "%s / %s: %s", scenario, rule.Name(), c.Example)
		assert.Equal(t, want, c.Detect[0], "%s / %s: %s", scenario, rule.Name(), c.Example)
		assert.Equal(t, want, c.Detect[len(c.Detect)-1], "%s / %s", scenario, rule.Name())
	}
	// Flagger, threshold 1: the analysis one interval after the first step
	// fails, the next tick rolls back (scheduler.go:430-438, 461-465).
	every("errors x10", flaggerDefaults, 2*time.Minute)
	// Threshold 5: failures at 1m..5m, rollback at the tick after the fifth.
	every("errors x10", flaggerTutorial, 6*time.Minute)
	// Argo, no initialDelay: the first measurement finds no series (Error),
	// the retry 10s later fails the condition, failureLimit 0 aborts.
	every("errors x10", argoDefaults, 10*time.Second)
	// Interval 5m, failureLimit 3: failures at 10s, 5m10s, 10m10s, 15m10s.
	every("errors x10", argoDocs, 15*time.Minute+10*time.Second)
	// A canary that never serves: Flagger finds no values (a failed check),
	// Argo's conditions cannot read an empty result (Error) and, retried every
	// 10s, the fifth error aborts 40s after the first.
	every("no canary traffic", flaggerDefaults, 2*time.Minute)
	every("no canary traffic", argoDefaults, 40*time.Second)
	// The backend is down from 5m to 10m. Argo's measurement due at 5m10s
	// errors and is retried every 10s: the fifth error in a row aborts at
	// 5m50s, not after five intervals.
	every("backend outage 5m", argoDefaults, 5*time.Minute+50*time.Second)
	every("backend outage 5m", argoDocs, 5*time.Minute+50*time.Second)
	// Flagger's tutorial reaches 50% at 4m; the analyses of 5m..9m fail and
	// the tick at 10m rolls back. With its defaults Flagger promoted at 2m,
	// before the outage.
	every("backend outage 5m", flaggerTutorial, 10*time.Minute)
	c, _ := res.Cell(0.02, "backend outage 5m", 1000, flaggerDefaults.Name())
	assert.Equal(t, c.Runs, c.Promoted)
	assert.Equal(t, 2*time.Minute, c.Promote[0])
}

func TestRelativeOnlyRegressionsAreNotChargedToThresholdRules(t *testing.T) {
	tr, plan := DefaultTraffic(), SeedPlan().For(0.005)
	require.InDelta(t, 1, plan.MaxErrorRate, 1e-12)
	kinds := map[string]ScenarioKind{}
	for _, sc := range Scenarios() {
		kinds[sc.Name] = sc.Kind(tr, plan)
	}
	assert.Equal(t, map[string]ScenarioKind{
		"healthy": Good, "backend outage 5m": Good, "noisy spike": Good,
		// 1.0% errors under a "> 1%" rule: promoting it is what the rule says.
		"errors x1.5": RelativeOnly, "errors x2": RelativeOnly,
		"errors x5": Absolute, "errors x10": Absolute,
		// 240 ms is under 500 ms.
		"latency +20%": RelativeOnly, "latency +100%": RelativeOnly,
		"no canary traffic": Absolute,
	}, kinds)
	assert.InDelta(t, 0.2, SeedPlan().For(0.001).MaxErrorRate, 1e-12)

	res, err := Run(context.Background(), Config{Runs: 6, Rates: []float64{100}, ErrorRates: []float64{0.005},
		Rules: []Rule{Flagger{Label: "defaults", Config: FlaggerDefaults()}, Statistical{}}, Scenarios: scenarios("errors x2", "errors x5")})
	require.NoError(t, err)
	for _, c := range res.Cells {
		want := c.Scenario.Name == "errors x5" || c.Rule == (Statistical{}).Name()
		assert.Equal(t, want, c.Asked, "%s / %s", c.Scenario.Name, c.Rule)
	}
	var text bytes.Buffer
	require.NoError(t, res.WriteText(&text, Report{Details: true}))
	assert.Contains(t, text.String(), "relative only")
}

// TestRunIsDeterministic: the same seeds give the same cells whatever the number
// of workers, and the report prints them.
func TestRunIsDeterministic(t *testing.T) {
	cfg := Config{Seeds: []uint64{7, 8}, Runs: 8, HealthyRuns: 8, Rates: []float64{100}, ErrorRates: []float64{0.005},
		Scenarios: scenarios("healthy", "errors x5", "backend outage 5m"), Workers: 1}
	one, err := Run(context.Background(), cfg)
	require.NoError(t, err)
	cfg.Workers = 3
	many, err := Run(context.Background(), cfg)
	require.NoError(t, err)
	require.Equal(t, len(one.Cells), len(many.Cells))
	for i := range one.Cells {
		a, b := one.Cells[i], many.Cells[i]
		assert.Equal(t, a.Detect, b.Detect, "%s / %s", a.Scenario.Name, a.Rule)
		assert.Equal(t, a.Promote, b.Promote, "%s / %s", a.Scenario.Name, a.Rule)
		assert.Equal(t, a.BySeed, b.BySeed)
		assert.Equal(t, 4, a.BySeed[0].Runs)
	}

	var text bytes.Buffer
	rep := Report{Details: true, GoalRules: []string{Statistical{}.Name()}}
	require.NoError(t, many.WriteText(&text, rep))
	assert.Contains(t, text.String(), "== 0.5% healthy errors, 100 req/s (canary 600 req/min at 10%, 3,000 req/min at 50%); thresholds error rate > 1%, p95 > 500 ms ==")
	assert.Contains(t, text.String(), "flagger tutorial: interval 1m, threshold 5, stepWeight 10, maxWeight 50")
	assert.Contains(t, text.String(), `== Goals of "ours defaults" ==`)
	var md bytes.Buffer
	require.NoError(t, many.WriteMarkdown(&md, rep))
	assert.Contains(t, md.String(), "| scenario | kind | rule | rolled back | promoted | held | TTD p50 | TTD p90 | time p50 |")
}

func TestWorldStreamsAreSharedAcrossRules(t *testing.T) {
	tr := DefaultTraffic()
	tr.RequestRate = 100
	a := newWorld(Scenarios()[0], tr, 1, 3)
	b := newWorld(Scenarios()[3], tr, 1, 3) // errors x5: same run, same noise
	for m := 1; m <= 30; m++ {
		ha, hb := a.bucket(m, false, 10), b.bucket(m, false, 10)
		assert.Equal(t, ha, hb, "the stable side does not depend on the scenario")
		assert.Equal(t, a.bucket(m, true, 10).n, b.bucket(m, true, 10).n, "nor do the canary's requests")
	}
	// Means over many minutes match the model, and a part of a minute holds
	// its share of the requests.
	var n, k, part float64
	for run := range 200 {
		w := newWorld(Scenarios()[0], tr, 9, run)
		for m := 1; m <= 15; m++ {
			bk := w.bucket(m, false, 50)
			n += float64(bk.n)
			k += float64(bk.k)
			part += float64(w.part(m, false, 50, 0.25).n)
		}
	}
	assert.InDelta(t, 100*0.5*60, n/3000, 100*0.5*60*0.03, "requests per minute, diurnal swing averaged out")
	assert.InDelta(t, 0.005, k/n, 0.0005, "error rate")
	assert.InDelta(t, 0.25, part/n, 0.01, "a quarter minute")
}

func TestWorldMeasuresWhatPrometheusReturns(t *testing.T) {
	tr := DefaultTraffic()
	tr.RequestRate = 100
	at10 := func(int) float64 { return 10 }
	w := newWorld(scenarios("no canary traffic")[0], tr, 1, 0)
	assert.Equal(t, Measurement{NoData: true}, w.measure(metricErrorPct, 3*time.Minute, time.Minute, at10),
		"a canary that never served has no series")
	w = newWorld(scenarios("healthy")[0], tr, 1, 0)
	assert.Equal(t, Measurement{NoData: true}, w.measure(metricErrorPct, 0, time.Minute, at10), "nothing before the first request")
	r := w.measure(metricSuccessPct, 10*time.Second, time.Minute, at10)
	assert.False(t, r.NoData || r.Err)
	assert.InDelta(t, 99.5, r.Value, 1.5, "ten seconds of a 10% canary at 100 req/s")
	stopped := func(m int) float64 {
		if m <= 2 {
			return 10
		}
		return 0
	}
	assert.True(t, isNaN(w.measure(metricErrorPct, 4*time.Minute, time.Minute, stopped).Value), "0/0 once the canary served")
	w = newWorld(scenarios("backend outage 5m")[0], tr, 1, 0)
	assert.Equal(t, Measurement{Err: true}, w.measure(metricLatencyP95, 5*time.Minute+10*time.Second, time.Minute, at10))
}

func isNaN(v float64) bool { return v != v }
