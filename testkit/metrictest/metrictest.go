package metrictest

import (
	"context"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/agentops/progressive"
)

// Setup is what one behaviour needs: a source and a query per kind of answer.
type Setup struct {
	Source progressive.MetricSource
	// Value answers Want (to within Tolerance).
	Value     progressive.Query
	Want      float64
	Tolerance float64
	// NoData matches no series.
	NoData progressive.Query
	// NaN evaluates to NaN.
	NaN progressive.Query
	// Invalid is rejected by the backend.
	Invalid progressive.Query
	// SeveralSeries, when set, returns more than one series.
	SeveralSeries *progressive.Query
	// Down returns a source whose backend is unreachable (the same source
	// after its backend was stopped, or one pointed at a closed port); every
	// query of it must fail transiently. Without it the behaviour is skipped.
	Down func(t *testing.T) progressive.MetricSource
	// Timeout bounds each behaviour. Default 30s.
	Timeout time.Duration
}

// Behaviour is one entry of the conformance table.
type Behaviour struct {
	Name string
	Run  func(t *testing.T, ctx context.Context, s Setup)
}

// Behaviours is the table Run runs, in order.
var Behaviours = []Behaviour{
	{"Name", name},
	{"Value", value},
	{"NoDataIsNotZero", noData},
	{"NaNIsNotANumber", nan},
	{"InvalidQueryFailsFast", invalid},
	{"UnreachableBackendIsTransient", transient},
	{"CancelledContext", cancelled},
	{"SeveralSeriesInvalid", severalSeries},
}

// Run runs every behaviour of Behaviours as a subtest, each with a fresh Setup
// from newSetup.
func Run(t *testing.T, newSetup func(t *testing.T) Setup) {
	t.Helper()
	for _, b := range Behaviours {
		t.Run(b.Name, func(t *testing.T) {
			s := newSetup(t)
			if s.Source == nil {
				t.Fatal("metrictest: Setup.Source is nil")
			}
			timeout := s.Timeout
			if timeout <= 0 {
				timeout = 30 * time.Second
			}
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			b.Run(t, ctx, s)
		})
	}
}

func query(t *testing.T, ctx context.Context, src progressive.MetricSource, q progressive.Query) progressive.Result {
	t.Helper()
	r, err := src.Query(ctx, q)
	if err != nil {
		t.Fatalf("Query(%q): %v", q.Expr, err)
	}
	return r
}

func name(t *testing.T, _ context.Context, s Setup) {
	if s.Source.Name() == "" {
		t.Error("Name() is empty: plans select sources by name")
	}
}

func value(t *testing.T, ctx context.Context, s Setup) {
	r := query(t, ctx, s.Source, s.Value)
	if r.Status != progressive.StatusValue {
		t.Fatalf("Query(%q): status %q, want %q", s.Value.Expr, r.Status, progressive.StatusValue)
	}
	if math.IsNaN(r.Value) || math.Abs(r.Value-s.Want) > s.Tolerance+1e-9*math.Abs(s.Want) {
		t.Errorf("Query(%q) = %g, want %g (tolerance %g)", s.Value.Expr, r.Value, s.Want, s.Tolerance)
	}
	if r.Time.IsZero() {
		t.Errorf("Query(%q): the result has no time", s.Value.Expr)
	}
}

func noData(t *testing.T, ctx context.Context, s Setup) {
	r := query(t, ctx, s.Source, s.NoData)
	if r.Status != progressive.StatusNoData {
		t.Errorf("Query(%q): status %q (value %g), want %q: an absent series must never read as a number", s.NoData.Expr, r.Status, r.Value, progressive.StatusNoData)
	}
}

func nan(t *testing.T, ctx context.Context, s Setup) {
	r := query(t, ctx, s.Source, s.NaN)
	if r.Status != progressive.StatusNaN {
		t.Errorf("Query(%q): status %q (value %g), want %q", s.NaN.Expr, r.Status, r.Value, progressive.StatusNaN)
	}
}

func invalid(t *testing.T, ctx context.Context, s Setup) {
	_, err := s.Source.Query(ctx, s.Invalid)
	switch {
	case err == nil:
		t.Errorf("Query(%q): no error, want one wrapping progressive.ErrInvalid", s.Invalid.Expr)
	case !errors.Is(err, progressive.ErrInvalid):
		t.Errorf("Query(%q): %v, want an error wrapping progressive.ErrInvalid", s.Invalid.Expr, err)
	case errors.Is(err, progressive.ErrTransient):
		t.Errorf("Query(%q): %v is also transient: a bad query does not get better by retrying", s.Invalid.Expr, err)
	}
}

func transient(t *testing.T, ctx context.Context, s Setup) {
	if s.Down == nil {
		t.Skip("metrictest: Setup.Down not given")
	}
	down := s.Down(t)
	for _, q := range []progressive.Query{s.Value, s.NoData} {
		_, err := down.Query(ctx, q)
		switch {
		case err == nil:
			t.Errorf("Query(%q) on an unreachable backend: no error", q.Expr)
		case !errors.Is(err, progressive.ErrTransient):
			t.Errorf("Query(%q) on an unreachable backend: %v, want an error wrapping progressive.ErrTransient", q.Expr, err)
		case errors.Is(err, progressive.ErrInvalid):
			t.Errorf("Query(%q) on an unreachable backend: %v is also invalid: a blip must not fail a rollout fast", q.Expr, err)
		}
	}
}

func cancelled(t *testing.T, ctx context.Context, s Setup) {
	ctx, cancel := context.WithCancel(ctx)
	cancel()
	start := time.Now()
	r, err := s.Source.Query(ctx, s.Value)
	if err == nil {
		t.Errorf("Query(%q) with a cancelled context: %+v, want an error", s.Value.Expr, r)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Query with a cancelled context took %s", d)
	}
}

func severalSeries(t *testing.T, ctx context.Context, s Setup) {
	if s.SeveralSeries == nil {
		t.Skip("metrictest: Setup.SeveralSeries not given")
	}
	_, err := s.Source.Query(ctx, *s.SeveralSeries)
	if !errors.Is(err, progressive.ErrInvalid) {
		t.Errorf("Query(%q): %v, want an error wrapping progressive.ErrInvalid naming the series", s.SeveralSeries.Expr, err)
	}
}
