package flags

import (
	"context"
	"fmt"
	"math"
	"strings"

	"github.com/agentops/progressive"
)

// EnvironmentState is what one environment of a flag should serve.
type EnvironmentState struct {
	Environment string `json:"environment"`
	// On turns the flag on; a flag that is off serves its off variation to everyone.
	On bool `json:"on"`
	// Percent is the share of users served Variation; the rest get Fallback.
	Percent float64 `json:"percent"`
}

// Environments is one flag's desired state per environment, such as staging always
// on for everyone while production ramps:
//
//	flags.Environments{Key: "payment_gateway_v2", Variation: "on", Fallback: "off",
//		States: []flags.EnvironmentState{
//			{Environment: "staging", On: true, Percent: 100},
//			{Environment: "production", On: true, Percent: 10},
//		}}
//
// Plan compares it with what the store serves and lists the writes that remain;
// Apply makes them. Each environment is written independently of the others.
type Environments struct {
	Project   string             `json:"project,omitempty"`
	Key       string             `json:"key"`
	Variation string             `json:"variation"`
	Fallback  string             `json:"fallback"`
	States    []EnvironmentState `json:"states"`
}

// Change actions.
const (
	ActionSetRollout = "set-rollout"
	ActionTurnOn     = "turn-on"
	ActionTurnOff    = "turn-off"
)

// Change is one write of a plan: one request to the store.
type Change struct {
	Ref    progressive.FlagRef `json:"ref"`
	Action string              `json:"action"`
	// Percent is the new share of the variation (set-rollout only).
	Percent float64 `json:"percent,omitempty"`
	// Reason says what the store serves now and why the change is needed.
	Reason string `json:"reason"`
}

func (c Change) String() string {
	switch c.Action {
	case ActionSetRollout:
		return fmt.Sprintf("%s: serve %g%% (%s)", c.Ref, c.Percent, c.Reason)
	default:
		return fmt.Sprintf("%s: %s (%s)", c.Ref, strings.ReplaceAll(c.Action, "-", " "), c.Reason)
	}
}

// Validate reports every problem of e at once, as a *progressive.ValidationError.
func (e Environments) Validate() error {
	var p progressive.Problems
	if e.Key == "" {
		p.Add("key", nil, "must not be empty")
	}
	if e.Variation == "" {
		p.Add("variation", nil, "must not be empty")
	}
	switch {
	case e.Fallback == "":
		p.Add("fallback", nil, "must not be empty")
	case e.Fallback == e.Variation:
		p.Add("fallback", e.Fallback, "must differ from variation")
	}
	if len(e.States) == 0 {
		p.Add("states", nil, "must list at least one environment")
	}
	seen := map[string]bool{}
	for i, s := range e.States {
		f := fmt.Sprintf("states[%d]", i)
		switch {
		case s.Environment == "":
			p.Add(f+".environment", nil, "must not be empty")
		case seen[s.Environment]:
			p.Add(f+".environment", s.Environment, "is listed twice")
		}
		seen[s.Environment] = true
		if err := CheckPercent(s.Percent); err != nil {
			p.Add(f+".percent", s.Percent, "must be between 0 and 100")
		}
	}
	return p.Err()
}

// Ref returns the flag of one environment.
func (e Environments) Ref(environment string) progressive.FlagRef {
	return progressive.FlagRef{Project: e.Project, Environment: environment, Key: e.Key}
}

// Plan reads every environment and lists the writes that would bring it to its
// desired state, in the order Apply makes them: in each environment the rollout is
// set before the flag is turned on, and the flag is turned off before anything
// else. An environment already in its state needs no write. Reading stops at the
// first error (an unknown flag, an unknown variation).
func (e Environments) Plan(ctx context.Context, store progressive.FlagStore) ([]Change, error) {
	if err := e.Validate(); err != nil {
		return nil, fmt.Errorf("flag %s environments: %w", e.Key, err)
	}
	var out []Change
	for _, s := range e.States {
		ref := e.Ref(s.Environment)
		st, err := Read(ctx, store, ref, e.Variation)
		if err != nil {
			return nil, err
		}
		fb, err := Resolve(st.Flag, e.Fallback)
		if err != nil {
			return nil, err
		}
		current := fmt.Sprintf("now %s, %g%% %s", onOff(st.Flag.On), st.Percent, e.Variation)
		exact := math.Abs(st.Percent-s.Percent) < 1e-9 && math.Abs(WeightOf(st.Flag, st.Flag.Fallthrough, fb.ID)-(100-s.Percent)) < 1e-9
		if st.Flag.On && !s.On {
			out = append(out, Change{Ref: ref, Action: ActionTurnOff, Reason: current})
		}
		if !exact {
			out = append(out, Change{Ref: ref, Action: ActionSetRollout, Percent: s.Percent, Reason: current})
		}
		if !st.Flag.On && s.On {
			out = append(out, Change{Ref: ref, Action: ActionTurnOn, Reason: current})
		}
	}
	return out, nil
}

// Apply makes the writes of a plan in order and returns those that succeeded.
// It stops at the first failure: the error names the change, and a new Plan
// lists what is left.
func (e Environments) Apply(ctx context.Context, store progressive.FlagStore, changes []Change) ([]Change, error) {
	done := make([]Change, 0, len(changes))
	for _, c := range changes {
		var err error
		switch c.Action {
		case ActionSetRollout:
			err = SetPercent(ctx, store, c.Ref, e.Variation, e.Fallback, c.Percent)
		case ActionTurnOn:
			err = store.SetOn(ctx, c.Ref, true)
		case ActionTurnOff:
			err = store.SetOn(ctx, c.Ref, false)
		default:
			err = fmt.Errorf("unknown action %q: %w", c.Action, progressive.ErrInvalid)
		}
		if err != nil {
			return done, fmt.Errorf("apply %s (%d of %d done): %w", c, len(done), len(changes), err)
		}
		done = append(done, c)
	}
	return done, nil
}

// Sync plans and applies in one call, returning the changes made.
func (e Environments) Sync(ctx context.Context, store progressive.FlagStore) ([]Change, error) {
	plan, err := e.Plan(ctx, store)
	if err != nil {
		return nil, err
	}
	return e.Apply(ctx, store, plan)
}

func onOff(on bool) string {
	if on {
		return "on"
	}
	return "off"
}
