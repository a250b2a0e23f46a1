package analysis_test

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/analysis"
)

func TestNewEngineNeedsSources(t *testing.T) {
	_, err := analysis.NewEngine(analysis.Options{})
	require.ErrorIs(t, err, progressive.ErrInvalid)

	_, err = analysis.NewEngine(analysis.Options{
		Sources: func(string) (progressive.MetricSource, error) { return nil, nil },
		Judges:  map[string]analysis.Judge{"sprt": nil},
	})
	require.ErrorIs(t, err, progressive.ErrInvalid)
	assert.ErrorContains(t, err, "sprt")
}

func TestBegin(t *testing.T) {
	e := newEngine(t, newSource(nil), nil)
	a, b := errorRate(), errorRate()
	b.Name, b.InitialDelay = "latency", 2*time.Minute
	st := e.Begin([]progressive.Check{a, b}, at(0), at(5))
	assert.Equal(t, at(0), st.StartedAt)
	assert.Equal(t, at(5), st.Deadline)
	require.Len(t, st.Checks, 2)
	assert.Equal(t, analysis.CheckState{Name: "error-rate", NextDue: at(1)}, st.Checks[0], "first due one 1m window after the start")
	assert.Equal(t, analysis.CheckState{Name: "latency", NextDue: at(2)}, st.Checks[1])
}

func TestPassPathToDeadline(t *testing.T) {
	latency := progressive.Check{Name: "latency", Query: `p99{version="{{.Version}}"}`, Min: progressive.Float(0), Max: progressive.Float(500)}
	checks := []progressive.Check{errorRate(), latency}
	src := newSource(script{
		"error-rate": {progressive.Canary: {val(0.2), val(0.4), val(0), val(0.9), val(1), val(0.3)}},
		"latency":    {progressive.Canary: {val(120), val(180), val(499)}},
	})
	e := newEngine(t, src, nil)
	st := begin(e, checks, at(5))

	rs := runMinutes(t, e, checks, &st, 10)
	require.Equal(t, append(repeat(analysis.VerdictRunning, 5), analysis.VerdictPass), verdicts(rs))
	for i, r := range rs[:5] {
		assert.Len(t, r.Measurements, 2, "tick %d", i)
		assert.Equal(t, at(i+1), r.NextDue, "tick %d", i)
		assert.Contains(t, r.Reason, "analysis running")
	}
	final := rs[5]
	assert.Len(t, final.Measurements, 2, "checks due at the deadline are measured before deciding")
	assert.True(t, final.NextDue.IsZero())
	assert.Equal(t, "every check passed by the deadline: error-rate passed 6 of 6, latency passed 6 of 6", final.Reason)
	for _, m := range allMeasurements(rs) {
		assert.Equal(t, analysis.OutcomePass, m.Outcome, m.Reason)
		assert.Equal(t, progressive.StatusValue, m.Status)
		assert.Equal(t, progressive.SeverityFail, m.Severity)
	}
	assert.Equal(t, "error-rate 1 <= max 1", rs[4].Measurements[0].Reason)
	assert.Equal(t, "latency 499 within [0, 500]", rs[4].Measurements[1].Reason)
	for _, cs := range st.Checks {
		assert.Equal(t, 6, cs.Measurements)
		assert.Equal(t, 6, cs.Passes)
		assert.Equal(t, analysis.OutcomePass, cs.Last)
	}

	// What the source was asked: the canary role, the target, the instant and the
	// rendered expression.
	q := src.asked()[0]
	assert.Equal(t, "error-rate", q.Name)
	assert.Equal(t, progressive.Canary, q.Role)
	assert.Equal(t, progressive.Target{Namespace: "shop", Name: "payment"}, q.Target)
	assert.Equal(t, at(0), q.Time)
	assert.Equal(t, `sum(rate(http_errors_total{namespace="shop",service="payment",version="v2"}[1m]))`, q.Expr)
	assert.Equal(t, q.Expr, rs[0].Measurements[0].Query)
}

func TestFailureLimit(t *testing.T) {
	cases := []struct {
		name      string
		limit     int
		replies   []reply
		failsAt   int // tick index of the fail verdict
		wantFails int
	}{
		{"limit 0 fails on the first", 0, []reply{val(2.31)}, 0, 1},
		{"limit 1 fails on the second", 1, []reply{val(2.31)}, 1, 2},
		{"limit 3 fails on the fourth", 3, []reply{val(2.31)}, 3, 4},
		{"failures are cumulative across passes", 1, []reply{val(0.5), val(2.31), val(0.5), val(2.31)}, 3, 2},
		{"inconclusives in between do not help", 1, []reply{val(2.31), noData(), val(2.31)}, 2, 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := errorRate()
			c.FailureLimit = tc.limit
			checks := []progressive.Check{c}
			e := newEngine(t, newSource(script{"error-rate": {progressive.Canary: tc.replies}}), nil)
			st := begin(e, checks, at(30))

			rs := runMinutes(t, e, checks, &st, 30)
			require.Equal(t, append(repeat(analysis.VerdictRunning, tc.failsAt), analysis.VerdictFail), verdicts(rs))
			final := rs[len(rs)-1]
			assert.Contains(t, final.Reason, `check "error-rate" failed`)
			assert.Contains(t, final.Reason, "failure limit")
			assert.Contains(t, final.Reason, "last: error-rate 2.31 > max 1")
			assert.True(t, final.NextDue.IsZero())
			assert.Equal(t, tc.wantFails, st.Checks[0].Failures)
			assert.True(t, st.Checks[0].Done)
			assert.Equal(t, analysis.OutcomeFail, st.Checks[0].Last)
		})
	}
}

