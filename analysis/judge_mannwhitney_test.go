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

// Reference samples with published results (R's ?wilcox.test examples, as verified
// in analysis/stats).
var (
	// Hollander & Wolfe, chorioamnion permeability: R's wilcox.test(x, y,
	// alternative = "greater") gives W = 35, p = 0.1272061; the Hodges-Lehmann
	// shift is 0.305.
	chorioX = []float64{0.80, 0.83, 1.89, 1.04, 1.45, 1.38, 1.91, 1.64, 0.73, 1.46}
	chorioY = []float64{1.15, 0.88, 0.90, 0.74, 1.21}
	// Hollander & Wolfe depression ratings as two samples (ties): shift 0.56,
	// asymptotic 95% limits -0.37 and 1.183 (SAS NPAR1WAY, R).
	deprX = []float64{1.83, 0.50, 1.62, 2.48, 1.68, 1.88, 1.55, 3.06, 1.30}
	deprY = []float64{0.878, 0.647, 0.598, 2.05, 1.06, 1.29, 1.06, 3.14, 1.29}
	// R's airquality Ozone, May vs August: wilcox.test gives W = 127.5,
	// two-sided p = 0.0001208 (normal, continuity and tie corrected).
	ozoneMay = []float64{41, 36, 12, 18, 28, 23, 19, 8, 7, 16, 11, 14, 18, 14, 34, 6, 30, 11, 1, 11, 4, 32, 23, 45, 115, 37}
	ozoneAug = []float64{39, 9, 16, 78, 35, 66, 122, 89, 110, 44, 28, 65, 22, 59, 23, 31, 44, 21, 9, 45, 168, 73, 76, 118, 84, 85}
)

func mwCheck(params map[string]float64) progressive.Check {
	return progressive.Check{
		Name:  "latency",
		Query: "latency_p95",
		Judge: &progressive.JudgeSpec{Kind: analysis.KindMannWhitney, Params: params},
	}
}

// mwMeasure compares canary and baseline samples (one per minute from jt0) at the
// minute after the longer of them.
func mwMeasure(t *testing.T, canary, baseline []float64, params map[string]float64) analysis.Measurement {
	t.Helper()
	src := &seriesSource{f: samplesByMinute("latency_p95", canary, baseline)}
	return measureOnce(t, src, mwCheck(params), max(len(canary), len(baseline)))
}

func TestMannWhitneyJudgeReferenceValues(t *testing.T) {
	t.Run("chorioamnion: W 35, exact p 0.1272, shift 0.305: pass", func(t *testing.T) {
		m := mwMeasure(t, chorioX, chorioY, map[string]float64{"allowedIncrease": 0, "confidence": 0.95})
		assert.Equal(t, analysis.OutcomePass, m.Outcome, m.Reason)
		assert.Equal(t, progressive.StatusValue, m.Status)
		assert.InDelta(t, 0.1272061, m.Details["pHigh"], 5e-8)
		assert.Equal(t, 35.0, m.Details["w"])
		assert.InDelta(t, 35.0/50, m.Details["auc"], 1e-12)
		assert.InDelta(t, 0.305, m.Details["effect"], 1e-12)
		assert.True(t, math.IsInf(m.Details["effectUpper"], 1), "a one-sided interval for direction increase")
		assert.Equal(t, 10.0, m.Details["canarySamples"])
		assert.Equal(t, 5.0, m.Details["baselineSamples"])
		assert.InDelta(t, 0.05, m.Details["alpha"], 1e-12)
		assert.InDelta(t, 1.415, m.Value, 1e-12, "canary median")
		assert.Equal(t, 0.9, *m.Baseline, "baseline median")
		assert.Equal(t, analysis.ClassPass, analysis.Classify(mwCheck(nil), m))
		assert.Contains(t, m.Reason, "latency pass: shift +0.305")
		assert.Contains(t, m.Reason, "p=0.1272")
	})
	t.Run("depression ratings with ties: shift 0.56, 95% CI [-0.37, 1.183]", func(t *testing.T) {
		m := mwMeasure(t, deprX, deprY, map[string]float64{"allowedIncrease": 0, "allowedDecrease": 0, "confidence": 0.95, "direction": 0})
		assert.Equal(t, analysis.OutcomePass, m.Outcome, m.Reason)
		assert.InDelta(t, 0.56, m.Details["effect"], 1e-12)
		assert.InDelta(t, -0.37, m.Details["effectLower"], 1e-12)
		assert.InDelta(t, 1.183, m.Details["effectUpper"], 1e-12)
		assert.InDelta(t, 0.025, m.Details["alpha"], 1e-12, "each side at alpha/2 when either direction is bad")
	})
	t.Run("ozone: W 127.5, two-sided p 0.0001208: low", func(t *testing.T) {
		params := map[string]float64{"allowedIncrease": 0, "allowedDecrease": 0, "direction": 0}
		m := mwMeasure(t, ozoneMay, ozoneAug, params)
		require.Equal(t, analysis.OutcomeFail, m.Outcome, m.Reason)
		assert.Equal(t, 127.5, m.Details["w"])
		assert.InDelta(t, 0.0001208/2, m.Details["pLow"], 5e-8, "one side of R's two-sided p")
		assert.Equal(t, -1.0, m.Details[analysis.DetailClass])
		assert.Equal(t, analysis.ClassLow, analysis.Classify(mwCheck(params), m))
		assert.Contains(t, m.Reason, "latency low:")

		// The same shift is harmless when only an increase is bad.
		m = mwMeasure(t, ozoneMay, ozoneAug, map[string]float64{"allowedIncrease": 0})
		assert.Equal(t, analysis.OutcomePass, m.Outcome, m.Reason)
		_, tested := m.Details["pLow"]
		assert.False(t, tested)
	})
}

