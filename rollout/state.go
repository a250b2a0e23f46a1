package rollout

import (
	"time"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/analysis"
)

// Phase is where a rollout stands.
type Phase string

const (
	// PhaseProgressing: steps are being executed.
	PhaseProgressing Phase = "progressing"
	// PhaseHeld: an inconclusive analysis or a person paused the rollout at its
	// current traffic; Resume, Promote, Rollback or Abort moves it on.
	PhaseHeld Phase = "held"
	// PhaseRollingBack: the rollback actions are being applied (and retried).
	PhaseRollingBack Phase = "rolling-back"
	// PhaseSucceeded: the release was promoted and the plan completed.
	PhaseSucceeded Phase = "succeeded"
	// PhaseRolledBack: traffic, flags and workloads are back on stable.
	PhaseRolledBack Phase = "rolled-back"
	// PhaseAborted: a person aborted; everything is back on stable.
	PhaseAborted Phase = "aborted"
)

// Terminal reports whether the rollout has ended.
func (p Phase) Terminal() bool {
	return p == PhaseSucceeded || p == PhaseRolledBack || p == PhaseAborted
}

// CommandKind is a manual instruction to a rollout.
type CommandKind string

const (
	CommandAbort    CommandKind = "abort"
	CommandRollback CommandKind = "rollback"
	CommandPromote  CommandKind = "promote"
	CommandResume   CommandKind = "resume"
)

// Command is stored with the state, so an instruction given to one process is
// carried out by whichever process drives the rollout.
type Command struct {
	Kind   CommandKind `json:"kind"`
	Reason string      `json:"reason,omitempty"`
	By     string      `json:"by,omitempty"`
	At     time.Time   `json:"at"`
}

// FlagApplied remembers a flag split the rollout wrote, so rollback can restore it.
type FlagApplied struct {
	Ref       progressive.FlagRef `json:"ref"`
	Variation string              `json:"variation"`
	Fallback  string              `json:"fallback"`
	Percent   float64             `json:"percent"`
	// WasOn is whether the flag was on before the rollout first touched it;
	// TurnedOn whether the rollout has turned it on since.
	WasOn    bool `json:"wasOn"`
	TurnedOn bool `json:"turnedOn,omitempty"`
	// Targets and Segments are what the rollout's steps added to the flag's
	// targeting (keys and segment rules that were not there before), stored
	// before the write: a rollback removes exactly these.
	Targets  []string `json:"targets,omitempty"`
	Segments []string `json:"segments,omitempty"`
}

// Applied records what the rollout changed, which is exactly what rollback undoes.
type Applied struct {
	Deployed bool                `json:"deployed,omitempty"`
	Routes   *progressive.Routes `json:"routes,omitempty"`
	Flags    []FlagApplied       `json:"flags,omitempty"`
	// Rolled is set once an in-place update started; PreviousRevision is where
	// Undo returns to.
	Rolled           bool  `json:"rolled,omitempty"`
	PreviousRevision int64 `json:"previousRevision,omitempty"`
	Promoted         bool  `json:"promoted,omitempty"`
	// MaxCanaryWeight is the largest share of traffic the canary carried.
	MaxCanaryWeight float64 `json:"maxCanaryWeight,omitempty"`
	// MaxFlagPercent is the largest flag share written.
	MaxFlagPercent float64 `json:"maxFlagPercent,omitempty"`
	// AnalysedSince is when the rollout's first analysis step began: the
	// anchor of every check's warm-up (progressive.Check.WarmUp), so that only a
	// fresh canary may be silent for a while, not one at its third weight.
	AnalysedSince time.Time `json:"analysedSince,omitzero"`
}

