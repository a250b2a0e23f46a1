package rollout

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/agentops/progressive"
)

// ErrTargetBusy marks a Start refused because an unfinished rollout already
// holds the target (or a flag the plan sets). It also wraps
// progressive.ErrConflict.
var ErrTargetBusy = errors.New("an unfinished rollout holds the target")

// ErrAlreadyRan marks a Start of an id whose rollout has ended: a version that
// was rolled back is run again with Rerun, under a new id, so the record of the
// first run stays. It also wraps progressive.ErrConflict.
var ErrAlreadyRan = errors.New("the rollout has already run")

// subjects are what a plan changes that only one rollout at a time may change:
// its target (namespace/name) and every flag it sets.
func subjects(plan progressive.Plan) []string {
	var out []string
	if plan.Target.Name != "" {
		out = append(out, "target "+plan.Target.String())
	}
	seen := map[string]bool{}
	for _, s := range plan.Steps {
		if s.SetFlag != nil && !seen[s.SetFlag.Flag.String()] {
			seen[s.SetFlag.Flag.String()] = true
			out = append(out, "flag "+s.SetFlag.Flag.String())
		}
	}
	return out
}

// holder returns the unfinished rollout, other than plan's own id, that changes
// one of plan's subjects, and that subject.
func holder(states []State, plan progressive.Plan) (State, string, bool) {
	mine := subjects(plan)
	for _, st := range states {
		if st.Phase.Terminal() || st.ID == plan.Name {
			continue
		}
		for _, theirs := range subjects(st.Plan) {
			for _, m := range mine {
				if m == theirs {
					return st, m, true
				}
			}
		}
	}
	return State{}, "", false
}

// checkFree refuses plan when another unfinished rollout holds its target or one
// of its flags: two rollouts moving one target's traffic undo each other's
// steps, and each one's analysis measures the other's canary.
func (r *Runner) checkFree(ctx context.Context, plan progressive.Plan) error {
	states, err := r.opts.Store.List(ctx)
	if err != nil && !errors.Is(err, ErrCorruptState) {
		return fmt.Errorf("rollout %s: cannot tell whether another rollout holds %s: %w", plan.Name, plan.Target, err)
	}
	st, subject, busy := holder(states, plan)
	for busy {
		// A store that lists from a cache may show a rollout another process
		// has just ended as unfinished: read a holder fresh before refusing.
		fresh, ok := r.freshHolder(ctx, st)
		if ok {
			st = fresh
			break
		}
		states = slices.DeleteFunc(states, func(s State) bool { return s.ID == st.ID })
		st, subject, busy = holder(states, plan)
	}
	if !busy {
		return nil
	}
	step := ""
	if cur, ok := st.CurrentStep(); ok {
		step = fmt.Sprintf(", step %d of %d (%s)", st.Step.Index+1, len(st.Plan.Steps), cur.Name)
	}
	return fmt.Errorf("rollout %s: %s is held by rollout %s (%s %s, %s%s); let it finish, or Abort or Rollback it first: %w: %w",
		plan.Name, subject, st.ID, st.Plan.Strategy, st.Plan.Release, st.Phase, step, ErrTargetBusy, progressive.ErrConflict)
}

// alreadyRan explains a Create conflict for id.
func (r *Runner) alreadyRan(ctx context.Context, id string, createErr error) error {
	st, err := r.opts.Store.Get(ctx, id)
	if err != nil || !st.Phase.Terminal() {
		return fmt.Errorf("rollout %s: %w", id, createErr)
	}
	return fmt.Errorf("rollout %s already ran and ended %s at %s; Rerun starts the plan again under a new id, keeping this record: %w: %w",
		id, st.Phase, st.UpdatedAt.Format(time.RFC3339), ErrAlreadyRan, progressive.ErrConflict)
}

// maxReruns bounds the ids Rerun tries.
const maxReruns = 1000

