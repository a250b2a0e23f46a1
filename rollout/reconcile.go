package rollout

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/agentops/progressive"
)

// maxTransitionsPerReconcile bounds the steps one Reconcile may complete, so a plan
// of instant steps cannot spin forever on a broken store.
const maxTransitionsPerReconcile = 64

// Reconcile loads rollout id, carries out every transition that is due now, saves
// the state after each one, and says when to call again. It is safe to call at any
// time, from a controller's reconcile loop or a timer; a process that died between
// two calls continues exactly where the store says.
func (r *Runner) Reconcile(ctx context.Context, id string) (Result, error) {
	// Providers may answer a long wait with "not yet" (progressive.ErrPending):
	// the step is asked again after the wait, and the lock is not held
	// meanwhile, so an Abort is carried out at the next call.
	ctx = progressive.AllowPending(ctx)
	e, unlock := r.lock(id)
	defer unlock()
	st, err := r.load(ctx, id)
	if err != nil {
		return Result{}, err
	}
	x := &exec{r: r, st: &st, saved: st.Phase}
	if u := r.takeUnsaved(e); u != nil && u.base == st.Version {
		// Nothing was stored since: go on with the measurements taken since
		// then. Any write (a command, another runner) discards them.
		st = u.state
		x.unsavedTicks = u.ticks
	}
	for i := 0; i < maxTransitionsPerReconcile; i++ {
		if st.Phase.Terminal() && x.saved.Terminal() {
			return Result{Phase: st.Phase, Step: st.Step.Index}, nil
		}
		x.now = r.opts.Clock.Now()
		if st.Command != nil {
			if err := x.applyCommand(ctx); err != nil {
				return x.result(0), err
			}
			continue
		}
		var wait time.Duration
		switch st.Phase {
		case PhaseHeld:
			return x.result(r.opts.PollInterval), nil
		case PhaseRollingBack:
			wait, err = x.rollback(ctx)
		default:
			wait, err = x.progress(ctx)
		}
		if err != nil {
			return x.result(r.opts.PollInterval), err
		}
		if wait > 0 {
			if err := x.flush(ctx); err != nil {
				return x.result(r.opts.PollInterval), err
			}
			if x.kept {
				r.keepUnsaved(e, st, x.unsavedTicks+1)
			}
			return x.result(wait), nil
		}
	}
	if err := x.flush(ctx); err != nil {
		return x.result(r.opts.PollInterval), err
	}
	return x.result(r.opts.PollInterval), nil
}

// exec carries one Reconcile's view of a rollout.
type exec struct {
	r   *Runner
	st  *State
	now time.Time
	// saved is the phase of the state as last loaded or saved: what Result
	// reports, so that no caller hears of an end that was never stored.
	saved Phase
	// kept marks changes left unsaved on purpose (passing measurements), which
	// the next Reconcile continues from (perID.unsaved).
	kept bool
	// unsavedTicks counts the Reconciles kept in a row before this one.
	unsavedTicks int
	// dirty marks a completed step not saved yet: the move to the next step is
	// stored together with that step's own first change, so an advancing tick
	// costs one state write instead of one per transition (see advance).
	dirty bool
	// claimUnsaved marks a step's first claim (StepState.ClaimedAt) not saved
	// yet: a step that answers "not yet" saves it, or every Reconcile would
	// claim it anew and its timeout never come.
	claimUnsaved bool
}

func (x *exec) result(wait time.Duration) Result {
	if x.saved.Terminal() {
		wait = 0
	}
	return Result{Phase: x.saved, Step: x.st.Step.Index, RequeueAfter: wait}
}

// save persists the state; every transition goes through here.
func (x *exec) save(ctx context.Context) error {
	x.st.UpdatedAt = x.now
	saved, err := x.r.opts.Store.Update(ctx, *x.st)
	if err != nil {
		if errors.Is(err, progressive.ErrConflict) {
			// Someone else wrote the state since we read it: another runner,
			// or a command (Abort from a CLI). Not a provider's conflict.
			return fmt.Errorf("rollout %s: save state: %w: %w", x.st.ID, ErrStateChanged, err)
		}
		return fmt.Errorf("rollout %s: save state: %w: %w", x.st.ID, errStoreWrite, err)
	}
	*x.st = saved
	x.saved = saved.Phase
	x.dirty = false
	x.kept = false
	x.claimUnsaved = false
	return nil
}

