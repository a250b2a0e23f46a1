package rollout

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/analysis"
	"github.com/agentops/progressive/internal/shortdur"
)

// Explain renders a plan as the timeline a person reads before approving it: what
// each step does, when it starts at the earliest, what is measured, and what
// triggers a rollback. It does not validate; call Validate first.
func Explain(plan progressive.Plan) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Rollout %s: %s of %s to %s\n", plan.Name, orDefault(plan.Strategy, "custom plan"), plan.Target, releaseWords(plan))
	if plan.Reason != "" {
		fmt.Fprintf(&b, "Why: %s\n", plan.Reason)
	}
	fmt.Fprintf(&b, "Least duration when healthy: %s\n\n", formatDuration(leastDuration(plan)))
	for _, h := range plan.Hooks {
		if h.Phase == progressive.HookPreRollout {
			fmt.Fprintf(&b, "%-10s %s\n", "T+0", "pre-rollout hook "+describeHook(h))
		}
	}
	var at time.Duration
	for i, s := range plan.Steps {
		fmt.Fprintf(&b, "%-10s %d. %s\n", "T+"+formatDuration(at), i+1, describeStep(plan, s))
		switch {
		case s.Pause != nil:
			at += s.Pause.Duration
		case s.Analyze != nil:
			at += max(s.Analyze.Duration, firstMeasurement(plan, plan.ChecksFor(*s.Analyze)))
		}
	}
	fmt.Fprintf(&b, "%-10s done: %s\n", "T+"+formatDuration(at), doneWords(plan))
	for _, h := range plan.Hooks {
		if h.Phase != progressive.HookPreRollout {
			fmt.Fprintf(&b, "%-10s %s hook %s\n", "", h.Phase, describeHook(h))
		}
	}
	b.WriteString("\nRollback is automatic when:\n")
	for _, t := range rollbackTriggers(plan) {
		fmt.Fprintf(&b, "  - %s\n", t)
	}
	b.WriteString("Rollback restores: ")
	b.WriteString(strings.Join(rollbackRestores(plan), "; "))
	b.WriteString(".\n")
	if ws := Lint(plan); len(ws) > 0 {
		b.WriteString("\nWarnings:\n")
		for _, w := range ws {
			fmt.Fprintf(&b, "  - %s\n", w)
		}
	}
	if ns := notes(plan); len(ns) > 0 {
		b.WriteString("\nGood to know:\n")
		for _, n := range ns {
			fmt.Fprintf(&b, "  - %s\n", n)
		}
	}
	return b.String()
}

// notes are what a plan does that surprises people who did not write the
// provider: restarts beyond the plan's own pods, and which pods serve after a
// blue-green promotion. Explain knows the plan, not the cluster, so it says
// when a note applies; DryRun asks the providers (RestartWarner).
func notes(plan progressive.Plan) []string {
	var out []string
	hasStep := func(f func(progressive.Step) bool) bool { return slices.ContainsFunc(plan.Steps, f) }
	if hasStep(func(s progressive.Step) bool { return s.Deploy != nil }) {
		out = append(out, fmt.Sprintf("On its first rollout the deploy step adopts the stable Deployment %s: with the Kubernetes workload, "+
			"a pod template without progressive.agentops.io/role=stable gets that label, which restarts every stable pod once "+
			"(a new ReplicaSet revision). DryRun says whether it will.", plan.Target))
	}
	switched := hasStep(func(s progressive.Step) bool { return s.Switch != nil && s.Switch.To == progressive.Canary })
	if switched && hasStep(func(s progressive.Step) bool { return s.Promote != nil }) {
		out = append(out, fmt.Sprintf("After the switch, green (the canary Deployment) serves and is monitored; promotion then re-rolls blue "+
			"(the stable Deployment) with %s and finalize moves traffic back to it and scales green away. The pods serving afterwards are "+
			"blue's new pods, not the green pods the analysis watched (the same release and configuration, started anew); "+
			"Argo Rollouts' blue-green instead keeps the monitored pods and retires the old side.", releaseWords(plan)))
	}
	return out
}

