package rollout

import (
	"fmt"
	"strings"
	"time"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/analysis"
)

// Lint lists what a person should know before approving plan, none of which makes
// it invalid: the checks' own warnings (analysis.Lint), analysis steps that last
// longer than their soak because a check's window does, and, when plan.Traffic
// says what the service serves, the weights at which a check's threshold rests on
// too few requests. Explain prints them; DryRun adds the same traffic warnings
// from the rate it measures.
func Lint(plan progressive.Plan) []progressive.Warning {
	var out []progressive.Warning
	seen := map[string]bool{}
	add := func(ws ...progressive.Warning) {
		for _, w := range ws {
			if !seen[w.String()] {
				seen[w.String()] = true
				out = append(out, w)
			}
		}
	}
	for i, s := range plan.Steps {
		if s.Analyze == nil {
			continue
		}
		prefix := fmt.Sprintf("steps[%d].analyze.", i)
		if len(s.Analyze.Checks) == 0 {
			prefix = ""
		}
		checks := plan.ChecksFor(*s.Analyze)
		for _, w := range analysis.Lint(checks) {
			w.Field = prefix + w.Field
			add(w)
		}
		if first := firstMeasurement(plan, checks); first > s.Analyze.Duration {
			add(progressive.Warning{Field: fmt.Sprintf("steps[%d]", i), Message: fmt.Sprintf(
				"the soak is %s but a check's first measurement comes %s after the step starts (its window must hold only "+
					"this step's traffic): the step lasts at least %s", formatDuration(s.Analyze.Duration), formatDuration(first), formatDuration(first))})
		}
	}
	if plan.Traffic != nil {
		add(trafficWarnings(plan, plan.Traffic.RequestsPerSecond, "expected")...)
	}
	return out
}

// firstMeasurement is when the last of checks is first measured in a step.
func firstMeasurement(plan progressive.Plan, checks []progressive.Check) time.Duration {
	var first time.Duration
	for _, c := range checks {
		first = max(first, analysis.FirstMeasurement(c, vars(plan, "")))
	}
	return first
}

// trafficWarnings says, for every analysis step, where rps requests a second split
// at the step's weight leave a check too few requests per window: fewer than its
// Samples.Min, or, for a ratio threshold without Samples, so few that a single
// error crosses its max. how says where rps comes from ("expected", "measured").
func trafficWarnings(plan progressive.Plan, rps float64, how string) []progressive.Warning {
	var out []progressive.Warning
	weight := 0.0
	for i, s := range plan.Steps {
		switch {
		case s.SetWeight != nil:
			weight = s.SetWeight.Weight
		case s.SetRoutes != nil:
			weight = s.SetRoutes.Routes.CanaryWeight
		case s.Switch != nil:
			weight = 0
			if s.Switch.To == progressive.Canary {
				weight = 100
			}
		case s.SetFlag != nil:
			weight = s.SetFlag.Percent
		case s.Analyze != nil:
			for _, c := range plan.ChecksFor(*s.Analyze) {
				if msg := sampleWarning(plan, c, rps, weight, how); msg != "" {
					out = append(out, progressive.Warning{Field: fmt.Sprintf("steps[%d]", i), Message: msg})
				}
			}
		}
	}
	return out
}

func sampleWarning(plan progressive.Plan, c progressive.Check, rps, weight float64, how string) string {
	if c.WithDefaults().Severity == progressive.SeverityWarn || weight <= 0 {
		return ""
	}
	window := analysis.Window(c, vars(plan, ""))
	n := rps * weight / 100 * window.Seconds()
	at := fmt.Sprintf("at %g%% of the %s %.4g requests a second, check %q sees about %.0f requests per %s window",
		weight, how, rps, c.Name, n, formatDuration(window))
	if c.Samples != nil {
		if n < c.Samples.Min {
			return at + fmt.Sprintf(", fewer than its samples.min %g: its measurements wait for data during the warm-up "+
				"and then count as inconclusive. Lengthen its window (interval) or start at a higher weight", c.Samples.Min)
		}
		return ""
	}
	if c.Max == nil || c.Judge != nil || c.Baseline != nil || !strings.Contains(c.Query, "/") {
		return ""
	}
	scale := 1.0
	if strings.Contains(c.Query, "100 *") || strings.Contains(c.Query, "* 100") {
		scale = 100
	}
	if n < 1 {
		return at + ": a ratio of so few requests is no data or a coin toss. Lengthen its window or start at a higher weight"
	}
	if one := scale / n; one > *c.Max {
		return at + fmt.Sprintf(": one error reads %.3g, over its max %g, so a healthy canary can fail on a single request. "+
			"Set samples (min %g for this max: progressive.MinSamplesFor) or lengthen its window",
			one, *c.Max, progressive.MinSamplesFor(*c.Max, scale))
	}
	return ""
}
