package analysis_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/analysis"
)

// funcSource answers each query from a function of its expression and instant.
type funcSource struct {
	mu sync.Mutex
	f  func(expr string, at time.Time) progressive.Result
	at []time.Time
}

func (s *funcSource) Name() string { return "func" }

func (s *funcSource) Query(_ context.Context, q progressive.Query) (progressive.Result, error) {
	s.mu.Lock()
	s.at = append(s.at, q.Time)
	s.mu.Unlock()
	r := s.f(q.Expr, q.Time)
	r.Time = q.Time
	return r, nil
}

func value(v float64) progressive.Result {
	return progressive.Result{Status: progressive.StatusValue, Value: v}
}

func empty() progressive.Result { return progressive.Result{Status: progressive.StatusNoData} }

// runUntilDone ticks at every NextDue from start and returns every measurement
// and the final result.
func runUntilDone(t *testing.T, e *analysis.Engine, checks []progressive.Check, st *analysis.State, start time.Time) ([]analysis.Measurement, analysis.TickResult) {
	t.Helper()
	var all []analysis.Measurement
	now := start
	for range 1000 {
		res, err := e.Tick(context.Background(), checks, testVars, st, now)
		require.NoError(t, err)
		all = append(all, res.Measurements...)
		if res.Verdict.Done() {
			return all, res
		}
		require.True(t, res.NextDue.After(now), "NextDue %s must move past %s", res.NextDue, now)
		now = res.NextDue
	}
	t.Fatal("no verdict after 1000 ticks")
	return nil, analysis.TickResult{}
}

func TestTheEndOfTheSoakIsMeasured(t *testing.T) {
	// 1m interval, 90s soak: measured at 1m (its window is after the start) and
	// again at 1m30s, the deadline, instead of passing on the 1m measurement.
	c := errorRate()
	checks := []progressive.Check{c}
	src := &funcSource{f: func(string, time.Time) progressive.Result { return value(0.1) }}
	e := newEngine(t, src, nil)
	st := e.Begin(checks, t0, t0.Add(90*time.Second))
	ms, res := runUntilDone(t, e, checks, &st, t0)
	require.Equal(t, analysis.VerdictPass, res.Verdict, res.Reason)
	require.Len(t, ms, 2)
	assert.Equal(t, t0.Add(time.Minute), ms[0].Time)
	assert.Equal(t, t0.Add(90*time.Second), ms[1].Time)
}

func TestARegressionInTheLastIntervalFails(t *testing.T) {
	// The soak ends at 10m; the canary regresses at 9m30s. The runner reaches the
	// step's first tick 5ms after it began (a state write), so every
	// measurement due an interval after the previous one falls 5ms after a
	// minute. Before, the one due at 10m0.005s came after the deadline and the
	// step passed at 10m on the 9m measurement; now the end is measured.
	c := errorRate()
	c.Interval = time.Minute
	checks := []progressive.Check{c}
	src := &funcSource{f: func(_ string, at time.Time) progressive.Result {
		if at.Sub(t0) >= 9*time.Minute+30*time.Second {
			return value(7)
		}
		return value(0.1)
	}}
	e := newEngine(t, src, nil)
	st := e.Begin(checks, t0, t0.Add(10*time.Minute))
	ms, res := runUntilDone(t, e, checks, &st, t0.Add(5*time.Millisecond))
	assert.Equal(t, analysis.VerdictFail, res.Verdict, res.Reason)
	assert.Equal(t, t0.Add(10*time.Minute), ms[len(ms)-1].Time)
}

