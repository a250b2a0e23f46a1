package strategy

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/agentops/progressive"
)

// ABTest and Mirror defaults.
const (
	// DefaultABTestDuration is how long an A/B segment is analyzed.
	DefaultABTestDuration = time.Hour
	// DefaultMirrorDuration is how long mirrored traffic is analyzed, like a canary soak.
	DefaultMirrorDuration = 15 * time.Minute
	// DefaultMirrorPercent mirrors every request.
	DefaultMirrorPercent = 100.0
	// DefaultSegmentReplicas is the new version's pod count for A/B tests and mirrors.
	DefaultSegmentReplicas = 1
)

// ABTest sends the requests that carry a header or cookie (x-version: green, a
// beta-tester cookie) to the new version, and every other request to stable, then
// promotes when the segment stayed healthy for Duration.
//
//	Deploy{Replicas} -> SetRoutes{StableWeight: 100, Matches} -> Analyze{Duration}
//	  -> Promote -> Finalize
//
// The router must support header or cookie matches (Istio, Gateway API); a failing
// check sets the routes back to all-stable, which drops the matches too.
type ABTest struct {
	// Matches select the segment. Required; each is a header or cookie match.
	Matches []progressive.Match `json:"matches"`
	// Duration is the analysis time. Default 1h.
	Duration time.Duration `json:"duration,omitempty"`
	// Checks are measured on the segment. Required.
	Checks []progressive.Check `json:"checks"`
	// Replicas is the new version's pod count. Default 1.
	Replicas int `json:"replicas,omitempty"`
	// Hooks are lifecycle hooks.
	Hooks []progressive.HookSpec `json:"hooks,omitempty"`
	// OnInconclusive: rollback (default) or hold.
	OnInconclusive progressive.InconclusivePolicy `json:"onInconclusive,omitempty"`
}

// Name returns "ab-test".
func (a ABTest) Name() string { return NameABTest }

// WithDefaults returns the options with their documented defaults filled in.
func (a ABTest) WithDefaults() ABTest {
	a.Duration = orDuration(a.Duration, DefaultABTestDuration)
	a.Replicas = orInt(a.Replicas, DefaultSegmentReplicas)
	return a
}

// Validate reports every problem of the options, under field paths such as
// "abTest.matches[0].name".
func (a ABTest) Validate() error {
	v := validator{prefix: "abTest"}
	a.validate(&v)
	return v.err()
}

func (a ABTest) validate(v *validator) {
	if len(a.Matches) == 0 {
		v.add("matches", nil, "an A/B test needs at least one header or cookie match to select its segment")
	}
	for i, m := range a.Matches {
		v.pr.Merge(v.field(fmt.Sprintf("matches[%d]", i)), m.Validate())
	}
	v.duration("duration", a.Duration)
	v.replicas("replicas", a.Replicas)
	v.policy(a.OnInconclusive)
	v.checks(a.Checks, a.Hooks, true, "an A/B test")
}

// Plan builds the A/B test plan for target and release.
func (a ABTest) Plan(target progressive.Target, release progressive.Release) (progressive.Plan, error) {
	v := validator{prefix: "abTest"}
	v.args(target, release, true)
	a.validate(&v)
	if err := v.err(); err != nil {
		return progressive.Plan{}, err
	}
	d := a.WithDefaults()
	p := newPlan(NameABTest, target, release, a.Checks, a.Hooks, a.OnInconclusive)
	routes := progressive.Routes{StableWeight: 100, Matches: append([]progressive.Match(nil), a.Matches...)}
	p.Steps = []progressive.Step{
		{Name: "deploy", Deploy: &progressive.DeployStep{Replicas: d.Replicas}},
		{Name: "route-segment", SetRoutes: &progressive.SetRoutesStep{Routes: routes}},
		{Name: "analyze", Analyze: &progressive.AnalyzeStep{Duration: d.Duration}},
		{Name: "promote", Promote: &progressive.PromoteStep{}},
		{Name: "finalize", Finalize: &progressive.FinalizeStep{}},
	}
	segs := make([]string, len(a.Matches))
	for i, m := range a.Matches {
		op := "="
		if m.Regex {
			op = "~"
		}
		segs[i] = fmt.Sprintf("%s %s%s%s", m.Kind, m.Name, op, m.Value)
	}
	p.Reason = fmt.Sprintf("A/B test: only requests matching %s reach %s while everyone else stays on stable, analyzed for %s before promotion; %s.",
		strings.Join(segs, " or "), release.Version, dur(d.Duration),
		rollbackClause(a.Checks, a.OnInconclusive, "sets the routes back to all-stable"))
	return finish(p)
}

