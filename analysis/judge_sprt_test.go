package analysis_test

import (
	"context"
	"encoding/json"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/analysis"
)

// counted is one minute of traffic of both roles.
type counted struct{ canaryErr, canaryReq, baseErr, baseReq float64 }

// simCounts answers like provider/sim: request_rate in requests per second and
// error_rate in percent, for minute i+1 from minutes[i] (the last one repeats).
// A role without requests has request_rate 0 and error_rate NaN.
func simCounts(minutes []counted) seriesFunc {
	return func(expr string, role progressive.Role, t time.Time) (float64, bool) {
		i := int(t.Sub(jt0)/time.Minute) - 1
		if i < 0 {
			return 0, false
		}
		mc := minutes[min(i, len(minutes)-1)]
		e, n := mc.canaryErr, mc.canaryReq
		if role == progressive.Stable {
			e, n = mc.baseErr, mc.baseReq
		}
		switch expr {
		case "request_rate":
			return n / 60, true
		case "error_rate":
			if n == 0 {
				return math.NaN(), true
			}
			return 100 * e / n, true
		}
		return 0, false
	}
}

func sprtCheck(params map[string]float64) progressive.Check {
	p := map[string]float64{"scale": 60, "ratio": 100}
	for k, v := range params {
		p[k] = v
	}
	return progressive.Check{
		Name:         "errors",
		Query:        "error_rate",
		InitialDelay: time.Minute,
		Judge:        &progressive.JudgeSpec{Kind: analysis.KindSPRT, Params: p},
	}
}

// runSPRT ticks an analysis of check every minute from minute 1 to last (or until
// the verdict) and returns the results.
func runSPRT(t *testing.T, e *analysis.Engine, c progressive.Check, st *analysis.State, from, last int) []analysis.TickResult {
	t.Helper()
	checks := []progressive.Check{c}
	var out []analysis.TickResult
	for m := from; m <= last; m++ {
		res, err := e.Tick(context.Background(), checks, testVars, st, jat(m))
		require.NoError(t, err)
		out = append(out, res)
		if res.Verdict.Done() {
			break
		}
	}
	return out
}

func TestSPRTJudgeHandDerivedIncrement(t *testing.T) {
	// r = 2 and equal traffic: p0 = 1/2, p1 = 2/3; 3 canary and 1 baseline errors
	// have likelihood ratio (2/3)^3 (1/3) / (1/2)^4 = 128/81 (as in analysis/stats).
	src := &seriesSource{f: simCounts([]counted{{3, 100, 1, 100}})}
	m := measureOnce(t, src, sprtCheck(nil), 1)
	assert.Equal(t, analysis.OutcomePass, m.Outcome, m.Reason)
	assert.InDelta(t, math.Log(128.0/81), m.Details["llr"], 1e-12)
	assert.InDelta(t, math.Log(100), m.Details["upperBound"], 1e-12)
	assert.Equal(t, 3.0, m.Details["canaryErrors"])
	assert.Equal(t, 100.0, m.Details["canaryRequests"])
	assert.Equal(t, 1.0, m.Details["baselineErrors"])
	assert.Equal(t, 3.0, m.Details["observedRatio"])
	assert.Equal(t, 0.03, m.Value, "canary error ratio")
	assert.Equal(t, 0.01, *m.Baseline)
	assert.Contains(t, m.Reason, "errors pass: no regression found so far: log-likelihood ratio 0.458 for a 2x error rate over 1 sample(s), below ln(1/alpha) = 4.605")
	assert.Contains(t, m.Reason, "canary 3 errors / 100 requests (3%), baseline 1 / 100 (1%), ratio 3")
}

