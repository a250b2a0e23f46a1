package strategy

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/agentops/progressive"
)

// Canary defaults.
const (
	// DefaultCanarySoak is the analysis time at each weight: the design document's "Monitor 15 min".
	DefaultCanarySoak = 15 * time.Minute
	// DefaultCanaryReplicas is the canary Deployment's pod count.
	DefaultCanaryReplicas = 1
	// DefaultMaxWeight is Flagger's maxWeight, used when only StepWeight is set.
	DefaultMaxWeight = 50.0
)

// defaultCanaryWeights are the design document's 10% -> 50% -> 100%.
var defaultCanaryWeights = []float64{10, 50, 100}

// Canary shifts a growing share of requests to the new version, analysing the
// checks for Soak at each share, and promotes it when every phase passed.
//
// The phases come from Weights (10, 50, 100) or, Flagger style, from StepWeight and
// MaxWeight (10, 20, 30, 40, 50, then promotion). The plan is
//
//	Deploy{Replicas} -> (SetWeight{w} -> Analyze{Soak}) for each w < 100
//	  -> [Approval{PromotionApproval}] -> Promote -> Finalize
//
// A final weight of 100 means "promote": there is no soak at 100% unless FullSoak
// asks for one (FullSoak adds SetWeight{100} -> Analyze{Soak} before promotion, even
// when the weights stop short of 100).
//
// Rollback is the runner's job: a failing check or a refused approval sets all
// traffic back to stable and scales the canary away. Without a service mesh a
// router can still honour the weights by replica ratio.
type Canary struct {
	// Weights are the canary's shares of requests, in percent, strictly increasing,
	// each above 0 and at most 100. Default 10, 50, 100 (the design document's example) when
	// neither Weights nor StepWeight/MaxWeight is set.
	Weights []float64 `json:"weights,omitempty"`
	// StepWeight and MaxWeight generate the weights the way Flagger does:
	// StepWeight, 2×StepWeight, ... up to MaxWeight (MaxWeight itself is the last
	// phase when it is not a multiple of StepWeight), then promotion. MaxWeight
	// defaults to 50 (Flagger's default). Mutually exclusive with Weights.
	StepWeight float64 `json:"stepWeight,omitempty"`
	MaxWeight  float64 `json:"maxWeight,omitempty"`
	// Soak is the analysis time at each weight. Default 15m.
	Soak time.Duration `json:"soak,omitempty"`
	// FullSoak also soaks at 100% before promotion.
	FullSoak bool `json:"fullSoak,omitempty"`
	// Checks are measured during every soak. Required: a canary with no check (or
	// only warn-only ones) could never roll back, so it is rejected.
	Checks []progressive.Check `json:"checks"`
	// Replicas is the canary Deployment's pod count. Default 1.
	Replicas int `json:"replicas,omitempty"`
	// PromotionApproval, when set, names an approval gate passed after the last
	// soak and before promotion; a "no" rolls back.
	PromotionApproval string `json:"promotionApproval,omitempty"`
	// ApprovalTimeout, when positive, rolls back if the gate got no answer in time.
	ApprovalTimeout time.Duration `json:"approvalTimeout,omitempty"`
	// Hooks are lifecycle hooks (pre-rollout, pre-promotion, post-rollout,
	// on-rollback: the design document's Slack notifications).
	Hooks []progressive.HookSpec `json:"hooks,omitempty"`
	// OnInconclusive: rollback (default) or hold.
	OnInconclusive progressive.InconclusivePolicy `json:"onInconclusive,omitempty"`
}

// Name returns "canary".
func (c Canary) Name() string { return NameCanary }

// WithDefaults returns the options with their documented defaults filled in
// (Weights stay empty when StepWeight or MaxWeight is set).
func (c Canary) WithDefaults() Canary {
	if len(c.Weights) == 0 && c.StepWeight == 0 && c.MaxWeight == 0 {
		c.Weights = append([]float64(nil), defaultCanaryWeights...)
	}
	if c.StepWeight != 0 && c.MaxWeight == 0 {
		c.MaxWeight = DefaultMaxWeight
	}
	c.Soak = orDuration(c.Soak, DefaultCanarySoak)
	c.Replicas = orInt(c.Replicas, DefaultCanaryReplicas)
	return c
}

// Validate reports every problem of the options, under field paths such as
// "canary.weights[1]".
func (c Canary) Validate() error {
	v := validator{prefix: "canary"}
	c.validate(&v)
	return v.err()
}

// Phases returns the weights the plan soaks at, in order, after defaults: the
// weights below 100, and 100 itself when FullSoak is set.
func (c Canary) Phases() ([]float64, error) {
	v := validator{prefix: "canary"}
	phases := c.validate(&v)
	return phases, v.err()
}

