package rollouttest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"sync"
	"time"

	"k8s.io/utils/clock"

	"github.com/agentops/progressive"
)

// MetricsName is the provider name of Metrics.
const MetricsName = "scripted"

// Answer is what a scripted query returns: a value, no data, NaN, or an error.
type Answer struct {
	Status progressive.ResultStatus
	Value  float64
	// Err, when set, is returned instead of a result.
	Err error
}

// Value answers v (NaN becomes a NaN answer, as Prometheus reports it).
func Value(v float64) Answer {
	if math.IsNaN(v) {
		return NaN()
	}
	return Answer{Status: progressive.StatusValue, Value: v}
}

// NoData answers that no series matched (a canary without traffic).
func NoData() Answer { return Answer{Status: progressive.StatusNoData} }

// NaN answers NaN (0/0: a window without requests).
func NaN() Answer { return Answer{Status: progressive.StatusNaN, Value: math.NaN()} }

// Transient fails the query with an error wrapping progressive.ErrTransient
// (an unreachable or overloaded backend).
func Transient() Answer {
	return Answer{Err: fmt.Errorf("rollouttest: scripted backend outage: %w", progressive.ErrTransient)}
}

// Invalid fails the query with an error wrapping progressive.ErrInvalid (a
// query the backend rejects).
func Invalid() Answer {
	return Answer{Err: fmt.Errorf("rollouttest: scripted bad query: %w", progressive.ErrInvalid)}
}

func (a Answer) result(t time.Time) (progressive.Result, error) {
	if a.Err != nil {
		return progressive.Result{}, a.Err
	}
	return progressive.Result{Status: a.Status, Value: a.Value, Time: t}, nil
}

func (a Answer) validate(field string) error {
	switch {
	case a.Err != nil:
		return nil
	case a.Status == progressive.StatusValue || a.Status == progressive.StatusNoData || a.Status == progressive.StatusNaN:
		return nil
	}
	return fmt.Errorf("rollouttest: %s: status %q: must be %q, %q or %q (use Value, NoData, NaN, Transient or Invalid): %w",
		field, a.Status, progressive.StatusValue, progressive.StatusNoData, progressive.StatusNaN, progressive.ErrInvalid)
}

// Step is one entry of a script: from At (virtual time since the Metrics
// were made) on, queries get Answer.
type Step struct {
	At     time.Duration
	Answer Answer
}

// At is a Step.
func At(d time.Duration, a Answer) Step { return Step{At: d, Answer: a} }

type seriesKey struct {
	expr string
	role progressive.Role
}

// entry is how one expression and role is answered: by the time of the query
// (steps) or by the number of the call (sequence).
type entry struct {
	steps    []Step
	sequence []Answer
	calls    int
}

// Metrics is a scripted progressive.MetricSource. Answers are looked up by the
// query's expression and role, then by the expression with any role (role
// ""). It reads the time from its clock, and a script's offsets count from the
// clock's reading when the Metrics were made. Safe for concurrent use.
type Metrics struct {
	clock clock.PassiveClock
	start time.Time

	mu      sync.Mutex
	series  map[seriesKey]*entry
	queries []progressive.Query
}

// NewMetrics returns Metrics with nothing scripted, reading the time from clk
// (a FakeClock in tests; nil means the real clock).
func NewMetrics(clk clock.PassiveClock) *Metrics {
	if clk == nil {
		clk = clock.RealClock{}
	}
	return &Metrics{clock: clk, start: clk.Now(), series: map[seriesKey]*entry{}}
}

// Fixed returns Metrics that answer each expression of values with its value,
// for every role and at every time.
func Fixed(clk clock.PassiveClock, values map[string]float64) *Metrics {
	m := NewMetrics(clk)
	for expr, v := range values {
		m.Set(expr, "", Value(v))
	}
	return m
}

// Name returns MetricsName.
func (m *Metrics) Name() string { return MetricsName }

// Start is the clock reading the script offsets count from.
func (m *Metrics) Start() time.Time { return m.start }