func TestConsecutiveFailureLimit(t *testing.T) {
	F, P, I := val(5), val(0.1), noData()
	cases := []struct {
		name    string
		replies []reply
		failsAt int // -1: never within the replies
	}{
		{"three in a row", []reply{F, F, P, F, F, F}, 5},
		{"an inconclusive does not reset the streak", []reply{F, F, I, F}, 3},
		{"a pass resets the streak", []reply{F, F, P, F, F, P, F, F, P}, -1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := errorRate()
			c.FailureLimit = 100
			c.ConsecutiveFailureLimit = 3
			checks := []progressive.Check{c}
			e := newEngine(t, newSource(script{"error-rate": {progressive.Canary: tc.replies}}), nil)
			st := begin(e, checks, at(60))

			rs := runMinutes(t, e, checks, &st, len(tc.replies))
			if tc.failsAt < 0 {
				assert.Equal(t, repeat(analysis.VerdictRunning, len(tc.replies)), verdicts(rs))
				return
			}
			require.Equal(t, append(repeat(analysis.VerdictRunning, tc.failsAt), analysis.VerdictFail), verdicts(rs))
			assert.Contains(t, rs[tc.failsAt].Reason, `check "error-rate" failed 3 measurements in a row, its consecutive failure limit`)
			assert.Equal(t, 3, st.Checks[0].ConsecutiveFailures)
		})
	}
}

func TestCounters(t *testing.T) {
	c := errorRate()
	c.FailureLimit = 100
	checks := []progressive.Check{c}
	// pass, fail, inconclusive, error, fail, pass
	src := newSource(script{"error-rate": {progressive.Canary: {val(0), val(3), nanResult(), failWith(errUnreachable), val(3), val(0)}}})
	e := newEngine(t, src, nil)
	st := begin(e, checks, at(60))
	want := []analysis.CheckState{
		{Measurements: 1, Passes: 1, Last: analysis.OutcomePass},
		{Measurements: 2, Passes: 1, Failures: 1, ConsecutiveFailures: 1, Last: analysis.OutcomeFail},
		{Measurements: 3, Passes: 1, Failures: 1, ConsecutiveFailures: 1, Inconclusives: 1, ConsecutiveInconclusives: 1, Last: analysis.OutcomeInconclusive},
		{Measurements: 4, Passes: 1, Failures: 1, ConsecutiveFailures: 1, Inconclusives: 2, ConsecutiveInconclusives: 2, Last: analysis.OutcomeInconclusive},
		{Measurements: 5, Passes: 1, Failures: 2, ConsecutiveFailures: 2, Inconclusives: 2, ConsecutiveInconclusives: 0, Last: analysis.OutcomeFail},
		{Measurements: 6, Passes: 2, Failures: 2, ConsecutiveFailures: 0, Inconclusives: 2, ConsecutiveInconclusives: 0, Last: analysis.OutcomePass},
	}
	for m, w := range want {
		tick(t, e, checks, &st, m)
		w.Name, w.NextDue, w.LastAt = "error-rate", at(m+1), at(m)
		assert.Equal(t, w, st.Checks[0], "after minute %d", m)
	}
}

func TestWarnSeverityNeverFails(t *testing.T) {
	cpu := progressive.Check{Name: "cpu", Query: `cpu{version="{{.Version}}"}`, Max: progressive.Float(80), Severity: progressive.SeverityWarn}
	quiet := progressive.Check{Name: "quiet", Query: `absent`, Max: progressive.Float(1), Severity: progressive.SeverityWarn}
	checks := []progressive.Check{errorRate(), cpu, quiet}
	e := newEngine(t, newSource(script{
		"error-rate": {progressive.Canary: {val(0.1)}},
		"cpu":        {progressive.Canary: {val(95)}},
		"quiet":      {progressive.Canary: {noData()}},
	}), nil)
	st := begin(e, checks, at(3))

	rs := runMinutes(t, e, checks, &st, 10)
	require.Equal(t, []analysis.Verdict{"running", "running", "running", "pass"}, verdicts(rs))
	assert.Contains(t, rs[3].Reason, "warnings: cpu failed 4 of 4")
	cs := st.Checks[1]
	assert.Equal(t, 4, cs.Warnings)
	assert.Zero(t, cs.Failures)
	assert.Zero(t, cs.ConsecutiveFailures)
	assert.False(t, cs.Done)
	assert.Equal(t, 4, st.Checks[2].ConsecutiveInconclusives, "a warn check's missing data does not end the analysis")
	for _, m := range allMeasurements(rs) {
		if m.Check == "cpu" {
			assert.Equal(t, analysis.OutcomeFail, m.Outcome)
			assert.Equal(t, progressive.SeverityWarn, m.Severity)
			assert.Equal(t, "cpu 95 > max 80", m.Reason)
		}
	}
}