func TestMannWhitneyJudgeAllowedEffect(t *testing.T) {
	// Complete separation by 10 on a baseline median of 102 (9.8%): every pairwise
	// difference is 10 + i - j, so the Hodges-Lehmann shift is 10.
	baseline := []float64{100, 101, 102, 103, 104}
	canary := []float64{110, 111, 112, 113, 114}

	m := mwMeasure(t, canary, baseline, map[string]float64{"allowedIncrease": 0.1})
	assert.Equal(t, analysis.OutcomePass, m.Outcome, "9.8%% is within the allowed 10%%: %s", m.Reason)
	assert.InDelta(t, 10, m.Details["effect"], 1e-12)
	assert.InDelta(t, 10.0/102, m.Details["relativeEffect"], 1e-12)
	assert.InDelta(t, 10.2, m.Details["allowedShiftUp"], 1e-12)

	m = mwMeasure(t, canary, baseline, map[string]float64{"allowedIncrease": 0.05})
	require.Equal(t, analysis.OutcomeFail, m.Outcome, m.Reason)
	// canary - 5.1 is above every baseline value: W = 25, exact p = 1/C(10,5).
	assert.InDelta(t, 1.0/252, m.Details["pHigh"], 1e-15)
	assert.Equal(t, analysis.ClassHigh, analysis.Classify(mwCheck(nil), m))
	assert.Contains(t, m.Reason, "latency high: shift +10")
	assert.Contains(t, m.Reason, "more than allowed +5.1")

	// Significant but tiny: the default 10% allowance keeps it a pass.
	m = mwMeasure(t, []float64{100.5, 101.5, 102.5, 103.5, 104.5, 105.5}, []float64{100, 101, 102, 103, 104, 105}, nil)
	assert.Equal(t, analysis.OutcomePass, m.Outcome, m.Reason)

	// A decrease is a regression only when the direction says so.
	m = mwMeasure(t, baseline, canary, map[string]float64{"direction": -1, "allowedDecrease": 0.05})
	require.Equal(t, analysis.OutcomeFail, m.Outcome, m.Reason)
	assert.Equal(t, analysis.ClassLow, analysis.Classify(mwCheck(nil), m))
	assert.True(t, math.IsInf(m.Details["effectLower"], -1), "a one-sided interval for direction decrease")
}