func (c Canary) validate(v *validator) []float64 {
	d := c.WithDefaults()
	weights := c.weights(v, d)
	v.duration("soak", c.Soak)
	v.replicas("replicas", c.Replicas)
	if c.PromotionApproval != "" {
		v.gate("promotionApproval", c.PromotionApproval)
	}
	v.duration("approvalTimeout", c.ApprovalTimeout)
	if c.ApprovalTimeout != 0 && c.PromotionApproval == "" {
		v.add("approvalTimeout", c.ApprovalTimeout.String(), "needs promotionApproval, the gate it bounds")
	}
	v.policy(c.OnInconclusive)
	v.checks(c.Checks, c.Hooks, true, "a canary")

	var phases []float64
	for _, w := range weights {
		if w < 100 {
			phases = append(phases, w)
		}
	}
	if d.FullSoak {
		phases = append(phases, 100)
		// 100 weights below 100 are accepted on their own; the soak at 100 makes one more.
		if len(phases) > MaxPhases {
			v.add("fullSoak", true, "adds a phase at 100 to %d weights below it; at most %d phases", len(phases)-1, MaxPhases)
			return nil
		}
	}
	if len(weights) > 0 && len(phases) == 0 {
		v.add("weights", fmt.Sprint(weights), "no weight below 100 is left to analyze; add a smaller weight or set fullSoak")
	}
	return phases
}

// weights resolves Weights or StepWeight/MaxWeight; nil when they are invalid.
func (c Canary) weights(v *validator, d Canary) []float64 {
	stepping := c.StepWeight != 0 || c.MaxWeight != 0
	if len(c.Weights) > 0 && stepping {
		v.add("weights", fmt.Sprint(c.Weights), "set either weights or stepWeight and maxWeight, not both")
		return nil
	}
	if !stepping {
		before := v.pr.Len()
		v.percents("weights", d.Weights)
		if v.pr.Len() > before {
			return nil
		}
		return d.Weights
	}
	before := v.pr.Len()
	step, maxW := d.StepWeight, d.MaxWeight
	if math.IsNaN(step) || step <= 0 || step > 100 {
		v.add("stepWeight", step, "must be above 0 and at most 100")
	}
	if math.IsNaN(maxW) || maxW <= 0 || maxW > 100 {
		v.add("maxWeight", maxW, "must be above 0 and at most 100")
	}
	if v.pr.Len() > before {
		return nil
	}
	if maxW < step {
		v.add("maxWeight", maxW, "must not be below stepWeight (%s)", pct(step))
		return nil
	}
	if n := math.Ceil(maxW / step); n > MaxPhases {
		v.add("stepWeight", step, "makes %g phases up to maxWeight %s; at most %d", n, pct(maxW), MaxPhases)
		return nil
	}
	var ws []float64
	for i := 1; ; i++ {
		w := step * float64(i)
		if w >= maxW-1e-9 {
			break
		}
		ws = append(ws, w)
	}
	return append(ws, maxW)
}

// Plan builds the canary plan for target and release.
func (c Canary) Plan(target progressive.Target, release progressive.Release) (progressive.Plan, error) {
	v := validator{prefix: "canary"}
	v.args(target, release, true)
	phases := c.validate(&v)
	if err := v.err(); err != nil {
		return progressive.Plan{}, err
	}
	d := c.WithDefaults()
	p := newPlan(NameCanary, target, release, c.Checks, c.Hooks, c.OnInconclusive)
	p.Steps = append(p.Steps, progressive.Step{Name: "deploy", Deploy: &progressive.DeployStep{Replicas: d.Replicas}})
	for _, w := range phases {
		p.Steps = append(p.Steps,
			progressive.Step{Name: "weight-" + pct(w), SetWeight: &progressive.SetWeightStep{Weight: w}},
			progressive.Step{Name: "analyze-" + pct(w), Analyze: &progressive.AnalyzeStep{Duration: d.Soak}},
		)
	}
	if c.PromotionApproval != "" {
		p.Steps = append(p.Steps, progressive.Step{Name: "approve-promotion", Approval: &progressive.ApprovalStep{Gate: c.PromotionApproval, Timeout: c.ApprovalTimeout}})
	}
	p.Steps = append(p.Steps,
		progressive.Step{Name: "promote", Promote: &progressive.PromoteStep{}},
		progressive.Step{Name: "finalize", Finalize: &progressive.FinalizeStep{}},
	)

	var b strings.Builder
	if len(phases) == 1 {
		fmt.Fprintf(&b, "Canary: %s takes %s of requests, soaking %s with analysis, then is promoted", release.Version, pcts(phases), dur(d.Soak))
	} else {
		fmt.Fprintf(&b, "Canary: %s takes %s of requests in turn, soaking %s with analysis at each step, then is promoted", release.Version, pcts(phases), dur(d.Soak))
	}
	if c.PromotionApproval != "" {
		fmt.Fprintf(&b, " once gate %q approves", c.PromotionApproval)
	}
	fmt.Fprintf(&b, "; %s", rollbackClause(c.Checks, c.OnInconclusive, "sets all traffic back to stable"))
	if c.PromotionApproval != "" {
		b.WriteString("; a refused approval rolls back as well")
	}
	b.WriteString(".")
	p.Reason = b.String()
	return finish(p)
}