// Mirror copies Percent of the stable traffic to the new version, whose answers are
// discarded, so it is exercised by production requests before any user depends on
// it; it is promoted when the checks stayed healthy for Duration.
//
//	Deploy{Replicas} -> SetRoutes{StableWeight: 100, MirrorPercent} -> Analyze{Duration}
//	  -> Promote -> Finalize
//
// The router must support mirroring (Istio); mirrored requests must be safe to
// repeat (no payments taken twice). Promotion goes straight to 100%: combine it
// with a canary for a gradual shift after the shadow phase.
type Mirror struct {
	// Percent of stable requests copied to the new version. Default 100.
	Percent float64 `json:"percent,omitempty"`
	// Duration is the analysis time. Default 15m.
	Duration time.Duration `json:"duration,omitempty"`
	// Checks are measured on the new version. Required.
	Checks []progressive.Check `json:"checks"`
	// Replicas is the new version's pod count. Default 1.
	Replicas int `json:"replicas,omitempty"`
	// Hooks are lifecycle hooks.
	Hooks []progressive.HookSpec `json:"hooks,omitempty"`
	// OnInconclusive: rollback (default) or hold.
	OnInconclusive progressive.InconclusivePolicy `json:"onInconclusive,omitempty"`
}

// Name returns "mirror".
func (m Mirror) Name() string { return NameMirror }

// WithDefaults returns the options with their documented defaults filled in.
func (m Mirror) WithDefaults() Mirror {
	if m.Percent == 0 {
		m.Percent = DefaultMirrorPercent
	}
	m.Duration = orDuration(m.Duration, DefaultMirrorDuration)
	m.Replicas = orInt(m.Replicas, DefaultSegmentReplicas)
	return m
}

// Validate reports every problem of the options, under field paths such as
// "mirror.percent".
func (m Mirror) Validate() error {
	v := validator{prefix: "mirror"}
	m.validate(&v)
	return v.err()
}

func (m Mirror) validate(v *validator) {
	if math.IsNaN(m.Percent) || m.Percent < 0 || m.Percent > 100 {
		v.add("percent", m.Percent, "must be above 0 and at most 100 (zero selects the default, 100)")
	}
	v.duration("duration", m.Duration)
	v.replicas("replicas", m.Replicas)
	v.policy(m.OnInconclusive)
	v.checks(m.Checks, m.Hooks, true, "a mirror")
}

// Plan builds the mirror plan for target and release.
func (m Mirror) Plan(target progressive.Target, release progressive.Release) (progressive.Plan, error) {
	v := validator{prefix: "mirror"}
	v.args(target, release, true)
	m.validate(&v)
	if err := v.err(); err != nil {
		return progressive.Plan{}, err
	}
	d := m.WithDefaults()
	p := newPlan(NameMirror, target, release, m.Checks, m.Hooks, m.OnInconclusive)
	p.Steps = []progressive.Step{
		{Name: "deploy", Deploy: &progressive.DeployStep{Replicas: d.Replicas}},
		{Name: "mirror", SetRoutes: &progressive.SetRoutesStep{Routes: progressive.Routes{StableWeight: 100, MirrorPercent: d.Percent}}},
		{Name: "analyze", Analyze: &progressive.AnalyzeStep{Duration: d.Duration}},
		{Name: "promote", Promote: &progressive.PromoteStep{}},
		{Name: "finalize", Finalize: &progressive.FinalizeStep{}},
	}
	p.Reason = fmt.Sprintf("Mirror: %s%% of stable's requests are copied to %s and its answers discarded, so no user sees it while it is analyzed for %s before promotion; %s.",
		pct(d.Percent), release.Version, dur(d.Duration),
		rollbackClause(m.Checks, m.OnInconclusive, "stops the mirroring and removes the new version"))
	return finish(p)
}