// StepState is the progress of the step in flight.
type StepState struct {
	Index     int       `json:"index"`
	StartedAt time.Time `json:"startedAt"`
	// Applied is set once the step's action was carried out; timed and polled
	// steps then wait.
	Applied bool `json:"applied,omitempty"`
	// Attempts counts failed transient attempts of the action.
	Attempts  int       `json:"attempts,omitempty"`
	LastError string    `json:"lastError,omitempty"`
	Deadline  time.Time `json:"deadline,omitempty"`
	// ClaimedAt is when a runner first took a deploy step on, stored with the
	// step's first write: its ReadyTimeout counts from here, whatever process
	// drives it later. Not from StartedAt, because a rollout may wait long
	// for a driver after Start (a thousand started at once); nor from any
	// later process's first look, because a rollout whose drivers crash or
	// lose their Lease would then never time out. Zero in states stored
	// before it existed (StartedAt is used).
	ClaimedAt time.Time `json:"claimedAt,omitzero"`
	// Analysis holds the counters of an analyze step.
	Analysis *analysis.State `json:"analysis,omitempty"`
	// LastPass is when each check last passed in this step: the earliest a
	// problem found later can have started.
	LastPass map[string]time.Time `json:"lastPass,omitempty"`
}

// RollbackState is the progress of a rollback, so a restart finishes it.
type RollbackState struct {
	Reason    string    `json:"reason"`
	DecidedAt time.Time `json:"decidedAt"`
	// Manual is set when a person asked for it; Abort marks an abort.
	Manual bool `json:"manual,omitempty"`
	Abort  bool `json:"abort,omitempty"`
	// Done lists the rollback actions completed (routes, flags, undo, canary, hooks).
	Done      []string `json:"done,omitempty"`
	Attempts  int      `json:"attempts,omitempty"`
	LastError string   `json:"lastError,omitempty"`
}

func (r *RollbackState) done(action string) bool {
	for _, d := range r.Done {
		if d == action {
			return true
		}
	}
	return false
}

// State is everything needed to resume a rollout exactly: the plan, the step in
// flight with its timers and analysis counters, what was applied, and the decision
// record so far. A StateStore persists it after every transition.
type State struct {
	ID    string           `json:"id"`
	Plan  progressive.Plan `json:"plan"`
	Phase Phase            `json:"phase"`
	Step  StepState        `json:"step"`
	// HooksRun lists lifecycle hooks already run (phase/name), so none runs twice.
	HooksRun []string `json:"hooksRun,omitempty"`
	// HooksClaimed lists the hooks a runner claimed, by saving this state,
	// before running them. Of two runners reconciling the same rollout, the one
	// whose claim loses the state conflict never runs the hook, and one that
	// finds another runner's fresh claim waits for it. A claim older than the
	// hook can take (its timeout times its attempts, plus a minute) is taken
	// over: a hook interrupted by a crash runs again. Hooks run at least once,
	// never twice at once.
	HooksClaimed []HookClaim    `json:"hooksClaimed,omitempty"`
	Applied      Applied        `json:"applied"`
	Rollback     *RollbackState `json:"rollback,omitempty"`
	Command      *Command       `json:"command,omitempty"`
	// StableVersion is the version stable ran when the rollout started, for
	// {{.Version}} in the stable side's queries.
	StableVersion string `json:"stableVersion,omitempty"`
	// HeldReason says why a held rollout waits.
	HeldReason string         `json:"heldReason,omitempty"`
	Record     DecisionRecord `json:"record"`
	StartedAt  time.Time      `json:"startedAt"`
	UpdatedAt  time.Time      `json:"updatedAt"`
	// Version is the store's revision, for optimistic concurrency.
	Version int64 `json:"version"`
}

// HookClaim says which runner started a hook, and when.
type HookClaim struct {
	// Key is phase/name for lifecycle hooks, step/<index>/<name> for hook steps.
	Key   string    `json:"key"`
	Owner string    `json:"owner"`
	At    time.Time `json:"at"`
}

func (s *State) hookRun(key string) bool {
	for _, h := range s.HooksRun {
		if h == key {
			return true
		}
	}
	return false
}

// CurrentStep returns the step in flight, if any.
func (s *State) CurrentStep() (progressive.Step, bool) {
	if s.Step.Index < 0 || s.Step.Index >= len(s.Plan.Steps) {
		return progressive.Step{}, false
	}
	return s.Plan.Steps[s.Step.Index], true
}
