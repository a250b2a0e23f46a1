package rollout_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/rollout"
	"github.com/agentops/progressive/strategy"
)

// countingStore counts state writes and can fail the next one, as a process
// that dies before its write would.
type countingStore struct {
	rollout.StateStore
	mu       sync.Mutex
	writes   int
	failNext bool
}

func (s *countingStore) Update(ctx context.Context, st rollout.State) (rollout.State, error) {
	s.mu.Lock()
	fail := s.failNext
	s.failNext = false
	if !fail {
		s.writes++
	}
	s.mu.Unlock()
	if fail {
		return rollout.State{}, fmt.Errorf("process killed before writing %s: %w", st.ID, progressive.ErrTransient)
	}
	return s.StateStore.Update(ctx, st)
}

func (s *countingStore) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.writes
}

func (s *countingStore) failNextWrite() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failNext = true
}

// promoteSpy checks, when the workload is promoted, that the store already
// says the rollout is at its promote step.
type promoteSpy struct {
	progressive.Workload
	store   rollout.StateStore
	id      string
	stepGot int
}

func (p *promoteSpy) Promote(ctx context.Context, t progressive.Target) error {
	st, err := p.store.Get(ctx, p.id)
	if err != nil {
		return err
	}
	p.stepGot = st.Step.Index
	return p.Workload.Promote(ctx, t)
}

func economyPlan(t *testing.T) progressive.Plan {
	t.Helper()
	plan, err := strategy.Canary{Weights: []float64{10, 20, 50}, Soak: 5 * time.Minute, Replicas: 1, Checks: seedChecks()}.Plan(service, release)
	require.NoError(t, err)
	return plan
}

// An advancing tick (an analysis passes, the next weight is set, the next
// analysis begins) stores the state once, not once per transition: with many
// rollouts on one apiserver every write is a request that delays the others.
func TestAnAdvancingTickWritesTheStateOnce(t *testing.T) {
	w := newWorld(t)
	store := &countingStore{StateStore: w.store}
	w.store = store
	r := w.runner()
	ctx := context.Background()
	plan := economyPlan(t)
	st, err := r.Start(ctx, plan)
	require.NoError(t, err)

	advancing := 0
	for range 1000 {
		before, err := r.Get(ctx, st.ID)
		require.NoError(t, err)
		writes := store.count()
		res, err := r.Reconcile(ctx, st.ID)
		require.NoError(t, err)
		after, err := r.Get(ctx, st.ID)
		require.NoError(t, err)
		from, to := before.Step.Index, after.Step.Index
		if to > from && to < len(plan.Steps) && plan.Steps[from].Analyze != nil && plan.Steps[to].Analyze != nil && plan.Steps[from+1].SetWeight != nil {
			advancing++
			assert.Equal(t, 1, store.count()-writes, "writes when %s passed and %s began", plan.Steps[from].Name, plan.Steps[to].Name)
		}
		if res.Phase.Terminal() {
			break
		}
		w.clock.Step(res.RequeueAfter)
	}
	final, err := r.Get(ctx, st.ID)
	require.NoError(t, err)
	require.Equal(t, rollout.PhaseSucceeded, final.Phase, final.Record.Learning)
	assert.Equal(t, 2, advancing, "10 -> 20 and 20 -> 50 are advancing ticks")
}

// A promotion changes stable: it never runs while the store still points at
// the step before it, or a rollback decided after a restart would not know.
func TestAPromotionIsStoredBeforeItRuns(t *testing.T) {
	w := newWorld(t)
	plan := economyPlan(t)
	spy := &promoteSpy{Workload: w.env.Workload, store: w.store, id: plan.Name, stepGot: -1}
	r, err := rollout.New(rollout.Options{
		Providers: rollout.Providers{
			Routers: []progressive.TrafficRouter{w.env.Router}, Metrics: []progressive.MetricSource{w.env.Metrics},
			Workloads: []progressive.Workload{spy},
		},
		Store: w.store, Clock: w.clock, PollInterval: 10 * time.Second,
	})
	require.NoError(t, err)
	st, err := r.Start(context.Background(), plan)
	require.NoError(t, err)
	final, _ := drive(t, r, w.clock, st.ID, 1000)
	require.Equal(t, rollout.PhaseSucceeded, final.Phase, final.Record.Learning)
	promoteAt := -1
	for i, s := range plan.Steps {
		if s.Promote != nil {
			promoteAt = i
		}
	}
	assert.Equal(t, promoteAt, spy.stepGot, "the stored step when Promote ran")
}

