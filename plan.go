package progressive

import (
	"time"
)

// HookPhase says when the runner calls a hook.
type HookPhase string

const (
	HookPreRollout   HookPhase = "pre-rollout"
	HookPrePromotion HookPhase = "pre-promotion"
	HookPostRollout  HookPhase = "post-rollout"
	HookOnRollback   HookPhase = "on-rollback"
)

// Defaults for webhooks.
const (
	DefaultHookTimeout = 10 * time.Second
	DefaultHookRetries = 2
)

// HookSpec names a hook. With a URL the runner POSTs a signed JSON payload to it;
// without one it calls the Go hook registered under Name.
type HookSpec struct {
	Name string `json:"name"`
	// Phase is set for lifecycle hooks and empty when the hook is a plan step.
	Phase HookPhase `json:"phase,omitempty"`
	URL   string    `json:"url,omitempty"`
	// Timeout of one attempt. Default 10s.
	Timeout time.Duration `json:"timeout,omitempty"`
	// Retries after a failed attempt (transient failures only). Default 2; -1 for none.
	Retries  int               `json:"retries,omitempty"`
	Metadata map[string]string `json:"metadata,omitempty"`
}

// DeployStep brings the canary up beside stable with the plan's release.
type DeployStep struct {
	Replicas int `json:"replicas"`
	// ReadyTimeout bounds the wait for every canary pod to be ready. Default 10m
	// (Kubernetes' default progressDeadlineSeconds).
	ReadyTimeout time.Duration `json:"readyTimeout,omitempty"`
}

// SetWeightStep sends Weight percent of requests to the canary.
type SetWeightStep struct {
	Weight float64 `json:"weight"`
}

// SetRoutesStep establishes header or cookie matches and mirroring (A/B tests and
// shadow traffic); the weights come from Routes too.
type SetRoutesStep struct {
	Routes Routes `json:"routes"`
}

// SwitchStep moves all traffic to one side in one write (blue-green).
type SwitchStep struct {
	To Role `json:"to"`
}

// ScaleStep sets the canary's pod count (a replica canary without a mesh).
type ScaleStep struct {
	Replicas int `json:"replicas"`
}

// SetFlagStep serves Variation to Percent of users and Fallback to the rest.
type SetFlagStep struct {
	Flag      FlagRef `json:"flag"`
	Variation string  `json:"variation"`
	Fallback  string  `json:"fallback"`
	Percent   float64 `json:"percent"`
	// Targets (context keys) and Segments (the store's segments) receive
	// Variation whatever Percent says: a "these users first" stage. They need
	// a store that is a FlagTargeter; a rollback removes what the step added.
	Targets  []string `json:"targets,omitempty"`
	Segments []string `json:"segments,omitempty"`
}

// PauseStep waits, with no analysis.
type PauseStep struct {
	Duration time.Duration `json:"duration"`
}

// AnalyzeStep soaks for Duration while measuring Checks (the plan's checks when empty).
type AnalyzeStep struct {
	Duration time.Duration `json:"duration"`
	Checks   []Check       `json:"checks,omitempty"`
}

// ApprovalStep waits until the approver says yes; no rolls back.
type ApprovalStep struct {
	Gate string `json:"gate"`
	// Timeout, when positive, rolls back if no answer came in time.
	Timeout time.Duration `json:"timeout,omitempty"`
}

// HookStep runs a hook (smoke tests, a migration Job); its failure rolls back.
type HookStep struct {
	Hook HookSpec `json:"hook"`
}

// RollStep updates pods in place until Updated run the new release, then waits for
// them to pass readiness.
type RollStep struct {
	Updated int           `json:"updated"`
	Params  RollingParams `json:"params"`
	// ReadinessBudget is the share of all pods, in percent, allowed to fail
	// readiness; more undoes the update (the guide's "> 5% pods fail readiness").
	ReadinessBudget float64 `json:"readinessBudget"`
	// ReadyTimeout bounds the wait for the batch. Default 10m.
	ReadyTimeout time.Duration `json:"readyTimeout,omitempty"`
}

// PromoteStep makes stable take the canary's release and waits until it is ready.
type PromoteStep struct {
	ReadyTimeout time.Duration `json:"readyTimeout,omitempty"`
}

// FinalizeStep returns all traffic to the (now promoted) stable side, removes what
// the router added and scales the canary away.
type FinalizeStep struct{}

