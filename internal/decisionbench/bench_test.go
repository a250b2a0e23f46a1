package decisionbench

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

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

// TestGoals asserts the goals for the statistical rule with fixed seeds:
// 1,000 healthy runs per rate (enough to tell a 1% false-rollback rate from the
// 0.2% the rule has), and 200 runs per regressed scenario and rate, only where the
// no-promotion goal applies (the median and the absence of promotions are clear at
// that count; the command runs 300 by default).
func TestGoals(t *testing.T) {
	rule := Statistical{}
	ctx := context.Background()
	res, err := Run(ctx, Config{
		Seed: 1, Runs: 200, HealthyRuns: 1000, Rules: []Rule{rule},
		Scenarios: scenarios("healthy", "errors x5", "errors x10", "latency +100%", "no canary traffic"),
	})
	require.NoError(t, err)
	x2, err := Run(ctx, Config{Seed: 1, Runs: 200, Rates: []float64{100, 1000}, Rules: []Rule{rule}, Scenarios: scenarios("errors x2")})
	require.NoError(t, err)
	res.Cells = append(res.Cells, x2.Cells...)

	for _, g := range res.Goals(rule.Name()) {
		assert.True(t, g.Met, "%s: %s", g.Name, g.Detail)
		t.Logf("%s: %s", g.Name, g.Detail)
	}
	t.Logf("took %s", res.Elapsed+x2.Elapsed)
}

// TestRunIsDeterministic: the same seed gives the same table whatever the number of
// workers, and the faithful models reproduce their documented timings.
func TestRunIsDeterministic(t *testing.T) {
	cfg := Config{Seed: 7, Runs: 20, HealthyRuns: 20, Rates: []float64{100},
		Scenarios: scenarios("healthy", "errors x5", "backend outage 5m")}
	one, err := Run(context.Background(), Config{Seed: cfg.Seed, Runs: cfg.Runs, HealthyRuns: cfg.HealthyRuns, Rates: cfg.Rates, Scenarios: cfg.Scenarios, Workers: 1})
	require.NoError(t, err)
	cfg.Workers = 3
	many, err := Run(context.Background(), cfg)
	require.NoError(t, err)
	require.Equal(t, len(one.Cells), len(many.Cells))
	for i := range one.Cells {
		a, b := one.Cells[i], many.Cells[i]
		assert.Equal(t, a.Detect, b.Detect, "%s / %s", a.Scenario.Name, a.Rule)
		assert.Equal(t, a.Promote, b.Promote, "%s / %s", a.Scenario.Name, a.Rule)
		assert.Equal(t, a.Held, b.Held)
	}

	detect := func(rule Rule) time.Duration {
		c, ok := many.Cell("errors x5", 100, rule.Name())
		require.True(t, ok)
		require.Equal(t, c.Runs, c.RolledBack, rule.Name())
		d, _ := c.DetectQuantile(0.5)
		return d
	}
	assert.Equal(t, 6*time.Minute, detect(Flagger{Interval: time.Minute, Threshold: 5}), "threshold 5 at 1m: the tick after the fifth failure")
	assert.Equal(t, 20*time.Minute, detect(Argo{Interval: 5 * time.Minute, FailureLimit: 3, ConsecutiveErrorLimit: 4}), "the fourth failed 5m measurement")
	assert.Equal(t, time.Minute, detect(Argo{Interval: time.Minute, ConsecutiveErrorLimit: 4}), "failureLimit 0: the first")

	// A five-minute outage: Argo errors out on the fifth error in a row, Flagger
	// counts five failed checks and rolls back a tick later.
	out := func(rule Rule) Cell {
		c, ok := many.Cell("backend outage 5m", 100, rule.Name())
		require.True(t, ok)
		return c
	}
	c := out(Argo{Interval: time.Minute, ConsecutiveErrorLimit: 4})
	d, _ := c.DetectQuantile(0.5)
	assert.Equal(t, 9*time.Minute, d)
	c = out(Flagger{Interval: time.Minute, Threshold: 5})
	d, _ = c.DetectQuantile(0.5)
	assert.Equal(t, 10*time.Minute, d)
	assert.Zero(t, out(Statistical{}).RolledBack, "the judges read ranges and catch up after the outage")

	var text bytes.Buffer
	require.NoError(t, many.WriteText(&text))
	assert.Contains(t, text.String(), "== 100 req/s (canary 600 req/min at 10%, 3,000 req/min at 50%) ==")
	assert.Contains(t, text.String(), "ours: sprt + mann-whitney")
	var md bytes.Buffer
	require.NoError(t, many.WriteMarkdown(&md))
	assert.Contains(t, md.String(), "| scenario | rule | rolled back | promoted | held | TTD p50 | TTD p90 | time p50 |")
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
	// Means over many minutes match the model.
	var n, k float64
	for run := range 200 {
		w := newWorld(Scenarios()[0], tr, 9, run)
		for m := 1; m <= 15; m++ {
			bk := w.bucket(m, false, 50)
			n += float64(bk.n)
			k += float64(bk.k)
		}
	}
	assert.InDelta(t, 100*0.5*60, n/3000, 100*0.5*60*0.03, "requests per minute, diurnal swing averaged out")
	assert.InDelta(t, 0.005, k/n, 0.0005, "error rate")
}
