package rollout

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/analysis"
)

// rollbackInfo carries what the record needs about why and when.
type rollbackInfo struct {
	manual, abort bool
	// lastGood is the earliest the problem can have started (zero when unknown).
	lastGood time.Time
	// err is the step's error when a failed step caused the rollback (for
	// observers counting errors by kind).
	err error
}

// Rollback actions, in the order they run. Traffic goes first: it is the one
// write that stops users from being hurt.
const (
	actionRoutes = "routes"
	actionFlags  = "flags"
	actionUndo   = "undo"
	// actionUndone waits until the revision Undo brought back is ready: until
	// then users are not back on a healthy stable, whatever the Deployment's
	// template says.
	actionUndone = "undone"
	actionCanary = "canary"
	actionHooks  = "hooks"
)

func (x *exec) startRollback(ctx context.Context, reason string, info rollbackInfo) {
	// A hook or a provider call may have taken a while since this Reconcile
	// began: the decision is made now.
	x.now = x.r.opts.Clock.Now()
	st := x.st
	st.Phase = PhaseRollingBack
	st.HeldReason = ""
	st.Rollback = &RollbackState{Reason: reason, DecidedAt: x.now, Manual: info.manual, Abort: info.abort}
	st.decide(x.now, "rollback", reason)
	if !info.lastGood.IsZero() && !info.manual {
		st.Record.Impact.LastGoodAt = info.lastGood
	}
	st.Record.Impact.DetectedAt = x.now
	x.emit(ctx, Event{Type: EventRollbackStarted, Message: reason, Err: info.err})
}

// rollback applies the remaining rollback actions, each recorded as done once it
// succeeded, so a restart neither repeats nor skips one. Transient failures are
// retried with a backoff for as long as it takes: a rollback is never abandoned.
func (x *exec) rollback(ctx context.Context) (time.Duration, error) {
	rb := x.st.Rollback
	if rb == nil {
		rb = &RollbackState{Reason: "rollback state lost", DecidedAt: x.now}
		x.st.Rollback = rb
	}
	for _, action := range []string{actionRoutes, actionFlags, actionUndo, actionUndone, actionCanary, actionHooks} {
		if rb.done(action) {
			continue
		}
		if err := x.rollbackAction(ctx, action); err != nil {
			if progressive.IsPending(err) {
				// Under way, not failed: a rollback waits for as long as it
				// takes, without counting attempts.
				return orPoll(progressive.RetryAfter(err), x.r.opts.PollInterval), nil
			}
			rb.Attempts++
			rb.LastError = err.Error()
			wait := x.backoff(rb.Attempts)
			x.st.decide(x.now, "rollback-retry", fmt.Sprintf("rollback action %s failed (attempt %d), retrying in %s: %v", action, rb.Attempts, wait, err))
			if serr := x.save(ctx); serr != nil {
				return 0, serr
			}
			x.emit(ctx, Event{Type: EventError, Message: err.Error(), Err: err})
			return wait, nil
		}
		rb.Done = append(rb.Done, action)
		if err := x.save(ctx); err != nil {
			return 0, err
		}
	}
	outcome, phase := OutcomeRolledBack, PhaseRolledBack
	if rb.Abort {
		outcome, phase = OutcomeAborted, PhaseAborted
	}
	x.st.Phase = phase
	x.st.decideExposure(x.now, string(outcome), backWords(x.st.Plan)+": "+rb.Reason, afterRollback(x.st.Applied))
	x.finishRecord(ctx, outcome)
	if err := x.save(ctx); err != nil {
		return 0, err
	}
	back := "back on stable"
	if flagOf(x.st.Plan) != nil {
		back = backWords(x.st.Plan)
	}
	x.emit(ctx, Event{Type: EventRollbackCompleted, Message: back + ": " + rb.Reason})
	return 0, nil
}

