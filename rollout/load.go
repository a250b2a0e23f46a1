package rollout

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"

	"github.com/agentops/progressive"
)

// load reads rollout id and refuses a state the runner must not act on: one
// stored under another id, whose plan no longer validates, or whose step index
// and counters are out of range. A store is trusted with availability, not with
// meaning: a hand-edited ConfigMap whose step index is past the end of its plan
// would otherwise be marked promoted, and a state copied under another id would
// be driven and saved as the wrong rollout. Nothing is changed when it refuses.
func (r *Runner) load(ctx context.Context, id string) (State, error) {
	st, err := r.opts.Store.Get(ctx, id)
	if err != nil {
		return State{}, fmt.Errorf("rollout %s: %w", id, err)
	}
	if err := st.validateLoaded(id); err != nil {
		return State{}, fmt.Errorf("rollout %s: the stored state cannot be acted on, nothing was changed: %w", id, err)
	}
	return st, nil
}

// validateLoaded reports every reason a loaded state is unusable.
func (s State) validateLoaded(id string) error {
	var p progressive.Problems
	if s.ID != id {
		p.Add("id", s.ID, "is not the id it was stored under (%q)", id)
	}
	if err := s.Plan.Validate(); err != nil {
		p.Merge("plan", err)
	}
	if s.Plan.Name != "" && s.Plan.Name != s.ID {
		p.Add("plan.name", s.Plan.Name, "is not the rollout's id %q", s.ID)
	}
	switch s.Phase {
	case PhaseProgressing, PhaseHeld, PhaseRollingBack, PhaseSucceeded, PhaseRolledBack, PhaseAborted:
	default:
		p.Add("phase", string(s.Phase), "is not a known phase")
	}
	steps := len(s.Plan.Steps)
	last := steps - 1
	if s.Phase.Terminal() {
		last = steps // a finished rollout's index is one past its last step
	}
	if s.Step.Index < 0 || s.Step.Index > last {
		p.Add("step.index", s.Step.Index, "must be within 0 and %d for a %s rollout of %d steps", last, s.Phase, steps)
	}
	if s.Step.Attempts < 0 {
		p.Add("step.attempts", s.Step.Attempts, "must not be negative")
	}
	if s.Phase == PhaseRollingBack && s.Rollback == nil {
		p.Add("rollback", nil, "a rolling-back rollout needs its rollback state")
	}
	if s.Rollback != nil && s.Rollback.Attempts < 0 {
		p.Add("rollback.attempts", s.Rollback.Attempts, "must not be negative")
	}
	if a := s.Step.Analysis; a != nil {
		step, ok := s.CurrentStep()
		switch {
		case !ok || step.Analyze == nil:
			p.Add("step.analysis", nil, "is set but step %d is not an analyze step", s.Step.Index)
		case len(a.Checks) != len(s.Plan.ChecksFor(*step.Analyze)):
			p.Add("step.analysis.checks", len(a.Checks), "must hold one state per check of the step (%d)", len(s.Plan.ChecksFor(*step.Analyze)))
		}
		for i, c := range a.Checks {
			if c.Measurements < 0 || c.Passes < 0 || c.Failures < 0 || c.Inconclusives < 0 || c.Warnings < 0 || c.Waiting < 0 ||
				c.ConsecutiveFailures < 0 || c.ConsecutiveInconclusives < 0 {
				p.Add(fmt.Sprintf("step.analysis.checks[%d]", i), c.Name, "has a negative counter")
			}
		}
	}
	for _, w := range []struct {
		field string
		v     float64
	}{{"applied.maxCanaryWeight", s.Applied.MaxCanaryWeight}, {"applied.maxFlagPercent", s.Applied.MaxFlagPercent}} {
		if !(w.v >= 0 && w.v <= 100) {
			p.Add(w.field, w.v, "must be within 0 and 100")
		}
	}
	return p.Err()
}

// newRunnerID names a Runner in its hook claims: random, so two processes (or
// two runners of one process) never share one.
func newRunnerID() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