// Set answers expr for role ("" for any role) with a at all times. It replaces
// what was scripted for them and returns m, for chaining.
func (m *Metrics) Set(expr string, role progressive.Role, a Answer) *Metrics {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.series[seriesKey{expr, role}] = &entry{steps: []Step{{Answer: a}}}
	return m
}

// Script answers expr for role ("" for any role) by the time of the query:
// each step from its offset until the next step's. Before the first step the
// query has no data. Offsets must not be negative or out of order; errors wrap
// progressive.ErrInvalid and name the step.
func (m *Metrics) Script(expr string, role progressive.Role, steps ...Step) error {
	if expr == "" {
		return fmt.Errorf("rollouttest: script expr %q: must not be empty: %w", expr, progressive.ErrInvalid)
	}
	if len(steps) == 0 {
		return fmt.Errorf("rollouttest: script %q: steps: must not be empty: %w", expr, progressive.ErrInvalid)
	}
	for i, s := range steps {
		field := fmt.Sprintf("script %q steps[%d]", expr, i)
		if s.At < 0 {
			return fmt.Errorf("rollouttest: %s.at %s: must not be negative: %w", field, s.At, progressive.ErrInvalid)
		}
		if i > 0 && s.At < steps[i-1].At {
			return fmt.Errorf("rollouttest: %s.at %s: must not be before steps[%d].at %s: %w", field, s.At, i-1, steps[i-1].At, progressive.ErrInvalid)
		}
		if err := s.Answer.validate(field); err != nil {
			return err
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.series[seriesKey{expr, role}] = &entry{steps: slices.Clone(steps)}
	return nil
}

// Sequence answers expr for role ("" for any role) by call: the first query
// gets answers[0], the second answers[1], and the last answer repeats. It
// scripts transient failures that clear up, say: Transient(), Transient(),
// Value(0.1).
func (m *Metrics) Sequence(expr string, role progressive.Role, answers ...Answer) error {
	if len(answers) == 0 {
		return fmt.Errorf("rollouttest: sequence %q: answers: must not be empty: %w", expr, progressive.ErrInvalid)
	}
	for i, a := range answers {
		if err := a.validate(fmt.Sprintf("sequence %q answers[%d]", expr, i)); err != nil {
			return err
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.series[seriesKey{expr, role}] = &entry{sequence: slices.Clone(answers)}
	return nil
}

// Queries returns every query asked so far, in order.
func (m *Metrics) Queries() []progressive.Query {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.queries)
}

// Query answers q as scripted. q.Time zero means the clock's now. A query
// nobody scripted is an error wrapping progressive.ErrInvalid.
func (m *Metrics) Query(ctx context.Context, q progressive.Query) (progressive.Result, error) {
	if err := ctx.Err(); err != nil {
		return progressive.Result{}, fmt.Errorf("rollouttest: query %q: %w", q.Expr, err)
	}
	t := q.Time
	if t.IsZero() {
		t = m.clock.Now()
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.queries = append(m.queries, q)
	e, ok := m.series[seriesKey{q.Expr, q.Role}]
	if !ok {
		e, ok = m.series[seriesKey{q.Expr, ""}]
	}
	if !ok {
		return progressive.Result{}, fmt.Errorf("rollouttest: query %q (role %q): nothing scripted for it (scripted: %v): %w",
			q.Expr, q.Role, m.known(), progressive.ErrInvalid)
	}
	if e.sequence != nil {
		a := e.sequence[min(e.calls, len(e.sequence)-1)]
		e.calls++
		return a.result(t)
	}
	since := t.Sub(m.start)
	i := sort.Search(len(e.steps), func(i int) bool { return e.steps[i].At > since }) - 1
	if i < 0 {
		return progressive.Result{Status: progressive.StatusNoData, Time: t}, nil
	}
	return e.steps[i].Answer.result(t)
}

func (m *Metrics) known() []string {
	var out []string
	for k := range m.series {
		if k.role == "" {
			out = append(out, k.expr)
		} else {
			out = append(out, k.expr+"/"+string(k.role))
		}
	}
	sort.Strings(out)
	return out
}

// errNotEnded is wrapped by Run's error when the rollout did not end within
// the harness' limits.
var errNotEnded = errors.New("rollout did not end")

var _ progressive.MetricSource = (*Metrics)(nil)
