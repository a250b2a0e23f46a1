package rollout

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/analysis"
)

// stepOutcome is what one execution of a step asks for next.
type stepOutcome struct {
	done    bool
	wait    time.Duration
	changed bool
	// keep marks a wait whose only changes are passing measurements: kept in
	// memory for the next Reconcile instead of written (perID.unsaved).
	keep     bool
	rollback string
	info     rollbackInfo
	hold     string
}

func waitFor(d time.Duration) stepOutcome { return stepOutcome{wait: d, changed: true} }

// waitUnchanged waits without a state write: polling a step whose action was
// already recorded changes nothing worth a write (a write per wake was most of
// a waiting rollout's API requests).
func waitUnchanged(d time.Duration) stepOutcome { return stepOutcome{wait: d} }

// waitAfter waits, writing the state only when this call changed it.
func waitAfter(d time.Duration, changed bool) stepOutcome {
	if changed {
		return waitFor(d)
	}
	return waitUnchanged(d)
}

var finished = stepOutcome{done: true}

func (x *exec) executeStep(ctx context.Context, step progressive.Step) (stepOutcome, error) {
	switch {
	case step.Deploy != nil:
		return x.deploy(ctx, *step.Deploy)
	case step.SetWeight != nil:
		return x.setRoutes(ctx, progressive.WeightedRoutes(step.SetWeight.Weight))
	case step.SetRoutes != nil:
		return x.setRoutes(ctx, step.SetRoutes.Routes)
	case step.Switch != nil:
		routes := progressive.AllStable()
		if step.Switch.To == progressive.Canary {
			routes = progressive.Routes{CanaryWeight: 100}
		}
		return x.setRoutes(ctx, routes)
	case step.Scale != nil:
		return x.scale(ctx, *step.Scale)
	case step.SetFlag != nil:
		return x.setFlag(ctx, *step.SetFlag)
	case step.Pause != nil:
		return x.pause(step.Pause.Duration), nil
	case step.Analyze != nil:
		return x.analyze(ctx, *step.Analyze)
	case step.Approval != nil:
		return x.approval(ctx, *step.Approval)
	case step.Hook != nil:
		if err := x.claimHook(ctx, fmt.Sprintf("step/%d/%s", x.st.Step.Index, step.Hook.Hook.Name), step.Hook.Hook); err != nil {
			return stepOutcome{}, err
		}
		if err := x.runHook(ctx, step.Hook.Hook, ""); err != nil {
			return stepOutcome{rollback: fmt.Sprintf("hook %q failed: %v", step.Hook.Hook.Name, err)}, nil
		}
		x.st.decide(x.now, "hook", fmt.Sprintf("hook %q passed", step.Hook.Hook.Name))
		return finished, nil
	case step.Roll != nil:
		return x.roll(ctx, *step.Roll)
	case step.Promote != nil:
		return x.promote(ctx, *step.Promote)
	case step.Finalize != nil:
		return x.finalize(ctx)
	}
	return stepOutcome{}, fmt.Errorf("step %d sets no action: %w", x.st.Step.Index+1, progressive.ErrInvalid)
}

// timedOut reports whether a polled step has waited longer than its limit:
// since its first claim when it has one (a deploy step), else since it
// became current.
func (x *exec) timedOut(limit, def time.Duration) bool {
	since := x.st.Step.StartedAt
	if !x.st.Step.ClaimedAt.IsZero() {
		since = x.st.Step.ClaimedAt
	}
	return x.now.Sub(since) >= orDuration(limit, def)
}

// claim stamps the step's first claim (StepState.ClaimedAt) unless a runner
// did already, or the step was carried out under a state that had none.
func (x *exec) claim() {
	if x.st.Step.ClaimedAt.IsZero() && !x.st.Step.Applied {
		x.st.Step.ClaimedAt = x.now
		x.claimUnsaved = true
	}
}

