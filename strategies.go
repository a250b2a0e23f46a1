package progressive

import (
	"slices"
	"strings"
)

// The strategy names a Plan may carry (package strategy builds them). Plan.Strategy
// is one of these, or empty for a plan built by hand.
const (
	StrategyCanary      = "canary"
	StrategyBlueGreen   = "blue-green"
	StrategyRolling     = "rolling"
	StrategyABTest      = "ab-test"
	StrategyMirror      = "mirror"
	StrategyFlagRollout = "flag-rollout"
)

// StrategyNames lists the known strategy names, in a new slice each call.
func StrategyNames() []string {
	return []string{StrategyCanary, StrategyBlueGreen, StrategyRolling, StrategyABTest, StrategyMirror, StrategyFlagRollout}
}

// validateStrategyName refuses a name that is neither empty nor known: a typo
// must never run as some default, nor as an unnamed plan.
func validateStrategyName(pr *Problems, name string) {
	if name == "" || slices.Contains(StrategyNames(), name) {
		return
	}
	pr.Add("strategy", name, "unknown strategy; the known strategies are %s (empty for a plan built by hand)", strings.Join(StrategyNames(), ", "))
}
