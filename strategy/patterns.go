package strategy

import (
	"slices"
	"time"

	"github.com/agentops/progressive"
)

// The design document's common deployment patterns, ready-made. Each returns a strategy value
// whose fields can still be changed before Plan is called (Replicas, Hooks,
// OnInconclusive, ...). The checks are the caller's: the patterns fix the shape and
// the timing, never what is measured.

// StagedConservative is the design document's Pattern 1: canary 5% -> 25% -> 50% -> 100%,
// each stage a 30 minute soak with metrics validation.
func StagedConservative(checks []progressive.Check) Canary {
	return Canary{
		Weights: []float64{5, 25, 50, 100},
		Soak:    30 * time.Minute,
		Checks:  slices.Clone(checks),
	}
}

// Fast is the design document's Pattern 2: canary 10% -> 100%, a 10 minute validation.
func Fast(checks []progressive.Check) Canary {
	return Canary{
		Weights: []float64{10, 100},
		Soak:    10 * time.Minute,
		Checks:  slices.Clone(checks),
	}
}

// BlueGreenManualApproval is the design document's Pattern 3: deploy green -> auto-tests ->
// manual approval at gate -> switch traffic -> monitor 1 hour -> decommission blue.
// Set Replicas (blue's pod count) before planning, and add the auto-tests as
// Validation hooks.
func BlueGreenManualApproval(checks []progressive.Check, gate string) BlueGreen {
	return BlueGreen{
		ManualApproval: gate,
		Monitor:        time.Hour,
		Checks:         slices.Clone(checks),
	}
}

// FlagGradual is the design document's Pattern 4: code deployed with the flag off, then
// 1% -> 10% -> 50% -> 100% of users, 24 hours with metrics at each stage.
func FlagGradual(flag progressive.FlagRef, variation, fallback string, checks []progressive.Check) FlagRollout {
	return FlagRollout{
		Flag:        flag,
		Variation:   variation,
		Fallback:    fallback,
		Percentages: []float64{1, 10, 50, 100},
		Soak:        24 * time.Hour,
		Checks:      slices.Clone(checks),
	}
}