func (x *exec) rollbackAction(ctx context.Context, action string) error {
	st := x.st
	t := st.Plan.Target
	switch action {
	case actionRoutes:
		if st.Applied.Routes == nil {
			return nil
		}
		router, err := x.r.opts.Providers.router(st.Plan)
		if err != nil {
			return err
		}
		if err := router.SetRoutes(ctx, t, progressive.AllStable()); err != nil {
			return fmt.Errorf("routes back to stable: %w", err)
		}
		got, err := router.GetRoutes(ctx, t)
		if err != nil {
			return fmt.Errorf("read routes back: %w", err)
		}
		if got.CanaryWeight != 0 || got.MirrorPercent != 0 || len(got.Matches) != 0 {
			return fmt.Errorf("routes read back as %s after the switch to stable: %w", describeRoutes(got), progressive.ErrTransient)
		}
		st.Applied.Routes = &got
		x.st.Record.Impact.RecoveredAt = x.r.opts.Clock.Now()
		x.emit(ctx, Event{Type: EventRoutesChanged, Message: "all traffic back on stable", Routes: &got})
	case actionFlags:
		if len(st.Applied.Flags) == 0 {
			return nil
		}
		store, err := x.r.opts.Providers.flags(st.Plan)
		if err != nil {
			return err
		}
		for i, f := range st.Applied.Flags {
			if len(f.Targets) > 0 || len(f.Segments) > 0 {
				// Targeted users are served the variation whatever the
				// percentage: they go back first, each flag in its own writes.
				if err := x.clearFlagTargets(ctx, store, &st.Applied.Flags[i]); err != nil {
					return err
				}
				x.emit(ctx, Event{Type: EventFlagChanged, Message: fmt.Sprintf("flag %s: the rollout's targets removed", f.Ref)})
			}
			if f.Percent == 0 {
				continue
			}
			if err := store.SetRollout(ctx, f.Ref, progressive.PercentRollout(f.Variation, f.Fallback, 0)); err != nil {
				return fmt.Errorf("flag %s back to 0%%: %w", f.Ref, err)
			}
			st.Applied.Flags[i].Percent = 0
			x.emit(ctx, Event{Type: EventFlagChanged, Message: fmt.Sprintf("flag %s back to 0%%", f.Ref)})
		}
		x.st.Record.Impact.RecoveredAt = x.r.opts.Clock.Now()
	case actionUndo:
		if !st.Applied.Rolled {
			return nil
		}
		w, err := x.r.opts.Providers.workload(st.Plan)
		if err != nil {
			return err
		}
		roller, ok := w.(progressive.Roller)
		if !ok {
			return fmt.Errorf("workload %s cannot undo: %w", w.Name(), progressive.ErrUnsupported)
		}
		if err := roller.Undo(ctx, t, st.Applied.PreviousRevision); err != nil {
			return fmt.Errorf("undo to revision %d: %w", st.Applied.PreviousRevision, err)
		}
		// Not recovered yet: the old revision's pods start now (actionUndone).
	case actionUndone:
		if !st.Applied.Rolled {
			return nil
		}
		return x.waitUndone(ctx)
	case actionCanary:
		// After a promotion stable already runs the release: scaling the canary
		// away still holds, but the old release is gone and only a new rollout (or
		// a Roller's Undo) brings it back; the decision record says so.
		if !st.Applied.Deployed && !deployAttempted(st) {
			return nil
		}
		if st.Applied.Promoted {
			st.decide(x.now, "note", "the release was already promoted to stable; rollback returns traffic to stable, which now runs it")
		}
		w, err := x.r.opts.Providers.workload(st.Plan)
		if err != nil {
			return err
		}
		if err := w.RollbackCanary(ctx, t); err != nil {
			if !st.Applied.Deployed && errors.Is(err, progressive.ErrNotFound) {
				// The deploy never completed and left nothing to scale away.
				return nil
			}
			return fmt.Errorf("scale the canary to 0: %w", err)
		}
		if x.st.Record.Impact.RecoveredAt.IsZero() {
			x.st.Record.Impact.RecoveredAt = x.r.opts.Clock.Now()
		}
	case actionHooks:
		_, _, err := x.lifecycleHooksBestEffort(ctx, progressive.HookOnRollback)
		return err
	}
	return nil
}

