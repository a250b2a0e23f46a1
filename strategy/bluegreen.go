package strategy

import (
	"fmt"
	"strings"
	"time"

	"github.com/agentops/progressive"
)

// BlueGreen defaults.
const (
	// DefaultMonitor is the analysis time after the switch. The design document's pattern
	// monitors for 1h; BlueGreenManualApproval uses that.
	DefaultMonitor = 15 * time.Minute
	// DefaultDecommissionDelay is how long blue stays up after the monitor, for an
	// instant switch-back.
	DefaultDecommissionDelay = 5 * time.Minute
)

// BlueGreen deploys the new version (green) beside the running one (blue) at full
// size, validates it without users, switches all traffic in one write, monitors it,
// and only then lets blue go.
//
//	[Hook{Migration}] -> Deploy{Replicas} -> Hook{v} for each Validation
//	  -> [Approval{ManualApproval}] -> Switch{To: canary} -> Analyze{Monitor}
//	  -> Pause{DecommissionDelay} -> Promote -> Finalize
//
// A failed migration or validation hook, or a refused approval, stops the rollout
// before any user reaches green. After the switch, rollback is the runner's job and
// one write: SetRoutes(AllStable()) sends everything back to blue, which is still
// running. Migrations must be backwards compatible (expand, then contract in a later
// release) so that blue can take the traffic back.
//
// Which pods serve at the end: Promote re-rolls blue (the stable Deployment) with
// green's release, and Finalize moves all traffic back to blue and scales green to
// zero. The pods that serve afterwards are therefore blue's new pods, started by
// the promotion, not the green pods the monitor watched: the same release and
// configuration, but not the same processes (a problem that only shows on fresh
// pods, or a node that cannot fit them, appears after the analysis). Argo Rollouts
// swaps instead: it keeps the monitored pods and retires the old side. That swap
// needs a workload that can relabel green as the new stable; none here does yet, so
// the plan's Explain says which pods serve, and a check on blue's pods after the
// promotion is the way to watch them (a post-rollout hook, or a second rollout).
type BlueGreen struct {
	// Replicas is green's pod count. Required: green carries all traffic after the
	// switch, so set it to blue's count (the design document's example runs 10 and 10); there is no
	// default that would be safe.
	Replicas int `json:"replicas"`
	// Migration, when set, runs first, before green exists (a schema migration
	// Job). It is a step hook: leave its Phase empty.
	Migration *progressive.HookSpec `json:"migration,omitempty"`
	// Validation hooks (smoke tests) run against green before the switch, in order.
	// Names must be distinct; leave their Phase empty.
	Validation []progressive.HookSpec `json:"validation,omitempty"`
	// ManualApproval, when set, names the approval gate passed before the switch.
	ManualApproval string `json:"manualApproval,omitempty"`
	// ApprovalTimeout, when positive, rolls back if the gate got no answer in time.
	ApprovalTimeout time.Duration `json:"approvalTimeout,omitempty"`
	// Monitor is the analysis time after the switch. Default 15m.
	Monitor time.Duration `json:"monitor,omitempty"`
	// Checks are measured while monitoring. Required: they are what switches back.
	Checks []progressive.Check `json:"checks"`
	// DecommissionDelay keeps blue up after a healthy monitor, for an instant
	// switch-back, before promotion retires it. Default 5m.
	DecommissionDelay time.Duration `json:"decommissionDelay,omitempty"`
	// Hooks are lifecycle hooks.
	Hooks []progressive.HookSpec `json:"hooks,omitempty"`
	// OnInconclusive: rollback (default) or hold.
	OnInconclusive progressive.InconclusivePolicy `json:"onInconclusive,omitempty"`
}

// Name returns "blue-green".
func (b BlueGreen) Name() string { return NameBlueGreen }

// WithDefaults returns the options with their documented defaults filled in.
func (b BlueGreen) WithDefaults() BlueGreen {
	b.Monitor = orDuration(b.Monitor, DefaultMonitor)
	b.DecommissionDelay = orDuration(b.DecommissionDelay, DefaultDecommissionDelay)
	return b
}

// Validate reports every problem of the options, under field paths such as
// "blueGreen.validation[0].url".
func (b BlueGreen) Validate() error {
	v := validator{prefix: "blueGreen"}
	b.validate(&v)
	return v.err()
}

