package analysis_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/analysis"
)

// constJudge always returns outcome.
func constJudge(outcome analysis.Outcome) analysis.Judge {
	return analysis.JudgeFunc(func(context.Context, analysis.JudgeInput) (analysis.Measurement, json.RawMessage, error) {
		return analysis.Measurement{Status: progressive.StatusValue, Value: 1, Outcome: outcome, Reason: "const"}, nil, nil
	})
}

// runningMean is a judge with state: it fails when the mean of the canary values
// seen so far exceeds the "max" parameter.
type runningMean struct{}

type meanState struct {
	N   int     `json:"n"`
	Sum float64 `json:"sum"`
}

func (runningMean) Measure(ctx context.Context, in analysis.JudgeInput) (analysis.Measurement, json.RawMessage, error) {
	var s meanState
	if in.State != nil {
		if err := json.Unmarshal(in.State, &s); err != nil {
			return analysis.Measurement{}, nil, err
		}
	}
	r, err := in.Source.Query(ctx, in.Canary)
	if err != nil {
		return analysis.Measurement{}, nil, err
	}
	if r.Status != progressive.StatusValue {
		return analysis.Measurement{Status: r.Status, Outcome: analysis.OutcomeInconclusive}, in.State, nil
	}
	s.N++
	s.Sum += r.Value
	mean := s.Sum / float64(s.N)
	m := analysis.Measurement{
		Status:  r.Status,
		Value:   r.Value,
		Outcome: analysis.OutcomePass,
		Reason:  fmt.Sprintf("mean %g of %d", mean, s.N),
		Details: map[string]float64{"mean": mean, "n": float64(s.N)},
	}
	if mean > in.Check.Judge.Params["max"] {
		m.Outcome = analysis.OutcomeFail
	}
	state, err := json.Marshal(s)
	return m, state, err
}

func (runningMean) ValidateParams(params map[string]float64) error {
	var p progressive.Problems
	if _, ok := params["max"]; !ok {
		p.Add("max", nil, "must be set")
	}
	return p.Err()
}

// scriptedJudge returns scripted answers in turn and records its inputs.
type scriptedJudge struct {
	mu      sync.Mutex
	answers []judgeAnswer
	inputs  []analysis.JudgeInput
}

type judgeAnswer struct {
	m     analysis.Measurement
	state string
	err   error
}

func (j *scriptedJudge) Measure(_ context.Context, in analysis.JudgeInput) (analysis.Measurement, json.RawMessage, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	a := j.answers[min(len(j.inputs), len(j.answers)-1)]
	j.inputs = append(j.inputs, in)
	var state json.RawMessage
	if a.state != "" {
		state = json.RawMessage(a.state)
	}
	return a.m, state, a.err
}

func judgedCheck(kind string) progressive.Check {
	return progressive.Check{
		Name:  "judged",
		Query: `latency{version="{{.Version}}"}`,
		Judge: &progressive.JudgeSpec{Kind: kind, Params: map[string]float64{"alpha": 0.02}},
	}
}

// queryOnly hides the fake source's QueryRange.
type queryOnly struct{ progressive.MetricSource }

func TestJudgeInputAndState(t *testing.T) {
	j := &scriptedJudge{answers: []judgeAnswer{
		{m: analysis.Measurement{Status: progressive.StatusValue, Value: 12, Outcome: analysis.OutcomePass, Reason: "p=0.4", Details: map[string]float64{"p": 0.4}}, state: `{"calls":1}`},
		{m: analysis.Measurement{Status: progressive.StatusValue, Value: 30, Outcome: analysis.OutcomeFail, Reason: "p=0.001"}, state: `{"calls":2}`},
	}}
	c := judgedCheck("mann-whitney")
	c.FailureLimit = 5
	checks := []progressive.Check{c}
	src := newSource(nil)
	e := newEngine(t, src, map[string]analysis.Judge{"mann-whitney": j})
	st := e.Begin(checks, at(0), at(10))

	r0 := tick(t, e, checks, &st, 1)
	r1 := tick(t, e, checks, &st, 2)
	require.Len(t, j.inputs, 2)

	in := j.inputs[0]
	assert.Equal(t, `latency{version="v2"}`, in.Canary.Expr)
	assert.Equal(t, progressive.Canary, in.Canary.Role)
	assert.Equal(t, `latency{version="v1"}`, in.Stable.Expr)
	assert.Equal(t, progressive.Stable, in.Stable.Role)
	assert.Equal(t, at(1), in.Stable.Time, "first due one window after the start")
	assert.Equal(t, progressive.Target{Namespace: "shop", Name: "payment"}, in.Canary.Target)
	assert.Same(t, src, in.Source)
	assert.NotNil(t, in.Range, "the fake source is a RangeQuerier")
	assert.Equal(t, at(1), in.Now)
	assert.Equal(t, at(0), in.StartedAt)
	assert.Nil(t, in.State)
	assert.Equal(t, progressive.DefaultCheckInterval, in.Check.Interval, "the check arrives with its defaults")
	assert.Equal(t, 0.02, in.Check.Judge.Params["alpha"])
	assert.JSONEq(t, `{"calls":1}`, string(j.inputs[1].State))
	assert.Equal(t, at(2), j.inputs[1].Now)
	assert.Equal(t, at(0), j.inputs[1].StartedAt)

	m := r0.Measurements[0]
	assert.Equal(t, "judged", m.Check)
	assert.Equal(t, at(1), m.Time)
	assert.Equal(t, progressive.SeverityFail, m.Severity)
	assert.Equal(t, `latency{version="v2"}`, m.Query)
	assert.Equal(t, map[string]float64{"p": 0.4}, m.Details)
	assert.Equal(t, analysis.OutcomeFail, r1.Measurements[0].Outcome)
	assert.Equal(t, 1, st.Checks[0].Failures, "a judge's outcome is counted like any other")
	assert.JSONEq(t, `{"calls":2}`, string(st.Checks[0].Judge))

	t.Run("no range querier", func(t *testing.T) {
		j := &scriptedJudge{answers: []judgeAnswer{{m: analysis.Measurement{Outcome: analysis.OutcomePass}}}}
		e := newEngine(t, queryOnly{newSource(nil)}, map[string]analysis.Judge{"k": j})
		checks := []progressive.Check{judgedCheck("k")}
		st := e.Begin(checks, at(0), at(10))
		tick(t, e, checks, &st, 1)
		assert.Nil(t, j.inputs[0].Range)
	})
}