// waitUndone waits until every pod runs the revision Undo brought back and
// passes readiness; only then are users back on a healthy stable, and that
// instant is the recovery (Impact.RecoveredAt). It waits as long as the plan's
// roll steps allow a batch (RollStep.ReadyTimeout, default 10m) from the
// rollback decision; pods still unready then are recorded and the rollback
// ends, saying so, rather than wait forever on a release that never was healthy.
func (x *exec) waitUndone(ctx context.Context) error {
	st := x.st
	w, err := x.r.opts.Providers.workload(st.Plan)
	if err != nil {
		return err
	}
	roller, ok := w.(progressive.Roller)
	if !ok {
		return fmt.Errorf("workload %s cannot undo: %w", w.Name(), progressive.ErrUnsupported)
	}
	rs, err := roller.RollStatus(ctx, st.Plan.Target)
	if err != nil {
		return fmt.Errorf("read rollout status after the undo: %w", err)
	}
	now := x.r.opts.Clock.Now()
	if rs.UpdatedReady >= rs.Desired && rs.Unready == 0 {
		st.Record.Impact.RecoveredAt = now
		st.decide(now, "recovered", fmt.Sprintf("the previous revision is ready again: %d/%d pods", rs.UpdatedReady, rs.Desired))
		return nil
	}
	limit := rollReadyTimeout(st.Plan)
	if waited := now.Sub(st.Rollback.DecidedAt); waited >= limit {
		st.Record.Impact.RecoveredAt = now
		st.decide(now, "note", fmt.Sprintf("the previous revision is still not ready %s after the rollback decision (%d of %d pods ready, %d unready); the rollback ends without waiting longer: look at the pods",
			formatDuration(limit), rs.UpdatedReady, rs.Desired, rs.Unready))
		return nil
	}
	return progressive.Pending(x.r.opts.PollInterval, "waiting for the previous revision's pods: %d of %d ready, %d unready", rs.UpdatedReady, rs.Desired, rs.Unready)
}

// rollReadyTimeout is the longest ReadyTimeout of the plan's roll steps.
func rollReadyTimeout(plan progressive.Plan) time.Duration {
	var d time.Duration
	for _, s := range plan.Steps {
		if s.Roll != nil {
			d = max(d, orDuration(s.Roll.ReadyTimeout, DefaultReadyTimeout))
		}
	}
	return orDuration(d, DefaultReadyTimeout)
}

// backWords says where a rollback left users: on stable for a workload, on
// the fallback variation for a flag (a flag has no stable side).
func backWords(plan progressive.Plan) string {
	if f := flagOf(plan); f != nil {
		return fmt.Sprintf("everyone is back on %q of flag %s", f.Fallback, f.Flag)
	}
	return "everything is back on stable"
}

// backWordsPast is backWords in the past tense, for the record's learning.
func backWordsPast(plan progressive.Plan) string {
	if f := flagOf(plan); f != nil {
		return fmt.Sprintf("everyone was back on %q of flag %s", f.Fallback, f.Flag)
	}
	return "everything was back on stable"
}

// flagOf is the first flag step of a plan that only changes flags, or nil.
func flagOf(plan progressive.Plan) *progressive.SetFlagStep {
	if !isFlagOnly(plan) {
		return nil
	}
	for _, s := range plan.Steps {
		if s.SetFlag != nil {
			return s.SetFlag
		}
	}
	return nil
}

