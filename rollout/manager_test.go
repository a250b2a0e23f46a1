package rollout_test

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
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

// A process that restarts resumes every unfinished rollout of its store, each
// driven once at a time, and drives the ones started later too.
func TestManagerResumesEveryUnfinishedRollout(t *testing.T) {
	env := sim.New(sim.Options{Clock: clock.RealClock{}, Seed: 11})
	store := rollout.NewMemoryStore()
	newRunner := func() *rollout.Runner {
		r, err := rollout.New(rollout.Options{
			Providers: rollout.Providers{
				Routers: []progressive.TrafficRouter{env.Router}, Metrics: []progressive.MetricSource{env.Metrics},
				Workloads: []progressive.Workload{env.Workload},
			},
			Store: store, Logger: slog.New(slog.DiscardHandler), PollInterval: 50 * time.Millisecond,
		})
		require.NoError(t, err)
		return r
	}
	plan := func(i int) progressive.Plan {
		target := progressive.Target{Namespace: "shop", Name: fmt.Sprintf("svc-%d", i)}
		require.NoError(t, env.Workload.AddService(target, sim.ServiceSpec{Replicas: 2, Version: "v1", Image: "img:v1"}))
		require.NoError(t, env.Metrics.SetProfile(target, sim.Profile{RequestRate: 1000}))
		p, err := strategy.Canary{Weights: []float64{50}, Soak: 300 * time.Millisecond, Replicas: 1, Checks: []progressive.Check{{
			Name: "error-rate", Query: "error_rate", Max: progressive.Float(5), Interval: 100 * time.Millisecond, Window: 100 * time.Millisecond,
		}}}.Plan(target, progressive.Release{Version: "v2", Image: "img:v2"})
		require.NoError(t, err)
		return p
	}
	ctx := context.Background()

	// The first process started five rollouts and died before driving them.
	first := newRunner()
	var ids []string
	for i := range 5 {
		st, err := first.Start(ctx, plan(i))
		require.NoError(t, err)
		ids = append(ids, st.ID)
	}

	second := newRunner()
	var mu sync.Mutex
	driving := map[string]int{}
	twice := false
	m, err := rollout.NewManager(second, rollout.ManagerOptions{
		Resync: 20 * time.Millisecond,
		Drive: func(ctx context.Context, id string) (rollout.State, error) {
			mu.Lock()
			driving[id]++
			twice = twice || driving[id] > 1
			mu.Unlock()
			defer func() {
				mu.Lock()
				driving[id]--
				mu.Unlock()
			}()
			return second.Run(ctx, id)
		},
	})
	require.NoError(t, err)
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- m.Run(runCtx) }()

	late, err := m.Start(ctx, plan(5))
	require.NoError(t, err)
	ids = append(ids, late.ID)

	require.Eventually(t, func() bool {
		for _, id := range ids {
			st, err := second.Get(ctx, id)
			if err != nil || !st.Phase.Terminal() {
				return false
			}
		}
		return true
	}, 30*time.Second, 20*time.Millisecond)
	for _, id := range ids {
		st, err := second.Get(ctx, id)
		require.NoError(t, err)
		assert.Equal(t, rollout.PhaseSucceeded, st.Phase, id)
	}
	require.Eventually(t, func() bool { return len(m.Driving()) == 0 }, 5*time.Second, 10*time.Millisecond)
	stop()
	require.NoError(t, <-done)
	mu.Lock()
	defer mu.Unlock()
	assert.False(t, twice, "a rollout was driven twice at once")

	_, err = rollout.NewManager(second, rollout.ManagerOptions{Resync: -time.Second})
	require.ErrorIs(t, err, progressive.ErrInvalid)
}
