package analysis_test

import (
	"context"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/analysis"
)

// jt0 is the start of the judges' test analyses.
var jt0 = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

func jat(minutes int) time.Time { return jt0.Add(time.Duration(minutes) * time.Minute) }

// seriesFunc answers one expression for one role at one instant; ok false is no data.
type seriesFunc func(expr string, role progressive.Role, t time.Time) (v float64, ok bool)

// seriesSource is a MetricSource and RangeQuerier computed by a function of
// (expression, role, instant). It can be told to fail every query.
type seriesSource struct {
	f seriesFunc

	mu     sync.Mutex
	down   error
	ranges int // QueryRange calls
}

func (s *seriesSource) Name() string { return "series" }

func (s *seriesSource) setDown(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.down = err
}

func (s *seriesSource) Query(_ context.Context, q progressive.Query) (progressive.Result, error) {
	s.mu.Lock()
	down := s.down
	s.mu.Unlock()
	if down != nil {
		return progressive.Result{}, down
	}
	v, ok := s.f(q.Expr, q.Role, q.Time)
	switch {
	case !ok:
		return progressive.Result{Status: progressive.StatusNoData, Time: q.Time}, nil
	case math.IsNaN(v):
		return progressive.Result{Status: progressive.StatusNaN, Value: v, Time: q.Time}, nil
	}
	return progressive.Result{Status: progressive.StatusValue, Value: v, Time: q.Time}, nil
}

func (s *seriesSource) QueryRange(_ context.Context, q progressive.Query, start, end time.Time, step time.Duration) ([]progressive.Sample, error) {
	s.mu.Lock()
	down := s.down
	s.ranges++
	s.mu.Unlock()
	if down != nil {
		return nil, down
	}
	var out []progressive.Sample
	for t := start; !t.After(end); t = t.Add(step) {
		if v, ok := s.f(q.Expr, q.Role, t); ok {
			out = append(out, progressive.Sample{Time: t, Value: v})
		}
	}
	return out, nil
}

// instantOnly hides the RangeQuerier of a source.
type instantOnly struct{ progressive.MetricSource }

// samplesByMinute answers expr for each role from lists indexed by minutes since
// jt0 (index 0 is minute 1: the sample that summarises the first minute).
func samplesByMinute(expr string, canary, baseline []float64) seriesFunc {
	return func(e string, role progressive.Role, t time.Time) (float64, bool) {
		if e != expr {
			return 0, false
		}
		i := int(t.Sub(jt0)/time.Minute) - 1
		xs := canary
		if role == progressive.Stable {
			xs = baseline
		}
		if i < 0 || i >= len(xs) {
			return 0, false
		}
		return xs[i], true
	}
}

func judgeEngine(t testing.TB, src progressive.MetricSource) *analysis.Engine {
	t.Helper()
	e, err := analysis.NewEngine(analysis.Options{
		Sources: func(string) (progressive.MetricSource, error) { return src, nil },
		Judges: map[string]analysis.Judge{
			analysis.KindMannWhitney: analysis.MannWhitneyJudge{},
			analysis.KindSPRT:        analysis.SPRTJudge{Requests: analysis.RequestsExpr("request_rate")},
		},
		Logger: discardLogger(),
	})
	require.NoError(t, err)
	return e
}

// measureOnce runs one measurement of check at minute m of an analysis begun at jt0.
func measureOnce(t *testing.T, src progressive.MetricSource, c progressive.Check, m int) analysis.Measurement {
	t.Helper()
	e := judgeEngine(t, src)
	checks := []progressive.Check{c}
	st := e.Begin(checks, jt0, jat(60))
	st.Checks[0].NextDue = jat(m)
	res, err := e.Tick(context.Background(), checks, testVars, &st, jat(m))
	require.NoError(t, err)
	require.Len(t, res.Measurements, 1)
	return res.Measurements[0]
}
