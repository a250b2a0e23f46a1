package strategy

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/agentops/progressive"
)

// DefaultFlagSoak is the analysis time at each flag percentage: the seed's "1 day
// per phase".
const DefaultFlagSoak = 24 * time.Hour

// defaultFlagPercentages are the seed's 1% -> 10% -> 50% -> 100%.
var defaultFlagPercentages = []float64{1, 10, 50, 100}

// FlagRollout releases code that is already deployed (behind a flag that is off)
// by serving Variation to a growing share of users, analysing the checks for Soak
// at each share.
//
//	(SetFlag{p} -> Analyze{Soak}) for each p < 100 -> SetFlag{100} [-> Analyze{Soak}]
//
// The last 100% is the release itself and is not soaked unless FullSoak asks for it.
// Rollback is the runner's job and one write to the flag store: 0% of Variation,
// everyone back on Fallback. There is no Deploy, Promote or Finalize step: the flag
// is the release.
type FlagRollout struct {
	// Flag is the flag whose fallthrough rollout changes. Its Key is required.
	Flag progressive.FlagRef `json:"flag"`
	// Variation is served to the rolled-out share, Fallback to everyone else. Both
	// are required and must differ (ids or names of the flag's variations).
	Variation string `json:"variation"`
	Fallback  string `json:"fallback"`
	// Percentages are the shares of users, strictly increasing, each above 0 and at
	// most 100. Default 1, 10, 50, 100 (the seed's pattern).
	Percentages []float64 `json:"percentages,omitempty"`
	// Soak is the analysis time at each percentage. Default 24h.
	Soak time.Duration `json:"soak,omitempty"`
	// FullSoak also soaks at 100%.
	FullSoak bool `json:"fullSoak,omitempty"`
	// Checks are measured during every soak. Required.
	Checks []progressive.Check `json:"checks"`
	// Hooks are lifecycle hooks.
	Hooks []progressive.HookSpec `json:"hooks,omitempty"`
	// OnInconclusive: rollback (default) or hold.
	OnInconclusive progressive.InconclusivePolicy `json:"onInconclusive,omitempty"`
}

// Name returns "flag-rollout".
func (f FlagRollout) Name() string { return NameFlagRollout }

// WithDefaults returns the options with their documented defaults filled in.
func (f FlagRollout) WithDefaults() FlagRollout {
	if len(f.Percentages) == 0 {
		f.Percentages = slices.Clone(defaultFlagPercentages)
	}
	f.Soak = orDuration(f.Soak, DefaultFlagSoak)
	return f
}

// Validate reports every problem of the options, under field paths such as
// "flagRollout.percentages[2]".
func (f FlagRollout) Validate() error {
	v := validator{prefix: "flagRollout"}
	f.validate(&v)
	return v.err()
}

func (f FlagRollout) validate(v *validator) {
	v.pr.Merge(v.field("flag"), f.Flag.Validate())
	if f.Variation == "" {
		v.add("variation", nil, "must not be empty: it is what the rolled-out users receive")
	}
	switch {
	case f.Fallback == "":
		v.add("fallback", nil, "must not be empty: it is what everyone else receives, and everyone after a rollback")
	case f.Fallback == f.Variation:
		v.add("fallback", f.Fallback, "must differ from variation")
	}
	d := f.WithDefaults()
	before := v.pr.Len()
	v.percents("percentages", d.Percentages)
	for i, p := range d.Percentages {
		// progressive.SetFlagStep's rule: flag stores split in thousandths of a
		// percent, and a finer share would be rounded by the store.
		if t := p * 1000; !math.IsNaN(t) && !math.IsInf(t, 0) && math.Abs(t-math.Round(t)) > 1e-6 {
			v.add(fmt.Sprintf("percentages[%d]", i), p, "must be a multiple of 0.001 (flag stores split in thousandths of a percent)")
		}
	}
	if v.pr.Len() == before && !d.FullSoak && len(d.Percentages) == 1 && d.Percentages[0] == 100 {
		v.add("percentages", fmt.Sprint(d.Percentages), "no percentage below 100 is left to analyse; add a smaller one or set fullSoak")
	}
	v.duration("soak", f.Soak)
	v.policy(f.OnInconclusive)
	v.checks(f.Checks, f.Hooks, true, "a flag rollout")
}

// Plan builds the flag rollout plan. The plan name is target.Name + "-" +
// release.Version, or target.Name + "-" + the flag key when release.Version is
// empty: a flag release need not have a version of its own.
func (f FlagRollout) Plan(target progressive.Target, release progressive.Release) (progressive.Plan, error) {
	v := validator{prefix: "flagRollout"}
	v.args(target, release, false)
	f.validate(&v)
	if err := v.err(); err != nil {
		return progressive.Plan{}, err
	}
	d := f.WithDefaults()
	p := newPlan(NameFlagRollout, target, release, f.Checks, f.Hooks, f.OnInconclusive)
	if release.Version == "" {
		p.Name = dnsLabel(target.Name, f.Flag.Key)
	}
	for _, pc := range d.Percentages {
		p.Steps = append(p.Steps, progressive.Step{Name: "flag-" + pct(pc), SetFlag: &progressive.SetFlagStep{
			Flag: f.Flag, Variation: f.Variation, Fallback: f.Fallback, Percent: pc,
		}})
		if pc < 100 || d.FullSoak {
			p.Steps = append(p.Steps, progressive.Step{Name: "analyze-" + pct(pc), Analyze: &progressive.AnalyzeStep{Duration: d.Soak}})
		}
	}
	var s strings.Builder
	fmt.Fprintf(&s, "Flag rollout: flag %s serves %q to %s of users in turn, soaking %s with analysis at each share",
		f.Flag, f.Variation, pcts(d.Percentages), dur(d.Soak))
	if last := d.Percentages[len(d.Percentages)-1]; last == 100 && !d.FullSoak {
		s.WriteString(" below 100%")
	}
	fmt.Fprintf(&s, "; %s.", rollbackClause(f.Checks, f.OnInconclusive, fmt.Sprintf("sets the flag back to 0%% (everyone on %q) in one write", f.Fallback)))
	p.Reason = s.String()
	return finish(p)
}
