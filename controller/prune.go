package controller

import (
	"context"
	"fmt"
	"time"

	"github.com/go-logr/logr"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/rollout"
)

// DefaultPruneEvery is how often a Pruner applies its retention by default.
const DefaultPruneEvery = 10 * time.Minute

// PrunerOptions configure a Pruner.
type PrunerOptions struct {
	// Retention says which finished rollouts are deleted (Runner.Prune);
	// unfinished ones never are. It must keep something or delete
	// something: the zero value is refused.
	Retention rollout.Retention
	// Every is the time between two prunes. Default DefaultPruneEvery.
	Every time.Duration
	// Logger receives one line per prune that deleted something, and the
	// failures. Default: discard.
	Logger logr.Logger
}

// Pruner applies a rollout.Retention to a runner's store from a
// controller-runtime manager (mgr.Add): once when it starts, then every
// PrunerOptions.Every, on the elected leader only. The states of finished
// rollouts hold their decision records, so a store that is never pruned
// grows by one object per release for good (a ConfigMap each with
// provider/kubernetes).
//
// Next to a Reconciler, give the Reconciler a Binding that implements Ender:
// an object whose rollout ended and was pruned must not start it again.
// (The Runnable's rollout.Manager has a retention of its own,
// rollout.ManagerOptions.Retention, applied at its resync.)
type Pruner struct {
	runner *rollout.Runner
	opts   PrunerOptions
}

var (
	_ manager.Runnable               = (*Pruner)(nil)
	_ manager.LeaderElectionRunnable = (*Pruner)(nil)
)

// NewPruner returns a Pruner of runner's store.
func NewPruner(runner *rollout.Runner, opts PrunerOptions) (*Pruner, error) {
	ret := opts.Retention
	switch {
	case runner == nil:
		return nil, fmt.Errorf("controller: pruner: nil runner: %w", progressive.ErrInvalid)
	case ret.KeepPerTarget < 0 || ret.MaxAge < 0 || opts.Every < 0:
		return nil, fmt.Errorf("controller: pruner: retention %+v and interval %s must not be negative: %w", ret, opts.Every, progressive.ErrInvalid)
	case ret.KeepPerTarget == 0 && ret.MaxAge == 0:
		return nil, fmt.Errorf("controller: pruner: a retention of zero keeps everything; set KeepPerTarget or MaxAge: %w", progressive.ErrInvalid)
	}
	if opts.Every == 0 {
		opts.Every = DefaultPruneEvery
	}
	if opts.Logger.GetSink() == nil {
		opts.Logger = logr.Discard()
	}
	return &Pruner{runner: runner, opts: opts}, nil
}

// Prune applies the retention now and returns the ids it deleted.
func (p *Pruner) Prune(ctx context.Context) ([]string, error) {
	deleted, err := p.runner.Prune(ctx, p.opts.Retention)
	if len(deleted) > 0 {
		p.opts.Logger.Info("pruned finished rollouts", "deleted", deleted,
			"keepPerTarget", p.opts.Retention.KeepPerTarget, "maxAge", p.opts.Retention.MaxAge.String())
	}
	if err != nil {
		p.opts.Logger.Error(err, "prune", "deleted", len(deleted))
		return deleted, fmt.Errorf("controller: prune: %w", err)
	}
	return deleted, nil
}

// Start implements manager.Runnable: it prunes at once and then every
// PrunerOptions.Every until ctx ends. A failed prune is logged and tried
// again at the next one.
func (p *Pruner) Start(ctx context.Context) error {
	t := time.NewTicker(p.opts.Every)
	defer t.Stop()
	for {
		_, _ = p.Prune(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// NeedLeaderElection implements manager.LeaderElectionRunnable: the leader
// alone prunes.
func (p *Pruner) NeedLeaderElection() bool { return true }
