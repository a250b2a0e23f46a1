package rollout

import (
	"context"
	"errors"
	"fmt"
)

// Start checks that no unfinished rollout holds the plan's target or flags and
// then creates the state; within one process startMu makes the two one step.
// Processes sharing a store (a controller's replicas, a CLI beside a
// controller) could still both pass the check at the same instant and both
// create, and two rollouts would then move one target's traffic. A store shared
// between processes closes that gap by implementing SubjectClaimer: Start
// claims every subject in the store, each with one atomic write, before it
// creates the state.

// SubjectClaimer is implemented by StateStores that several processes share.
// Subjects are what one rollout at a time may change ("target ns/name", "flag
// env/key").
type SubjectClaimer interface {
	// ClaimSubjects makes id the holder of every subject, atomically per
	// subject. A subject held by another rollout that has not ended (or whose
	// claim is too fresh for its state to exist yet) makes it fail with an
	// error wrapping ErrTargetBusy and progressive.ErrConflict that names the
	// holder, after giving back what it claimed. A claim whose holder ended or
	// was deleted is taken over.
	ClaimSubjects(ctx context.Context, id string, subjects []string) error
	// ReleaseSubjects gives up id's claims, after a create that failed.
	ReleaseSubjects(ctx context.Context, id string, subjects []string) error
}

// claimSubjects claims plan's subjects when the store can; it returns a
// release for a create that fails.
func (r *Runner) claimSubjects(ctx context.Context, id string, subjects []string) (func(), error) {
	c, ok := r.opts.Store.(SubjectClaimer)
	if !ok || len(subjects) == 0 {
		return func() {}, nil
	}
	if err := c.ClaimSubjects(ctx, id, subjects); err != nil {
		if errors.Is(err, ErrTargetBusy) {
			return nil, fmt.Errorf("rollout %s: %w", id, err)
		}
		return nil, fmt.Errorf("rollout %s: claim %v: %w", id, subjects, err)
	}
	return func() {
		// Best effort: an unreleased claim whose rollout has no state is taken
		// over once it is older than the store's grace period.
		if err := c.ReleaseSubjects(context.WithoutCancel(ctx), id, subjects); err != nil {
			r.opts.Logger.WarnContext(ctx, "rollout: release subject claims after a failed create", "rollout", id, "err", err)
		}
	}, nil
}
