package rollout_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/rollout"
)

// pendingRouter answers "not yet" to its first SetRoutes calls that give the
// canary traffic, as the kubernetes router does while the pods for a weight
// start, and asserts it is only ever called under AllowPending.
type pendingRouter struct {
	progressive.TrafficRouter
	pendingLeft atomic.Int32
	calls       atomic.Int32
	notAllowed  atomic.Bool
}

func (s *pendingRouter) SetRoutes(ctx context.Context, t progressive.Target, r progressive.Routes) error {
	s.calls.Add(1)
	if !progressive.PendingAllowed(ctx) {
		s.notAllowed.Store(true)
	}
	if r.CanaryWeight > 0 && s.pendingLeft.Add(-1) >= 0 {
		return progressive.Pending(7*time.Second, "canary has 1 of 2 pods ready")
	}
	return s.TrafficRouter.SetRoutes(ctx, t, r)
}

// A provider that is still waiting for pods answers "not yet": Reconcile
// returns at once with the provider's wait, counts no failed attempt, and an
// Abort stored meanwhile is carried out at the next Reconcile.
func TestPendingProviderDoesNotBlockReconcile(t *testing.T) {
	t.Run("completes once the provider is done", func(t *testing.T) {
		w := newWorld(t)
		slow := &pendingRouter{TrafficRouter: w.env.Router}
		slow.pendingLeft.Store(3)
		w.router = slow
		r := w.runner()
		ctx := context.Background()
		st, err := r.Start(ctx, economyPlan(t))
		require.NoError(t, err)
		var waits []time.Duration
		for range 1000 {
			res, err := r.Reconcile(ctx, st.ID)
			require.NoError(t, err)
			if res.Phase.Terminal() {
				break
			}
			waits = append(waits, res.RequeueAfter)
			w.clock.Step(res.RequeueAfter)
		}
		final, err := r.Get(ctx, st.ID)
		require.NoError(t, err)
		require.Equal(t, rollout.PhaseSucceeded, final.Phase)
		assert.Contains(t, waits, 7*time.Second, "the provider's wait is the requeue")
		assert.False(t, slow.notAllowed.Load(), "the runner always allows pending answers")
		for _, d := range final.Record.Decisions {
			assert.NotEqual(t, "retry", d.Action, "a pending answer is not a failure: %s", d.Reason)
		}
	})
	t.Run("an abort is carried out while pending", func(t *testing.T) {
		w := newWorld(t)
		slow := &pendingRouter{TrafficRouter: w.env.Router}
		slow.pendingLeft.Store(1_000_000)
		w.router = slow
		r := w.runner()
		ctx := context.Background()
		st, err := r.Start(ctx, economyPlan(t))
		require.NoError(t, err)
		for range 100 {
			res, err := r.Reconcile(ctx, st.ID)
			require.NoError(t, err)
			if cur, _ := r.Get(ctx, st.ID); cur.Step.Index > 0 && res.RequeueAfter == 7*time.Second {
				break
			}
			w.clock.Step(res.RequeueAfter)
		}
		require.NoError(t, r.Abort(ctx, st.ID, "the pods will never come"))
		final, calls := drive(t, r, w.clock, st.ID, 100)
		assert.Equal(t, rollout.PhaseAborted, final.Phase)
		assert.LessOrEqual(t, calls, 3, "carried out at the next Reconciles")
		assert.Equal(t, progressive.AllStable(), w.routes())
	})
}
