package rollout

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/agentops/progressive"
)

// readFresh makes the store show rollout id as its backend holds it now, when
// the store is a FreshReader: Run calls it before its first Reconcile, because
// a process that starts driving a rollout (a takeover, a resume) may hold a
// cached state older than the previous owner's last write. A transient failure
// is tried again every PollInterval until ctx ends: driving from what may be
// that older state could repeat a step's side effect.
func (r *Runner) readFresh(ctx context.Context, id string) error {
	for {
		err := r.Refresh(ctx, id)
		if err == nil {
			return nil
		}
		if !progressive.IsTransient(err) || ctx.Err() != nil {
			return err
		}
		r.opts.Logger.WarnContext(ctx, "rollout: reading the stored state before driving; trying again",
			slog.String("rollout", id), slog.Duration("after", r.opts.PollInterval), slog.String("error", err.Error()))
		t := r.opts.Clock.NewTimer(r.opts.PollInterval)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("rollout %s: read the stored state before driving: %w", id, ctx.Err())
		case <-t.C():
		}
	}
}

// Refresh makes the store show rollout id as its backend holds it now, when
// the store is a FreshReader, and does nothing otherwise. Run does this itself
// before it drives; a program that calls Reconcile directly (a controller)
// calls Refresh before the first Reconcile of a rollout it may not have
// driven a moment ago: after its process started, or after it won the leader
// election another process held. A transient error is returned as it is, for
// the caller to requeue.
func (r *Runner) Refresh(ctx context.Context, id string) error {
	fr, ok := r.opts.Store.(FreshReader)
	if !ok {
		return nil
	}
	if _, err := fr.GetFresh(ctx, id); err != nil {
		return fmt.Errorf("rollout %s: read the stored state before driving: %w", id, err)
	}
	return nil
}

// freshHolder reads st, a rollout that holds a subject in a listed state, from
// the store's backend when the store is a FreshReader, and reports whether it
// still holds it (true too when it cannot tell: a refusal is the safe side).
func (r *Runner) freshHolder(ctx context.Context, st State) (State, bool) {
	fr, ok := r.opts.Store.(FreshReader)
	if !ok {
		return st, true
	}
	fresh, err := fr.GetFresh(ctx, st.ID)
	switch {
	case errors.Is(err, progressive.ErrNotFound):
		return st, false
	case err != nil:
		return st, true
	}
	return fresh, !fresh.Phase.Terminal()
}