func TestMissingDataNeverPasses(t *testing.T) {
	ratio := &progressive.Baseline{Mode: progressive.BaselineRatio}
	diff := &progressive.Baseline{Mode: progressive.BaselineDifference}
	cases := []struct {
		name     string
		baseline *progressive.Baseline
		min, max *float64
		canary   reply
		stable   reply
		reason   string
	}{
		{name: "empty result", canary: noData(), max: progressive.Float(1), reason: "no data (empty result)"},
		{name: "NaN result", canary: nanResult(), max: progressive.Float(1), reason: "no data (NaN result)"},
		{name: "NaN value under a value status", canary: val(math.NaN()), max: progressive.Float(1), reason: "no data (NaN result)"},
		{name: "NaN with a min bound only", canary: val(math.NaN()), min: progressive.Float(0), reason: "no data (NaN result)"},
		{name: "unknown status", canary: reply{res: progressive.Result{Status: "weird", Value: 0}}, max: progressive.Float(1), reason: `no data (unknown result status "weird")`},
		{name: "baseline: canary empty", baseline: ratio, canary: noData(), stable: val(1), max: progressive.Float(2), reason: "no data for canary (empty result)"},
		{name: "baseline: stable empty", baseline: ratio, canary: val(1), stable: noData(), max: progressive.Float(2), reason: "no data for stable (empty result)"},
		{name: "baseline: stable NaN", baseline: diff, canary: val(1), stable: nanResult(), max: progressive.Float(2), reason: "no data for stable (NaN result)"},
		{name: "baseline: Inf/Inf", baseline: ratio, canary: val(math.Inf(1)), stable: val(math.Inf(1)), max: progressive.Float(2), reason: "no data (ratio of canary and stable is NaN) (canary +Inf, stable +Inf)"},
		{name: "baseline: Inf-Inf", baseline: diff, canary: val(math.Inf(1)), stable: val(math.Inf(1)), min: progressive.Float(-1), reason: "no data (difference of canary and stable is NaN) (canary +Inf, stable +Inf)"},
	}
	for _, tc := range cases {
		for _, policy := range []progressive.NoDataPolicy{"", progressive.NoDataInconclusive, progressive.NoDataFail} {
			t.Run(tc.name+"/"+string(policy), func(t *testing.T) {
				c := progressive.Check{Name: "c", Query: "q", Min: tc.min, Max: tc.max, Baseline: tc.baseline, NoData: policy, WarmUp: -1}
				checks := []progressive.Check{c}
				s := script{"c": {progressive.Canary: {tc.canary}, progressive.Stable: {tc.stable}}}
				e := newEngine(t, newSource(s), nil)
				// The deadline is the start: only the data can hold the analysis back.
				st := begin(e, checks, at(0))

				rs := runMinutes(t, e, checks, &st, 10)
				for _, m := range allMeasurements(rs) {
					assert.NotEqual(t, analysis.OutcomePass, m.Outcome, m.Reason)
					assert.Contains(t, m.Reason, tc.reason)
				}
				assert.Zero(t, st.Checks[0].Passes)
				if policy == progressive.NoDataFail {
					require.Equal(t, []analysis.Verdict{analysis.VerdictFail}, verdicts(rs))
					assert.Equal(t, analysis.OutcomeFail, rs[0].Measurements[0].Outcome)
					assert.Contains(t, rs[0].Measurements[0].Reason, "counted as a failure (noData: fail)")
					return
				}
				require.Equal(t, []analysis.Verdict{"running", "running", "inconclusive"}, verdicts(rs))
				assert.Contains(t, rs[1].Reason, "deadline passed; waiting for a passing measurement of \"c\"")
				assert.Contains(t, rs[2].Reason, `check "c" was inconclusive 3 times in a row, its inconclusive limit`)
				assert.Contains(t, rs[2].Reason, tc.reason)
			})
		}
	}
}