func (x *exec) deploy(ctx context.Context, d progressive.DeployStep) (stepOutcome, error) {
	w, err := x.r.opts.Providers.workload(x.st.Plan)
	if err != nil {
		return stepOutcome{}, err
	}
	t := x.st.Plan.Target
	x.claim()
	wasApplied := x.st.Step.Applied
	if !x.st.Step.Applied {
		if err := x.prepareRoutes(ctx); err != nil {
			return stepOutcome{}, err
		}
		if err := w.DeployCanary(ctx, t, x.st.Plan.Release, d.Replicas); err != nil {
			return stepOutcome{}, fmt.Errorf("deploy canary %s: %w", x.st.Plan.Release, err)
		}
		x.st.Step.Applied = true
		x.st.Applied.Deployed = true
		x.st.decide(x.now, "deploy", fmt.Sprintf("canary %s deployed with %d pod(s)", x.st.Plan.Release, d.Replicas))
	}
	status, err := w.Status(ctx, t)
	if err != nil {
		return stepOutcome{}, fmt.Errorf("read workload status: %w", err)
	}
	switch {
	case status.Canary.Ready >= d.Replicas:
		x.st.decide(x.now, "ready", fmt.Sprintf("canary ready: %d/%d pods", status.Canary.Ready, d.Replicas))
		return finished, nil
	case status.ProgressDeadlineExceeded:
		return stepOutcome{rollback: fmt.Sprintf("canary exceeded its progress deadline with %d/%d pods ready", status.Canary.Ready, d.Replicas)}, nil
	case x.timedOut(d.ReadyTimeout, DefaultReadyTimeout):
		return stepOutcome{rollback: fmt.Sprintf("canary not ready within %s: %d/%d pods ready", formatDuration(orDuration(d.ReadyTimeout, DefaultReadyTimeout)), status.Canary.Ready, d.Replicas)}, nil
	}
	return waitAfter(x.r.opts.PollInterval, !wasApplied), nil
}

// prepareRoutes sets up the router's objects (all traffic on stable) before
// the canary's pods start, for a plan that will move traffic: the canary then
// never serves requests the routes did not send it, and the first weight
// change costs one write, as every later one does, instead of the creation
// of every routing object at a moment a hundred rollouts may share.
func (x *exec) prepareRoutes(ctx context.Context) error {
	if x.st.Applied.Routes != nil || !planNeeds(x.st.Plan).router {
		return nil
	}
	router, err := x.r.opts.Providers.router(x.st.Plan)
	if err != nil {
		return err
	}
	init, ok := router.(progressive.RouterInitializer)
	if !ok {
		return nil
	}
	if err := init.Initialize(ctx, x.st.Plan.Target); err != nil {
		return fmt.Errorf("initialize router %s: %w", router.Name(), err)
	}
	// Stored with the deploy: a rollback from here on restores the routes.
	x.st.Applied.Routes = &progressive.Routes{StableWeight: 100}
	return nil
}

// setRoutes writes routes in one call, then reads them back: what the router
// reports is what the record and the events show.
func (x *exec) setRoutes(ctx context.Context, routes progressive.Routes) (stepOutcome, error) {
	router, err := x.r.opts.Providers.router(x.st.Plan)
	if err != nil {
		return stepOutcome{}, err
	}
	t := x.st.Plan.Target
	if !x.st.Step.Applied {
		if init, ok := router.(progressive.RouterInitializer); ok && x.st.Applied.Routes == nil {
			if err := init.Initialize(ctx, t); err != nil {
				return stepOutcome{}, fmt.Errorf("initialize router %s: %w", router.Name(), err)
			}
		}
		// Recorded before the write: if the write lands and the process dies, a
		// rollback still knows traffic may have moved.
		if x.st.Applied.Routes == nil {
			x.st.Applied.Routes = &progressive.Routes{StableWeight: 100}
			if err := x.save(ctx); err != nil {
				return stepOutcome{}, err
			}
		}
		if err := router.SetRoutes(ctx, t, routes); err != nil {
			return stepOutcome{}, fmt.Errorf("set routes (%s) with %s: %w", describeRoutes(routes), router.Name(), err)
		}
	}
	got, err := router.GetRoutes(ctx, t)
	if err != nil {
		return stepOutcome{}, fmt.Errorf("read routes back from %s: %w", router.Name(), err)
	}
	x.st.Step.Applied = true
	x.st.Applied.Routes = &got
	x.st.Applied.MaxCanaryWeight = math.Max(x.st.Applied.MaxCanaryWeight, got.CanaryWeight)
	msg := fmt.Sprintf("routes set: %s", describeRoutes(got))
	if math.Abs(got.CanaryWeight-routes.CanaryWeight) > 1e-9 {
		msg += fmt.Sprintf(" (asked %s, achieved %s)", percentWords(routes.CanaryWeight), percentWords(got.CanaryWeight))
	}
	x.st.decideExposure(x.now, "route", msg, exposure{canaryWeight: progressive.Float(got.CanaryWeight)})
	x.emit(ctx, Event{Type: EventRoutesChanged, Message: msg, Routes: &got})
	return finished, nil
}

