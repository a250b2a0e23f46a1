package strategy_test

import (
	"errors"
	"testing"
	"time"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/strategy"
)

// FuzzStrategyPlans: the strategies other than Canary (FuzzCanaryPlan) from
// fuzzed numbers: each Plan either returns a plan that validates, within the
// size limits, or a *ValidationError wrapping ErrInvalid with no plan; never a
// panic.
func FuzzStrategyPlans(f *testing.F) {
	f.Add(uint8(0), 10, 3, 25.0, int64(30*time.Second), 1, 1, 5.0, 10.0, "x-version")
	f.Add(uint8(1), 30, 0, 0.0, int64(0), strategy.NoPods, strategy.NoPods, -1.0, 0.0, "")
	f.Add(uint8(2), 0, 0, 0.0, int64(time.Hour), 0, 0, 0.0, 100.0, "beta")
	f.Add(uint8(3), -1, -1, -1.0, int64(-1), -2, -2, 101.0, -1.0, "x y")
	f.Add(uint8(4), 100000, 1, 1e-9, int64(1<<62), 100001, 100001, 1e308, 12.3456, "k")
	f.Fuzz(func(t *testing.T, which uint8, replicas, batch int, pct float64, d int64, surge, unavail int, budget, share float64, name string) {
		dur := time.Duration(d)
		chk := []progressive.Check{{Name: "error-rate", Query: "error_rate", Max: progressive.Float(1)}}
		var s progressive.Strategy
		switch which % 5 {
		case 0:
			s = strategy.BlueGreen{Replicas: replicas, Monitor: dur, DecommissionDelay: dur / 2, ManualApproval: name, Checks: chk}
		case 1:
			s = strategy.Rolling{Replicas: replicas, BatchSize: batch, BatchPercent: pct, Pace: dur, MaxSurge: surge, MaxUnavailable: unavail, ReadinessBudget: budget}
		case 2:
			s = strategy.ABTest{Matches: []progressive.Match{{Kind: progressive.MatchHeader, Name: name, Value: "green"}}, Duration: dur, Replicas: replicas, Checks: chk}
		case 3:
			s = strategy.Mirror{Percent: share, Duration: dur, Replicas: replicas, Checks: chk}
		case 4:
			s = strategy.FlagRollout{Flag: progressive.FlagRef{Key: name}, Variation: "on", Fallback: "off", Percentages: []float64{pct, share, 100}, Soak: dur, Checks: chk}
		}
		p, err := s.Plan(progressive.Target{Namespace: "production", Name: "payment-service"}, progressive.Release{Version: "v2.0.0"})
		if err != nil {
			var ve *progressive.ValidationError
			if !errors.As(err, &ve) || !errors.Is(err, progressive.ErrInvalid) || len(ve.Problems) == 0 {
				t.Fatalf("%s: not a validation error: %T %v", s.Name(), err, err)
			}
			if len(p.Steps) != 0 {
				t.Fatalf("%s: a plan came with the error", s.Name())
			}
			return
		}
		if verr := p.Validate(); verr != nil {
			t.Fatalf("%s: Plan returned an invalid plan for %+v: %v", s.Name(), s, verr)
		}
		if len(p.Steps) > 2*strategy.MaxBatches+4 || p.Strategy != s.Name() || p.Reason == "" {
			t.Fatalf("%s: %d steps, strategy %q, reason %q", s.Name(), len(p.Steps), p.Strategy, p.Reason)
		}
	})
}
