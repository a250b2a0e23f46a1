package controller

import (
	"context"
	"fmt"

	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/rollout"
)

// RunnableOptions configure a Runnable. The zero value runs the Manager on
// the elected leader only.
type RunnableOptions struct {
	// EveryReplica runs the Manager on every replica, not only on the elected
	// leader. Set it only with a rollout.ManagerOptions.Drive that holds each
	// target's Lease while it drives (provider/kubernetes.RunWithLease), so
	// that replicas share the rollouts and each is driven by one at a time.
	EveryReplica bool
}

// Runnable runs a rollout.Manager in a controller-runtime manager
// (mgr.Add(runnable)): when the manager starts, or this replica is elected
// leader, every unfinished rollout of the runner's store is resumed from its
// stored state, and new ones are driven as Manager.Start hands them over or
// the Manager's resync finds them. It is for rollouts that no object carries
// (started by a CLI, an HTTP handler or a pipeline); a rollout that an object
// carries is driven by the Reconciler. Do not give both the same store: each
// rollout would be driven twice, which the store's optimistic concurrency
// makes safe but wasteful.
type Runnable struct {
	m    *rollout.Manager
	opts RunnableOptions
}

var (
	_ manager.Runnable               = (*Runnable)(nil)
	_ manager.LeaderElectionRunnable = (*Runnable)(nil)
)

// NewRunnable wraps m.
func NewRunnable(m *rollout.Manager, opts RunnableOptions) (*Runnable, error) {
	if m == nil {
		return nil, fmt.Errorf("controller: runnable: nil rollout manager: %w", progressive.ErrInvalid)
	}
	return &Runnable{m: m, opts: opts}, nil
}

// Start implements manager.Runnable: it runs the Manager until ctx ends and
// returns once every rollout it drove has returned (each stops at a stored
// transition, to be resumed by the next leader).
func (r *Runnable) Start(ctx context.Context) error {
	if err := r.m.Run(ctx); err != nil {
		return fmt.Errorf("controller: rollout manager: %w", err)
	}
	return nil
}

// NeedLeaderElection implements manager.LeaderElectionRunnable: true unless
// RunnableOptions.EveryReplica.
func (r *Runnable) NeedLeaderElection() bool { return !r.opts.EveryReplica }

// Manager returns the wrapped Manager, whose Start drives a new rollout at once.
func (r *Runnable) Manager() *rollout.Manager { return r.m }
