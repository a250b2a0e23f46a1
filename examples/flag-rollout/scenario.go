package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/flags"
	"github.com/agentops/progressive/flags/flagtest"
	"github.com/agentops/progressive/rollout"
	"github.com/agentops/progressive/rollout/progress"
	"github.com/agentops/progressive/strategy"
	testingclock "k8s.io/utils/clock/testing"
)

// t0 is when every rehearsal starts.
var t0 = time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)

// Users evaluated through the SDK after each write, and the QA accounts targeted
// in production.
const sampleUsers = 10000

var qaAccounts = []string{"qa-alice", "qa-bob"}

// checks are the guide's rollback triggers: error rate above 1%, p95 latency above
// 500 ms, CPU above 80% as a warning only, measured every interval.
func checks(interval time.Duration) []progressive.Check {
	return []progressive.Check{
		{Name: "error-rate", Query: flagtest.SeriesErrorRate, Max: progressive.Float(1), Interval: interval},
		{Name: "latency-p95", Query: flagtest.SeriesLatencyP95, Max: progressive.Float(500), Interval: interval},
		{Name: "cpu", Query: flagtest.SeriesCPU, Max: progressive.Float(80), Interval: interval, Severity: progressive.SeverityWarn},
	}
}

type scenario struct {
	name     string
	title    string
	target   progressive.Target
	strategy strategy.FlagRollout
	// regressAt makes the new variation's error rate 4% from then on (0: never).
	regressAt time.Duration
	// restartEvery restarts the runner process after that many reconciles (0: never).
	// The state is then kept in files (rollout.FileStore), else in memory.
	restartEvery int
	// onStep runs when a step of the rollout starts, with the backend.
	onStep func(b *backend, step progressive.Step)
}

func scenarios() []scenario {
	gateway := strategy.FlagGradual(ref("production", gatewayFlag), "on", "off", checks(10*time.Minute))
	search := strategy.FlagRollout{
		Flag: ref("production", searchFlag), Variation: "vector", Fallback: "classic",
		Percentages: []float64{5, 25, 75, 100}, Soak: 7 * 24 * time.Hour, Checks: checks(2 * time.Hour),
	}
	payments := progressive.Target{Namespace: "production", Name: "payment-service"}
	return []scenario{
		{name: "gateway", title: "payment_gateway_v2, 1% -> 10% -> 50% -> 100%, a day each", target: payments, strategy: gateway},
		{name: "regression", title: "payment_gateway_v2 regresses at 10%", target: payments, strategy: gateway, regressAt: 30 * time.Hour},
		{name: "search", title: "search_algorithm, 5% -> 25% -> 75% -> 100%, a week each, the runner restarted every 15 reconciles",
			target: progressive.Target{Namespace: "production", Name: "search"}, strategy: search, restartEvery: 15},
		{name: "outage", title: "payment_gateway_v2 while the flag service answers 503 from the 50% step", target: payments, strategy: gateway,
			onStep: func(b *backend, step progressive.Step) {
				if step.SetFlag != nil && step.SetFlag.Percent == 50 {
					// Enough failures to exhaust the store's and the runner's retries
					// at 50%, and the first attempts of the rollback.
					b.fail(30, 503)
				}
			}},
		{name: "revoked-token", title: "payment_gateway_v2 when the API token is refused at the 50% step", target: payments, strategy: gateway,
			onStep: func(b *backend, step progressive.Step) {
				if step.SetFlag != nil && step.SetFlag.Percent == 50 {
					b.fail(1, 401)
				}
			}},
	}
}

// Observation is what the SDK serves after one write of the rollout.
type Observation struct {
	At time.Duration `json:"at"`
	// Percent is the share the store reads back; Served the share of 10,000 users
	// the SDK serves the new variation.
	Percent float64 `json:"percent"`
	Served  float64 `json:"served"`
	// TargetsServed reports whether every QA account got the new variation.
	TargetsServed bool   `json:"targetsServed"`
	Message       string `json:"message"`
}

// Report is the outcome of one rehearsal.
type Report struct {
	Backend, Scenario string
	Phase             rollout.Phase
	RolledBack        bool
	Duration          time.Duration
	Observations      []Observation
	// Writes counts the backend's applied writes during the rollout;
	// RollbackWrites those from the rollback decision on.
	Writes, RollbackWrites int
	Restarts               int
	StagingServed          float64
	Record                 rollout.DecisionRecord
	// StateDir holds the rollout's state files, when it was restarted.
	StateDir string
}

// process is one run of the program: its stores, metrics and runner.
type process struct {
	store progressive.FlagStore
	close func()
	r     *rollout.Runner
}

