package rollout

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/agentops/progressive"
)

// DriveFunc drives one rollout to its end (or until ctx ends): Runner.Run by
// default; a program with several replicas passes one that holds the target's
// Lease while it runs (provider/kubernetes.RunWithLease), so each rollout is
// driven by one process at a time.
type DriveFunc func(ctx context.Context, id string) (State, error)

// ManagerOptions configure a Manager. The zero value drives every unfinished
// rollout of the runner's store with Runner.Run.
type ManagerOptions struct {
	// Drive runs one rollout. Default: the runner's Run.
	Drive DriveFunc
	// Resync is how often the store is listed again, for rollouts started by
	// other processes (a CLI, another replica) and for drives that ended with
	// an error. Default DefaultResync.
	Resync time.Duration
	// Retention is applied at every resync (Runner.Prune); the zero value
	// keeps every finished rollout.
	Retention Retention
	// Logger. Default: the runner's.
	Logger *slog.Logger
}

// DefaultResync is how often a Manager lists the store by default.
const DefaultResync = 30 * time.Second

// Manager drives every unfinished rollout of a runner's store: when it starts
// (a process that restarted resumes all of them, each from its stored state),
// when Start hands it a new one, and at every resync for the rest. Each rollout
// runs in its own goroutine; the Manager never drives one rollout twice at
// once, and forgets a rollout when its drive returns.
type Manager struct {
	r    *Runner
	opts ManagerOptions

	mu      sync.Mutex
	running map[string]bool
	ctx     context.Context // Run's, once it started
	wg      sync.WaitGroup
	kick    chan struct{}
}

// NewManager returns a Manager over r.
func NewManager(r *Runner, opts ManagerOptions) (*Manager, error) {
	if r == nil {
		return nil, fmt.Errorf("rollout: manager: nil runner: %w", progressive.ErrInvalid)
	}
	if opts.Resync < 0 {
		return nil, fmt.Errorf("rollout: manager: Resync %s must not be negative (zero selects %s): %w", opts.Resync, DefaultResync, progressive.ErrInvalid)
	}
	if opts.Retention.KeepPerTarget < 0 || opts.Retention.MaxAge < 0 {
		return nil, fmt.Errorf("rollout: manager: Retention %+v must not be negative: %w", opts.Retention, progressive.ErrInvalid)
	}
	if opts.Drive == nil {
		opts.Drive = r.Run
	}
	if opts.Resync == 0 {
		opts.Resync = DefaultResync
	}
	if opts.Logger == nil {
		opts.Logger = r.opts.Logger
	}
	return &Manager{r: r, opts: opts, running: map[string]bool{}, kick: make(chan struct{}, 1)}, nil
}

// Run resumes every unfinished rollout, then keeps driving new ones until ctx
// ends; it returns after every drive it began has returned. A store that cannot
// be listed is logged and tried again at the next resync.
func (m *Manager) Run(ctx context.Context) error {
	m.mu.Lock()
	if m.ctx != nil {
		m.mu.Unlock()
		return fmt.Errorf("rollout: manager: Run called twice: %w", progressive.ErrInvalid)
	}
	m.ctx = ctx
	m.mu.Unlock()
	defer m.wg.Wait()
	for {
		m.resync(ctx)
		t := m.r.opts.Clock.NewTimer(m.opts.Resync)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C():
		case <-m.kick:
			t.Stop()
		}
	}
}

// Resync lists the store now instead of at the next resync.
func (m *Manager) Resync() {
	select {
	case m.kick <- struct{}{}:
	default:
	}
}

func (m *Manager) resync(ctx context.Context) {
	states, err := m.r.opts.Store.List(ctx)
	if err != nil {
		// Corrupt entries are reported and skipped; the readable ones run.
		m.opts.Logger.WarnContext(ctx, "rollout manager: listing the store", slog.String("error", err.Error()))
		if !errors.Is(err, ErrCorruptState) {
			return
		}
	}
	for _, st := range states {
		if !st.Phase.Terminal() {
			m.drive(st.ID)
		}
	}
	if ret := m.opts.Retention; ret != (Retention{}) {
		if deleted, err := m.r.Prune(ctx, ret); err != nil {
			m.opts.Logger.WarnContext(ctx, "rollout manager: pruning finished rollouts", slog.String("error", err.Error()))
		} else if len(deleted) > 0 {
			m.opts.Logger.InfoContext(ctx, "rollout manager: pruned finished rollouts", slog.Any("ids", deleted))
		}
	}
}

// Start starts plan (Runner.Start) and drives it at once when Run is running;
// otherwise Run picks it up when it starts.
func (m *Manager) Start(ctx context.Context, plan progressive.Plan) (State, error) {
	st, err := m.r.Start(ctx, plan)
	if err != nil {
		return st, err
	}
	m.drive(st.ID)
	return st, nil
}

// drive begins driving id unless it is driven already or Run has not started.
func (m *Manager) drive(id string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.ctx == nil || m.ctx.Err() != nil || m.running[id] {
		return
	}
	m.running[id] = true
	m.wg.Add(1)
	ctx := m.ctx
	go func() {
		defer m.wg.Done()
		st, err := m.opts.Drive(ctx, id)
		m.mu.Lock()
		delete(m.running, id)
		m.mu.Unlock()
		switch {
		case err != nil && ctx.Err() == nil:
			// Tried again at the next resync: a lease another replica
			// holds, a store that failed, a state that must be repaired.
			m.opts.Logger.WarnContext(ctx, "rollout manager: drive ended with an error", slog.String("rollout", id), slog.String("error", err.Error()))
		case err == nil:
			m.opts.Logger.InfoContext(ctx, "rollout manager: rollout ended", slog.String("rollout", id), slog.String("phase", string(st.Phase)))
		}
	}()
}

// Driving returns the ids driven now, in order.
func (m *Manager) Driving() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]string, 0, len(m.running))
	for id := range m.running {
		out = append(out, id)
	}
	sort.Strings(out)
	return out
}