// Rerun starts plan again after an earlier run of it ended (a version rolled
// back, fixed in its configuration and tried again): the new rollout's id is
// the plan's name with the first free "-run-N" suffix (N from 2), kept a DNS
// label, and its record notes the run before it. The earlier records stay in
// the store for the rollback rate and MTTR. A plan that never ran starts under
// its own name, as with Start.
func (r *Runner) Rerun(ctx context.Context, plan progressive.Plan) (State, error) {
	base := plan.Name
	prev, err := r.opts.Store.Get(ctx, base)
	switch {
	case errors.Is(err, progressive.ErrNotFound):
		return r.Start(ctx, plan)
	case err != nil:
		return State{}, fmt.Errorf("rollout %s: rerun: %w", base, err)
	case !prev.Phase.Terminal():
		return State{}, fmt.Errorf("rollout %s is still %s; a rerun waits until it ends: %w: %w", base, prev.Phase, ErrTargetBusy, progressive.ErrConflict)
	}
	for n := 2; n <= maxReruns; n++ {
		id := runName(base, n)
		st, err := r.opts.Store.Get(ctx, id)
		if err == nil {
			if !st.Phase.Terminal() {
				return State{}, fmt.Errorf("rollout %s (a rerun of %s) is still %s: %w: %w", id, base, st.Phase, ErrTargetBusy, progressive.ErrConflict)
			}
			prev = st
			continue
		}
		if !errors.Is(err, progressive.ErrNotFound) {
			return State{}, fmt.Errorf("rollout %s: rerun: %w", base, err)
		}
		plan.Name = id
		plan.Reason = strings.TrimSpace(fmt.Sprintf("%s (run %d: rollout %s ended %s)", plan.Reason, n, prev.ID, prev.Phase))
		return r.Start(ctx, plan)
	}
	return State{}, fmt.Errorf("rollout %s ran %d times; delete old runs (Prune) before another: %w", base, maxReruns, progressive.ErrInvalid)
}

// runName is base with "-run-n", shortened to stay a DNS label.
func runName(base string, n int) string {
	suffix := "-run-" + strconv.Itoa(n)
	if len(base)+len(suffix) > 63 {
		base = strings.TrimRight(base[:63-len(suffix)], "-.")
	}
	return base + suffix
}

// Retention says which finished rollouts Prune deletes. Unfinished rollouts
// are never deleted. The zero value deletes nothing.
type Retention struct {
	// KeepPerTarget keeps the newest finished rollouts of each target (or
	// flag, for rollouts without a target), by end time. Zero keeps all.
	KeepPerTarget int
	// MaxAge deletes finished rollouts that ended longer ago than this. Zero
	// keeps them whatever their age.
	MaxAge time.Duration
}

// Prune deletes the finished rollouts ret does not keep and returns their ids.
// Export what should outlive it first (Record, rollout.Summarize): the rollback
// rate and MTTR are computed from the records that remain.
func (r *Runner) Prune(ctx context.Context, ret Retention) ([]string, error) {
	if ret.KeepPerTarget < 0 || ret.MaxAge < 0 {
		return nil, fmt.Errorf("rollout: retention %+v: KeepPerTarget and MaxAge must not be negative: %w", ret, progressive.ErrInvalid)
	}
	if ret.KeepPerTarget == 0 && ret.MaxAge == 0 {
		return nil, nil
	}
	states, err := r.opts.Store.List(ctx)
	if err != nil && !errors.Is(err, ErrCorruptState) {
		return nil, fmt.Errorf("rollout: prune: %w", err)
	}
	now := r.opts.Clock.Now()
	byKey := map[string][]State{}
	for _, st := range states {
		if !st.Phase.Terminal() {
			continue
		}
		key := strings.Join(subjects(st.Plan), ",")
		byKey[key] = append(byKey[key], st)
	}
	var deleted []string
	var errs []error
	for _, group := range byKey {
		sort.Slice(group, func(i, j int) bool { return group[i].UpdatedAt.After(group[j].UpdatedAt) })
		for i, st := range group {
			tooMany := ret.KeepPerTarget > 0 && i >= ret.KeepPerTarget
			tooOld := ret.MaxAge > 0 && now.Sub(st.UpdatedAt) > ret.MaxAge
			if !tooMany && !tooOld {
				continue
			}
			if err := r.opts.Store.Delete(ctx, st.ID); err != nil && !errors.Is(err, progressive.ErrNotFound) {
				errs = append(errs, err)
				continue
			}
			deleted = append(deleted, st.ID)
		}
	}
	sort.Strings(deleted)
	return deleted, errors.Join(errs...)
}
