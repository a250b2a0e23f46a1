package strategy_test

import (
	"encoding/binary"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/strategy"
)

// floats decodes raw as little-endian float64s, so the fuzzer reaches NaN, ±Inf,
// subnormals and lists longer than MaxPhases.
func floats(raw []byte) []float64 {
	var fs []float64
	for len(raw) >= 8 {
		fs = append(fs, math.Float64frombits(binary.LittleEndian.Uint64(raw)))
		raw = raw[8:]
	}
	return fs
}

func encode(fs ...float64) []byte {
	var b []byte
	for _, f := range fs {
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(f))
	}
	return b
}

// FuzzCanaryPlan: whatever the weights and durations, Canary.Plan never panics, and
// returns either a plan that validates or a *progressive.ValidationError wrapping
// ErrInvalid. go test runs the guide corpus; go test -fuzz FuzzCanaryPlan explores.
func FuzzCanaryPlan(f *testing.F) {
	f.Add(encode(10, 50, 100), 0.0, 0.0, int64(15*time.Minute), 1, false, "")
	f.Add(encode(), 10.0, 50.0, int64(time.Minute), 0, false, "gate")
	f.Add(encode(), 1e-300, 100.0, int64(0), 0, true, "")
	f.Add(encode(math.NaN(), math.Inf(1), -0.0), math.Inf(-1), math.NaN(), int64(-1), -5, true, "g")
	f.Add(encode(100), 0.0, 0.0, int64(math.MaxInt64), math.MaxInt, true, "")
	f.Add(encode(seq(0.5, 150)...), 0.0, 0.0, int64(math.MinInt64), math.MinInt, false, "")
	f.Add(encode(5, 25, 50, 100), 0.0, 0.0, int64(30*time.Minute), 0, false, "")
	f.Add(encode(), 33.3, 99.9, int64(time.Second), 3, false, "")
	f.Add(encode(), 0.0, 50.0, int64(time.Second), 3, false, "")
	// 100 weights below 100 plus fullSoak once made a 101-phase plan.
	f.Add(encode(seq(0.5, 100)...), 0.0, 0.0, int64(time.Minute), 0, true, "")

	f.Fuzz(func(t *testing.T, raw []byte, step, max float64, soak int64, replicas int, fullSoak bool, gate string) {
		c := strategy.Canary{
			Weights:           floats(raw),
			StepWeight:        step,
			MaxWeight:         max,
			Soak:              time.Duration(soak),
			FullSoak:          fullSoak,
			Replicas:          replicas,
			PromotionApproval: gate,
			Checks:            checks,
		}
		p, err := c.Plan(target, release)
		if err != nil {
			var ve *progressive.ValidationError
			if !errors.As(err, &ve) || !errors.Is(err, progressive.ErrInvalid) || len(ve.Problems) == 0 {
				t.Fatalf("error is not a validation error: %T %v", err, err)
			}
			if len(p.Steps) != 0 {
				t.Fatalf("a plan came with the error: %+v", p)
			}
			return
		}
		if verr := p.Validate(); verr != nil {
			t.Fatalf("Plan returned an invalid plan for %+v: %v", c, verr)
		}
		if len(p.Steps) > 2*strategy.MaxPhases+4 {
			t.Fatalf("plan has %d steps", len(p.Steps))
		}
		if p.Strategy != strategy.NameCanary || p.Reason == "" {
			t.Fatalf("strategy %q, reason %q", p.Strategy, p.Reason)
		}
	})
}