func runScenario(ctx context.Context, b *backend, sc scenario, dir string, out io.Writer, logger *slog.Logger) (Report, error) {
	fr := sc.strategy.Flag
	variation, fallback := sc.strategy.Variation, sc.strategy.Fallback
	rep := Report{Backend: b.name, Scenario: sc.name}
	var memory rollout.StateStore = rollout.NewMemoryStore()
	if sc.restartEvery > 0 {
		rep.StateDir = filepath.Join(dir, b.name+"-"+sc.name)
	}
	fmt.Fprintf(out, "== %s on %s ==\n", sc.title, b.name)

	setup, closeSetup, err := b.open(logger)
	if err != nil {
		return rep, err
	}
	if err := prepare(ctx, setup, fr.Key, variation, fallback, qaAccounts); err != nil {
		closeSetup()
		return rep, err
	}
	closeSetup()
	writesBefore := b.writes()

	fc := testingclock.NewFakeClock(t0)
	var mu sync.Mutex
	var current progressive.FlagStore
	var observeErr error
	writesAtRollback := -1
	var planSteps []progressive.Step
	// The library's printer tells the rollout (steps, flag changes, a measurement
	// a virtual day at the 10-minute interval, every failure, the end); the
	// observer below adds what this example is about: what the SDK serves after
	// each write.
	printer, err := progress.New(progress.Options{
		Out:   out,
		Stamp: func(t time.Time) string { return "   " + hours(t.Sub(t0)) },
		Every: 144,
		Units: map[string]string{"error-rate": "%", "cpu": "%", "latency-p95": "ms"},
	})
	if err != nil {
		return rep, err
	}
	observer := rollout.ObserverFunc(func(ctx context.Context, e rollout.Event) {
		printer.Observe(ctx, e)
		mu.Lock()
		store := current
		mu.Unlock()
		switch e.Type {
		case rollout.EventRollbackStarted:
			writesAtRollback = b.writes()
		case rollout.EventFlagChanged:
			o, err := observe(ctx, b, store, fr, variation)
			if err != nil {
				observeErr = errors.Join(observeErr, err)
				return
			}
			o.At, o.Message = e.Time.Sub(t0), e.Message
			rep.Observations = append(rep.Observations, o)
			fmt.Fprintf(out, "   %s  %-9s SDK serves %q to %6.2f%% of %d users; QA targeted: %v\n",
				hours(o.At), "sdk", variation, o.Served, sampleUsers, o.TargetsServed)
		case rollout.EventStepStarted:
			mu.Lock()
			steps := planSteps
			mu.Unlock()
			if sc.onStep != nil && e.Step < len(steps) {
				sc.onStep(b, steps[e.Step])
			}
		}
	})

	start := func() (*process, error) {
		store, closeStore, err := b.open(logger)
		if err != nil {
			return nil, err
		}
		metrics := &flagtest.Metrics{Store: store, Ref: fr, Variation: variation, Clock: fc}
		if sc.regressAt > 0 {
			metrics.Regress(t0.Add(sc.regressAt), progressive.Canary, flagtest.SeriesErrorRate, 4)
		}
		// A new process opens the state files anew; without restarts the state
		// stays in memory.
		states := memory
		if rep.StateDir != "" {
			if states, err = rollout.NewFileStore(rep.StateDir); err != nil {
				closeStore()
				return nil, err
			}
		}
		r, err := rollout.New(rollout.Options{
			Providers:    rollout.Providers{Flags: []progressive.FlagStore{store}, Metrics: []progressive.MetricSource{metrics}},
			Store:        states,
			Clock:        fc,
			Observers:    []rollout.Observer{observer},
			Logger:       logger,
			PollInterval: time.Minute,
			RetryBackoff: time.Minute,
		})
		if err != nil {
			closeStore()
			return nil, err
		}
		mu.Lock()
		current = store
		mu.Unlock()
		return &process{store: store, close: closeStore, r: r}, nil
	}

	p, err := start()
	if err != nil {
		return rep, err
	}
	plan, err := sc.strategy.Plan(sc.target, progressive.Release{})
	if err != nil {
		p.close()
		return rep, err
	}
	mu.Lock()
	planSteps = plan.Steps
	mu.Unlock()
	st, err := p.r.Start(ctx, plan)
	if err != nil {
		p.close()
		return rep, err
	}
	for calls := 1; ; calls++ {
		res, err := p.r.Reconcile(ctx, st.ID)
		if err != nil && !progressive.IsTransient(err) {
			p.close()
			return rep, err
		}
		if res.Phase.Terminal() {
			break
		}
		wait := res.RequeueAfter
		if wait <= 0 {
			wait = time.Minute
		}
		fc.Step(wait)
		if sc.restartEvery > 0 && calls%sc.restartEvery == 0 {
			// The process dies; a new one opens new stores and resumes from the
			// state files.
			p.close()
			if p, err = start(); err != nil {
				return rep, err
			}
			rep.Restarts++
		}
	}
	defer p.close()
	if observeErr != nil {
		return rep, observeErr
	}
	final, err := p.r.Get(ctx, st.ID)
	if err != nil {
		return rep, err
	}
	rep.Record, err = p.r.Record(ctx, st.ID)
	if err != nil {
		return rep, err
	}
	rep.Phase = final.Phase
	rep.RolledBack = rep.Record.Impact.RolledBack
	rep.Duration = fc.Now().Sub(t0)
	rep.Writes = b.writes() - writesBefore
	if writesAtRollback >= 0 {
		rep.RollbackWrites = b.writes() - writesAtRollback
	}
	rep.StagingServed, err = b.share(ctx, p.store, ref("staging", fr.Key), variation, 1000)
	return rep, err
}

// observe reads the flag back and evaluates the sample users and QA accounts
// through the SDK.
func observe(ctx context.Context, b *backend, store progressive.FlagStore, fr progressive.FlagRef, variation string) (Observation, error) {
	st, err := flags.Read(ctx, store, fr, variation)
	if err != nil {
		return Observation{}, err
	}
	served, err := b.share(ctx, store, fr, variation, sampleUsers)
	if err != nil {
		return Observation{}, err
	}
	o := Observation{Percent: st.Serving, Served: served, TargetsServed: true}
	for _, qa := range qaAccounts {
		got, err := b.serve(ctx, store, fr, qa)
		if err != nil {
			return Observation{}, err
		}
		o.TargetsServed = o.TargetsServed && got == variation
	}
	return o, nil
}