// finishRecord fills the impact and the learning once the rollout has ended.
func (x *exec) finishRecord(ctx context.Context, outcome Outcome) {
	rec := &x.st.Record
	im := &rec.Impact
	im.Outcome = outcome
	im.FinishedAt = x.now
	im.Duration = Duration(x.now.Sub(im.StartedAt))
	im.RolledBack = outcome == OutcomeRolledBack || outcome == OutcomeAborted
	im.MaxCanaryWeight = x.st.Applied.MaxCanaryWeight
	im.MaxFlagPercent = x.st.Applied.MaxFlagPercent
	if im.RolledBack {
		if im.RecoveredAt.IsZero() {
			im.RecoveredAt = x.now
		}
		rd := Duration(im.RecoveredAt.Sub(im.DetectedAt))
		im.RollbackDuration = &rd
		if !im.LastGoodAt.IsZero() {
			ttd := Duration(im.DetectedAt.Sub(im.LastGoodAt))
			ttr := Duration(im.RecoveredAt.Sub(im.LastGoodAt))
			im.TimeToDetect, im.TimeToRecover = &ttd, &ttr
		}
	}
	obs := rec.Observations
	if full, err := x.r.fullRecord(ctx, *x.st); err == nil {
		obs = full.Observations
	}
	rec.Learning = append(rec.Learning, learn(x.st, outcome, obs)...)
}

// learn turns the observations into reusable sentences (the first law of the design document's decision records).
func learn(st *State, outcome Outcome, obs []analysis.Measurement) []string {
	var out []string
	im := st.Record.Impact
	switch outcome {
	case OutcomePromoted:
		out = append(out, fmt.Sprintf("%s was promoted after %s with %d measurements and no failed check.", st.Plan.Release, im.Duration.Readable(), im.Measurements))
	default:
		where := ""
		if im.MaxCanaryWeight > 0 {
			where = fmt.Sprintf(" with the canary at up to %s of traffic", percentWords(im.MaxCanaryWeight))
		}
		if im.MaxFlagPercent > 0 {
			where = fmt.Sprintf(" with the flag at up to %s of users", percentWords(im.MaxFlagPercent))
		}
		out = append(out, fmt.Sprintf("%s was %s%s: %s.", st.Plan.Release, strings.ReplaceAll(string(outcome), "-", " "), where, strings.TrimSuffix(st.Rollback.Reason, ".")))
		if im.TimeToDetect != nil {
			out = append(out, fmt.Sprintf("Detected within %s of the last good measurement; %s %s after the decision.", im.TimeToDetect.Readable(), backWordsPast(st.Plan), im.RollbackDuration.Readable()))
		}
	}
	for _, s := range checkSummaries(obs) {
		out = append(out, s)
	}
	return out
}

// checkSummaries reports per check how many measurements passed and the worst value.
func checkSummaries(obs []analysis.Measurement) []string {
	type agg struct {
		n, pass, fail, inconclusive int
		min, max                    float64
	}
	byCheck := map[string]*agg{}
	var names []string
	for _, m := range obs {
		a := byCheck[m.Check]
		if a == nil {
			a = &agg{min: math.Inf(1), max: math.Inf(-1)}
			byCheck[m.Check] = a
			names = append(names, m.Check)
		}
		a.n++
		switch m.Outcome {
		case analysis.OutcomePass:
			a.pass++
		case analysis.OutcomeFail:
			a.fail++
		default:
			a.inconclusive++
		}
		v := m.Value
		if m.Compared != nil {
			v = *m.Compared
		}
		if !math.IsNaN(v) {
			a.min, a.max = math.Min(a.min, v), math.Max(a.max, v)
		}
	}
	sort.Strings(names)
	out := make([]string, 0, len(names))
	for _, name := range names {
		a := byCheck[name]
		s := fmt.Sprintf("Check %s: %d measurement(s), %d passed, %d failed, %d inconclusive", name, a.n, a.pass, a.fail, a.inconclusive)
		if !math.IsInf(a.min, 1) {
			s += fmt.Sprintf("; values from %.4g to %.4g", a.min, a.max)
		}
		out = append(out, s+".")
	}
	return out
}

// deployAttempted reports whether the rollout reached a deploy step: a deploy
// that failed after its write reached the cluster (its wait for pods, say) left
// a canary that Applied.Deployed does not know about, and scaling away a canary
// that is not there changes nothing.
func deployAttempted(st *State) bool {
	for i, s := range st.Plan.Steps {
		if i > st.Step.Index {
			break
		}
		if s.Deploy != nil {
			return true
		}
	}
	return false
}