// leastDuration is how long a healthy rollout takes at least: pauses, and each
// analysis step's soak or its checks' first measurement, whichever comes later.
func leastDuration(plan progressive.Plan) time.Duration {
	var d time.Duration
	for _, s := range plan.Steps {
		switch {
		case s.Pause != nil:
			d += s.Pause.Duration
		case s.Analyze != nil:
			d += max(s.Analyze.Duration, firstMeasurement(plan, plan.ChecksFor(*s.Analyze)))
		}
	}
	return d
}

func explainSteps(plan progressive.Plan) []string {
	out := make([]string, 0, len(plan.Steps))
	for _, s := range plan.Steps {
		out = append(out, describeStep(plan, s))
	}
	return out
}

func describeStep(plan progressive.Plan, s progressive.Step) string {
	d := describeAction(plan, s)
	// Strategies name steps after their action ("promote", "weight-10"); the name
	// is only worth repeating when it says something the description does not.
	if s.Name == "" || strings.HasPrefix(d, strings.SplitN(s.Name, "-", 2)[0]) {
		return d
	}
	return s.Name + ": " + d
}

func describeAction(plan progressive.Plan, s progressive.Step) string {
	switch {
	case s.Deploy != nil:
		return fmt.Sprintf("deploy %s as the canary with %d pod(s), wait until ready (up to %s)", plan.Release, s.Deploy.Replicas, formatDuration(orDuration(s.Deploy.ReadyTimeout, DefaultReadyTimeout)))
	case s.SetWeight != nil:
		return fmt.Sprintf("send %g%% of traffic to the canary, verified by reading the routes back", s.SetWeight.Weight)
	case s.SetRoutes != nil:
		return "route " + describeRoutes(s.SetRoutes.Routes)
	case s.Switch != nil:
		return fmt.Sprintf("switch all traffic to %s in one write", s.Switch.To)
	case s.Scale != nil:
		return fmt.Sprintf("scale the canary to %d pod(s)", s.Scale.Replicas)
	case s.SetFlag != nil:
		f := s.SetFlag
		if who := describeTargets(*f); who != "" {
			return fmt.Sprintf("serve flag %s variation %q to %s first, and to %g%% of everyone else (%q to the rest); a rollback removes these targets", f.Flag, f.Variation, who, f.Percent, f.Fallback)
		}
		return fmt.Sprintf("serve flag %s variation %q to %g%% of users (%q to the rest)", f.Flag, f.Variation, f.Percent, f.Fallback)
	case s.Pause != nil:
		return fmt.Sprintf("wait %s", formatDuration(s.Pause.Duration))
	case s.Analyze != nil:
		checks := plan.ChecksFor(*s.Analyze)
		parts := make([]string, 0, len(checks))
		for _, c := range checks {
			parts = append(parts, describeCheck(c))
		}
		return fmt.Sprintf("analyze for %s (%s): %s", formatDuration(s.Analyze.Duration), describeFirstMeasurements(plan, checks), strings.Join(parts, "; "))
	case s.Approval != nil:
		if s.Approval.Timeout > 0 {
			return fmt.Sprintf("wait for approval at gate %q (roll back if none within %s)", s.Approval.Gate, formatDuration(s.Approval.Timeout))
		}
		return fmt.Sprintf("wait for approval at gate %q", s.Approval.Gate)
	case s.Hook != nil:
		return "run hook " + describeHook(s.Hook.Hook) + "; its failure rolls back"
	case s.Roll != nil:
		r := s.Roll
		return fmt.Sprintf("update pods in place until %d run %s (%s), wait up to %s for them to be ready; undo the update if more than %g%% of pods then fail readiness",
			r.Updated, plan.Release, describeRollParams(r.Params), formatDuration(orDuration(r.ReadyTimeout, DefaultReadyTimeout)), r.ReadinessBudget)
	case s.Promote != nil && switchedBefore(plan, s):
		return fmt.Sprintf("promote: blue (stable) is re-rolled with %s while green serves, wait until ready", plan.Release)
	case s.Promote != nil:
		return fmt.Sprintf("promote: stable takes %s, wait until ready", plan.Release)
	case s.Finalize != nil && switchedBefore(plan, s):
		return "finalize: all traffic back to blue (now running the release), scale green to 0: blue's new pods serve from here"
	case s.Finalize != nil:
		return "finalize: all traffic to stable (now running the release), remove canary routes, scale the canary to 0"
	}
	return "invalid step"
}

