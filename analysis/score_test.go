package analysis_test

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/analysis"
)

func scoreCheck(name string, weight, critical float64) progressive.Check {
	return progressive.Check{Name: name, Query: name, Judge: &progressive.JudgeSpec{
		Kind: analysis.KindMannWhitney, Params: map[string]float64{"weight": weight, "critical": critical, "confidence": 0.99}}}
}

func classified(name string, class analysis.Class) analysis.Measurement {
	m := analysis.Measurement{Check: name, Status: progressive.StatusValue, Outcome: analysis.OutcomePass,
		Details: map[string]float64{analysis.DetailClass: 0}}
	switch class {
	case analysis.ClassHigh:
		m.Outcome, m.Details[analysis.DetailClass] = analysis.OutcomeFail, 1
	case analysis.ClassLow:
		m.Outcome, m.Details[analysis.DetailClass] = analysis.OutcomeFail, -1
	case analysis.ClassNoData:
		m.Status, m.Outcome = progressive.StatusNoData, analysis.OutcomeInconclusive
	}
	return m
}

func TestScoreWeightsAndThresholds(t *testing.T) {
	checks := []progressive.Check{scoreCheck("latency", 1, 0), scoreCheck("cpu", 1, 0), scoreCheck("errors", 2, 0)}
	card, err := analysis.Score(checks, []analysis.Measurement{
		classified("latency", analysis.ClassHigh), // an older measurement, superseded
		classified("latency", analysis.ClassPass),
		classified("cpu", analysis.ClassHigh),
		classified("errors", analysis.ClassPass),
	}, analysis.ScoreOptions{})
	require.NoError(t, err)
	assert.Equal(t, 75.0, card.Score, "3 of 4 weight units pass")
	assert.Equal(t, analysis.ScoreMarginal, card.Verdict, card.Reason)
	assert.Equal(t, "score 75: marginal (pass 95, marginal 75)", card.Reason)
	assert.Equal(t, []analysis.Class{analysis.ClassPass, analysis.ClassHigh, analysis.ClassPass},
		[]analysis.Class{card.Metrics[0].Class, card.Metrics[1].Class, card.Metrics[2].Class})

	card, err = analysis.Score(checks, []analysis.Measurement{classified("latency", analysis.ClassPass),
		classified("cpu", analysis.ClassHigh), classified("errors", analysis.ClassPass)}, analysis.ScoreOptions{Pass: 70, Marginal: 50})
	require.NoError(t, err)
	assert.Equal(t, analysis.ScorePass, card.Verdict)

	card, err = analysis.Score(checks, []analysis.Measurement{classified("latency", analysis.ClassLow),
		classified("cpu", analysis.ClassHigh), classified("errors", analysis.ClassPass)},
		analysis.ScoreOptions{Weights: map[string]float64{"errors": 1}})
	require.NoError(t, err)
	assert.InDelta(t, 100.0/3, card.Score, 1e-12)
	assert.Equal(t, analysis.ScoreFail, card.Verdict)
}

func TestScoreCriticalChecks(t *testing.T) {
	checks := []progressive.Check{scoreCheck("errors", 1, 1), scoreCheck("a", 10, 0), scoreCheck("b", 10, 0)}
	all := func(errors analysis.Class) []analysis.Measurement {
		return []analysis.Measurement{classified("errors", errors), classified("a", analysis.ClassPass), classified("b", analysis.ClassPass)}
	}
	card, err := analysis.Score(checks, all(analysis.ClassHigh), analysis.ScoreOptions{})
	require.NoError(t, err)
	assert.Equal(t, analysis.ScoreFail, card.Verdict, "a critical failure fails whatever the score")
	assert.InDelta(t, 2000.0/21, card.Score, 1e-9)
	assert.Contains(t, card.Reason, `critical check(s) errors failed`)

	card, err = analysis.Score(checks, all(analysis.ClassNoData), analysis.ScoreOptions{})
	require.NoError(t, err)
	assert.Equal(t, analysis.ScoreNoData, card.Verdict, "a critical check without data is never a pass")

	// Critical by option, for threshold checks that have no judge parameters.
	plain := []progressive.Check{{Name: "p95", Query: "q", Max: progressive.Float(500)}, scoreCheck("a", 1, 0)}
	card, err = analysis.Score(plain, []analysis.Measurement{
		{Check: "p95", Status: progressive.StatusValue, Value: 700, Outcome: analysis.OutcomeFail},
		classified("a", analysis.ClassPass),
	}, analysis.ScoreOptions{Critical: []string{"p95"}, Marginal: 10, Pass: 20})
	require.NoError(t, err)
	assert.Equal(t, analysis.ScoreFail, card.Verdict)
	assert.Equal(t, analysis.ClassHigh, card.Metrics[0].Class, "value above max")
}