// flush saves a step advance that nothing saved since.
func (x *exec) flush(ctx context.Context) error {
	if !x.dirty {
		return nil
	}
	return x.save(ctx)
}

// errStoreWrite marks a state write the store failed (not a lost conflict).
var errStoreWrite = errors.New("the state store did not take the write")

// ErrStateChanged marks a state write that lost to another writer (it also
// wraps progressive.ErrConflict). Run reloads and goes on: a command stored by
// another process is then carried out, and a second runner's progress is seen.
var ErrStateChanged = errors.New("the stored state changed since it was read")

func (x *exec) emit(ctx context.Context, e Event) { x.r.emit(ctx, x.st, e) }

func (x *exec) applyCommand(ctx context.Context) error {
	cmd := *x.st.Command
	x.st.Command = nil
	reason := cmd.Reason
	if reason == "" {
		reason = "requested"
	}
	x.emit(ctx, Event{Type: EventCommand, Message: fmt.Sprintf("%s: %s", cmd.Kind, reason)})
	switch cmd.Kind {
	case CommandAbort, CommandRollback:
		if x.st.Phase == PhaseRollingBack {
			x.st.Rollback.Abort = x.st.Rollback.Abort || cmd.Kind == CommandAbort
			break
		}
		x.startRollback(ctx, fmt.Sprintf("manual %s: %s", cmd.Kind, reason), rollbackInfo{manual: true, abort: cmd.Kind == CommandAbort})
	case CommandPromote:
		if x.st.Phase == PhaseRollingBack {
			x.st.decide(x.now, "ignore", "promote requested during a rollback; the rollback continues")
			break
		}
		target := x.promotionIndex()
		x.st.decide(x.now, "promote", fmt.Sprintf("manual promotion (%s): skipping to step %d", reason, target+1))
		x.st.Phase = PhaseProgressing
		x.st.HeldReason = ""
		if target != x.st.Step.Index {
			x.st.Step = StepState{Index: target, StartedAt: x.now}
		}
	case CommandPromoteStep:
		x.promoteStep(ctx, reason)
	case CommandResume:
		if x.st.Phase == PhaseHeld {
			x.st.decide(x.now, "resume", "resumed by a person: "+reason)
			x.st.Phase = PhaseProgressing
			x.st.HeldReason = ""
			x.st.Step = StepState{Index: x.st.Step.Index, StartedAt: x.now}
		}
	default:
		return fmt.Errorf("rollout %s: unknown command %q: %w", x.st.ID, cmd.Kind, progressive.ErrInvalid)
	}
	return x.save(ctx)
}

// CommandPromoteStep ends the waiting step in flight and moves to the next one
// (Runner.PromoteStep). It sits with the code that carries it out.
const CommandPromoteStep CommandKind = "promote-step"

// PromoteStep ends the step the rollout waits in (a pause, an analysis or an
// approval gate, or the step of a held rollout) as if it had completed, and
// moves to the next step; the steps after it run as planned, with their own
// analysis. It is Argo Rollouts' `promote` without --full: a paused canary
// advances exactly one step. Promote (Argo's `promote --full`) skips every
// remaining step instead.
//
// A step that acts rather than waits (a deploy, a traffic or flag write, a
// roll, a promotion) is not cut short: its pods or its read-back are what the
// next step relies on, so PromoteStep refuses it with an error wrapping
// progressive.ErrInvalid. Like every command it is stored with the state and
// carried out by whichever process drives the rollout; if the rollout moved on
// to an action step in the meantime, the command is recorded and ignored.
func (r *Runner) PromoteStep(ctx context.Context, id, reason string) error {
	st, err := r.opts.Store.Get(ctx, id)
	if err != nil {
		return fmt.Errorf("rollout %s: %s: %w", id, CommandPromoteStep, err)
	}
	if !st.Phase.Terminal() && st.Phase != PhaseRollingBack {
		if step, ok := st.CurrentStep(); ok && !skippable(st, step) {
			return fmt.Errorf("rollout %s: %s: step %d (%s) is an action under way, not a wait; only a pause, an analysis, an approval or a held step can be ended early: %w",
				id, CommandPromoteStep, st.Step.Index+1, step.Kind(), progressive.ErrInvalid)
		}
	}
	return r.command(ctx, id, CommandPromoteStep, reason)
}

