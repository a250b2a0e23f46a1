package rollout

import (
	"time"

	"github.com/agentops/progressive"
)

// The record's structured fields (Decision.CanaryWeight and FlagPercent,
// Solution.CheckSpecs) say in values what its sentences say in words, so that
// programs reading a record (the timeline, exports) need not parse prose that
// people are free to reword.

// checkSpecs lists every check the plan can measure, each once by name, with
// its defaults applied: what each analysis actually judged against.
func checkSpecs(plan progressive.Plan) []progressive.Check {
	seen := map[string]bool{}
	var out []progressive.Check
	add := func(cs []progressive.Check) {
		for _, c := range cs {
			if seen[c.Name] {
				continue
			}
			seen[c.Name] = true
			out = append(out, c.WithDefaults())
		}
	}
	add(plan.Checks)
	for _, s := range plan.Steps {
		if s.Analyze != nil {
			add(s.Analyze.Checks)
		}
	}
	return out
}

// exposure is the traffic state a decision left in effect; a nil field was
// not changed by it.
type exposure struct {
	canaryWeight *float64
	flagPercent  *float64
}

// decideExposure records a decision that changed how many requests or users
// meet the new release.
func (st *State) decideExposure(now time.Time, action, reason string, e exposure) {
	st.decide(now, action, reason)
	d := &st.Record.Decisions[len(st.Record.Decisions)-1]
	d.CanaryWeight, d.FlagPercent = e.canaryWeight, e.flagPercent
}

// afterRollback is the exposure a finished rollback leaves: the routes as last
// read back (all on stable), every flag this rollout set back at 0%.
func afterRollback(a Applied) exposure {
	var e exposure
	if a.Routes != nil {
		e.canaryWeight = progressive.Float(a.Routes.CanaryWeight)
	}
	if len(a.Flags) > 0 {
		var pct float64
		for _, f := range a.Flags {
			pct = max(pct, f.Percent)
		}
		e.flagPercent = &pct
	}
	return e
}
