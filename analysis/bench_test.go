package analysis_test

import (
	"context"
	"testing"
	"time"

	"github.com/agentops/progressive"
)

// staticSource answers every query at once with the same value.
type staticSource float64

func (staticSource) Name() string { return "static" }

func (s staticSource) Query(_ context.Context, q progressive.Query) (progressive.Result, error) {
	return progressive.Result{Status: progressive.StatusValue, Value: float64(s), Time: q.Time}, nil
}

// BenchmarkTick measures one Tick of three due checks (threshold, baseline ratio,
// warn), the engine's own cost with an instant source.
func BenchmarkTick(b *testing.B) {
	checks := []progressive.Check{
		errorRate(),
		{Name: "latency", Query: `histogram_quantile(0.99, rate(latency_bucket{service="{{.Service}}",version="{{.Version}}"}[{{.Interval}}]))`,
			Max: progressive.Float(1.2), Baseline: &progressive.Baseline{Mode: progressive.BaselineRatio}},
		{Name: "cpu", Query: `avg(rate(cpu_seconds_total{version="{{.Version}}"}[{{.Interval}}]))`, Max: progressive.Float(80), Severity: progressive.SeverityWarn},
	}
	e := newEngine(b, staticSource(0.5), nil)
	st := e.Begin(checks, t0, t0.Add(1000*time.Hour))
	ctx := context.Background()
	now := t0
	b.ReportAllocs()
	for b.Loop() {
		res, err := e.Tick(ctx, checks, testVars, &st, now)
		if err != nil || len(res.Measurements) != 3 {
			b.Fatalf("tick: %v, %d measurements", err, len(res.Measurements))
		}
		now = now.Add(time.Minute)
	}
}