func TestSPRTJudgeRegressionAtFirstSufficientTick(t *testing.T) {
	// 10% canary share: healthy is 1 canary error for 9 baseline errors per minute;
	// this canary has 5x the baseline's rate.
	minutes := []counted{{5, 1000, 9, 9000}}
	src := &seriesSource{f: simCounts(minutes)}
	e := judgeEngine(t, src)
	c := sprtCheck(nil)
	st := e.Begin([]progressive.Check{c}, jt0, jat(15))
	res := runSPRT(t, e, c, &st, 1, 15)

	// Per minute: 5 ln 2 - 14 ln 1.1 = 2.1314...; ln 100 = 4.605 is crossed at minute 3.
	delta := 5*math.Log(2) - 14*math.Log(1.1)
	first := int(math.Ceil(math.Log(100) / delta))
	require.Len(t, res, first, "fails at the first minute the evidence suffices")
	last := res[len(res)-1]
	assert.Equal(t, analysis.VerdictFail, last.Verdict)
	m := last.Measurements[0]
	assert.Equal(t, analysis.OutcomeFail, m.Outcome)
	assert.InDelta(t, float64(first)*delta, m.Details["llr"], 1e-9)
	assert.Equal(t, analysis.ClassHigh, analysis.Classify(c, m))
	assert.Contains(t, m.Reason, "errors high: log-likelihood ratio 6.394 for a 2x error rate over 3 sample(s) reached ln(1/alpha) = 4.605 (alpha 0.01): regression")
	assert.Contains(t, last.Reason, `check "errors" failed 1 of 3 measurements`)
}

func TestSPRTJudgeHealthyCanaryPasses(t *testing.T) {
	minutes := []counted{{1, 1000, 9, 9000}}
	src := &seriesSource{f: simCounts(minutes)}
	e := judgeEngine(t, src)
	c := sprtCheck(nil)
	st := e.Begin([]progressive.Check{c}, jt0, jat(15))
	res := runSPRT(t, e, c, &st, 1, 15)
	last := res[len(res)-1]
	require.Equal(t, analysis.VerdictPass, last.Verdict, last.Reason)
	assert.Equal(t, 15.0, last.Measurements[0].Details["ticks"])
	assert.Less(t, last.Measurements[0].Details["llr"], math.Log(0.05), "below ln(beta): a one-sided test keeps watching instead of accepting")
}

func TestSPRTJudgeCatchesUpMissedTicksAndResumesExactly(t *testing.T) {
	// A regression from minute 4 on; minutes 1-3 healthy.
	minutes := []counted{{1, 1000, 9, 9000}, {1, 1000, 9, 9000}, {1, 1000, 9, 9000}, {4, 1000, 9, 9000}}
	c := sprtCheck(nil)

	// Uninterrupted, every minute.
	src := &seriesSource{f: simCounts(minutes)}
	e := judgeEngine(t, src)
	want := e.Begin([]progressive.Check{c}, jt0, jat(30))
	wantRes := runSPRT(t, e, c, &want, 1, 30)
	require.Equal(t, analysis.VerdictFail, wantRes[len(wantRes)-1].Verdict)
	failedAt := len(wantRes)

	// Interrupted: a runner that measured at minute 1, was down until minute 6, and
	// restarted from the persisted JSON state.
	src2 := &seriesSource{f: simCounts(minutes)}
	e1 := judgeEngine(t, src2)
	st := e1.Begin([]progressive.Check{c}, jt0, jat(30))
	runSPRT(t, e1, c, &st, 1, 1)
	b, err := json.Marshal(st)
	require.NoError(t, err)
	var resumed analysis.State
	require.NoError(t, json.Unmarshal(b, &resumed))
	e2 := judgeEngine(t, src2)
	res := runSPRT(t, e2, c, &resumed, 6, 30)
	m := res[0].Measurements[0]
	assert.Equal(t, 5.0, m.Details["newSamples"], "minutes 2 to 6 caught up at once")
	assert.Equal(t, 6.0, m.Details["ticks"], "no minute counted twice")

	// Both reach the same statistic at the same minute.
	got := res[len(res)-1]
	require.Equal(t, analysis.VerdictFail, got.Verdict)
	assert.Equal(t, failedAt, 5+len(res), "same minute of failure")
	assert.InDelta(t, wantRes[len(wantRes)-1].Measurements[0].Details["llr"], got.Measurements[0].Details["llr"], 1e-9)
}