func (x *exec) scale(ctx context.Context, s progressive.ScaleStep) (stepOutcome, error) {
	w, err := x.r.opts.Providers.workload(x.st.Plan)
	if err != nil {
		return stepOutcome{}, err
	}
	wasApplied := x.st.Step.Applied
	if !x.st.Step.Applied {
		if err := w.ScaleCanary(ctx, x.st.Plan.Target, s.Replicas); err != nil {
			return stepOutcome{}, fmt.Errorf("scale canary to %d: %w", s.Replicas, err)
		}
		x.st.Step.Applied = true
		x.st.Applied.Deployed = true
		x.st.decide(x.now, "scale", fmt.Sprintf("canary scaled to %d pod(s)", s.Replicas))
	}
	status, err := w.Status(ctx, x.st.Plan.Target)
	if err != nil {
		return stepOutcome{}, fmt.Errorf("read workload status: %w", err)
	}
	if status.Canary.Ready >= s.Replicas {
		return finished, nil
	}
	if x.timedOut(0, DefaultReadyTimeout) {
		return stepOutcome{rollback: fmt.Sprintf("canary not ready within %s after scaling: %d/%d pods", formatDuration(DefaultReadyTimeout), status.Canary.Ready, s.Replicas)}, nil
	}
	return waitAfter(x.r.opts.PollInterval, !wasApplied), nil
}

func (x *exec) setFlag(ctx context.Context, f progressive.SetFlagStep) (stepOutcome, error) {
	store, err := x.r.opts.Providers.flags(x.st.Plan)
	if err != nil {
		return stepOutcome{}, err
	}
	idx := -1
	for i, a := range x.st.Applied.Flags {
		if a.Ref == f.Flag {
			idx = i
		}
	}
	if idx < 0 {
		flag, err := store.GetFlag(ctx, f.Flag)
		if err != nil {
			return stepOutcome{}, fmt.Errorf("read flag %s: %w", f.Flag, err)
		}
		for _, v := range []string{f.Variation, f.Fallback} {
			if _, ok := flag.Variation(v); !ok {
				return stepOutcome{}, fmt.Errorf("flag %s has no variation %q: %w", f.Flag, v, progressive.ErrInvalid)
			}
		}
		x.st.Applied.Flags = append(x.st.Applied.Flags, FlagApplied{Ref: f.Flag, Variation: f.Variation, Fallback: f.Fallback, WasOn: flag.On})
		idx = len(x.st.Applied.Flags) - 1
		// Saved before the first write so a crash right after it still rolls back.
		if err := x.save(ctx); err != nil {
			return stepOutcome{}, err
		}
	}
	if len(f.Targets) > 0 || len(f.Segments) > 0 {
		if err := x.setFlagTargets(ctx, store, idx, f); err != nil {
			return stepOutcome{}, err
		}
	}
	if err := store.SetRollout(ctx, f.Flag, progressive.PercentRollout(f.Variation, f.Fallback, f.Percent)); err != nil {
		return stepOutcome{}, fmt.Errorf("set flag %s to %g%%: %w", f.Flag, f.Percent, err)
	}
	if a := &x.st.Applied.Flags[idx]; !a.WasOn && !a.TurnedOn {
		if err := store.SetOn(ctx, f.Flag, true); err != nil {
			return stepOutcome{}, fmt.Errorf("turn flag %s on: %w", f.Flag, err)
		}
		a.TurnedOn = true
	}
	x.st.Applied.Flags[idx].Percent = f.Percent
	x.st.Applied.MaxFlagPercent = math.Max(x.st.Applied.MaxFlagPercent, f.Percent)
	msg := fmt.Sprintf("flag %s serves %q to %g%% of users", f.Flag, f.Variation, f.Percent)
	if who := describeTargets(f); who != "" {
		msg = fmt.Sprintf("flag %s serves %q to %s, and to %g%% of everyone else", f.Flag, f.Variation, who, f.Percent)
	}
	x.st.decideExposure(x.now, "flag", msg, exposure{flagPercent: progressive.Float(f.Percent)})
	x.emit(ctx, Event{Type: EventFlagChanged, Message: msg})
	return finished, nil
}

