package rollout_test

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/utils/clock"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/provider/sim"
	"github.com/agentops/progressive/rollout"
	"github.com/agentops/progressive/strategy"
)

// brokenStore takes writes until broken is set, then fails every one as a full
// disk would.
type brokenStore struct {
	rollout.StateStore
	broken atomic.Bool
}

func (s *brokenStore) Update(ctx context.Context, st rollout.State) (rollout.State, error) {
	if s.broken.Load() {
		return rollout.State{}, fmt.Errorf("write rollout %q: no space left on device: %w", st.ID, progressive.ErrTransient)
	}
	return s.StateStore.Update(ctx, st)
}

// A store that stops taking writes used to leave the canary with its traffic
// while the runner retried for ever: after a few failed writes in a row, Run
// sends traffic back to stable without waiting for the store.
func TestAFailingStoreDoesNotLeaveTrafficOnTheCanary(t *testing.T) {
	env := sim.New(sim.Options{Clock: clock.RealClock{}, Seed: 5})
	require.NoError(t, env.Workload.AddService(service, sim.ServiceSpec{Replicas: 4, Version: "v1.5.0", Image: "registry.example.com/payment-service:v1.5.0"}))
	require.NoError(t, env.Metrics.SetProfile(service, sim.Profile{RequestRate: 1000}))
	store := &brokenStore{StateStore: rollout.NewMemoryStore()}
	r, err := rollout.New(rollout.Options{
		Providers: rollout.Providers{
			Routers:   []progressive.TrafficRouter{env.Router},
			Metrics:   []progressive.MetricSource{env.Metrics},
			Workloads: []progressive.Workload{env.Workload},
		},
		Store: store, Logger: slog.New(slog.DiscardHandler),
		PollInterval: 20 * time.Millisecond, RetryBackoff: 20 * time.Millisecond,
		Observers: []rollout.Observer{rollout.ObserverFunc(func(_ context.Context, e rollout.Event) {
			if e.Type == rollout.EventRoutesChanged && e.Routes != nil && e.Routes.CanaryWeight > 0 {
				store.broken.Store(true) // the disk fills up once the canary has traffic
			}
		})},
	})
	require.NoError(t, err)
	plan, err := strategy.Canary{Weights: []float64{20, 100}, Soak: time.Hour, Replicas: 1, Checks: []progressive.Check{{
		Name: "error-rate", Query: "error_rate", Max: progressive.Float(1), Interval: 100 * time.Millisecond, Window: 100 * time.Millisecond,
	}}}.Plan(service, release)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	_, err = r.Execute(ctx, plan)
	require.ErrorIs(t, err, context.DeadlineExceeded, "the runner keeps trying while the store fails")
	routes, err := env.Router.GetRoutes(context.Background(), service)
	require.NoError(t, err)
	assert.Equal(t, progressive.AllStable(), routes, "users are back on stable although nothing could be stored")
}

// When the store takes writes again, the rollback that protected the users is
// stored and completed: the rollout ends rolled back, never promoted.
func TestARecoveredStoreRecordsTheProtectiveRollback(t *testing.T) {
	env := sim.New(sim.Options{Clock: clock.RealClock{}, Seed: 5})
	require.NoError(t, env.Workload.AddService(service, sim.ServiceSpec{Replicas: 4, Version: "v1.5.0", Image: "registry.example.com/payment-service:v1.5.0"}))
	require.NoError(t, env.Metrics.SetProfile(service, sim.Profile{RequestRate: 1000}))
	store := &brokenStore{StateStore: rollout.NewMemoryStore()}
	var brokeOnce atomic.Bool
	r, err := rollout.New(rollout.Options{
		Providers: rollout.Providers{
			Routers:   []progressive.TrafficRouter{env.Router},
			Metrics:   []progressive.MetricSource{env.Metrics},
			Workloads: []progressive.Workload{env.Workload},
		},
		Store: store, Logger: slog.New(slog.DiscardHandler),
		PollInterval: 20 * time.Millisecond, RetryBackoff: 20 * time.Millisecond,
		Observers: []rollout.Observer{rollout.ObserverFunc(func(_ context.Context, e rollout.Event) {
			switch {
			case e.Type == rollout.EventRoutesChanged && e.Routes != nil && e.Routes.CanaryWeight > 0 && brokeOnce.CompareAndSwap(false, true):
				store.broken.Store(true)
			case e.Type == rollout.EventRollbackStarted:
				time.AfterFunc(100*time.Millisecond, func() { store.broken.Store(false) })
			}
		})},
	})
	require.NoError(t, err)
	plan, err := strategy.Canary{Weights: []float64{20, 100}, Soak: time.Hour, Replicas: 1, Checks: []progressive.Check{{
		Name: "error-rate", Query: "error_rate", Max: progressive.Float(1), Interval: 100 * time.Millisecond, Window: 100 * time.Millisecond,
	}}}.Plan(service, release)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := r.Execute(ctx, plan)
	require.NoError(t, err)
	assert.Equal(t, rollout.PhaseRolledBack, st.Phase)
	assert.Contains(t, st.Rollback.Reason, "the state store failed 5 writes in a row")
	routes, err := env.Router.GetRoutes(context.Background(), service)
	require.NoError(t, err)
	assert.Equal(t, progressive.AllStable(), routes)
}