func TestSPRTJudgeNoDataNeverPasses(t *testing.T) {
	t.Run("canary without requests", func(t *testing.T) {
		src := &seriesSource{f: simCounts([]counted{{0, 0, 9, 9000}})}
		m := measureOnce(t, src, sprtCheck(nil), 1)
		assert.Equal(t, analysis.OutcomeWaiting, m.Outcome, "a fresh canary may be silent during its warm-up")
		c := sprtCheck(nil)
		c.WarmUp = -1
		m = measureOnce(t, src, c, 1)
		assert.Equal(t, analysis.OutcomeInconclusive, m.Outcome)
		assert.Equal(t, progressive.StatusNoData, m.Status)
		assert.Contains(t, m.Reason, "the canary served no requests in 1 new sample(s)")
		assert.Equal(t, analysis.ClassNoData, analysis.Classify(sprtCheck(nil), m))
	})
	t.Run("no samples at all", func(t *testing.T) {
		src := &seriesSource{f: func(string, progressive.Role, time.Time) (float64, bool) { return 0, false }}
		m := measureOnce(t, src, sprtCheck(nil), 3)
		assert.Equal(t, analysis.OutcomeInconclusive, m.Outcome)
		assert.Contains(t, m.Reason, "no new samples of errors and requests")
	})
	t.Run("unreachable backend keeps the state", func(t *testing.T) {
		src := &seriesSource{f: simCounts([]counted{{1, 1000, 9, 9000}})}
		e := judgeEngine(t, src)
		c := sprtCheck(nil)
		st := e.Begin([]progressive.Check{c}, jt0, jat(15))
		runSPRT(t, e, c, &st, 1, 2)
		before := string(st.Checks[0].Judge)
		src.setDown(errUnreachable)
		res := runSPRT(t, e, c, &st, 3, 3)
		assert.Equal(t, analysis.OutcomeInconclusive, res[0].Measurements[0].Outcome)
		assert.Equal(t, before, string(st.Checks[0].Judge))
		src.setDown(nil)
		res = runSPRT(t, e, c, &st, 4, 4)
		assert.Equal(t, 2.0, res[0].Measurements[0].Details["newSamples"], "minutes 3 and 4")
	})
}

func TestSPRTJudgeInstantSourceAndCounts(t *testing.T) {
	// Counts straight from the query (ratio 0): errors and requests per minute, the
	// requests query found by editing the errors query.
	f := func(expr string, role progressive.Role, _ time.Time) (float64, bool) {
		switch {
		case expr == `errors{code="5xx",role="canary"}`:
			return 30, true
		case expr == `errors{role="canary"}`:
			return 1000, true
		case expr == `errors{code="5xx",role="stable"}`:
			return 90, true
		case expr == `errors{role="stable"}`:
			return 9000, true
		}
		return 0, false
	}
	src := instantOnly{&seriesSource{f: f}}
	e, err := analysis.NewEngine(analysis.Options{
		Sources: func(string) (progressive.MetricSource, error) { return src, nil },
		Judges:  map[string]analysis.Judge{"sprt": analysis.SPRTJudge{Requests: analysis.RequestsReplace(`code="5xx",`, "")}},
		Logger:  discardLogger(),
	})
	require.NoError(t, err)
	c := progressive.Check{Name: "errors", Query: `errors{code="5xx",role="{{.Role}}"}`, InitialDelay: time.Minute,
		Judge: &progressive.JudgeSpec{Kind: "sprt", Params: map[string]float64{"minRatio": 3}}}
	st := e.Begin([]progressive.Check{c}, jt0, jat(15))
	res := runSPRT(t, e, c, &st, 1, 15)
	last := res[len(res)-1]
	require.Equal(t, analysis.VerdictFail, last.Verdict, last.Reason)
	m := last.Measurements[0]
	// Per minute: 30 ln 3 - 120 ln 1.2 = 11.08 > ln 100: the first minute.
	assert.Len(t, res, 1)
	assert.InDelta(t, 30*math.Log(3)-120*math.Log(1.2), m.Details["llr"], 1e-9)
	assert.Equal(t, 1000.0, m.Details["canaryRequests"])
}

func TestSPRTJudgeConfiguration(t *testing.T) {
	j := analysis.SPRTJudge{}
	err := j.ValidateParams(map[string]float64{"alpha": 0.7, "minRatio": 1, "ratoi": 100})
	require.ErrorIs(t, err, progressive.ErrInvalid)
	for _, want := range []string{"alpha: must be strictly between 0 and 0.5", "minRatio: must be above 1",
		"ratoi: unknown parameter", "requests: the sprt judge has no Requests function"} {
		assert.Contains(t, err.Error(), want)
	}
	require.NoError(t, analysis.SPRTJudge{Requests: analysis.RequestsExpr("request_rate")}.ValidateParams(nil))
}