func TestWarmUp(t *testing.T) {
	ratio := `sum(rate(errors{version="{{.Version}}",code="500"}[{{.Interval}}])) / sum(rate(requests{version="{{.Version}}"}[{{.Interval}}])) * 100`
	check := progressive.Check{Name: "error-rate", Query: ratio, Interval: 10 * time.Second, Max: progressive.Float(2)}

	t.Run("a series that appears during the warm-up passes", func(t *testing.T) {
		// The error series exists from 25s on: two measurements wait, the third
		// passes; the 10s soak is long over, so the step passes then.
		src := &funcSource{f: func(_ string, at time.Time) progressive.Result {
			if at.Sub(t0) < 25*time.Second {
				return empty()
			}
			return value(0.5)
		}}
		e := newEngine(t, src, nil)
		checks := []progressive.Check{check}
		st := e.Begin(checks, t0, t0.Add(10*time.Second))
		ms, res := runUntilDone(t, e, checks, &st, t0)
		require.Equal(t, analysis.VerdictPass, res.Verdict, res.Reason)
		require.Len(t, ms, 3)
		assert.Equal(t, analysis.OutcomeWaiting, ms[0].Outcome)
		assert.Contains(t, ms[0].Reason, "waiting for data (warm-up)")
		assert.Equal(t, analysis.OutcomeWaiting, ms[1].Outcome)
		assert.Equal(t, analysis.OutcomePass, ms[2].Outcome)
		assert.Equal(t, 2, st.Checks[0].Waiting)
		assert.Zero(t, st.Checks[0].Inconclusives)
	})

	t.Run("a canary that never reports is inconclusive after the warm-up", func(t *testing.T) {
		src := &funcSource{f: func(string, time.Time) progressive.Result { return empty() }}
		e := newEngine(t, src, nil)
		checks := []progressive.Check{check}
		st := e.Begin(checks, t0, t0.Add(10*time.Second))
		ms, res := runUntilDone(t, e, checks, &st, t0)
		require.Equal(t, analysis.VerdictInconclusive, res.Verdict, res.Reason)
		var outcomes []analysis.Outcome
		for _, m := range ms {
			outcomes = append(outcomes, m.Outcome)
		}
		// Warm-up of three 10s windows: measured at 10s and 20s waiting; 30s,
		// 40s, 50s inconclusive: the default limit of three.
		assert.Equal(t, []analysis.Outcome{"waiting", "waiting", "inconclusive", "inconclusive", "inconclusive"}, outcomes)
		assert.Equal(t, t0.Add(50*time.Second), ms[len(ms)-1].Time)
	})

	t.Run("a later step gets no new warm-up", func(t *testing.T) {
		src := &funcSource{f: func(string, time.Time) progressive.Result { return empty() }}
		e := newEngine(t, src, nil)
		checks := []progressive.Check{check}
		later := t0.Add(10 * time.Minute)
		st := e.Begin(checks, later, later.Add(10*time.Second))
		st.LiveSince = t0
		ms, res := runUntilDone(t, e, checks, &st, later)
		require.Equal(t, analysis.VerdictInconclusive, res.Verdict)
		for _, m := range ms {
			assert.Equal(t, analysis.OutcomeInconclusive, m.Outcome)
		}
	})

	t.Run("transient errors are not excused", func(t *testing.T) {
		e := newEngine(t, newSource(script{"error-rate": {progressive.Canary: {failWith(errUnreachable)}}}), nil)
		c := errorRate()
		c.WarmUp = 0 // the default: three windows
		checks := []progressive.Check{c}
		st := e.Begin(checks, at(0), at(10))
		res, err := e.Tick(context.Background(), checks, testVars, &st, at(1))
		require.NoError(t, err)
		assert.Equal(t, analysis.OutcomeInconclusive, res.Measurements[0].Outcome)
	})
}

func TestMinimumSampleSize(t *testing.T) {
	check := progressive.Check{
		Name: "error-rate", Interval: 10 * time.Second, Max: progressive.Float(1),
		Query:   `sum(rate(errors{version="{{.Version}}"}[{{.Interval}}])) / sum(rate(requests{version="{{.Version}}"}[{{.Interval}}])) * 100`,
		Samples: &progressive.SampleSize{Query: `sum(increase(requests{version="{{.Version}}"}[{{.Interval}}]))`, Min: progressive.MinSamplesFor(1, 100)},
	}
	// 70 requests a window until 60s, one of them an error (1.43%), then 700.
	src := &funcSource{f: func(expr string, at time.Time) progressive.Result {
		n := 70.0
		if at.Sub(t0) >= 60*time.Second {
			n = 700
		}
		if strings.Contains(expr, "increase(") {
			return value(n)
		}
		return value(100 / n)
	}}
	e := newEngine(t, src, nil)
	checks := []progressive.Check{check}
	st := e.Begin(checks, t0, t0.Add(10*time.Second))
	st.LiveSince = t0.Add(-15 * time.Second) // warm-up until 15s
	ms, res := runUntilDone(t, e, checks, &st, t0)

	var outcomes []analysis.Outcome
	for _, m := range ms {
		outcomes = append(outcomes, m.Outcome)
	}
	// 10s: waiting (warm-up until 15s); 20s, 30s, 40s: inconclusive, the limit:
	// too few samples hold the step only as long as the warm-up, then count
	// against the canary, never for or against its error rate.
	require.Equal(t, analysis.VerdictInconclusive, res.Verdict, res.Reason)
	assert.Equal(t, []analysis.Outcome{"waiting", "inconclusive", "inconclusive", "inconclusive"}, outcomes)
	require.NotNil(t, ms[0].Samples)
	assert.Equal(t, 70.0, *ms[0].Samples)
	assert.Contains(t, ms[1].Reason, "not enough data: 70 samples < min 101 (value 1.428571429)")
	for _, m := range ms {
		assert.NotEqual(t, analysis.OutcomeFail, m.Outcome, "one error among 70 requests is not a regression")
	}

	t.Run("enough samples are judged", func(t *testing.T) {
		e := newEngine(t, src, nil)
		st := e.Begin(checks, t0.Add(time.Minute), t0.Add(70*time.Second))
		ms, res := runUntilDone(t, e, checks, &st, t0.Add(time.Minute))
		require.Equal(t, analysis.VerdictPass, res.Verdict, res.Reason)
		require.Len(t, ms, 1)
		assert.Equal(t, 700.0, *ms[0].Samples)
	})
}