func TestScoreMissingDataNeverPasses(t *testing.T) {
	checks := []progressive.Check{scoreCheck("a", 1, 0), scoreCheck("b", 1, 0), scoreCheck("c", 18, 0)}
	// c has no measurement at all; a and b pass: 10% to 100%.
	card, err := analysis.Score(checks, []analysis.Measurement{classified("a", analysis.ClassPass), classified("b", analysis.ClassPass)}, analysis.ScoreOptions{})
	require.NoError(t, err)
	assert.Equal(t, analysis.ScoreNoData, card.Verdict, card.Reason)
	assert.Equal(t, 10.0, card.Score)
	assert.Equal(t, 100.0, card.Best)
	assert.Equal(t, "no measurement", card.Metrics[2].Reason)

	// Data that is missing but could not change the verdict does not block it.
	card, err = analysis.Score(checks, []analysis.Measurement{classified("a", analysis.ClassNoData),
		classified("b", analysis.ClassHigh), classified("c", analysis.ClassHigh)}, analysis.ScoreOptions{})
	require.NoError(t, err)
	assert.Equal(t, analysis.ScoreFail, card.Verdict, card.Reason)
	card, err = analysis.Score(checks, []analysis.Measurement{classified("a", analysis.ClassNoData),
		classified("b", analysis.ClassPass), classified("c", analysis.ClassPass)}, analysis.ScoreOptions{Pass: 90})
	require.NoError(t, err)
	assert.Equal(t, analysis.ScorePass, card.Verdict, card.Reason)
	assert.Equal(t, 95.0, card.Score)

	card, err = analysis.Score(nil, nil, analysis.ScoreOptions{})
	require.NoError(t, err)
	assert.True(t, math.IsNaN(card.Score))
	assert.Equal(t, analysis.ScoreNoData, card.Verdict)
}

func TestScoreOptionsAreValidated(t *testing.T) {
	bad := scoreCheck("a", 1, 0)
	bad.Judge.Params["critical"] = 2
	_, err := analysis.Score([]progressive.Check{bad}, nil, analysis.ScoreOptions{Pass: 50, Marginal: 60, Weights: map[string]float64{"a": -1}})
	require.ErrorIs(t, err, progressive.ErrInvalid)
	for _, want := range []string{"marginal: must be between 0 and pass (50)", "weights[a]: must be a finite number", "checks[0].judge.params.critical: must be one of 0, 1"} {
		assert.Contains(t, err.Error(), want)
	}
}

func TestClassifyThresholdMeasurements(t *testing.T) {
	c := progressive.Check{Name: "success", Query: "q", Min: progressive.Float(99), Max: progressive.Float(100)}
	assert.Equal(t, analysis.ClassLow, analysis.Classify(c, analysis.Measurement{Status: progressive.StatusValue, Value: 98, Outcome: analysis.OutcomeFail}))
	ratio := 1.5
	b := progressive.Check{Name: "p99", Query: "q", Max: progressive.Float(1.2), Baseline: &progressive.Baseline{Mode: progressive.BaselineRatio}}
	assert.Equal(t, analysis.ClassHigh, analysis.Classify(b, analysis.Measurement{Status: progressive.StatusValue, Value: 300, Compared: &ratio, Outcome: analysis.OutcomeFail}))
	assert.Equal(t, analysis.ClassNoData, analysis.Classify(c, analysis.Measurement{Status: progressive.StatusNaN, Outcome: analysis.OutcomeFail}),
		"no data counted as a failure by the NoData policy is still no data")
	assert.Equal(t, analysis.ClassNoData, analysis.Classify(c, analysis.Measurement{Outcome: analysis.OutcomeInconclusive, Error: "unreachable"}))
}