func TestTransientErrorsAreInconclusive(t *testing.T) {
	cases := []struct {
		name   string
		err    error
		policy progressive.NoDataPolicy
		reason string
	}{
		{"unreachable", errUnreachable, "", "backend unreachable: dial tcp 127.0.0.1:9090: connection refused: transient failure"},
		{"unreachable with noData fail", errUnreachable, progressive.NoDataFail, "backend unreachable: "},
		{"unmarked error", errors.New("EOF"), "", "query failed: EOF"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := errorRate()
			c.NoData = tc.policy
			c.InconclusiveLimit = 4
			checks := []progressive.Check{c}
			e := newEngine(t, newSource(script{"error-rate": {progressive.Canary: {failWith(tc.err)}}}), nil)
			st := begin(e, checks, at(2))

			rs := runMinutes(t, e, checks, &st, 10)
			require.Equal(t, []analysis.Verdict{"running", "running", "running", "inconclusive"}, verdicts(rs))
			for _, m := range allMeasurements(rs) {
				assert.Equal(t, analysis.OutcomeInconclusive, m.Outcome)
				assert.Empty(t, m.Status)
				assert.True(t, math.IsNaN(m.Value))
				assert.Equal(t, tc.err.Error(), m.Error)
				assert.Contains(t, m.Reason, tc.reason)
			}
			assert.Zero(t, st.Checks[0].Failures)
		})
	}

	t.Run("recovery resets the streak", func(t *testing.T) {
		checks := []progressive.Check{errorRate()}
		e := newEngine(t, newSource(script{"error-rate": {progressive.Canary: {
			failWith(errUnreachable), failWith(errUnreachable), val(0.1), failWith(errUnreachable), failWith(errUnreachable), val(0.1),
		}}}), nil)
		st := begin(e, checks, at(5))
		rs := runMinutes(t, e, checks, &st, 10)
		assert.Equal(t, append(repeat(analysis.VerdictRunning, 5), analysis.VerdictPass), verdicts(rs))
	})
}

func TestConfigurationErrorsAreReturned(t *testing.T) {
	bad := func(mutate func(*progressive.Check)) []progressive.Check {
		c := errorRate()
		mutate(&c)
		return []progressive.Check{c}
	}
	cases := []struct {
		name   string
		checks []progressive.Check
		script script
		judges map[string]analysis.Judge
		want   []string
	}{
		{
			name:   "the backend rejects the query",
			checks: bad(func(*progressive.Check) {}),
			script: script{"error-rate": {progressive.Canary: {failWith(errBadQuery)}}},
			want:   []string{`check "error-rate" (canary query)`, "parse error"},
		},
		{
			name:   "the backend rejects the stable query",
			checks: bad(func(c *progressive.Check) { c.Baseline = &progressive.Baseline{Mode: progressive.BaselineRatio} }),
			script: script{"error-rate": {progressive.Canary: {val(1)}, progressive.Stable: {failWith(errBadQuery)}}},
			want:   []string{`check "error-rate" (stable query)`},
		},
		{
			name:   "unknown metric source",
			checks: bad(func(c *progressive.Check) { c.Metrics = "datadog" }),
			want:   []string{`check "error-rate": metric source "datadog"`, "known: prometheus"},
		},
		{
			name:   "unknown template variable",
			checks: bad(func(c *progressive.Check) { c.Query = `up{pod="{{.Pod}}"}` }),
			want:   []string{`check "error-rate": query does not render`, `"Pod"`, ".Namespace, .Service, .Version, .Role, .Interval"},
		},
		{
			name:   "unknown judge kind",
			checks: bad(func(c *progressive.Check) { c.Judge = &progressive.JudgeSpec{Kind: "kayenta"} }),
			judges: map[string]analysis.Judge{"mann-whitney": constJudge(analysis.OutcomePass), "sprt": constJudge(analysis.OutcomePass)},
			want:   []string{`unknown judge kind "kayenta"`, "known kinds: mann-whitney, sprt"},
		},
		{
			name:   "an invalid check",
			checks: bad(func(c *progressive.Check) { c.Max = nil }),
			want:   []string{"checks[0].max: a threshold check needs min, max or both"},
		},
		{
			name:   "duplicate names",
			checks: append(bad(func(*progressive.Check) {}), errorRate()),
			want:   []string{"checks[1].name: is used by another check"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEngine(t, newSource(tc.script), tc.judges)
			st := begin(e, tc.checks, at(5))
			before := mustJSON(t, st)

			_, err := e.Tick(context.Background(), tc.checks, testVars, &st, at(0))
			require.ErrorIs(t, err, progressive.ErrInvalid)
			for _, w := range tc.want {
				assert.ErrorContains(t, err, w)
			}
			assert.JSONEq(t, before, mustJSON(t, st), "a failed Tick leaves the state as it was")
		})
	}

	t.Run("state of other checks", func(t *testing.T) {
		e := newEngine(t, newSource(nil), nil)
		other := errorRate()
		other.Name = "latency"
		st := begin(e, []progressive.Check{other}, at(5))
		_, err := e.Tick(context.Background(), []progressive.Check{errorRate()}, testVars, &st, at(0))
		require.ErrorIs(t, err, progressive.ErrInvalid)
		assert.ErrorContains(t, err, "begun for checks [latency], not [error-rate]")

		_, err = e.Tick(context.Background(), nil, testVars, nil, at(0))
		require.ErrorIs(t, err, progressive.ErrInvalid)
	})
}

func TestContextEndLeavesStateUnchanged(t *testing.T) {
	checks := []progressive.Check{errorRate()}
	e := newEngine(t, newSource(script{"error-rate": {progressive.Canary: {val(0)}}}), nil)
	st := begin(e, checks, at(5))
	before := mustJSON(t, st)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := e.Tick(ctx, checks, testVars, &st, at(0))
	require.ErrorIs(t, err, context.Canceled)
	assert.NotErrorIs(t, err, progressive.ErrInvalid)
	assert.JSONEq(t, before, mustJSON(t, st))
}

