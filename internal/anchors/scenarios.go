package anchors

import (
	"time"

	"github.com/agentops/progressive/internal/livecanary"
)

// RestartAfter is when the restart scenario kills the controller: 15 s after
// the canary first took traffic, mid-analysis for every tool (between
// Flagger's and Argo's 10 s ticks, inside progressive's first analysis).
const RestartAfter = 15 * time.Second

// ConcurrentRollouts is how many rollouts the concurrent scenario runs at
// once in one namespace, under one controller (one driver per rollout for
// progressive).
const ConcurrentRollouts = 10

// Scenarios are the comparison's scenarios, in the table's order: a healthy
// canary (0.5% errors); a regression to 10% errors starting the moment the
// VirtualService shows 20%, and 50%; a canary that gets no traffic (no
// data); a healthy canary whose controller is SIGKILLed mid-analysis and
// started again at once; and 10 healthy rollouts at once.
//
// Every regression crosses the absolute threshold (10% errors against "at
// most 2%"): none is only relative to stable, which no tool was asked to
// see.
func Scenarios() []Scenario {
	return []Scenario{
		{Name: "healthy", Canary: livecanary.Healthy},
		{Name: "regress-20", Canary: livecanary.Healthy, RegressAt: 20, Regression: livecanary.Regressed},
		{Name: "regress-50", Canary: livecanary.Healthy, RegressAt: 50, Regression: livecanary.Regressed},
		{Name: "no-data", Canary: livecanary.Silent},
		{Name: "restart", Canary: livecanary.Healthy, RestartAfter: RestartAfter},
		{Name: "concurrent-10", Canary: livecanary.Healthy, Rollouts: ConcurrentRollouts},
	}
}