func TestJudgeOutcomes(t *testing.T) {
	cases := []struct {
		name    string
		policy  progressive.NoDataPolicy
		answer  judgeAnswer
		outcome analysis.Outcome
		reason  string
		state   string // the check's judge state after the tick (it starts as {"old":true})
		err     error  // the error Tick returns
	}{
		{name: "pass on empty data is not a pass", answer: judgeAnswer{m: analysis.Measurement{Status: progressive.StatusNoData, Outcome: analysis.OutcomePass}, state: `{"new":true}`},
			outcome: analysis.OutcomeInconclusive, reason: "no data (empty result)", state: `{"new":true}`},
		{name: "pass on NaN under noData fail", policy: progressive.NoDataFail, answer: judgeAnswer{m: analysis.Measurement{Status: progressive.StatusNaN, Outcome: analysis.OutcomePass, Reason: "no samples"}},
			outcome: analysis.OutcomeFail, reason: "no samples, counted as a failure (noData: fail)"},
		{name: "inconclusive on empty data under noData fail", policy: progressive.NoDataFail, answer: judgeAnswer{m: analysis.Measurement{Status: progressive.StatusNoData, Outcome: analysis.OutcomeInconclusive}},
			outcome: analysis.OutcomeFail},
		{name: "unknown outcome", answer: judgeAnswer{m: analysis.Measurement{Status: progressive.StatusValue, Outcome: "maybe"}},
			outcome: analysis.OutcomeInconclusive, reason: `judge "k" returned the unknown outcome "maybe"`},
		{name: "transient error keeps the state", answer: judgeAnswer{err: errUnreachable, state: `{"new":true}`},
			outcome: analysis.OutcomeInconclusive, reason: "judge k: backend unreachable", state: `{"old":true}`},
		{name: "configuration error", answer: judgeAnswer{err: errBadQuery}, err: progressive.ErrInvalid, state: `{"old":true}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := judgedCheck("k")
			c.NoData = tc.policy
			checks := []progressive.Check{c}
			e := newEngine(t, newSource(nil), map[string]analysis.Judge{"k": &scriptedJudge{answers: []judgeAnswer{tc.answer}}})
			st := begin(e, checks, at(0))
			st.Checks[0].Judge = json.RawMessage(`{"old":true}`)

			res, err := e.Tick(context.Background(), checks, testVars, &st, at(0))
			if tc.err != nil {
				require.ErrorIs(t, err, tc.err)
				assert.ErrorContains(t, err, `check "judged"`)
			} else {
				require.NoError(t, err)
				require.Len(t, res.Measurements, 1)
				m := res.Measurements[0]
				assert.Equal(t, tc.outcome, m.Outcome)
				assert.Contains(t, m.Reason, tc.reason)
				assert.NotEqual(t, analysis.VerdictPass, res.Verdict)
			}
			if tc.state == "" {
				assert.Nil(t, st.Checks[0].Judge)
			} else {
				assert.JSONEq(t, tc.state, string(st.Checks[0].Judge))
			}
		})
	}
}

func TestValidateJudges(t *testing.T) {
	plain := errorRate()
	unknown := judgedCheck("kayenta")
	noMax := judgedCheck("running-mean")
	withMax := judgedCheck("running-mean")
	withMax.Judge = &progressive.JudgeSpec{Kind: "running-mean", Params: map[string]float64{"max": 1}}
	checks := []progressive.Check{plain, unknown, noMax, withMax}

	err := analysis.ValidateJudges(checks, map[string]analysis.Judge{"running-mean": runningMean{}, "sprt": constJudge(analysis.OutcomePass)})
	var ve *progressive.ValidationError
	require.ErrorAs(t, err, &ve)
	require.ErrorIs(t, err, progressive.ErrInvalid)
	require.Len(t, ve.Problems, 2)
	assert.Equal(t, "checks[1].judge.kind", ve.Problems[0].Field)
	assert.Equal(t, "kayenta", ve.Problems[0].Value)
	assert.Equal(t, "unknown judge kind; known kinds: running-mean, sprt", ve.Problems[0].Reason)
	assert.Equal(t, "checks[2].judge.params.max", ve.Problems[1].Field)

	err = analysis.ValidateJudges([]progressive.Check{unknown}, nil)
	assert.ErrorContains(t, err, "no judges are configured")
	assert.NoError(t, analysis.ValidateJudges([]progressive.Check{plain, withMax}, map[string]analysis.Judge{"running-mean": runningMean{}}))
}