func TestMannWhitneyJudgeNoDataAndCleaning(t *testing.T) {
	nan := math.NaN()
	t.Run("too few samples is no data, never a pass", func(t *testing.T) {
		m := mwMeasure(t, []float64{1, 2, 3, 4}, []float64{1, 2, 3, 4}, nil)
		assert.Equal(t, analysis.OutcomeInconclusive, m.Outcome)
		assert.Equal(t, progressive.StatusNoData, m.Status)
		assert.Contains(t, m.Reason, "4 canary and 4 baseline samples")
		assert.Equal(t, analysis.ClassNoData, analysis.Classify(mwCheck(nil), m))

		c := mwCheck(nil)
		c.NoData = progressive.NoDataFail
		src := &seriesSource{f: samplesByMinute("latency_p95", nil, []float64{1, 2, 3, 4, 5})}
		m = measureOnce(t, src, c, 5)
		assert.Equal(t, analysis.OutcomeFail, m.Outcome, "noData: fail")
		assert.Contains(t, m.Reason, "0 canary and 5 baseline samples")
	})
	t.Run("NaN samples are dropped, or make it no data", func(t *testing.T) {
		canary := []float64{10, nan, 11, 12, math.Inf(1), 13, 14}
		baseline := []float64{10, 11, 12, 13, 14, 15, 16}
		m := mwMeasure(t, canary, baseline, nil)
		assert.Equal(t, analysis.OutcomePass, m.Outcome, m.Reason)
		assert.Equal(t, 5.0, m.Details["canarySamples"])
		assert.Equal(t, 2.0, m.Details["canaryDropped"])
		assert.Contains(t, m.Reason, "cleaning dropped 2 canary and 0 baseline samples")

		m = mwMeasure(t, canary, baseline, map[string]float64{"nonFinite": 1})
		assert.Equal(t, analysis.OutcomeInconclusive, m.Outcome)
		assert.Equal(t, progressive.StatusNaN, m.Status)
		assert.Contains(t, m.Reason, "1 NaN, 1 +Inf")
	})
	t.Run("Tukey's fences drop a spike", func(t *testing.T) {
		canary := []float64{100, 101, 99, 102, 100, 101, 9000}
		baseline := []float64{100, 99, 101, 100, 102, 101, 100}
		m := mwMeasure(t, canary, baseline, map[string]float64{"outliers": 1})
		assert.Equal(t, analysis.OutcomePass, m.Outcome, m.Reason)
		assert.Equal(t, 1.0, m.Details["canaryDropped"])
	})
	t.Run("all tied: no evidence, a pass", func(t *testing.T) {
		m := mwMeasure(t, []float64{5, 5, 5, 5, 5}, []float64{5, 5, 5, 5, 5}, map[string]float64{"allowedIncrease": 0})
		assert.Equal(t, analysis.OutcomePass, m.Outcome, m.Reason)
		assert.Equal(t, 1.0, m.Details["pHigh"])
	})
	t.Run("the window never reaches before the analysis started", func(t *testing.T) {
		src := &seriesSource{f: func(string, progressive.Role, time.Time) (float64, bool) { return 1, true }}
		c := mwCheck(map[string]float64{"window": 3600, "step": 60})
		m := measureOnce(t, src, c, 7)
		assert.Equal(t, 7.0, m.Details["canarySamples"], "minutes 1..7, not an hour")

		c = mwCheck(map[string]float64{"window": 300})
		m = measureOnce(t, src, c, 30)
		assert.Equal(t, 5.0, m.Details["canarySamples"], "the last 5 minutes")
	})
}

func TestMannWhitneyJudgeConfiguration(t *testing.T) {
	j := analysis.MannWhitneyJudge{}
	require.NoError(t, j.ValidateParams(nil))
	err := j.ValidateParams(map[string]float64{"confidance": 0.9, "direction": 2, "step": 0, "minSamples": 2.5, "weight": -1})
	require.ErrorIs(t, err, progressive.ErrInvalid)
	for _, want := range []string{
		"confidance: unknown parameter; known: allowedDecrease, allowedIncrease, confidence, critical, direction",
		"direction: must be one of 1, -1, 0", "step: must be above 0", "minSamples: must be a whole number", "weight: must be at least 0",
	} {
		assert.Contains(t, err.Error(), want)
	}

	// Through the engine: field paths, before any traffic moves.
	e := judgeEngine(t, &seriesSource{f: samplesByMinute("x", nil, nil)})
	err = e.Validate([]progressive.Check{mwCheck(map[string]float64{"confidence": 1})})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "checks[0].judge.params.confidence: must be strictly between 0.5 and 1")

	// A source without ranges cannot feed the judge: a configuration error.
	e = judgeEngine(t, instantOnly{&seriesSource{f: samplesByMinute("latency_p95", nil, nil)}})
	checks := []progressive.Check{mwCheck(nil)}
	st := e.Begin(checks, jt0, jat(15))
	_, err = e.Tick(context.Background(), checks, testVars, &st, jat(15))
	require.ErrorIs(t, err, progressive.ErrInvalid)
	assert.Contains(t, err.Error(), "no progressive.RangeQuerier")
}

func TestMannWhitneyJudgeMeasurementJSON(t *testing.T) {
	m := mwMeasure(t, chorioX, chorioY, nil)
	b, err := json.Marshal(m)
	require.NoError(t, err)
	assert.Contains(t, string(b), `"effectUpper":"+Inf"`)
	var back analysis.Measurement
	require.NoError(t, json.Unmarshal(b, &back))
	assert.Equal(t, m.Details["pHigh"], back.Details["pHigh"])
}