func TestBaseline(t *testing.T) {
	inf := math.Inf(1)
	cases := []struct {
		name           string
		mode           progressive.BaselineMode
		canary, stable float64
		min, max       *float64
		want           analysis.Outcome
		compared       float64
		reason         string
	}{
		{"ratio within", progressive.BaselineRatio, 120, 100, nil, progressive.Float(1.2), analysis.OutcomePass, 1.2, "c ratio 1.2 <= max 1.2 (canary 120, stable 100)"},
		{"ratio above", progressive.BaselineRatio, 130, 100, nil, progressive.Float(1.2), analysis.OutcomeFail, 1.3, "c ratio 1.3 > max 1.2 (canary 130, stable 100)"},
		{"ratio 0/0 is 1", progressive.BaselineRatio, 0, 0, nil, progressive.Float(1.2), analysis.OutcomePass, 1, "c ratio 1 <= max 1.2 (canary 0, stable 0)"},
		{"ratio x/0 is +Inf", progressive.BaselineRatio, 5, 0, nil, progressive.Float(1.2), analysis.OutcomeFail, inf, "c ratio +Inf > max 1.2 (canary 5, stable 0)"},
		{"ratio +Inf compares normally with a min", progressive.BaselineRatio, 5, 0, progressive.Float(0.5), nil, analysis.OutcomePass, inf, "c ratio +Inf >= min 0.5"},
		{"ratio -x/0 is -Inf", progressive.BaselineRatio, -5, 0, progressive.Float(0), nil, analysis.OutcomeFail, math.Inf(-1), "c ratio -Inf < min 0"},
		{"ratio below min", progressive.BaselineRatio, 90, 100, progressive.Float(0.95), progressive.Float(2), analysis.OutcomeFail, 0.9, "c ratio 0.9 < min 0.95"},
		{"difference within", progressive.BaselineDifference, 105, 100, nil, progressive.Float(10), analysis.OutcomePass, 5, "c difference 5 <= max 10 (canary 105, stable 100)"},
		{"difference above", progressive.BaselineDifference, 120, 100, nil, progressive.Float(10), analysis.OutcomeFail, 20, "c difference 20 > max 10"},
		{"difference of zeros", progressive.BaselineDifference, 0, 0, progressive.Float(-1), progressive.Float(1), analysis.OutcomePass, 0, "c difference 0 within [-1, 1]"},
		{"difference with +Inf", progressive.BaselineDifference, inf, 100, nil, progressive.Float(10), analysis.OutcomeFail, inf, "c difference +Inf > max 10"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := progressive.Check{
				Name: "c", Query: `latency{role="{{.Role}}",version="{{.Version}}"}`,
				Min: tc.min, Max: tc.max, Baseline: &progressive.Baseline{Mode: tc.mode},
			}
			src := newSource(script{"c": {progressive.Canary: {val(tc.canary)}, progressive.Stable: {val(tc.stable)}}})
			e := newEngine(t, src, nil)
			st := begin(e, []progressive.Check{c}, at(5))
			res := tick(t, e, []progressive.Check{c}, &st, 0)

			require.Len(t, res.Measurements, 1)
			m := res.Measurements[0]
			assert.Equal(t, tc.want, m.Outcome, m.Reason)
			assert.Contains(t, m.Reason, tc.reason)
			assert.Equal(t, tc.canary, m.Value)
			require.NotNil(t, m.Baseline)
			assert.Equal(t, tc.stable, *m.Baseline)
			require.NotNil(t, m.Compared)
			assert.InDelta(t, tc.compared, *m.Compared, 1e-12)
			assert.Equal(t, `latency{role="canary",version="v2"}`, m.Query)

			qs := src.asked()
			require.Len(t, qs, 2)
			assert.Equal(t, progressive.Stable, qs[1].Role)
			assert.Equal(t, `latency{role="stable",version="v1"}`, qs[1].Expr)
			assert.Equal(t, at(0), qs[1].Time, "both sides at the same instant")

			_, err := json.Marshal(res)
			assert.NoError(t, err, "±Inf marshal")
		})
	}
}

func TestDeadlineWithLastInconclusiveKeepsRunning(t *testing.T) {
	t.Run("inconclusive at the deadline", func(t *testing.T) {
		checks := []progressive.Check{errorRate()}
		e := newEngine(t, newSource(script{"error-rate": {progressive.Canary: {val(0), val(0), noData(), noData(), val(0)}}}), nil)
		st := begin(e, checks, at(2))
		rs := runMinutes(t, e, checks, &st, 10)
		require.Equal(t, []analysis.Verdict{"running", "running", "running", "running", "pass"}, verdicts(rs))
		assert.Contains(t, rs[2].Reason, `deadline passed; waiting for a passing measurement of "error-rate" (last inconclusive, 0 failed, 1 inconclusive in a row)`)
		assert.Equal(t, at(3), rs[2].NextDue)
	})
	t.Run("a tolerated failure at the deadline", func(t *testing.T) {
		c := errorRate()
		c.FailureLimit = 1
		checks := []progressive.Check{c}
		e := newEngine(t, newSource(script{"error-rate": {progressive.Canary: {val(0), val(0), val(3), val(0)}}}), nil)
		st := begin(e, checks, at(2))
		rs := runMinutes(t, e, checks, &st, 10)
		require.Equal(t, []analysis.Verdict{"running", "running", "running", "pass"}, verdicts(rs))
		assert.Contains(t, rs[2].Reason, "last fail, 1 failed")
	})
	t.Run("inconclusive until the limit", func(t *testing.T) {
		checks := []progressive.Check{errorRate()}
		e := newEngine(t, newSource(script{"error-rate": {progressive.Canary: {val(0), val(0), noData()}}}), nil)
		st := begin(e, checks, at(2))
		rs := runMinutes(t, e, checks, &st, 10)
		require.Equal(t, []analysis.Verdict{"running", "running", "running", "running", "inconclusive"}, verdicts(rs))
	})
}

