package rollouttest

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	testingclock "k8s.io/utils/clock/testing"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/provider/sim"
	"github.com/agentops/progressive/rollout"
)

// Defaults of Options.
var (
	// DefaultStart is the virtual time a Harness starts at.
	DefaultStart = time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)
	// DefaultTarget is the service a Harness rolls out.
	DefaultTarget = progressive.Target{Namespace: "shop", Name: "checkout"}
	// DefaultStable is the release the stable side runs.
	DefaultStable = progressive.Release{Version: "v1", Image: "registry.example/checkout:v1"}
)

const (
	// DefaultReplicas of the stable side.
	DefaultReplicas = 10
	// DefaultMaxDuration bounds a Run in virtual time.
	DefaultMaxDuration = 30 * 24 * time.Hour
	// DefaultMaxCalls bounds the Reconcile calls of a Run.
	DefaultMaxCalls = 100_000
)

// Options configure a Harness. The zero value is a simulated service of ten
// replicas at 100 requests per second with the simulator's healthy profile.
type Options struct {
	// Clock is the virtual clock, for providers made before the harness (a
	// scripted Metrics reads it too). Default: a new FakeClock at Start.
	Clock *testingclock.FakeClock
	// Start is the virtual time the clock starts at, when Clock is nil.
	// Default DefaultStart.
	Start time.Time
	// Seed of the simulator's metrics. Default 1.
	Seed uint64
	// Target is the service. Default DefaultTarget.
	Target progressive.Target
	// Stable is the release the simulated stable side runs. Default DefaultStable.
	Stable progressive.Release
	// Replicas of the simulated stable side. Default DefaultReplicas.
	Replicas int
	// Profile is the simulated service's healthy baseline.
	Profile sim.Profile
	// Metrics, Router, Workload and Flags replace the simulator's when set
	// (a scripted Metrics, or a real provider).
	Metrics  progressive.MetricSource
	Router   progressive.TrafficRouter
	Workload progressive.Workload
	Flags    progressive.FlagStore
	// Configure, when set, may change the runner's options before the runner
	// is made (hooks, approver, judges, store, observers).
	Configure func(*rollout.Options)
	// MaxDuration bounds a Run in virtual time. Default DefaultMaxDuration.
	MaxDuration time.Duration
	// MaxCalls bounds the Reconcile calls of a Run. Default DefaultMaxCalls.
	MaxCalls int
}

// Harness is a rollout runner over a simulated platform on a fake clock.
type Harness struct {
	// Clock is the virtual clock of the runner and the simulator.
	Clock *testingclock.FakeClock
	// Start is the clock's reading when the harness was made.
	Start time.Time
	// Sim is the simulated platform (also when some providers are replaced).
	Sim *sim.Env
	// Target is the service.
	Target progressive.Target
	// Runner is the runner Run drives.
	Runner *rollout.Runner

	opts   Options
	router progressive.TrafficRouter
	events *recorder
}

// NewHarness makes a Harness. Invalid options are an error wrapping
// progressive.ErrInvalid that names the field and its value.
func NewHarness(opts Options) (*Harness, error) {
	if opts.Start.IsZero() {
		opts.Start = DefaultStart
	}
	if opts.Target == (progressive.Target{}) {
		opts.Target = DefaultTarget
	}
	if opts.Stable == (progressive.Release{}) {
		opts.Stable = DefaultStable
	}
	if opts.Replicas == 0 {
		opts.Replicas = DefaultReplicas
	}
	if opts.MaxDuration == 0 {
		opts.MaxDuration = DefaultMaxDuration
	}
	if opts.MaxCalls == 0 {
		opts.MaxCalls = DefaultMaxCalls
	}
	var p progressive.Problems
	p.Merge("target", opts.Target.Validate())
	if opts.Replicas < 0 {
		p.Add("replicas", opts.Replicas, "must not be negative")
	}
	if opts.MaxDuration < 0 {
		p.Add("maxDuration", opts.MaxDuration.String(), "must not be negative")
	}
	if opts.MaxCalls < 0 {
		p.Add("maxCalls", opts.MaxCalls, "must not be negative")
	}
	if err := p.Err(); err != nil {
		return nil, fmt.Errorf("rollouttest: options: %w", err)
	}

	fc := opts.Clock
	if fc == nil {
		fc = testingclock.NewFakeClock(opts.Start)
	}
	opts.Start = fc.Now()
	env := sim.New(sim.Options{Clock: fc, Seed: opts.Seed})
	if err := env.Workload.AddService(opts.Target, sim.ServiceSpec{Replicas: opts.Replicas, Version: opts.Stable.Version, Image: opts.Stable.Image}); err != nil {
		return nil, fmt.Errorf("rollouttest: options: %w", err)
	}
	if err := env.Metrics.SetProfile(opts.Target, opts.Profile); err != nil {
		return nil, fmt.Errorf("rollouttest: options: %w", err)
	}
	h := &Harness{Clock: fc, Start: opts.Start, Sim: env, Target: opts.Target, opts: opts, events: &recorder{}}
	h.router = pick[progressive.TrafficRouter](opts.Router, env.Router)
	ro := rollout.Options{
		Providers: rollout.Providers{
			Routers:   []progressive.TrafficRouter{h.router},
			Metrics:   []progressive.MetricSource{pick[progressive.MetricSource](opts.Metrics, env.Metrics)},
			Workloads: []progressive.Workload{pick[progressive.Workload](opts.Workload, env.Workload)},
			Flags:     []progressive.FlagStore{pick[progressive.FlagStore](opts.Flags, env.Flags)},
		},
		Clock:        fc,
		PollInterval: 10 * time.Second,
		RetryBackoff: time.Second,
	}
	if opts.Configure != nil {
		opts.Configure(&ro)
	}
	ro.Observers = append(slices.Clone(ro.Observers), h.events)
	r, err := rollout.New(ro)
	if err != nil {
		return nil, fmt.Errorf("rollouttest: runner: %w", err)
	}
	h.Runner = r
	return h, nil
}