// setFlagTargets makes the step's keys and segments receive its variation.
// What is new to the flag is stored first (FlagApplied.Targets, .Segments),
// so a rollback, even after a restart, removes exactly that and leaves any
// targeting a person set before the rollout alone. Each write keeps what the
// flag already has: targets are read, merged and written back, and the
// segment rules go first, so that an older rule cannot shadow them.
func (x *exec) setFlagTargets(ctx context.Context, store progressive.FlagStore, idx int, f progressive.SetFlagStep) error {
	targeter, ok := store.(progressive.FlagTargeter)
	if !ok {
		return fmt.Errorf("flag %s: the step targets users or segments, but flag store %s cannot write targets: %w", f.Flag, store.Name(), progressive.ErrUnsupported)
	}
	flag, err := store.GetFlag(ctx, f.Flag)
	if err != nil {
		return fmt.Errorf("read flag %s: %w", f.Flag, err)
	}
	v, ok := flag.Variation(f.Variation)
	if !ok {
		return fmt.Errorf("flag %s has no variation %q: %w", f.Flag, f.Variation, progressive.ErrInvalid)
	}
	keys := targetKeys(flag, v)
	rules := slices.Clone(flag.Rules)
	a := &x.st.Applied.Flags[idx]
	var newKeys, newSegments []string
	for _, k := range f.Targets {
		if !slices.Contains(keys, k) && !slices.Contains(a.Targets, k) {
			newKeys = append(newKeys, k)
		}
	}
	for _, seg := range f.Segments {
		if !slices.ContainsFunc(rules, isSegmentRule(seg, v)) && !slices.Contains(a.Segments, seg) {
			newSegments = append(newSegments, seg)
		}
	}
	if len(newKeys) > 0 || len(newSegments) > 0 {
		a.Targets = append(a.Targets, newKeys...)
		a.Segments = append(a.Segments, newSegments...)
		if err := x.save(ctx); err != nil {
			return err
		}
	}
	for _, k := range f.Targets {
		if !slices.Contains(keys, k) {
			keys = append(keys, k)
		}
	}
	if err := targeter.SetTargets(ctx, f.Flag, v.ID, keys); err != nil {
		return fmt.Errorf("target %d key(s) of flag %s: %w", len(keys), f.Flag, err)
	}
	var ours []progressive.FlagRule
	for _, seg := range f.Segments {
		if !slices.ContainsFunc(rules, isSegmentRule(seg, v)) {
			ours = append(ours, progressive.FlagRule{Description: "progressive rollout " + x.st.ID + ": segment " + seg + " first", Segment: seg, Variation: v.ID})
		}
	}
	if len(ours) > 0 {
		if err := targeter.SetRules(ctx, f.Flag, append(ours, rules...)); err != nil {
			return fmt.Errorf("serve flag %s to segment(s) %s: %w", f.Flag, strings.Join(f.Segments, ", "), err)
		}
	}
	return nil
}

