package sim

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"k8s.io/utils/clock"

	"github.com/agentops/progressive"
)

// Name is the provider name every simulator component reports, the name plans use
// in ProviderNames to select them.
const Name = "sim"

// Defaults applied to zero Options.
const (
	// DefaultSeed seeds the synthetic metrics when Options.Seed is zero.
	DefaultSeed uint64 = 1
	// DefaultProgressDeadline is Kubernetes' default progressDeadlineSeconds.
	DefaultProgressDeadline = 10 * time.Minute
)

// Options configure the simulator. The zero value is ready to use.
type Options struct {
	// Clock is where every component reads the time: pod readiness, incident
	// windows, route history, metric timestamps. Pass a k8s.io/utils/clock/testing
	// FakeClock to run hours in milliseconds. Default clock.RealClock{}.
	Clock clock.PassiveClock
	// Seed makes the synthetic metrics reproducible: the same seed and the same
	// queries give the same answers, whatever the order or concurrency of the
	// queries. Default 1 (zero selects the default).
	Seed uint64
	// Logger receives a debug line per write and incident. Default: discard.
	Logger *slog.Logger
	// ReadyDelay is how long a new pod takes to pass readiness, on Clock.
	// Default 0: ready on the next Status read.
	ReadyDelay time.Duration
	// ProgressDeadline is how long pods may stay unready after a change before
	// Status reports ProgressDeadlineExceeded. Default 10m.
	ProgressDeadline time.Duration
}

func (o Options) withDefaults() Options {
	if o.Clock == nil {
		o.Clock = clock.RealClock{}
	}
	if o.Seed == 0 {
		o.Seed = DefaultSeed
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.ProgressDeadline <= 0 {
		o.ProgressDeadline = DefaultProgressDeadline
	}
	if o.ReadyDelay < 0 {
		o.ReadyDelay = 0
	}
	return o
}

// Env is a complete simulated platform whose parts see each other: Metrics reads
// the traffic split from Router (and, for targets the router has never been told
// about, the ready-replica ratio from Workload), so moving weights moves the
// canary's request rate.
type Env struct {
	Router   *Router
	Workload *Workload
	Flags    *FlagStore
	Metrics  *Metrics
}

// New returns an Env whose components share opts.
func New(opts Options) *Env {
	opts = opts.withDefaults()
	r := NewRouter(opts)
	w := NewWorkload(opts)
	return &Env{
		Router:   r,
		Workload: w,
		Flags:    NewFlagStore(opts),
		Metrics:  NewMetrics(opts, r, w),
	}
}

// Compile-time checks that the simulator speaks the root vocabulary.
var (
	_ progressive.TrafficRouter     = (*Router)(nil)
	_ progressive.RouterInitializer = (*Router)(nil)
	_ progressive.Workload          = (*Workload)(nil)
	_ progressive.Roller            = (*Workload)(nil)
	_ progressive.FlagStore         = (*FlagStore)(nil)
	_ progressive.FlagTargeter      = (*FlagStore)(nil)
	_ progressive.MetricSource      = (*Metrics)(nil)
	_ progressive.RangeQuerier      = (*Metrics)(nil)
)

// faults makes the next n writes of a component fail.
type faults struct {
	n   int
	err error
}

func (f *faults) set(n int, err error, what string) {
	if err == nil {
		err = fmt.Errorf("sim: injected %s failure: %w", what, progressive.ErrTransient)
	}
	if n < 0 {
		n = 0
	}
	f.n, f.err = n, err
}

// next consumes one injected failure, if any.
func (f *faults) next() error {
	if f.n <= 0 {
		return nil
	}
	f.n--
	return f.err
}

func ctxErr(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("sim: %w", err)
	}
	return nil
}

func invalidTarget(t progressive.Target) error {
	if err := t.Validate(); err != nil {
		return fmt.Errorf("sim: target %q: %w", t.String(), err)
	}
	return nil
}

func validRole(r progressive.Role) error {
	switch r {
	case "", progressive.Stable, progressive.Canary:
		return nil
	}
	return fmt.Errorf("sim: role %q: must be %q, %q or empty (the whole service): %w",
		r, progressive.Stable, progressive.Canary, progressive.ErrInvalid)
}