// switchedBefore reports whether a step before s switched all traffic to the
// canary (blue-green: the promotion that follows re-rolls blue).
func switchedBefore(plan progressive.Plan, s progressive.Step) bool {
	for _, p := range plan.Steps {
		if p.Promote == s.Promote && p.Finalize == s.Finalize {
			return false
		}
		if p.Switch != nil && p.Switch.To == progressive.Canary {
			return true
		}
	}
	return false
}

// describeRollParams says how a batch replaces pods, in words rather than
// Kubernetes' field names.
func describeRollParams(p progressive.RollingParams) string {
	switch {
	case p.MaxUnavailable == 0:
		return fmt.Sprintf("up to %d new pod(s) at once beside the old, none unavailable", p.MaxSurge)
	case p.MaxSurge == 0:
		return fmt.Sprintf("up to %d old pod(s) at once stop before new ones start", p.MaxUnavailable)
	}
	return fmt.Sprintf("up to %d new pod(s) at once beside the old and %d unavailable", p.MaxSurge, p.MaxUnavailable)
}

// describeFirstMeasurements says when the step's checks are first measured: once
// their windows hold only the traffic of this step.
func describeFirstMeasurements(plan progressive.Plan, checks []progressive.Check) string {
	var firsts []string
	seen := map[time.Duration]bool{}
	for _, c := range checks {
		f := analysis.FirstMeasurement(c, vars(plan, ""))
		if !seen[f] {
			seen[f] = true
			firsts = append(firsts, "+"+formatDuration(f))
		}
	}
	return "first measurement at " + strings.Join(firsts, ", ") + ", once its window holds only this step's traffic; the end of the soak is measured too"
}

func describeRoutes(r progressive.Routes) string {
	var parts []string
	parts = append(parts, fmt.Sprintf("%s stable / %s canary", percentWords(r.StableWeight), percentWords(r.CanaryWeight)))
	for _, m := range r.Matches {
		op := "="
		if m.Regex {
			op = "~"
		}
		parts = append(parts, fmt.Sprintf("%s %s%s%s to the canary", m.Kind, m.Name, op, m.Value))
	}
	if r.MirrorPercent > 0 {
		parts = append(parts, fmt.Sprintf("mirror %s to the canary", percentWords(r.MirrorPercent)))
	}
	return strings.Join(parts, ", ")
}

func describeCheck(c progressive.Check) string {
	c = c.WithDefaults()
	var bounds []string
	subject := c.Name
	if c.Baseline != nil {
		subject = fmt.Sprintf("%s (canary/stable %s)", c.Name, c.Baseline.Mode)
	}
	if c.Min != nil {
		bounds = append(bounds, fmt.Sprintf(">= %g", *c.Min))
	}
	if c.Max != nil {
		bounds = append(bounds, fmt.Sprintf("<= %g", *c.Max))
	}
	if c.Judge != nil {
		bounds = append(bounds, "judged by "+c.Judge.Kind)
	}
	s := fmt.Sprintf("%s %s every %s", subject, strings.Join(bounds, " and "), formatDuration(c.Interval))
	if c.Severity == progressive.SeverityWarn {
		return s + " (warning only)"
	}
	s += fmt.Sprintf(", fails after %d failed measurement(s)", c.FailureLimit+1)
	if c.ConsecutiveFailureLimit > 0 {
		s += fmt.Sprintf(" or %d in a row", c.ConsecutiveFailureLimit)
	}
	return s
}