// skippable reports whether PromoteStep may end step early: it only waits
// (time, measurements or a person), or the rollout is held there.
func skippable(st State, step progressive.Step) bool {
	return st.Phase == PhaseHeld || step.Pause != nil || step.Analyze != nil || step.Approval != nil
}

// promoteStep carries out Runner.PromoteStep: the waiting step in flight ends
// as if it had completed and the next one starts now. Nothing else is skipped.
func (x *exec) promoteStep(ctx context.Context, reason string) {
	st := x.st
	step, ok := st.CurrentStep()
	switch {
	case st.Phase == PhaseRollingBack:
		st.decide(x.now, "ignore", "promote-step requested during a rollback; the rollback continues")
		return
	case !ok:
		return // every step completed; the next tick ends the rollout
	case !skippable(*st, step):
		// The rollout moved on between the command and now (PromoteStep checked
		// the step it saw): an action is never cut short.
		st.decide(x.now, "ignore", fmt.Sprintf("promote-step requested while step %d (%s) is under way; only a pause, an analysis, an approval or a held step ends early", st.Step.Index+1, step.Kind()))
		return
	}
	next := st.Step.Index + 1
	msg := fmt.Sprintf("manual promotion of one step (%s): step %d (%s) ended early", reason, st.Step.Index+1, step.Kind())
	if next < len(st.Plan.Steps) {
		msg += fmt.Sprintf("; step %d (%s) starts now", next+1, st.Plan.Steps[next].Kind())
	}
	st.decide(x.now, "promote-step", msg)
	st.Record.Impact.StepsCompleted++
	x.emit(ctx, Event{Type: EventStepCompleted, Message: "ended early by a person: " + describeStep(st.Plan, step)})
	st.Phase = PhaseProgressing
	st.HeldReason = ""
	st.Step = StepState{Index: next, StartedAt: x.now}
	if next < len(st.Plan.Steps) {
		x.emit(ctx, Event{Type: EventStepStarted, Message: describeStep(st.Plan, st.Plan.Steps[next])})
	}
}

// promotionIndex is the first promote step from the current one on, or the last step.
func (x *exec) promotionIndex() int {
	steps := x.st.Plan.Steps
	for i := x.st.Step.Index; i < len(steps); i++ {
		if steps[i].Promote != nil {
			return i
		}
	}
	return len(steps) - 1
}

// progress carries out the step in flight. It returns how long to wait, or zero
// when the state moved on and the loop should continue at once.
func (x *exec) progress(ctx context.Context) (time.Duration, error) {
	st := x.st
	if st.Step.Index == 0 && !st.Step.Applied {
		if ok, wait, err := x.lifecycleHooks(ctx, progressive.HookPreRollout); !ok {
			return wait, err
		}
	}
	step, ok := st.CurrentStep()
	if !ok {
		return 0, x.succeed(ctx)
	}
	if x.isPromotionPoint(step) {
		if ok, wait, err := x.lifecycleHooks(ctx, progressive.HookPrePromotion); !ok {
			return wait, err
		}
	}
	if x.dirty && !repeatable(step) {
		// A promote, deploy, scale, roll, finalize or hook must not run while
		// the store still points at the step before it: a restart would re-run
		// that step, and a rollback decided there would not know what this
		// one changed.
		if err := x.flush(ctx); err != nil {
			return 0, err
		}
	}
	out, err := x.executeStep(ctx, step)
	if err != nil {
		return x.stepFailed(ctx, step, err)
	}
	switch {
	case out.rollback != "":
		x.startRollback(ctx, out.rollback, out.info)
		return 0, x.save(ctx)
	case out.hold != "":
		st.Phase = PhaseHeld
		st.HeldReason = out.hold
		st.decide(x.now, "hold", out.hold)
		if err := x.save(ctx); err != nil {
			return 0, err
		}
		x.emit(ctx, Event{Type: EventHeld, Message: out.hold})
		return x.r.opts.PollInterval, nil
	case out.done:
		return 0, x.advance(ctx, step)
	default:
		if out.changed || x.dirty {
			if err := x.save(ctx); err != nil {
				return 0, err
			}
		} else if out.keep && x.unsavedTicks < maxUnsavedTicks {
			x.kept = true
		} else if out.keep {
			if err := x.save(ctx); err != nil {
				return 0, err
			}
		}
		if out.wait <= 0 {
			out.wait = x.r.opts.PollInterval
		}
		return out.wait, nil
	}
}