func TestInitialDelay(t *testing.T) {
	delayed := errorRate()
	delayed.InitialDelay = 2 * time.Minute
	checks := []progressive.Check{delayed}
	src := newSource(script{"error-rate": {progressive.Canary: {val(0)}}})
	e := newEngine(t, src, nil)
	st := e.Begin(checks, at(0), at(10))

	for m := range 2 {
		res := tick(t, e, checks, &st, m)
		assert.Empty(t, res.Measurements, "minute %d", m)
		assert.Equal(t, at(2), res.NextDue)
	}
	assert.Empty(t, src.asked())
	res := tick(t, e, checks, &st, 2)
	assert.Len(t, res.Measurements, 1)
	assert.Equal(t, at(3), res.NextDue)

	t.Run("a delay past the deadline is waited for", func(t *testing.T) {
		late := errorRate()
		late.InitialDelay = 3 * time.Minute
		checks := []progressive.Check{late}
		e := newEngine(t, newSource(script{"error-rate": {progressive.Canary: {val(0)}}}), nil)
		st := e.Begin(checks, at(0), at(1))
		rs := runMinutes(t, e, checks, &st, 10)
		require.Equal(t, []analysis.Verdict{"running", "running", "running", "pass"}, verdicts(rs))
		assert.Equal(t, at(1), rs[0].NextDue, "the deadline comes before the first measurement")
		assert.Equal(t, at(3), rs[1].NextDue)
		assert.Contains(t, rs[1].Reason, `waiting for a first measurement of "error-rate" (due 2026-03-01T12:03:00Z)`)
	})
}

func TestTickMeasuresOncePerTick(t *testing.T) {
	slow := errorRate()
	slow.Name, slow.Interval = "slow", 5*time.Minute
	checks := []progressive.Check{errorRate(), slow}
	src := newSource(script{"error-rate": {progressive.Canary: {val(0)}}, "slow": {progressive.Canary: {val(0)}}})
	e := newEngine(t, src, nil)
	st := e.Begin(checks, at(0), at(60))
	// Each check is first due one window after the start: 1m and 5m.
	assert.Equal(t, at(1), st.Checks[0].NextDue)
	assert.Equal(t, at(5), st.Checks[1].NextDue)

	assert.Empty(t, tick(t, e, checks, &st, 0).Measurements, "nothing is due at the start")
	res := tick(t, e, checks, &st, 1)
	require.Len(t, res.Measurements, 1)
	assert.Equal(t, "error-rate", res.Measurements[0].Check)
	assert.Equal(t, at(2), res.NextDue, "the earliest due check")
	assert.Empty(t, tick(t, e, checks, &st, 1).Measurements, "the same instant again measures nothing")
	// A runner that slept takes each missed measurement at the time it was
	// due, from the source's history, then the one due now.
	res = tick(t, e, checks, &st, 5)
	var times []time.Time
	for _, m := range res.Measurements {
		if m.Check == "error-rate" {
			times = append(times, m.Time)
		}
	}
	assert.Equal(t, []time.Time{at(2), at(3), at(4), at(5)}, times)
	assert.Len(t, res.Measurements, 5, "and slow, due now")
	assert.Equal(t, []time.Time{at(2), at(3), at(4), at(5)}, src.timesOf("error-rate")[1:], "each query asked for its due time")

	// After a longer gap: minutes 6 to 29 from history, then 30 at now; the
	// slow check's 10, 15, 20, 25, then 30. In the order they were due.
	res = tick(t, e, checks, &st, 30)
	assert.Len(t, res.Measurements, 25+5)
	assert.Equal(t, at(31), st.Checks[0].NextDue)
	assert.Equal(t, at(35), st.Checks[1].NextDue)
	assert.Equal(t, 1+4+25, st.Checks[0].Measurements)
	for i := 1; i < len(res.Measurements); i++ {
		assert.False(t, res.Measurements[i].Time.Before(res.Measurements[i-1].Time), "in the order they were due")
	}

	// Past MaxCatchUp missed measurements the check goes on from now.
	res = tick(t, e, checks, &st, 31+analysis.MaxCatchUp+50)
	n := 0
	for _, m := range res.Measurements {
		if m.Check == "error-rate" {
			n++
		}
	}
	assert.Equal(t, analysis.MaxCatchUp+1, n)
	assert.Equal(t, at(31+analysis.MaxCatchUp+51), st.Checks[0].NextDue)
}