func describeHook(h progressive.HookSpec) string {
	if h.URL != "" {
		return fmt.Sprintf("%q (POST %s)", h.Name, redactURL(h.URL))
	}
	return fmt.Sprintf("%q", h.Name)
}

func rollbackTriggers(plan progressive.Plan) []string {
	var out []string
	seen := map[string]bool{}
	for _, s := range plan.Steps {
		if s.Analyze == nil {
			continue
		}
		for _, c := range plan.ChecksFor(*s.Analyze) {
			c = c.WithDefaults()
			if c.Severity == progressive.SeverityWarn || seen[c.Name] {
				continue
			}
			seen[c.Name] = true
			out = append(out, "check "+describeCheck(c))
		}
	}
	if len(seen) > 0 {
		policy := "rollback"
		if plan.OnInconclusive == progressive.HoldOnInconclusive {
			policy = "hold"
		}
		out = append(out, fmt.Sprintf("no data, NaN or an unreachable metrics backend %d times in a row for a check, counting no data only after the check's warm-up (then: %s; never a promotion)", progressive.DefaultInconclusiveLimit, policy))
	}
	for _, s := range plan.Steps {
		switch {
		case s.Deploy != nil:
			out = append(out, "the canary is not ready in time")
		case s.Roll != nil:
			out = append(out, fmt.Sprintf("more than %g%% of pods fail readiness during the update", s.Roll.ReadinessBudget))
		case s.Approval != nil:
			out = append(out, fmt.Sprintf("approval at gate %q is denied", s.Approval.Gate))
		case s.Hook != nil:
			out = append(out, fmt.Sprintf("hook %q fails", s.Hook.Hook.Name))
		}
	}
	for _, h := range plan.Hooks {
		if h.Phase == progressive.HookPreRollout || h.Phase == progressive.HookPrePromotion {
			out = append(out, fmt.Sprintf("%s hook %q fails", h.Phase, h.Name))
		}
	}
	out = append(out, "a person calls Rollback or Abort")
	return dedupe(out)
}

// rollbackRestores lists what a rollback undoes, in the order it does it.
func rollbackRestores(plan progressive.Plan) []string {
	var traffic, flags, undo, canary []string
	for _, s := range plan.Steps {
		switch {
		case s.SetWeight != nil, s.SetRoutes != nil, s.Switch != nil:
			traffic = append(traffic, "all traffic to stable in one write, read back")
		case s.SetFlag != nil:
			flags = append(flags, describeFlagRollback(plan, s.SetFlag.Flag))
		case s.Roll != nil:
			undo = append(undo, "the previous revision (rollout undo), waiting until its pods are ready again")
		case s.Deploy != nil:
			canary = append(canary, "canary scaled to 0, stable untouched")
		}
	}
	out := dedupe(append(append(append(traffic, flags...), undo...), canary...))
	if len(out) == 0 {
		return []string{"nothing was changed"}
	}
	return out
}

// describeFlagRollback says how a rollback restores flag ref: one write to 0%,
// after removing the targets a step of the plan added.
func describeFlagRollback(plan progressive.Plan, ref progressive.FlagRef) string {
	for _, s := range plan.Steps {
		if s.SetFlag != nil && s.SetFlag.Flag == ref && (len(s.SetFlag.Targets) > 0 || len(s.SetFlag.Segments) > 0) {
			return fmt.Sprintf("flag %s: the targets the rollout added removed, then 0%%", ref)
		}
	}
	return fmt.Sprintf("flag %s to 0%% in one write", ref)
}

func dedupe(in []string) []string {
	seen := map[string]bool{}
	out := in[:0]
	for _, s := range in {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// formatDuration prints 90m as "1h30m" and drops zero units ("15m", not "15m0s").
func formatDuration(d time.Duration) string {
	if d == 0 {
		return "0"
	}
	return shortdur.String(d)
}

func orDuration(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
