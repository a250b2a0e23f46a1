package strategy

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/agentops/progressive"
)

// DefaultFlagSoak is the analysis time at each flag percentage: the design document's "1 day
// per phase".
const DefaultFlagSoak = 24 * time.Hour

// defaultFlagPercentages are the design document's 1% -> 10% -> 50% -> 100%.
var defaultFlagPercentages = []float64{1, 10, 50, 100}

// FlagRollout releases code that is already deployed (behind a flag that is off)
// by serving Variation to a growing share of users, analyzing the checks for Soak
// at each share.
//
//	[SetFlag{0%, Targets, Segments} -> Pause{TargetSoak} [-> Approval{TargetGate}]]
//	(SetFlag{p} -> Analyze{Soak}) for each p < 100 -> SetFlag{100} [-> Analyze{Soak}]
//
// With Targets or Segments, named users (staff, a beta-testers segment) receive
// Variation first, before any percentage, and keep it through the percentages.
// That first stage is a soak without analysis, on purpose: a handful of users
// makes too few requests for an error rate or a latency quantile to mean
// anything, and checks that see no data never pass (an analysis there could only
// end inconclusive and roll back). What the targeted users report is judged by a
// person (TargetGate) or by time (TargetSoak); the percentage stages after it are
// analyzed as usual. The store must be a progressive.FlagTargeter; a rollback
// removes the keys and segment rules the rollout added, along with the
// percentage; after a completed rollout they stay (they serve what everyone
// gets).
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
	// most 100. Default 1, 10, 50, 100 (the design document's pattern).
	Percentages []float64 `json:"percentages,omitempty"`
	// Soak is the analysis time at each percentage. Default 24h.
	Soak time.Duration `json:"soak,omitempty"`
	// Targets are context keys (user ids) that receive Variation first, before
	// the first percentage. Optional.
	Targets []string `json:"targets,omitempty"`
	// Segments are segments of the flag store whose members receive Variation
	// first, with Targets. Optional.
	Segments []string `json:"segments,omitempty"`
	// TargetSoak is how long the targeted users alone receive Variation before
	// the first percentage (a soak without analysis; see the type's comment).
	// Default: Soak. Used only with Targets or Segments.
	TargetSoak time.Duration `json:"targetSoak,omitempty"`
	// TargetGate, when set, names an approval gate after TargetSoak: a person
	// says whether the targeted users' experience allows the percentages.
	TargetGate string `json:"targetGate,omitempty"`
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
	if f.targeted() {
		f.TargetSoak = orDuration(f.TargetSoak, f.Soak)
	}
	return f
}

// targeted reports whether the rollout has a "these users first" stage.
func (f FlagRollout) targeted() bool { return len(f.Targets) > 0 || len(f.Segments) > 0 }

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
		v.add("percentages", fmt.Sprint(d.Percentages), "no percentage below 100 is left to analyze; add a smaller one or set fullSoak")
	}
	v.duration("soak", f.Soak)
	v.keys("targets", f.Targets, "a context key (a user id)")
	v.keys("segments", f.Segments, "the name of a segment of the flag store")
	v.duration("targetSoak", f.TargetSoak)
	if !f.targeted() {
		if f.TargetSoak != 0 {
			v.add("targetSoak", f.TargetSoak.String(), "is used only with targets or segments; set them or leave targetSoak unset")
		}
		if f.TargetGate != "" {
			v.add("targetGate", f.TargetGate, "is used only with targets or segments; set them or leave targetGate unset")
		}
	} else if f.TargetGate != "" {
		v.gate("targetGate", f.TargetGate)
	}
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
	if d.targeted() {
		// 0% of everyone else: a flag that was off is turned on for the
		// targeted users only.
		p.Steps = append(p.Steps,
			progressive.Step{Name: "flag-targets", SetFlag: &progressive.SetFlagStep{
				Flag: f.Flag, Variation: f.Variation, Fallback: f.Fallback, Percent: 0,
				Targets: slices.Clone(f.Targets), Segments: slices.Clone(f.Segments),
			}},
			progressive.Step{Name: "soak-targets", Pause: &progressive.PauseStep{Duration: d.TargetSoak}})
		if f.TargetGate != "" {
			p.Steps = append(p.Steps, progressive.Step{Name: "approve-targets", Approval: &progressive.ApprovalStep{Gate: f.TargetGate}})
		}
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
	fmt.Fprintf(&s, "Flag rollout: flag %s serves %q ", f.Flag, f.Variation)
	if d.targeted() {
		fmt.Fprintf(&s, "first to %s alone for %s without analysis (too few users for a meaningful measurement)", targetsPhrase(f.Targets, f.Segments), dur(d.TargetSoak))
		if f.TargetGate != "" {
			fmt.Fprintf(&s, " until gate %q approves", f.TargetGate)
		}
		s.WriteString(", then ")
	}
	fmt.Fprintf(&s, "to %s of users in turn, soaking %s with analysis at each share",
		pcts(d.Percentages), dur(d.Soak))
	if last := d.Percentages[len(d.Percentages)-1]; last == 100 && !d.FullSoak {
		s.WriteString(" below 100%")
	}
	back := fmt.Sprintf("sets the flag back to 0%% (everyone on %q) in one write", f.Fallback)
	if d.targeted() {
		back = fmt.Sprintf("removes the targets it added and sets the flag back to 0%% (everyone on %q)", f.Fallback)
	}
	fmt.Fprintf(&s, "; %s.", rollbackClause(f.Checks, f.OnInconclusive, back))
	p.Reason = s.String()
	return finish(p)
}

// targetsPhrase names who a targeting stage serves, briefly.
func targetsPhrase(keys, segments []string) string {
	var parts []string
	switch n := len(keys); {
	case n == 1:
		parts = append(parts, "user "+keys[0])
	case n > 1 && n <= 3:
		parts = append(parts, "users "+strings.Join(keys, ", "))
	case n > 3:
		parts = append(parts, fmt.Sprintf("%d targeted users", n))
	}
	if len(segments) > 0 {
		parts = append(parts, "segment(s) "+strings.Join(segments, ", "))
	}
	return strings.Join(parts, " and ")
}