// clearFlagTargets removes the keys and segment rules the rollout added to a
// flag (FlagApplied.Targets, .Segments); what was there before stays.
func (x *exec) clearFlagTargets(ctx context.Context, store progressive.FlagStore, a *FlagApplied) error {
	targeter, ok := store.(progressive.FlagTargeter)
	if !ok {
		return fmt.Errorf("flag %s: flag store %s cannot write targets: %w", a.Ref, store.Name(), progressive.ErrUnsupported)
	}
	flag, err := store.GetFlag(ctx, a.Ref)
	if err != nil {
		return fmt.Errorf("read flag %s: %w", a.Ref, err)
	}
	v, ok := flag.Variation(a.Variation)
	if !ok {
		return fmt.Errorf("flag %s has no variation %q: %w", a.Ref, a.Variation, progressive.ErrInvalid)
	}
	if len(a.Targets) > 0 {
		keys := slices.DeleteFunc(targetKeys(flag, v), func(k string) bool { return slices.Contains(a.Targets, k) })
		if err := targeter.SetTargets(ctx, a.Ref, v.ID, keys); err != nil {
			return fmt.Errorf("remove the rollout's targets from flag %s: %w", a.Ref, err)
		}
	}
	if len(a.Segments) > 0 {
		rules := slices.DeleteFunc(slices.Clone(flag.Rules), func(r progressive.FlagRule) bool {
			return slices.ContainsFunc(a.Segments, func(seg string) bool { return isSegmentRule(seg, v)(r) })
		})
		if len(rules) != len(flag.Rules) {
			if err := targeter.SetRules(ctx, a.Ref, rules); err != nil {
				return fmt.Errorf("remove the rollout's segment rules from flag %s: %w", a.Ref, err)
			}
		}
	}
	a.Targets, a.Segments = nil, nil
	return nil
}

// targetKeys lists the keys flag targets to variation v.
func targetKeys(flag progressive.Flag, v progressive.Variation) []string {
	var keys []string
	for _, t := range flag.Targets {
		if t.Variation == v.ID || (v.Name != "" && t.Variation == v.Name) {
			keys = append(keys, t.Keys...)
		}
	}
	return keys
}

// isSegmentRule matches a rule that serves v to the members of segment and
// nothing else: the rule a targeting step writes.
func isSegmentRule(segment string, v progressive.Variation) func(progressive.FlagRule) bool {
	return func(r progressive.FlagRule) bool {
		return r.Segment == segment && len(r.Clauses) == 0 && r.Rollout == nil &&
			(r.Variation == v.ID || (v.Name != "" && r.Variation == v.Name))
	}
}

// describeTargets says who a targeting step serves first ("" when nobody).
func describeTargets(f progressive.SetFlagStep) string {
	var parts []string
	if n := len(f.Targets); n > 0 {
		shown := f.Targets[:min(n, 5)]
		s := fmt.Sprintf("%d targeted user(s) (%s", n, strings.Join(shown, ", "))
		if n > len(shown) {
			s += ", ..."
		}
		parts = append(parts, s+")")
	}
	if len(f.Segments) > 0 {
		parts = append(parts, "segment(s) "+strings.Join(f.Segments, ", "))
	}
	return strings.Join(parts, " and ")
}

func (x *exec) pause(d time.Duration) stepOutcome {
	wasApplied := x.st.Step.Applied
	if !x.st.Step.Applied {
		x.st.Step.Applied = true
		x.st.Step.Deadline = x.st.Step.StartedAt.Add(d)
	}
	if remaining := x.st.Step.Deadline.Sub(x.now); remaining > 0 {
		return waitAfter(remaining, !wasApplied)
	}
	return finished
}