func TestFinalVerdictsStay(t *testing.T) {
	checks := []progressive.Check{errorRate()}
	src := newSource(script{"error-rate": {progressive.Canary: {val(7), val(0)}}})
	e := newEngine(t, src, nil)
	st := begin(e, checks, at(1))
	res := tick(t, e, checks, &st, 0)
	require.Equal(t, analysis.VerdictFail, res.Verdict)
	again := tick(t, e, checks, &st, 5)
	assert.Equal(t, analysis.VerdictFail, again.Verdict)
	assert.Empty(t, again.Measurements)
	assert.Contains(t, again.Reason, `check "error-rate" failed 1 of 1 measurements, more than its failure limit 0`)
	assert.Len(t, src.asked(), 1)
}

func TestStateJSON(t *testing.T) {
	st := analysis.State{
		StartedAt: at(0), Deadline: at(5),
		Checks: []analysis.CheckState{{Name: "a", Measurements: 2, Passes: 1, ConsecutiveFailures: 1, Last: analysis.OutcomeFail, NextDue: at(2), Judge: json.RawMessage(`{"n":2}`)}},
	}
	b := mustJSON(t, st)
	assert.JSONEq(t, `{
		"startedAt": "2026-03-01T12:00:00Z", "deadline": "2026-03-01T12:05:00Z",
		"checks": [{"name": "a", "measurements": 2, "passes": 1, "failures": 0, "consecutiveFailures": 1,
			"inconclusives": 0, "consecutiveInconclusives": 0, "warnings": 0, "last": "fail",
			"nextDue": "2026-03-01T12:02:00Z", "judge": {"n": 2}}]
	}`, b)
	var back analysis.State
	require.NoError(t, json.Unmarshal([]byte(b), &back))
	assert.Equal(t, b, mustJSON(t, back))
}

// TestResumeFromJSON runs the same analysis twice: once in one engine with the state
// in memory, once as if the process restarted before every tick (state through
// JSON, a new engine each time). Both must take the same measurements and reach the
// same verdicts.
func TestResumeFromJSON(t *testing.T) {
	latency := progressive.Check{
		Name: "latency", Query: `p99{version="{{.Version}}"}`, Max: progressive.Float(1.5),
		Baseline: &progressive.Baseline{Mode: progressive.BaselineRatio}, FailureLimit: 2,
	}
	cpu := progressive.Check{Name: "cpu", Query: "cpu", Max: progressive.Float(80), Severity: progressive.SeverityWarn, Interval: 2 * time.Minute}
	mean := progressive.Check{Name: "mean", Query: "errors", Judge: &progressive.JudgeSpec{Kind: "running-mean", Params: map[string]float64{"max": 2}}, InitialDelay: 2 * time.Minute, FailureLimit: 1}
	checks := []progressive.Check{errorRate(), latency, cpu, mean}
	s := script{
		"error-rate": {progressive.Canary: {val(0.1), noData(), failWith(errUnreachable), val(0.2), val(0.5), val(0.1), val(0.1), val(0.1)}},
		"latency": {
			progressive.Canary: {val(100), val(200), val(110), val(300), val(100), val(0), val(100)},
			progressive.Stable: {val(100), val(100), val(100), val(100), val(100), val(0), noData(), val(100)},
		},
		"cpu": {progressive.Canary: {val(50), val(90), val(85), val(60)}},
		// minute 1: mean 1.5 passes; minute 2: mean 2.25 fails; minute 3: mean 1.53 passes.
		"mean": {progressive.Canary: {val(0.5), val(1.5), val(3), val(0.1)}},
	}
	judges := map[string]analysis.Judge{"running-mean": runningMean{}}

	run := func(restart bool) ([]string, string) {
		src := newSource(s)
		e := newEngine(t, src, judges)
		st := begin(e, checks, at(5))
		var log []string
		for m := range 12 {
			if restart {
				var back analysis.State
				require.NoError(t, json.Unmarshal([]byte(mustJSON(t, st)), &back))
				st = back
				e = newEngine(t, src, judges)
			}
			res := tick(t, e, checks, &st, m)
			log = append(log, mustJSON(t, res))
			if res.Verdict.Done() {
				break
			}
		}
		return log, mustJSON(t, st)
	}
	straight, straightState := run(false)
	resumed, resumedState := run(true)
	require.Equal(t, straight, resumed)
	assert.JSONEq(t, straightState, resumedState)
	// The scenario exercises every counter and the judge's state, and passes at
	// the deadline.
	require.Len(t, straight, 6)
	assert.Contains(t, straight[5], `"Verdict":"pass"`)
	var final analysis.State
	require.NoError(t, json.Unmarshal([]byte(straightState), &final))
	assert.Equal(t, 2, final.Checks[0].Inconclusives, "error-rate")
	assert.Equal(t, 2, final.Checks[1].Failures, "latency")
	assert.Equal(t, 1, final.Checks[2].Warnings, "cpu")
	assert.Equal(t, 1, final.Checks[3].Failures, "mean")
	var ms meanState
	require.NoError(t, json.Unmarshal(final.Checks[3].Judge, &ms))
	assert.Equal(t, 5, ms.N, "measured at minutes 1 to 5")
	assert.InDelta(t, 4.8, ms.Sum, 1e-9)
}