// Step is one action of a plan. Exactly one of its action fields is set.
type Step struct {
	Name      string         `json:"name,omitempty"`
	Deploy    *DeployStep    `json:"deploy,omitempty"`
	SetWeight *SetWeightStep `json:"setWeight,omitempty"`
	SetRoutes *SetRoutesStep `json:"setRoutes,omitempty"`
	Switch    *SwitchStep    `json:"switch,omitempty"`
	Scale     *ScaleStep     `json:"scale,omitempty"`
	SetFlag   *SetFlagStep   `json:"setFlag,omitempty"`
	Pause     *PauseStep     `json:"pause,omitempty"`
	Analyze   *AnalyzeStep   `json:"analyze,omitempty"`
	Approval  *ApprovalStep  `json:"approval,omitempty"`
	Hook      *HookStep      `json:"hook,omitempty"`
	Roll      *RollStep      `json:"roll,omitempty"`
	Promote   *PromoteStep   `json:"promote,omitempty"`
	Finalize  *FinalizeStep  `json:"finalize,omitempty"`
}

// StepKind names the action of a step.
type StepKind string

const (
	KindDeploy    StepKind = "deploy"
	KindSetWeight StepKind = "setWeight"
	KindSetRoutes StepKind = "setRoutes"
	KindSwitch    StepKind = "switch"
	KindScale     StepKind = "scale"
	KindSetFlag   StepKind = "setFlag"
	KindPause     StepKind = "pause"
	KindAnalyze   StepKind = "analyze"
	KindApproval  StepKind = "approval"
	KindHook      StepKind = "hook"
	KindRoll      StepKind = "roll"
	KindPromote   StepKind = "promote"
	KindFinalize  StepKind = "finalize"
)

// kinds lists the step's set actions; Validate insists on exactly one.
func (s Step) kinds() []StepKind {
	var k []StepKind
	add := func(set bool, kind StepKind) {
		if set {
			k = append(k, kind)
		}
	}
	add(s.Deploy != nil, KindDeploy)
	add(s.SetWeight != nil, KindSetWeight)
	add(s.SetRoutes != nil, KindSetRoutes)
	add(s.Switch != nil, KindSwitch)
	add(s.Scale != nil, KindScale)
	add(s.SetFlag != nil, KindSetFlag)
	add(s.Pause != nil, KindPause)
	add(s.Analyze != nil, KindAnalyze)
	add(s.Approval != nil, KindApproval)
	add(s.Hook != nil, KindHook)
	add(s.Roll != nil, KindRoll)
	add(s.Promote != nil, KindPromote)
	add(s.Finalize != nil, KindFinalize)
	return k
}

// Kind returns the step's action, or "" when none or several are set.
func (s Step) Kind() StepKind {
	if k := s.kinds(); len(k) == 1 {
		return k[0]
	}
	return ""
}

// InconclusivePolicy decides what an inconclusive analysis does.
type InconclusivePolicy string

const (
	// RollbackOnInconclusive rolls back: never promote on missing data (default).
	RollbackOnInconclusive InconclusivePolicy = "rollback"
	// HoldOnInconclusive pauses the rollout at its current traffic until a person
	// promotes, rolls back or resumes it.
	HoldOnInconclusive InconclusivePolicy = "hold"
)

// ProviderNames choose, by name, which of the runner's providers a plan uses. Empty
// means the runner's only provider of that kind.
type ProviderNames struct {
	Router   string `json:"router,omitempty"`
	Metrics  string `json:"metrics,omitempty"`
	Flags    string `json:"flags,omitempty"`
	Workload string `json:"workload,omitempty"`
}

// Plan is a rollout as a value: what changes, how, and what is watched.
type Plan struct {
	// Name identifies the rollout in state stores, events and records.
	Name string `json:"name"`
	// Strategy names the strategy that produced the plan; Reason says why it was
	// chosen, for the decision record.
	Strategy string  `json:"strategy"`
	Reason   string  `json:"reason,omitempty"`
	Target   Target  `json:"target"`
	Release  Release `json:"release"`
	// Providers select the runner's providers by name.
	Providers ProviderNames `json:"providers,omitempty"`
	// Checks are measured by analysis steps that list none of their own.
	Checks []Check    `json:"checks,omitempty"`
	Hooks  []HookSpec `json:"hooks,omitempty"`
	Steps  []Step     `json:"steps"`
	// OnInconclusive: rollback (default) or hold.
	OnInconclusive InconclusivePolicy `json:"onInconclusive,omitempty"`
	// Traffic, when set, is the request rate the service is expected to serve;
	// Explain warns where a weight cannot support a check's threshold.
	Traffic *TrafficEstimate `json:"traffic,omitempty"`
}

// ChecksFor returns the checks an analysis step measures.
func (p Plan) ChecksFor(step AnalyzeStep) []Check {
	if len(step.Checks) > 0 {
		return step.Checks
	}
	return p.Checks
}

// TotalDuration adds up the timed steps (pauses and analyses): the least time a
// healthy rollout takes.
func (p Plan) TotalDuration() time.Duration {
	var d time.Duration
	for _, s := range p.Steps {
		switch {
		case s.Pause != nil:
			d += s.Pause.Duration
		case s.Analyze != nil:
			d += s.Analyze.Duration
		}
	}
	return d
}