// repeatable reports whether step may run, and its completion stay unsaved,
// until the next save: its side effect, a traffic split, is restored by any
// rollback whatever the stored step says (Applied.Routes is stored before the
// first traffic write), and repeating it after a restart writes the same
// content.
func repeatable(step progressive.Step) bool {
	return step.SetWeight != nil || step.SetRoutes != nil || step.Switch != nil || step.Analyze != nil || step.Pause != nil
}

// isPromotionPoint reports whether pre-promotion hooks run before step: at the
// first promote step, or at the last step of a plan without one.
func (x *exec) isPromotionPoint(step progressive.Step) bool {
	if step.Promote != nil {
		return true
	}
	for _, s := range x.st.Plan.Steps {
		if s.Promote != nil {
			return false
		}
	}
	return x.st.Step.Index == len(x.st.Plan.Steps)-1 && len(x.st.Plan.Steps) > 1
}

// stepFailed retries transient failures with a backoff and rolls back on the rest
// or when attempts run out.
func (x *exec) stepFailed(ctx context.Context, step progressive.Step, err error) (time.Duration, error) {
	st := x.st
	switch {
	case errors.Is(err, errClaimedElsewhere):
		return x.r.opts.PollInterval, nil
	case errors.Is(err, ErrStateChanged):
		// Our view of the rollout is stale: stop here and reload.
		return 0, err
	case progressive.IsPending(err) && !x.timedOut(0, DefaultReadyTimeout):
		// Started and under way (pods starting, endpoints catching up):
		// nothing to store but the step's first claim, ask again later.
		if x.claimUnsaved {
			if serr := x.save(ctx); serr != nil {
				return 0, serr
			}
		}
		return orPoll(progressive.RetryAfter(err), x.r.opts.PollInterval), nil
	}
	label := fmt.Sprintf("step %d (%s)", st.Step.Index+1, step.Kind())
	if progressive.IsTransient(err) && !errors.Is(err, context.Canceled) && ctx.Err() == nil && st.Step.Attempts+1 < x.r.opts.MaxAttempts {
		st.Step.Attempts++
		st.Step.LastError = err.Error()
		wait := x.backoff(st.Step.Attempts)
		st.decide(x.now, "retry", fmt.Sprintf("%s failed transiently (attempt %d of %d), retrying in %s: %v", label, st.Step.Attempts, x.r.opts.MaxAttempts, wait, err))
		if serr := x.save(ctx); serr != nil {
			return 0, serr
		}
		x.emit(ctx, Event{Type: EventError, Message: err.Error(), Err: err})
		return wait, nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil {
		return 0, err
	}
	x.startRollback(ctx, fmt.Sprintf("%s failed: %v", label, err), rollbackInfo{err: err})
	return 0, x.save(ctx)
}

// MaxRetryBackoff caps the wait before retrying a transiently failed step,
// whatever Options.RetryBackoff and the attempt number say.
const MaxRetryBackoff = 5 * time.Minute

// backoff doubles per attempt up to 8 times Options.RetryBackoff, is capped at
// MaxRetryBackoff, and is spread by up to ±20% by the rollout's id and the
// attempt: many rollouts retrying one failed backend do not retry in lockstep,
// and one rollout's schedule stays reproducible (a test's fake clock sees the same
// waits every run).
func (x *exec) backoff(attempt int) time.Duration {
	d := x.r.opts.RetryBackoff
	for i := 1; i < attempt && i < 4; i++ {
		d *= 2
	}
	d = min(d, MaxRetryBackoff)
	h := fnv.New64a()
	fmt.Fprintf(h, "%s/%d", x.st.ID, attempt)
	spread := float64(h.Sum64()%4001)/10000 - 0.2 // [-0.2, +0.2]
	return time.Duration(float64(d) * (1 + spread))
}

// advance completes the step in flight and moves to the next.
func (x *exec) advance(ctx context.Context, step progressive.Step) error {
	st := x.st
	st.Record.Impact.StepsCompleted++
	x.emit(ctx, Event{Type: EventStepCompleted, Message: "completed: " + describeStep(st.Plan, step)})
	// The next step starts when this one completed, after its write was read
	// back, not when this reconcile began: an analysis step's windows are placed
	// after that instant.
	x.now = x.r.opts.Clock.Now()
	st.Step = StepState{Index: st.Step.Index + 1, StartedAt: x.now}
	if st.Step.Index >= len(st.Plan.Steps) {
		return x.succeed(ctx)
	}
	if !repeatable(step) {
		if err := x.save(ctx); err != nil {
			return err
		}
	} else {
		// Not saved yet: the next step runs in this same Reconcile, and the
		// save after it stores both transitions at once (one state write per
		// advancing tick). Only a traffic, analysis or pause step is left
		// unsaved, and only such a step runs before that save (see
		// repeatable). A process that dies in between resumes at the completed
		// step, which is re-run: an analysis measures once more, now on the
		// next weight's traffic (which can only make it stricter), and a
		// traffic write is repeated with the same content; a rollback restores
		// stable whatever the stored step says, because the first traffic
		// write is stored before it is made (Applied.Routes).
		x.dirty = true
	}
	next := st.Plan.Steps[st.Step.Index]
	x.emit(ctx, Event{Type: EventStepStarted, Message: describeStep(st.Plan, next)})
	return nil
}

// succeed ends a rollout whose steps all completed.
func (x *exec) succeed(ctx context.Context) error {
	st := x.st
	if ok, _, err := x.lifecycleHooksBestEffort(ctx, progressive.HookPostRollout); !ok {
		return err
	}
	st.Phase = PhaseSucceeded
	// The action stays "promoted" (the outcome's name, which metrics count);
	// the words say what happened to this kind of plan.
	st.decide(x.now, "promoted", fmt.Sprintf("all %d steps completed; %s", len(st.Plan.Steps), doneWords(st.Plan)))
	x.finishRecord(ctx, OutcomePromoted)
	if err := x.save(ctx); err != nil {
		return err
	}
	x.emit(ctx, Event{Type: EventSucceeded, Message: successWords(st.Plan)})
	return nil
}

// successWords is the event of a completed rollout: a canary or blue-green
// release is promoted; a rolling update is not (there is no canary to promote:
// it rolled out), nor is a flag rollout (the flag serves the variation).
func successWords(plan progressive.Plan) string {
	switch {
	case isRolling(plan):
		return "rolled out " + plan.Release.String()
	case isFlagOnly(plan):
		return "completed: " + doneWords(plan)
	}
	return "promoted " + plan.Release.String()
}

// doneWords says what serves users once plan completed.
func doneWords(plan progressive.Plan) string {
	switch {
	case isRolling(plan):
		return "every pod runs " + plan.Release.String()
	case isFlagOnly(plan):
		var parts []string
		for i := len(plan.Steps) - 1; i >= 0; i-- {
			if f := plan.Steps[i].SetFlag; f != nil {
				parts = append(parts, fmt.Sprintf("flag %s serves %q to %s of users", f.Flag, f.Variation, percentWords(f.Percent)))
				break
			}
		}
		return strings.Join(parts, "; ")
	}
	return plan.Release.String() + " serves all traffic"
}

// isRolling reports whether plan updates pods in place (no canary, no router).
func isRolling(plan progressive.Plan) bool {
	for _, s := range plan.Steps {
		if s.Deploy != nil || s.Promote != nil {
			return false
		}
	}
	return slices.ContainsFunc(plan.Steps, func(s progressive.Step) bool { return s.Roll != nil })
}

// isFlagOnly reports whether plan only changes flags (the flag is the release).
func isFlagOnly(plan progressive.Plan) bool {
	for _, s := range plan.Steps {
		if s.Deploy != nil || s.Roll != nil || s.Promote != nil || s.SetWeight != nil || s.SetRoutes != nil || s.Switch != nil || s.Scale != nil {
			return false
		}
	}
	return slices.ContainsFunc(plan.Steps, func(s progressive.Step) bool { return s.SetFlag != nil })
}

// releaseWords names what a rollout releases: the version, or for a flag
// rollout without one, the flag and its variation (not an empty string).
func releaseWords(plan progressive.Plan) string {
	if r := plan.Release.String(); r != "" {
		return r
	}
	for _, s := range plan.Steps {
		if f := s.SetFlag; f != nil {
			return fmt.Sprintf("flag %s variation %q", f.Flag, f.Variation)
		}
	}
	return "the plan"
}

// percentWords prints a share for people: at most two decimals, no float
// noise ("90.91%", not "90.9090909090909%").
func percentWords(p float64) string {
	return strconv.FormatFloat(math.Round(p*100)/100, 'f', -1, 64) + "%"
}

// lifecycleHooks runs the plan's hooks of phase that have not run yet. A failure
// starts a rollback; ok is false when the caller must stop (waiting or rolled back).
func (x *exec) lifecycleHooks(ctx context.Context, phase progressive.HookPhase) (ok bool, wait time.Duration, err error) {
	for _, h := range x.st.Plan.Hooks {
		key := string(phase) + "/" + h.Name
		if h.Phase != phase || x.st.hookRun(key) {
			continue
		}
		if err := x.claimHook(ctx, key, h); err != nil {
			if errors.Is(err, errClaimedElsewhere) {
				return false, x.r.opts.PollInterval, nil
			}
			return false, 0, err
		}
		if herr := x.runHook(ctx, h, ""); herr != nil {
			x.startRollback(ctx, fmt.Sprintf("%s hook %q failed: %v", phase, h.Name, herr), rollbackInfo{})
			return false, 0, x.save(ctx)
		}
		x.st.HooksRun = append(x.st.HooksRun, key)
		x.st.decide(x.now, "hook", fmt.Sprintf("%s hook %q passed", phase, h.Name))
		if err := x.save(ctx); err != nil {
			return false, 0, err
		}
	}
	return true, 0, nil
}

// lifecycleHooksBestEffort runs hooks whose failure cannot undo what happened
// (post-rollout, on-rollback): failures are recorded, not acted on.
func (x *exec) lifecycleHooksBestEffort(ctx context.Context, phase progressive.HookPhase) (bool, time.Duration, error) {
	for _, h := range x.st.Plan.Hooks {
		key := string(phase) + "/" + h.Name
		if h.Phase != phase || x.st.hookRun(key) {
			continue
		}
		if err := x.claimHook(ctx, key, h); err != nil {
			if errors.Is(err, errClaimedElsewhere) {
				// Come back later: the other runner finishes it, or its claim
				// goes stale and this one runs it.
				return false, 0, fmt.Errorf("%s hook %q: %w: %w", phase, h.Name, err, progressive.ErrTransient)
			}
			return false, 0, err
		}
		if err := x.runHook(ctx, h, x.reasonForHooks()); err != nil {
			x.st.decide(x.now, "hook-failed", fmt.Sprintf("%s hook %q failed (ignored, nothing left to undo): %v", phase, h.Name, err))
		} else {
			x.st.decide(x.now, "hook", fmt.Sprintf("%s hook %q passed", phase, h.Name))
		}
		x.st.HooksRun = append(x.st.HooksRun, key)
	}
	return true, 0, nil
}

// claimHook saves the state with the hook claimed by this runner before the hook
// runs, so that a second runner reconciling the same rollout loses the state
// conflict here, not after running the hook (a migration) a second time. It
// returns errClaimedElsewhere while another runner's claim is fresh.
func (x *exec) claimHook(ctx context.Context, key string, spec progressive.HookSpec) error {
	i := slices.IndexFunc(x.st.HooksClaimed, func(c HookClaim) bool { return c.Key == key })
	switch {
	case i < 0:
		x.st.HooksClaimed = append(x.st.HooksClaimed, HookClaim{Key: key, Owner: x.r.id, At: x.now})
	case x.st.HooksClaimed[i].Owner == x.r.id:
		return nil // ours: a retry after an error in this process
	case x.now.Sub(x.st.HooksClaimed[i].At) < hookClaimTTL(spec):
		return errClaimedElsewhere
	default:
		// The other runner has had longer than the hook can take: it died.
		x.st.decide(x.now, "hook-takeover", fmt.Sprintf("hook %s was claimed by runner %s at %s and never finished; running it again",
			key, x.st.HooksClaimed[i].Owner, x.st.HooksClaimed[i].At.Format(time.RFC3339)))
		x.st.HooksClaimed[i] = HookClaim{Key: key, Owner: x.r.id, At: x.now}
	}
	return x.save(ctx)
}

// errClaimedElsewhere means another runner is running a hook right now.
var errClaimedElsewhere = errors.New("hook claimed by another runner")

// hookClaimTTL is how long a hook may take: its attempts at its timeout, plus a
// minute for the runner's own saves.
func hookClaimTTL(spec progressive.HookSpec) time.Duration {
	timeout := orDuration(spec.Timeout, progressive.DefaultHookTimeout)
	retries := spec.Retries
	if retries == 0 {
		retries = progressive.DefaultHookRetries
	}
	return time.Duration(max(retries, 0)+1)*timeout + time.Minute
}

func (x *exec) reasonForHooks() string {
	if x.st.Rollback != nil {
		return x.st.Rollback.Reason
	}
	return ""
}

func (x *exec) runHook(ctx context.Context, spec progressive.HookSpec, reason string) error {
	req := HookRequest{
		Rollout:  x.st.ID,
		Hook:     spec.Name,
		Phase:    spec.Phase,
		Target:   x.st.Plan.Target,
		Release:  x.st.Plan.Release,
		Step:     x.st.Step.Index,
		Reason:   reason,
		Metadata: spec.Metadata,
		Time:     x.now,
	}
	if spec.URL != "" {
		return NewWebhook(spec, x.r.opts.WebhookSecret, x.r.opts.HTTPClient, x.r.opts.Clock).Run(ctx, req)
	}
	h, ok := x.r.opts.Providers.hook(spec)
	if !ok {
		return fmt.Errorf("no Go hook registered as %q: %w", spec.Name, progressive.ErrInvalid)
	}
	timeout := orDuration(spec.Timeout, progressive.DefaultHookTimeout)
	retries := spec.Retries
	if retries == 0 {
		retries = progressive.DefaultHookRetries
	}
	var err error
	for attempt := 0; attempt <= max(retries, 0); attempt++ {
		hctx, cancel := context.WithTimeout(ctx, timeout)
		err = h.Run(hctx, req)
		cancel()
		if err == nil || !progressive.IsTransient(err) {
			return err
		}
	}
	return err
}

// orPoll is d, or poll when d is not positive.
func orPoll(d, poll time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return poll
}

// verifyRoutes compares, when Run starts driving a rollout (a restarted process
// resuming it), the routes the router reports with those the rollout applied
// (State.Applied.Routes, a read-back). Traffic moved by someone else while no
// process watched (a person's kubectl edit, a GitOps sync putting the manifest
// back) would otherwise be noticed only if a check lost its data; instead the
// drift is recorded as a decision and an event and the applied routes are
// written again and read back. A rollout rolling back is left alone: its first
// action sets all traffic to stable anyway.
func (r *Runner) verifyRoutes(ctx context.Context, id string) error {
	e, unlock := r.lock(id)
	defer unlock()
	st, err := r.load(ctx, id)
	if err != nil {
		return err
	}
	if st.Phase.Terminal() || st.Phase == PhaseRollingBack || st.Applied.Routes == nil || !planNeeds(st.Plan).router {
		return nil
	}
	router, err := r.opts.Providers.router(st.Plan)
	if err != nil {
		return err
	}
	got, err := router.GetRoutes(ctx, st.Plan.Target)
	if err != nil {
		return fmt.Errorf("rollout %s: read routes at resume: %w", id, err)
	}
	want := *st.Applied.Routes
	if sameRoutes(got, want) || inFlight(st, got) {
		return nil
	}
	r.takeUnsaved(e) // the write below supersedes it
	x := &exec{r: r, st: &st, now: r.opts.Clock.Now(), saved: st.Phase}
	msg := fmt.Sprintf("routes drifted while no process drove the rollout: the router reports %s, the rollout had applied %s", describeRoutes(got), describeRoutes(want))
	if err := router.SetRoutes(ctx, st.Plan.Target, want); err != nil {
		st.decide(x.now, "drift", msg+"; restoring them failed: "+err.Error())
		x.emit(ctx, Event{Type: EventError, Message: msg + "; restoring them failed: " + err.Error()})
		return x.save(ctx)
	}
	back, err := router.GetRoutes(ctx, st.Plan.Target)
	if err != nil {
		return fmt.Errorf("rollout %s: read routes back after restoring them: %w", id, err)
	}
	st.Applied.Routes = &back
	st.decide(x.now, "drift", msg+"; restored: "+describeRoutes(back))
	x.emit(ctx, Event{Type: EventRoutesChanged, Message: msg + "; restored", Routes: &back})
	return x.save(ctx)
}

// sameRoutes compares two read-backs of one router.
func sameRoutes(a, b progressive.Routes) bool {
	const tolerance = 1e-6
	return math.Abs(a.CanaryWeight-b.CanaryWeight) < tolerance && math.Abs(a.StableWeight-b.StableWeight) < tolerance &&
		math.Abs(a.MirrorPercent-b.MirrorPercent) < tolerance && slices.Equal(a.Matches, b.Matches)
}

// inFlight reports whether got is what a traffic write of the rollout itself
// may have left before its process died: a step runs, and its write lands,
// before the state saying so is stored (see advance and repeatable). From the
// stored step on, through steps that may run unsaved, any traffic step's
// weight, or one between it and the applied weight (a router that achieves an
// approximation), is the rollout's own; the re-run of those steps writes it
// again.
func inFlight(st State, got progressive.Routes) bool {
	applied := st.Applied.Routes.CanaryWeight
	for i := st.Step.Index; i < len(st.Plan.Steps); i++ {
		s := st.Plan.Steps[i]
		var next progressive.Routes
		switch {
		case s.SetWeight != nil:
			next = progressive.WeightedRoutes(s.SetWeight.Weight)
		case s.SetRoutes != nil:
			next = s.SetRoutes.Routes
		case s.Switch != nil && s.Switch.To == progressive.Canary:
			next = progressive.Routes{CanaryWeight: 100}
		case s.Switch != nil:
			next = progressive.AllStable()
		}
		if s.SetWeight != nil || s.SetRoutes != nil || s.Switch != nil {
			lo, hi := min(applied, next.CanaryWeight), max(applied, next.CanaryWeight)
			if got.CanaryWeight >= lo-1e-6 && got.CanaryWeight <= hi+1e-6 &&
				math.Abs(got.MirrorPercent-next.MirrorPercent) < 1e-6 && len(got.Matches) == len(next.Matches) {
				return true
			}
		}
		if !repeatable(s) {
			return false
		}
	}
	return false
}
