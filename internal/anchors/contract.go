package anchors

import (
	"context"
	"time"

	"github.com/agentops/progressive/internal/livecanary"
	"github.com/agentops/progressive/internal/promtest"
)

// Scenario is one canary every contender runs the same way: the App books
// 100 req/s for the service, split by the weights the tool's VirtualService
// shows, with Istio's standard metrics and the http_requests_total series.
type Scenario struct {
	// Name: "healthy", "regress-20", "regress-50", "no-data", "restart",
	// "concurrent-10".
	Name string
	// Canary is the canary's behaviour from the start (livecanary.Healthy,
	// livecanary.Silent).
	Canary promtest.Behavior
	// RegressAt, when positive, is the canary weight at which Regression
	// starts, the moment the VirtualService shows it.
	RegressAt  float64
	Regression promtest.Behavior
	// RestartAfter, when positive, kills the tool's controller (SIGKILL) that
	// long after the first analysis began and starts a new one at once.
	RestartAfter time.Duration
	// Rollouts is how many rollouts run at once (0 means 1).
	Rollouts int
}

// Outcome is how a run ended.
type Outcome string

// Outcomes. Held is reported apart from promoted and rolled back: the run
// ended (Timeout) with the rollout neither.
const (
	Promoted   Outcome = "promoted"
	RolledBack Outcome = "rolled back"
	Held       Outcome = "held"
)

// Run is what one contender measured in one scenario.
type Run struct {
	Tool     string // "Flagger v1.44.0", "Argo Rollouts v1.10.2", "progressive"
	Settings string // "defaults" or the tuning, printed with the table
	Scenario string
	Outcome  Outcome
	// StartedAt is when the new version was handed to the tool (the image
	// change, or rollout.Runner.Start); EndedAt when the tool reported the end.
	StartedAt, EndedAt time.Time
	// RegressedAt is when the regression began; BackOnStableAt when the
	// VirtualService next showed the canary at weight 0 (zero if never).
	RegressedAt, BackOnStableAt time.Time
	// Weights are the canary weights the VirtualService showed, in order.
	Weights []livecanary.WeightChange
	// KilledAt is when the controller was killed; NextCheckAt when the new
	// controller's first measurement (a Prometheus query) followed it.
	KilledAt, NextCheckAt time.Time
	// Requests are the tool's API requests (audit log, by user agent): per
	// advancing tick, per idle tick, and in all per rollout.
	AdvancingTickRequests, IdleTickRequests, RequestsPerRollout float64
	// RSSBytes is the controller's peak resident memory; CPUSeconds its CPU
	// time over the run.
	RSSBytes   int64
	CPUSeconds float64
	// Notes say anything the table should (a tool's message on no data, say).
	Notes []string
}

// Contender runs scenarios with one tool at one setting.
type Contender interface {
	// Tool and Settings name the row, e.g. "Flagger v1.44.0", "defaults".
	Tool() string
	Settings() string
	// Run runs sc in namespace ns on the stack and returns what it measured.
	// It ends the run itself (a rollout that neither promotes nor rolls back
	// within its bound is Held).
	Run(ctx context.Context, st *livecanary.Stack, ns string, sc Scenario) (Run, error)
}