func pick[T any](override, def T) T {
	if any(override) != nil {
		return override
	}
	return def
}

// New is NewHarness for a test: it fails the test on an error.
func New(t testing.TB, opts Options) *Harness {
	t.Helper()
	h, err := NewHarness(opts)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// Outcome is how a rollout ended.
type Outcome struct {
	// State is the final state (Phase, Applied, Record).
	State rollout.State
	// Record is the decision record, observations included.
	Record rollout.DecisionRecord
	// Events are the runner's events of this rollout, in order.
	Events []rollout.Event
	// Routes are the routes the router reports at the end (zero when it has
	// none for the target).
	Routes progressive.Routes
	// Calls is how many Reconcile calls it took.
	Calls int
	// Started and Ended are the virtual times of Start and of the last call.
	Started, Ended time.Time
}

// RollbackStarted returns when the rollback began (the first
// rollback-started event) and whether there was one.
func (o Outcome) RollbackStarted() (time.Time, bool) {
	for _, e := range o.Events {
		if e.Type == rollout.EventRollbackStarted {
			return e.Time, true
		}
	}
	return time.Time{}, false
}

// Promoted reports whether the rollout succeeded and promoted its release.
func (o Outcome) Promoted() bool {
	return o.State.Phase == rollout.PhaseSucceeded && o.State.Applied.Promoted
}

// Execute starts plan and drives it until it ends, is held (waiting for a
// person: the outcome's phase says so) or a limit of Options is reached (an
// error). Each Reconcile's RequeueAfter is stepped on the clock.
func (h *Harness) Execute(ctx context.Context, plan progressive.Plan) (Outcome, error) {
	st, err := h.Runner.Start(ctx, plan)
	if err != nil {
		return Outcome{}, fmt.Errorf("rollouttest: start: %w", err)
	}
	return h.Resume(ctx, st.ID)
}

// Resume drives the rollout id (started earlier, or by another runner over
// the same store) as Execute does.
func (h *Harness) Resume(ctx context.Context, id string) (Outcome, error) {
	out := Outcome{Started: h.Clock.Now()}
	mark := h.events.len()
	for {
		if out.Calls >= h.opts.MaxCalls || h.Clock.Since(out.Started) > h.opts.MaxDuration {
			return out, fmt.Errorf("rollouttest: rollout %s: after %d calls and %s of virtual time: %w",
				id, out.Calls, h.Clock.Since(out.Started), errNotEnded)
		}
		res, err := h.Runner.Reconcile(ctx, id)
		out.Calls++
		if err != nil {
			return out, fmt.Errorf("rollouttest: reconcile %s: %w", id, err)
		}
		if res.Phase.Terminal() || res.Phase == rollout.PhaseHeld {
			break
		}
		if res.RequeueAfter <= 0 {
			return out, fmt.Errorf("rollouttest: rollout %s in phase %s asked for no requeue: %w", id, res.Phase, errNotEnded)
		}
		h.Clock.Step(res.RequeueAfter)
	}
	out.Ended = h.Clock.Now()
	var err error
	if out.State, err = h.Runner.Get(ctx, id); err != nil {
		return out, err
	}
	if out.Record, err = h.Runner.Record(ctx, id); err != nil {
		return out, err
	}
	for _, e := range h.events.since(mark) {
		if e.Rollout == id {
			out.Events = append(out.Events, e)
		}
	}
	if r, err := h.router.GetRoutes(ctx, h.Target); err == nil {
		out.Routes = r
	}
	return out, nil
}

// Run is Execute for a test: it fails the test on an error.
func (h *Harness) Run(t testing.TB, plan progressive.Plan) Outcome {
	t.Helper()
	out, err := h.Execute(t.Context(), plan)
	if err != nil {
		t.Fatalf("%v\ndecisions: %v", err, out.State.Record.Decisions)
	}
	return out
}

// recorder keeps every event.
type recorder struct {
	mu     sync.Mutex
	events []rollout.Event
}

func (r *recorder) Observe(_ context.Context, e rollout.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
}

func (r *recorder) len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.events)
}

func (r *recorder) since(i int) []rollout.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.events[i:])
}