func (b BlueGreen) validate(v *validator) {
	if b.Replicas < 1 {
		v.add("replicas", b.Replicas, "must be at least 1: green carries all traffic after the switch, so give it blue's replica count")
	}
	v.maxReplicas("replicas", b.Replicas)
	if b.Migration != nil {
		v.stepHook("migration", *b.Migration)
	}
	seen := map[string]bool{}
	for i, h := range b.Validation {
		f := fmt.Sprintf("validation[%d]", i)
		v.stepHook(f, h)
		if h.Name != "" && seen[h.Name] {
			v.add(f+".name", h.Name, "is used by another validation hook")
		}
		seen[h.Name] = true
	}
	if b.ManualApproval != "" {
		v.gate("manualApproval", b.ManualApproval)
	}
	v.duration("approvalTimeout", b.ApprovalTimeout)
	if b.ApprovalTimeout != 0 && b.ManualApproval == "" {
		v.add("approvalTimeout", b.ApprovalTimeout.String(), "needs manualApproval, the gate it bounds")
	}
	v.duration("monitor", b.Monitor)
	v.duration("decommissionDelay", b.DecommissionDelay)
	v.policy(b.OnInconclusive)
	v.checks(b.Checks, b.Hooks, true, "a blue-green rollout")
}

// Plan builds the blue-green plan for target and release.
func (b BlueGreen) Plan(target progressive.Target, release progressive.Release) (progressive.Plan, error) {
	v := validator{prefix: "blueGreen"}
	v.args(target, release, true)
	b.validate(&v)
	if err := v.err(); err != nil {
		return progressive.Plan{}, err
	}
	d := b.WithDefaults()
	p := newPlan(NameBlueGreen, target, release, b.Checks, b.Hooks, b.OnInconclusive)
	var before []string
	if b.Migration != nil {
		p.Steps = append(p.Steps, progressive.Step{Name: "migrate", Hook: &progressive.HookStep{Hook: *b.Migration}})
		before = append(before, fmt.Sprintf("migration %q runs first", b.Migration.Name))
	}
	p.Steps = append(p.Steps, progressive.Step{Name: "deploy-green", Deploy: &progressive.DeployStep{Replicas: b.Replicas}})
	var names []string
	for _, h := range b.Validation {
		p.Steps = append(p.Steps, progressive.Step{Name: "validate-" + h.Name, Hook: &progressive.HookStep{Hook: h}})
		names = append(names, h.Name)
	}
	if len(names) > 0 {
		before = append(before, fmt.Sprintf("validation (%s) must pass on green", strings.Join(names, ", ")))
	}
	if b.ManualApproval != "" {
		p.Steps = append(p.Steps, progressive.Step{Name: "approve-switch", Approval: &progressive.ApprovalStep{Gate: b.ManualApproval, Timeout: b.ApprovalTimeout}})
		before = append(before, fmt.Sprintf("gate %q must approve", b.ManualApproval))
	}
	p.Steps = append(p.Steps,
		progressive.Step{Name: "switch", Switch: &progressive.SwitchStep{To: progressive.Canary}},
		progressive.Step{Name: "monitor", Analyze: &progressive.AnalyzeStep{Duration: d.Monitor}},
		progressive.Step{Name: "keep-blue", Pause: &progressive.PauseStep{Duration: d.DecommissionDelay}},
		progressive.Step{Name: "promote", Promote: &progressive.PromoteStep{}},
		progressive.Step{Name: "finalize", Finalize: &progressive.FinalizeStep{}},
	)

	var s strings.Builder
	fmt.Fprintf(&s, "Blue-green: green (%s, %d replicas) is deployed beside blue", release.Version, b.Replicas)
	if len(before) > 0 {
		fmt.Fprintf(&s, ", and before any user reaches it %s", joinWords(before))
	}
	fmt.Fprintf(&s, "; then all traffic switches in one write and is monitored for %s, with blue kept %s longer for an instant switch-back. "+
		"A failed hook or a refused approval stops the rollout before the switch; after it, %s. "+
		"Promotion then re-rolls blue with %s and moves traffic back to it, so the pods serving at the end are blue's new pods, not the green pods that were monitored.",
		dur(d.Monitor), dur(d.DecommissionDelay),
		rollbackClause(b.Checks, b.OnInconclusive, "switches all traffic back to blue in one write"), release.Version)
	p.Reason = s.String()
	return finish(p)
}