func TestPreflight(t *testing.T) {
	latency := progressive.Check{Name: "latency", Query: `p99{version="{{.Version}}"}`, Max: progressive.Float(1.2), Baseline: &progressive.Baseline{Mode: progressive.BaselineRatio}}
	judged := progressive.Check{Name: "judged", Query: "j", Judge: &progressive.JudgeSpec{Kind: "const"}}
	judges := map[string]analysis.Judge{"const": constJudge(analysis.OutcomePass)}
	checks := []progressive.Check{errorRate(), latency, judged}

	t.Run("no data is fine", func(t *testing.T) {
		src := newSource(script{"error-rate": {}, "latency": {}, "judged": {}})
		e := newEngine(t, src, judges)
		require.NoError(t, e.Preflight(context.Background(), checks, testVars, at(0)))
		var roles []string
		for _, q := range src.asked() {
			roles = append(roles, q.Name+"/"+string(q.Role))
		}
		assert.Equal(t, []string{"error-rate/canary", "latency/canary", "latency/stable", "judged/canary", "judged/stable"}, roles)
	})
	t.Run("configuration errors win and name their checks", func(t *testing.T) {
		src := newSource(script{
			"error-rate": {progressive.Canary: {failWith(errUnreachable)}},
			"latency":    {progressive.Canary: {val(1)}, progressive.Stable: {failWith(errBadQuery)}},
			"judged":     {progressive.Canary: {failWith(errBadQuery)}},
		})
		err := newEngine(t, src, judges).Preflight(context.Background(), checks, testVars, at(0))
		require.ErrorIs(t, err, progressive.ErrInvalid)
		assert.NotErrorIs(t, err, progressive.ErrTransient)
		assert.ErrorContains(t, err, `check "latency" (stable query): bad_data`)
		assert.ErrorContains(t, err, `check "judged" (canary query)`)
	})
	t.Run("transient errors are marked transient", func(t *testing.T) {
		src := newSource(script{
			"error-rate": {progressive.Canary: {failWith(errUnreachable)}},
			"latency":    {progressive.Canary: {failWith(errors.New("i/o timeout"))}},
			"judged":     {},
		})
		err := newEngine(t, src, judges).Preflight(context.Background(), checks, testVars, at(0))
		require.ErrorIs(t, err, progressive.ErrTransient)
		assert.NotErrorIs(t, err, progressive.ErrInvalid)
		assert.ErrorContains(t, err, `check "error-rate" (canary query): dial tcp`)
		assert.ErrorContains(t, err, `check "latency" (canary query): transient failure: i/o timeout`)
	})
	t.Run("invalid checks fail before any query", func(t *testing.T) {
		src := newSource(nil)
		bad := errorRate()
		bad.Query = "{{.Nope}}"
		err := newEngine(t, src, judges).Preflight(context.Background(), []progressive.Check{bad}, testVars, at(0))
		var ve *progressive.ValidationError
		require.ErrorAs(t, err, &ve)
		assert.Equal(t, "checks[0].query", ve.Problems[0].Field)
		assert.Empty(t, src.asked())
	})
	t.Run("cancelled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		err := newEngine(t, newSource(script{"error-rate": {}}), nil).Preflight(ctx, []progressive.Check{errorRate()}, testVars, at(0))
		require.ErrorIs(t, err, context.Canceled)
	})
}

func TestEngineValidateReportsEverything(t *testing.T) {
	e := newEngine(t, newSource(nil), map[string]analysis.Judge{"sprt": constJudge(analysis.OutcomePass)})
	dup := errorRate()
	unknownSource := errorRate()
	unknownSource.Name, unknownSource.Metrics = "datadog", "datadog"
	badTemplate := errorRate()
	badTemplate.Name, badTemplate.Query = "tmpl", "{{.Version"
	badJudge := progressive.Check{Name: "judge", Query: "q", Judge: &progressive.JudgeSpec{Kind: "kayenta"}}
	noBounds := progressive.Check{Name: "nobounds", Query: "q"}

	err := e.Validate([]progressive.Check{errorRate(), dup, unknownSource, badTemplate, badJudge, noBounds})
	var ve *progressive.ValidationError
	require.ErrorAs(t, err, &ve)
	require.ErrorIs(t, err, progressive.ErrInvalid)
	var fields []string
	for _, p := range ve.Problems {
		fields = append(fields, p.Field)
	}
	assert.ElementsMatch(t, []string{"checks[1].name", "checks[2].metrics", "checks[3].query", "checks[4].judge.kind", "checks[5].max"}, fields)
	assert.ErrorContains(t, err, "known kinds: sprt")

	assert.NoError(t, e.Validate([]progressive.Check{errorRate()}))
}