func (x *exec) analyze(ctx context.Context, a progressive.AnalyzeStep) (stepOutcome, error) {
	checks := x.st.Plan.ChecksFor(a)
	begun := x.st.Step.Analysis == nil
	if x.st.Step.Analysis == nil {
		s := x.r.engine.Begin(checks, x.st.Step.StartedAt, x.st.Step.StartedAt.Add(a.Duration))
		if x.st.Applied.AnalysedSince.IsZero() {
			x.st.Applied.AnalysedSince = x.st.Step.StartedAt
		}
		s.LiveSince = x.st.Applied.AnalysedSince
		x.st.Step.Analysis = &s
		x.st.Step.Applied = true
	}
	res, err := x.r.engine.Tick(ctx, checks, vars(x.st.Plan, x.st.StableVersion), x.st.Step.Analysis, x.now)
	if err != nil {
		return stepOutcome{rollback: fmt.Sprintf("analysis cannot run: %v", err)}, nil
	}
	if err := x.observe(ctx, res.Measurements); err != nil {
		return stepOutcome{}, err
	}
	x.st.Step.LastPass = lastPasses(x.st.Step.LastPass, res.Measurements)
	if len(res.Measurements) > 0 {
		x.emit(ctx, Event{Type: EventMeasured, Message: res.Reason, Measurements: res.Measurements, Verdict: res.Verdict})
	}
	switch res.Verdict {
	case analysis.VerdictPass:
		x.st.decide(x.now, "advance", "analysis passed: "+res.Reason)
		return finished, nil
	case analysis.VerdictFail:
		return stepOutcome{rollback: "analysis failed: " + res.Reason, info: x.detection(res)}, nil
	case analysis.VerdictInconclusive:
		if x.st.Plan.OnInconclusive == progressive.HoldOnInconclusive {
			return stepOutcome{hold: "analysis inconclusive, holding for a person: " + res.Reason}, nil
		}
		return stepOutcome{rollback: "analysis inconclusive, never promote on missing data: " + res.Reason, info: x.detection(res)}, nil
	}
	wait := time.Duration(0)
	if !res.NextDue.IsZero() {
		wait = res.NextDue.Sub(x.now)
	}
	if wait <= 0 {
		wait = x.r.opts.PollInterval
	}
	if !begun && len(res.Measurements) > 0 && allQuiet(res.Measurements) {
		// Passing (or still warming up) measurements change only counters and
		// the schedule: no write (an idle tick costs no API request). A
		// failure, an inconclusive or a warning is written at once, so that
		// no limit forgets it in a restart.
		return stepOutcome{wait: wait, keep: true}, nil
	}
	return waitAfter(wait, begun || len(res.Measurements) > 0), nil
}

// allQuiet reports whether every measurement passed or waits for data during
// its warm-up.
func allQuiet(ms []analysis.Measurement) bool {
	for _, m := range ms {
		if m.Outcome != analysis.OutcomePass && m.Outcome != analysis.OutcomeWaiting {
			return false
		}
	}
	return true
}

// detection finds when the failing checks last passed in this step: the earliest
// the problem can have started.
func (x *exec) detection(res analysis.TickResult) rollbackInfo {
	failing := map[string]bool{}
	for _, m := range res.Measurements {
		if m.Outcome != analysis.OutcomePass && m.Severity != progressive.SeverityWarn {
			failing[m.Check] = true
		}
	}
	// The latest pass of any failing check: the problem began after it.
	lastGood := x.st.Step.StartedAt
	for check := range failing {
		if at, ok := x.st.Step.LastPass[check]; ok && at.After(lastGood) {
			lastGood = at
		}
	}
	return rollbackInfo{lastGood: lastGood}
}

// lastPasses records when each check last passed in the step in flight.
func lastPasses(prev map[string]time.Time, ms []analysis.Measurement) map[string]time.Time {
	for _, m := range ms {
		if m.Outcome != analysis.OutcomePass {
			continue
		}
		if prev == nil {
			prev = map[string]time.Time{}
		}
		prev[m.Check] = m.Time
	}
	return prev
}