// A process that dies after setting the next weight but before storing the
// advance resumes at the analysis before it: that analysis measures again,
// the weight is written again with the same content, and the rollout goes on.
func TestDyingBetweenTheTrafficWriteAndTheSaveRepeatsThePreviousStep(t *testing.T) {
	w := newWorld(t)
	store := &countingStore{StateStore: w.store}
	w.store = store
	plan := economyPlan(t)
	var once sync.Once
	w.obs = append(w.obs, rollout.ObserverFunc(func(_ context.Context, e rollout.Event) {
		if e.Type == rollout.EventRoutesChanged && e.Routes != nil && e.Routes.CanaryWeight == 20 {
			once.Do(store.failNextWrite)
		}
	}))
	ctx := context.Background()
	r := w.runner()
	st, err := r.Start(ctx, plan)
	require.NoError(t, err)
	var died bool
	for range 1000 {
		res, err := r.Reconcile(ctx, st.ID)
		if err != nil {
			require.True(t, errors.Is(err, progressive.ErrTransient), "%v", err)
			require.False(t, died, "only one write fails")
			died = true
			stored, gerr := store.Get(ctx, st.ID)
			require.NoError(t, gerr)
			assert.Equal(t, "analyze-10", plan.Steps[stored.Step.Index].Name, "the store still holds the analysis at 10%")
			assert.Equal(t, 20.0, w.routes().CanaryWeight, "the traffic write landed")
			r = w.runner() // a new process
			continue
		}
		if res.Phase.Terminal() {
			break
		}
		w.clock.Step(res.RequeueAfter)
	}
	require.True(t, died)
	final, err := r.Get(ctx, st.ID)
	require.NoError(t, err)
	require.Equal(t, rollout.PhaseSucceeded, final.Phase, final.Record.Learning)
	assert.Equal(t, 50.0, final.Applied.MaxCanaryWeight)
}

// An idle tick (passing measurements, same step) writes nothing: a hundred
// rollouts measuring every 10 s would otherwise write ten states a second. A
// restart loses nothing by it (TestCrashResumeAtEveryStepBoundary): the
// successor takes the missed measurements from the source's history.
func TestIdleTicksWriteNothing(t *testing.T) {
	w := newWorld(t)
	store := &countingStore{StateStore: w.store}
	w.store = store
	r := w.runner()
	ctx := context.Background()
	plan := economyPlan(t)
	st, err := r.Start(ctx, plan)
	require.NoError(t, err)
	idle, idleWrites := 0, 0
	for range 1000 {
		before, err := r.Get(ctx, st.ID)
		require.NoError(t, err)
		writes := store.count()
		res, err := r.Reconcile(ctx, st.ID)
		require.NoError(t, err)
		after, err := r.Get(ctx, st.ID)
		require.NoError(t, err)
		if before.Step.Index == after.Step.Index && plan.Steps[before.Step.Index].Analyze != nil && before.Step.Analysis != nil && after.Phase == rollout.PhaseProgressing {
			idle++
			idleWrites += store.count() - writes
		}
		if res.Phase.Terminal() {
			break
		}
		w.clock.Step(res.RequeueAfter)
	}
	final, err := r.Get(ctx, st.ID)
	require.NoError(t, err)
	require.Equal(t, rollout.PhaseSucceeded, final.Phase)
	require.Greater(t, idle, 5)
	assert.Zero(t, idleWrites, "writes in %d idle ticks", idle)
	assert.Equal(t, 3*15, final.Record.Impact.Measurements, "every measurement is in the record: 3 checks x 5 per soak x 3 soaks")
}
