package sim

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"k8s.io/utils/clock"

	"github.com/agentops/progressive"
)

// Route operations recorded in a Router's history.
const (
	OpInitialize = "initialize"
	OpSetRoutes  = "set"
	OpFinalize   = "finalize"
)

// RouteWrite is one entry of a Router's history: what was asked, when, and whether
// it failed. A failed write changed nothing.
type RouteWrite struct {
	Time   time.Time
	Op     string
	Routes progressive.Routes
	Err    error
}

// Router is an in-memory progressive.TrafficRouter that keeps the Routes of each
// target, counts writes and records a history with virtual times. It behaves like a
// mesh that applies every change in one write and reports exactly what it was told.
//
// A target exists for the router once Initialize or a SetRoutes created it;
// GetRoutes of any other target fails with progressive.ErrNotFound.
type Router struct {
	clock  clock.PassiveClock
	logger *slog.Logger

	mu      sync.Mutex
	targets map[progressive.Target]*routeState
	faults  faults
}

type routeState struct {
	routes  progressive.Routes
	writes  int
	history []RouteWrite
}

// NewRouter returns an empty router. Most users get one from New.
func NewRouter(opts Options) *Router {
	opts = opts.withDefaults()
	return &Router{
		clock:   opts.Clock,
		logger:  opts.Logger.With("provider", Name, "component", "router"),
		targets: map[progressive.Target]*routeState{},
	}
}

// Name returns "sim".
func (r *Router) Name() string { return Name }

// Initialize creates the target's route with all traffic on stable, like a router
// creating its VirtualService. It is idempotent and changes nothing on a target that
// already exists. It is not counted by Writes.
func (r *Router) Initialize(ctx context.Context, target progressive.Target) error {
	if err := ctxErr(ctx); err != nil {
		return err
	}
	if err := invalidTarget(target); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.targets[target]; ok {
		return nil
	}
	st := &routeState{routes: progressive.AllStable()}
	st.history = append(st.history, RouteWrite{Time: r.clock.Now(), Op: OpInitialize, Routes: st.routes})
	r.targets[target] = st
	return nil
}

// SetRoutes validates routes (errors wrap progressive.ErrInvalid) and establishes
// them in one write. An injected failure (FailNextWrites) changes nothing.
func (r *Router) SetRoutes(ctx context.Context, target progressive.Target, routes progressive.Routes) error {
	if err := ctxErr(ctx); err != nil {
		return err
	}
	if err := invalidTarget(target); err != nil {
		return err
	}
	if err := routes.Validate(); err != nil {
		return fmt.Errorf("sim router: routes of %s: %w", target, err)
	}
	return r.write(target, OpSetRoutes, copyRoutes(routes))
}

// GetRoutes reads back the target's routes.
func (r *Router) GetRoutes(ctx context.Context, target progressive.Target) (progressive.Routes, error) {
	if err := ctxErr(ctx); err != nil {
		return progressive.Routes{}, err
	}
	if err := invalidTarget(target); err != nil {
		return progressive.Routes{}, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	st, ok := r.targets[target]
	if !ok {
		return progressive.Routes{}, fmt.Errorf("sim router: no route for target %s (call Initialize or SetRoutes first): %w",
			target, progressive.ErrNotFound)
	}
	return copyRoutes(st.routes), nil
}

// Finalize returns all traffic to stable and removes matches and mirroring, in one
// write. It is idempotent and succeeds on a target it never saw.
func (r *Router) Finalize(ctx context.Context, target progressive.Target) error {
	if err := ctxErr(ctx); err != nil {
		return err
	}
	if err := invalidTarget(target); err != nil {
		return err
	}
	return r.write(target, OpFinalize, progressive.AllStable())
}

func (r *Router) write(target progressive.Target, op string, routes progressive.Routes) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.clock.Now()
	st, ok := r.targets[target]
	if err := r.faults.next(); err != nil {
		if ok {
			st.history = append(st.history, RouteWrite{Time: now, Op: op, Routes: routes, Err: err})
		}
		r.logger.Debug("injected write failure", "target", target.String(), "op", op, "err", err)
		return fmt.Errorf("sim router: %s %s: %w", op, target, err)
	}
	if !ok {
		st = &routeState{}
		r.targets[target] = st
	}
	st.routes = routes
	st.writes++
	st.history = append(st.history, RouteWrite{Time: now, Op: op, Routes: routes})
	r.logger.Debug("routes written", "target", target.String(), "op", op,
		"stable", routes.StableWeight, "canary", routes.CanaryWeight, "mirror", routes.MirrorPercent)
	return nil
}

// FailNextWrites makes the next n SetRoutes or Finalize calls fail with err, changing
// nothing. A nil err means an error wrapping progressive.ErrTransient. n = 0 clears
// pending failures.
func (r *Router) FailNextWrites(n int, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.faults.set(n, err, "router write")
}

// Writes counts the successful SetRoutes and Finalize calls for target.
func (r *Router) Writes(target progressive.Target) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	if st, ok := r.targets[target]; ok {
		return st.writes
	}
	return 0
}

// History returns every write for target in order, failed ones included (with Err
// set; failures on a target the router had not created yet are not recorded).
func (r *Router) History(target progressive.Target) []RouteWrite {
	r.mu.Lock()
	defer r.mu.Unlock()
	st, ok := r.targets[target]
	if !ok {
		return nil
	}
	out := make([]RouteWrite, len(st.history))
	for i, w := range st.history {
		w.Routes = copyRoutes(w.Routes)
		out[i] = w
	}
	return out
}

// routesAt returns the routes in effect for target at t, from the history, and
// whether the router knew the target then.
func (r *Router) routesAt(target progressive.Target, t time.Time) (progressive.Routes, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	st, ok := r.targets[target]
	if !ok {
		return progressive.Routes{}, false
	}
	for i := len(st.history) - 1; i >= 0; i-- {
		if w := st.history[i]; w.Err == nil && !w.Time.After(t) {
			return w.Routes, true
		}
	}
	return progressive.Routes{}, false
}

func copyRoutes(r progressive.Routes) progressive.Routes {
	r.Matches = slices.Clone(r.Matches)
	return r
}
