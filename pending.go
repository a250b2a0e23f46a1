package progressive

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ErrPending marks an action that was started and is not complete yet: pods
// still starting after a scale-up, EndpointSlices that do not show a new
// selector yet. Nothing failed; calling again (with the same arguments) after
// RetryAfter(err) continues the action instead of repeating it. Providers
// answer it only when the caller said it can take it (AllowPending), so that
// a script calling SetRoutes directly still gets a call that returns when the
// routes are in effect.
var ErrPending = errors.New("in progress, not complete yet")

// PendingError is an ErrPending with the time worth waiting before asking again.
type PendingError struct {
	// Reason says what is awaited, for logs and the decision record.
	Reason string
	// After is the wait before the next call; zero lets the caller choose.
	After time.Duration
}

func (e *PendingError) Error() string {
	if e.After > 0 {
		return fmt.Sprintf("%s (asking again in %s)", e.Reason, e.After)
	}
	return e.Reason
}

// Unwrap makes a PendingError an ErrPending.
func (e *PendingError) Unwrap() error { return ErrPending }

// Pending returns a *PendingError.
func Pending(after time.Duration, reason string, args ...any) error {
	if len(args) > 0 {
		reason = fmt.Sprintf(reason, args...)
	}
	return &PendingError{Reason: reason, After: after}
}

// IsPending reports whether err says "not yet".
func IsPending(err error) bool { return errors.Is(err, ErrPending) }

// RetryAfter is the wait a pending err asks for, or zero.
func RetryAfter(err error) time.Duration {
	var pe *PendingError
	if errors.As(err, &pe) {
		return pe.After
	}
	return 0
}

type pendingKey struct{}

// AllowPending returns a context under which providers may answer a long wait
// with ErrPending instead of blocking: rollout.Runner calls providers with it,
// so that a Reconcile never holds a controller's worker for minutes while pods
// start.
func AllowPending(ctx context.Context) context.Context {
	return context.WithValue(ctx, pendingKey{}, true)
}

// PendingAllowed reports whether ctx came from AllowPending.
func PendingAllowed(ctx context.Context) bool {
	v, _ := ctx.Value(pendingKey{}).(bool)
	return v
}