func (x *exec) approval(ctx context.Context, a progressive.ApprovalStep) (stepOutcome, error) {
	approver := x.r.opts.Providers.Approver
	if approver == nil {
		return stepOutcome{}, fmt.Errorf("approval gate %q: no Approver configured: %w", a.Gate, progressive.ErrInvalid)
	}
	status, reason, err := approver.Approval(ctx, ApprovalRequest{
		Rollout: x.st.ID,
		Gate:    a.Gate,
		Target:  x.st.Plan.Target,
		Release: x.st.Plan.Release,
		Step:    x.st.Step.Index,
		Summary: summarize(x.st),
	})
	if err != nil {
		return stepOutcome{}, fmt.Errorf("approval gate %q: %w", a.Gate, err)
	}
	switch status {
	case ApprovalApproved:
		x.st.decide(x.now, "approved", fmt.Sprintf("gate %q approved: %s", a.Gate, orDefault(reason, "no reason given")))
		return finished, nil
	case ApprovalDenied:
		return stepOutcome{rollback: fmt.Sprintf("gate %q denied: %s", a.Gate, orDefault(reason, "no reason given")), info: rollbackInfo{manual: true}}, nil
	}
	if a.Timeout > 0 && x.timedOut(a.Timeout, 0) {
		return stepOutcome{rollback: fmt.Sprintf("gate %q: no approval within %s", a.Gate, formatDuration(a.Timeout))}, nil
	}
	if !x.st.Step.Applied {
		x.st.Step.Applied = true
		x.emit(ctx, Event{Type: EventWaiting, Message: fmt.Sprintf("waiting for approval at gate %q", a.Gate)})
		return waitFor(x.r.opts.PollInterval), nil
	}
	return stepOutcome{wait: x.r.opts.PollInterval}, nil
}

func (x *exec) roll(ctx context.Context, r progressive.RollStep) (stepOutcome, error) {
	w, err := x.r.opts.Providers.workload(x.st.Plan)
	if err != nil {
		return stepOutcome{}, err
	}
	roller, ok := w.(progressive.Roller)
	if !ok {
		return stepOutcome{}, fmt.Errorf("workload %s cannot update in place: %w", w.Name(), progressive.ErrUnsupported)
	}
	t := x.st.Plan.Target
	if !x.st.Applied.Rolled {
		before, err := roller.RollStatus(ctx, t)
		if err != nil {
			return stepOutcome{}, fmt.Errorf("read rollout status: %w", err)
		}
		x.st.Applied.Rolled = true
		x.st.Applied.PreviousRevision = before.Revision
		if err := x.save(ctx); err != nil {
			return stepOutcome{}, err
		}
	}
	wasApplied := x.st.Step.Applied
	if !x.st.Step.Applied {
		if err := roller.RollTo(ctx, t, x.st.Plan.Release, r.Updated, r.Params); err != nil {
			return stepOutcome{}, fmt.Errorf("update %d pod(s) to %s: %w", r.Updated, x.st.Plan.Release, err)
		}
		x.st.Step.Applied = true
		x.st.decide(x.now, "roll", fmt.Sprintf("updating until %d pod(s) run %s", r.Updated, x.st.Plan.Release))
	}
	rs, err := roller.RollStatus(ctx, t)
	if err != nil {
		return stepOutcome{}, fmt.Errorf("read rollout status: %w", err)
	}
	if rs.UpdatedReady >= r.Updated && rs.Unready == 0 {
		x.st.decide(x.now, "ready", fmt.Sprintf("%d/%d pods updated and ready", rs.UpdatedReady, rs.Desired))
		return finished, nil
	}
	if x.timedOut(r.ReadyTimeout, DefaultReadyTimeout) {
		share := 0.0
		if rs.Desired > 0 {
			share = 100 * float64(rs.Unready) / float64(rs.Desired)
		}
		if share > r.ReadinessBudget {
			return stepOutcome{rollback: fmt.Sprintf("%d of %d pods (%.3g%%) fail readiness after %s, over the %g%% budget", rs.Unready, rs.Desired, share, formatDuration(orDuration(r.ReadyTimeout, DefaultReadyTimeout)), r.ReadinessBudget), info: rollbackInfo{lastGood: x.st.Step.StartedAt}}, nil
		}
		x.st.decide(x.now, "advance", fmt.Sprintf("%d of %d pods (%.3g%%) fail readiness, within the %g%% budget", rs.Unready, rs.Desired, share, r.ReadinessBudget))
		return finished, nil
	}
	return waitAfter(x.r.opts.PollInterval, !wasApplied), nil
}

