package analysis_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/analysis"
)

// t0 is the start of every test analysis; scripts are indexed by minutes since t0.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func at(minutes int) time.Time { return t0.Add(time.Duration(minutes) * time.Minute) }

var testVars = analysis.Vars{Namespace: "shop", Service: "payment", CanaryVersion: "v2", StableVersion: "v1"}

// reply is one scripted answer of the fake source.
type reply struct {
	res progressive.Result
	err error
}

func val(v float64) reply {
	return reply{res: progressive.Result{Status: progressive.StatusValue, Value: v}}
}
func noData() reply { return reply{res: progressive.Result{Status: progressive.StatusNoData}} }
func nanResult() reply {
	return reply{res: progressive.Result{Status: progressive.StatusNaN, Value: math.NaN()}}
}
func failWith(err error) reply {
	return reply{err: err}
}

var (
	errUnreachable = fmt.Errorf("dial tcp 127.0.0.1:9090: connection refused: %w", progressive.ErrTransient)
	errBadQuery    = fmt.Errorf("bad_data: parse error at char 7: %w", progressive.ErrInvalid)
)

// script holds the answers of the fake source by check name (Query.Name) and role,
// one per minute since t0; the last answer repeats.
type script map[string]map[progressive.Role][]reply

// fakeSource is a MetricSource (and RangeQuerier) that answers from a script and
// records every query it is asked.
type fakeSource struct {
	script script

	mu      sync.Mutex
	queries []progressive.Query
}

func newSource(s script) *fakeSource { return &fakeSource{script: s} }

func (f *fakeSource) Name() string { return "fake" }

func (f *fakeSource) Query(ctx context.Context, q progressive.Query) (progressive.Result, error) {
	f.mu.Lock()
	f.queries = append(f.queries, q)
	f.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return progressive.Result{}, err
	}
	byRole, ok := f.script[q.Name]
	if !ok {
		return progressive.Result{}, fmt.Errorf("fake: no series for %q: %w", q.Name, progressive.ErrInvalid)
	}
	rs := byRole[q.Role]
	if len(rs) == 0 {
		return progressive.Result{Status: progressive.StatusNoData, Time: q.Time}, nil
	}
	i := min(max(int(q.Time.Sub(t0)/time.Minute), 0), len(rs)-1)
	r := rs[i]
	if r.err != nil {
		return progressive.Result{}, r.err
	}
	r.res.Time = q.Time
	return r.res, nil
}

// QueryRange returns the scripted values of the window, one sample a minute.
func (f *fakeSource) QueryRange(ctx context.Context, q progressive.Query, start, end time.Time, step time.Duration) ([]progressive.Sample, error) {
	var out []progressive.Sample
	for ts := start; !ts.After(end); ts = ts.Add(step) {
		q.Time = ts
		r, err := f.Query(ctx, q)
		if err != nil {
			return nil, err
		}
		if r.Status == progressive.StatusValue {
			out = append(out, progressive.Sample{Time: ts, Value: r.Value})
		}
	}
	return out, nil
}

func (f *fakeSource) asked() []progressive.Query {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]progressive.Query(nil), f.queries...)
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// newEngine returns an engine whose only source is src.
func newEngine(t testing.TB, src progressive.MetricSource, judges map[string]analysis.Judge) *analysis.Engine {
	t.Helper()
	e, err := analysis.NewEngine(analysis.Options{
		Sources: func(name string) (progressive.MetricSource, error) {
			if name != "" && name != "prometheus" {
				return nil, fmt.Errorf("unknown metric source %q; known: prometheus: %w", name, progressive.ErrInvalid)
			}
			return src, nil
		},
		Judges: judges,
		Logger: discardLogger(),
	})
	require.NoError(t, err)
	return e
}

// tick runs one Tick at minute m and fails the test on error.
func tick(t *testing.T, e *analysis.Engine, checks []progressive.Check, st *analysis.State, m int) analysis.TickResult {
	t.Helper()
	res, err := e.Tick(context.Background(), checks, testVars, st, at(m))
	require.NoError(t, err)
	return res
}

// runMinutes ticks once a minute from minute 0 until a final verdict or n ticks,
// and returns the results.
func runMinutes(t *testing.T, e *analysis.Engine, checks []progressive.Check, st *analysis.State, n int) []analysis.TickResult {
	t.Helper()
	var out []analysis.TickResult
	for m := range n {
		res := tick(t, e, checks, st, m)
		out = append(out, res)
		if res.Verdict.Done() {
			break
		}
	}
	return out
}

func verdicts(rs []analysis.TickResult) []analysis.Verdict {
	out := make([]analysis.Verdict, len(rs))
	for i, r := range rs {
		out[i] = r.Verdict
	}
	return out
}

func allMeasurements(rs []analysis.TickResult) []analysis.Measurement {
	var out []analysis.Measurement
	for _, r := range rs {
		out = append(out, r.Measurements...)
	}
	return out
}

func repeat(v analysis.Verdict, n int) []analysis.Verdict {
	out := make([]analysis.Verdict, n)
	for i := range out {
		out[i] = v
	}
	return out
}

// mustJSON marshals v, failing the test on error.
func mustJSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return string(b)
}

// errorRate is a threshold check: canary error rate at most 1 (percent).
func errorRate() progressive.Check {
	return progressive.Check{
		Name:  "error-rate",
		Query: `sum(rate(http_errors_total{namespace="{{.Namespace}}",service="{{.Service}}",version="{{.Version}}"}[{{.Interval}}]))`,
		Max:   progressive.Float(1),
		// The counting tests judge every answer as it comes; warm-up has tests of
		// its own.
		WarmUp: -1,
	}
}

// begin starts an analysis whose checks (1m windows) are first due at minute 0:
// the step began a window earlier, and the warm-up is long over. The counting
// tests use it; the scheduling and warm-up rules have tests of their own.
func begin(e *analysis.Engine, checks []progressive.Check, deadline time.Time) analysis.State {
	st := e.Begin(checks, at(-1), deadline)
	st.LiveSince = at(-60)
	return st
}

// timesOf lists the evaluation times of the queries of check name, in order.
func (f *fakeSource) timesOf(name string) []time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []time.Time
	for _, q := range f.queries {
		if q.Name == name && q.Role == progressive.Canary {
			out = append(out, q.Time)
		}
	}
	return out
}
