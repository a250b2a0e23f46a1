package analysis_test

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/analysis"
)

func TestSPRTJudgeFastRatioCatchesStrongRegressionsSooner(t *testing.T) {
	// 10% share, a 5x canary: 5 canary errors for 9 baseline errors per minute.
	minutes := []counted{{5, 1000, 9, 9000}}
	ticksToFail := func(params map[string]float64) (int, analysis.Measurement) {
		src := &seriesSource{f: simCounts(minutes)}
		e := judgeEngine(t, src)
		c := sprtCheck(params)
		st := e.Begin([]progressive.Check{c}, jt0, jat(15))
		res := runSPRT(t, e, c, &st, 1, 15)
		last := res[len(res)-1]
		require.Equal(t, analysis.VerdictFail, last.Verdict)
		return len(res), last.Measurements[0]
	}
	alone, _ := ticksToFail(map[string]float64{"alpha": 0.002})
	both, m := ticksToFail(map[string]float64{"alpha": 0.004, "fastRatio": 5})

	// Alone at alpha 0.002: 2.1314 per minute against ln 500 = 6.21: minute 3.
	// With the 5x test at alpha/2 = 0.002: 5 ln 5 - 14 ln 1.4 = 3.336 per minute
	// against the same ln 500: minute 2.
	assert.Equal(t, 3, alone)
	assert.Equal(t, 2, both)
	assert.InDelta(t, 2*(5*math.Log(5)-14*math.Log(1.4)), m.Details["llrFast"], 1e-9)
	assert.InDelta(t, 2*(5*math.Log(2)-14*math.Log(1.1)), m.Details["llr"], 1e-9)
	assert.InDelta(t, math.Log(500), m.Details["upperBound"], 1e-12)
	assert.Equal(t, 0.004, m.Details["alpha"])
	assert.Equal(t, 5.0, m.Details["fastRatio"])
	assert.Contains(t, m.Reason, "errors high: log-likelihood ratios 4.263 for a 2x and 6.673 for a 5x error rate over 2 sample(s) reached ln(2/alpha) = 6.215 (alpha 0.004): regression")

	j := analysis.SPRTJudge{Requests: analysis.RequestsExpr("request_rate")}
	err := j.ValidateParams(map[string]float64{"minRatio": 3, "fastRatio": 2})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "fastRatio: must be above minRatio (3)")
	err = j.ValidateParams(map[string]float64{"fastRatio": 5, "accept": 1})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "cannot be combined with accept 1")
	assert.Error(t, j.ValidateParams(map[string]float64{"fastRatio": 0.5}))
}

func TestSPRTJudgeLookbackWeighsThePreviousStep(t *testing.T) {
	// A 2x canary at 10%: 2 canary errors for 9 baseline errors per minute; its
	// second analysis (minutes 16-30) either starts afresh or looks back 15 minutes.
	minutes := []counted{{2, 1000, 9, 9000}}
	llrAfter := func(lookback float64, minute int) analysis.Measurement {
		src := &seriesSource{f: simCounts(minutes)}
		e := judgeEngine(t, src)
		c := sprtCheck(map[string]float64{"lookback": lookback, "alpha": 1e-9})
		start := jat(15)
		st := e.Begin([]progressive.Check{c}, start, jat(30))
		res := runSPRT(t, e, c, &st, 16, minute)
		return res[len(res)-1].Measurements[0]
	}
	perMinute := 2*math.Log(2) - 11*math.Log(1.1)
	fresh := llrAfter(0, 16)
	assert.Equal(t, 1.0, fresh.Details["ticks"])
	assert.InDelta(t, perMinute, fresh.Details["llr"], 1e-9)
	back := llrAfter(900, 16)
	assert.Equal(t, 16.0, back.Details["ticks"], "minutes 1 to 16")
	assert.InDelta(t, 16*perMinute, back.Details["llr"], 1e-9)
	assert.Equal(t, 16.0, back.Details["newSamples"])

	// Looking back past the canary's first request reads minutes without canary
	// traffic: they are skipped, not counted.
	src := &seriesSource{f: simCounts(minutes)}
	e := judgeEngine(t, src)
	c := sprtCheck(map[string]float64{"lookback": 3600})
	st := e.Begin([]progressive.Check{c}, jt0, jat(15))
	res := runSPRT(t, e, c, &st, 1, 1)
	m := res[0].Measurements[0]
	assert.Equal(t, analysis.OutcomePass, m.Outcome, m.Reason)
	assert.Equal(t, 1.0, m.Details["ticks"])
}

func TestSPRTJudgeStateJSON(t *testing.T) {
	src := &seriesSource{f: simCounts([]counted{{1, 1000, 9, 9000}})}
	e := judgeEngine(t, src)
	c := sprtCheck(map[string]float64{"fastRatio": 5})
	st := e.Begin([]progressive.Check{c}, jt0, jat(15))
	runSPRT(t, e, c, &st, 1, 3)
	state := string(st.Checks[0].Judge)
	for _, want := range []string{`"through":"2026-03-02T09:03:00Z"`, `"samples":3`, `"minRatio":2`, `"oneSided":true`,
		`"canaryErrors":3`, `"canaryRequests":3000`, `"baselineRequests":27000`, `"decision":"continue"`, `"fastRatio":5`, `"fastDecision":"continue"`} {
		assert.Contains(t, state, want)
	}

	// A state that is not the judge's is a configuration error, never a pass.
	for _, bad := range []string{`[]`, `{"through":1}`, `{"samples":3}`, `{"through":"2026-03-02T09:03:00Z","samples":3,"alpha":0.01,"beta":0.05,"minRatio":2,"oneSided":true,"llr":"x"}`, `{"a":{"b":1}}`} {
		st.Checks[0].Judge = []byte(bad)
		_, err := e.Tick(t.Context(), []progressive.Check{c}, testVars, &st, jat(4))
		require.ErrorIs(t, err, progressive.ErrInvalid, bad)
		assert.Contains(t, err.Error(), "sprt state")
	}
}
