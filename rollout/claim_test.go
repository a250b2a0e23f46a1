package rollout_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/rollout"
)

// Two runners reconciling the same new rollout both ran the pre-rollout hook (a
// migration) before one of them lost the state conflict. The hook is claimed in
// the store first now: it runs once.
func TestTwoRunnersRunAHookOnce(t *testing.T) {
	w := newWorld(t)
	var calls atomic.Int32
	release := make(chan struct{})
	w.hooks["migrate"] = rollout.HookFunc(func(ctx context.Context, _ rollout.HookRequest) error {
		calls.Add(1)
		select {
		case <-release:
		case <-time.After(2 * time.Second):
		}
		return nil
	})
	plan := seedCanary(t)
	plan.Hooks = []progressive.HookSpec{{Name: "migrate", Phase: progressive.HookPreRollout}}
	a, b := w.runner(), w.runner()
	ctx := context.Background()
	st, err := a.Start(ctx, plan)
	require.NoError(t, err)

	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, r := range []*rollout.Runner{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = r.Reconcile(ctx, st.ID)
		}()
	}
	time.Sleep(200 * time.Millisecond) // both are past their loads and claims
	close(release)
	wg.Wait()
	assert.Equal(t, int32(1), calls.Load(), "the hook ran once; errors: %v", errs)

	// Whoever lost, a later reconcile by either runner goes on without running
	// the hook again.
	for _, r := range []*rollout.Runner{b, a} {
		_, err := r.Reconcile(ctx, st.ID)
		require.NoError(t, err)
	}
	assert.Equal(t, int32(1), calls.Load())
	got, err := w.store.Get(ctx, st.ID)
	require.NoError(t, err)
	assert.Contains(t, got.HooksRun, "pre-rollout/migrate")
}