func (x *exec) promote(ctx context.Context, p progressive.PromoteStep) (stepOutcome, error) {
	w, err := x.r.opts.Providers.workload(x.st.Plan)
	if err != nil {
		return stepOutcome{}, err
	}
	t := x.st.Plan.Target
	wasApplied := x.st.Step.Applied
	if !x.st.Step.Applied {
		if err := w.Promote(ctx, t); err != nil {
			return stepOutcome{}, fmt.Errorf("promote %s: %w", x.st.Plan.Release, err)
		}
		x.st.Step.Applied = true
		x.st.Applied.Promoted = true
		x.st.decide(x.now, "promote", fmt.Sprintf("stable takes %s", x.st.Plan.Release))
	}
	status, err := w.Status(ctx, t)
	if err != nil {
		return stepOutcome{}, fmt.Errorf("read workload status: %w", err)
	}
	if status.Stable.Updated >= status.Stable.Replicas && status.Stable.Ready >= status.Stable.Replicas {
		return finished, nil
	}
	if x.timedOut(p.ReadyTimeout, DefaultReadyTimeout) {
		return stepOutcome{rollback: fmt.Sprintf("promoted stable not ready within %s: %d/%d ready", formatDuration(orDuration(p.ReadyTimeout, DefaultReadyTimeout)), status.Stable.Ready, status.Stable.Replicas)}, nil
	}
	return waitAfter(x.r.opts.PollInterval, !wasApplied), nil
}

func (x *exec) finalize(ctx context.Context) (stepOutcome, error) {
	t := x.st.Plan.Target
	if x.st.Applied.Routes != nil {
		router, err := x.r.opts.Providers.router(x.st.Plan)
		if err != nil {
			return stepOutcome{}, err
		}
		if err := router.Finalize(ctx, t); err != nil {
			return stepOutcome{}, fmt.Errorf("finalize routes with %s: %w", router.Name(), err)
		}
		got, err := router.GetRoutes(ctx, t)
		if err != nil {
			return stepOutcome{}, fmt.Errorf("read routes back from %s: %w", router.Name(), err)
		}
		x.st.Applied.Routes = &got
		x.emit(ctx, Event{Type: EventRoutesChanged, Message: "routes finalized: " + describeRoutes(got), Routes: &got})
	}
	if x.st.Applied.Deployed {
		w, err := x.r.opts.Providers.workload(x.st.Plan)
		if err != nil {
			return stepOutcome{}, err
		}
		if err := w.ScaleCanary(ctx, t, 0); err != nil {
			return stepOutcome{}, fmt.Errorf("scale the canary away: %w", err)
		}
	}
	var after exposure
	if x.st.Applied.Routes != nil {
		after.canaryWeight = progressive.Float(x.st.Applied.Routes.CanaryWeight)
	}
	x.st.decideExposure(x.now, "finalize", "canary routes removed and canary scaled to 0; stable runs "+x.st.Plan.Release.String(), after)
	return finished, nil
}

func summarize(st *State) string {
	return fmt.Sprintf("%s: step %d of %d, canary weight up to %s, %d measurements, %d decisions",
		st.Plan.Target, st.Step.Index+1, len(st.Plan.Steps), percentWords(st.Applied.MaxCanaryWeight), st.Record.Impact.Measurements, len(st.Record.Decisions))
}
