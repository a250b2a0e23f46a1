package rollout_test

import (
	"context"
	"testing"
	"time"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/provider/sim"
	"github.com/agentops/progressive/rollout"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestResumeRestoresDriftedRoutes(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		tamper func(w *world)
		drift  bool
	}{
		{"someone sent everything back to stable", func(w *world) {
			require.NoError(t, w.env.Router.SetRoutes(ctx, service, progressive.AllStable()))
		}, true},
		{"someone moved the canary to 80%", func(w *world) {
			require.NoError(t, w.env.Router.SetRoutes(ctx, service, progressive.WeightedRoutes(80)))
		}, true},
		{"nothing moved", func(*world) {}, false},
		{"the next step's write landed before the process died", func(w *world) {
			require.NoError(t, w.env.Router.SetRoutes(ctx, service, progressive.WeightedRoutes(50)))
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			first := w.runner()
			started, err := first.Start(ctx, seedCanary(t))
			require.NoError(t, err)
			st := reconcileUntilStep(t, w, first, started.ID, 2) // analyze-10: the first process dies here
			require.Equal(t, 10.0, st.Applied.Routes.CanaryWeight)
			tc.tamper(w)

			var seen []rollout.Event
			w.obs = []rollout.Observer{rollout.ObserverFunc(func(_ context.Context, e rollout.Event) { seen = append(seen, e) })}
			second := w.runner()
			stop := sim.Drive(ctx, w.clock, time.Second)
			defer stop()
			rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			final, err := second.Resume(rctx, started.ID)
			require.NoError(t, err)
			require.Equal(t, rollout.PhaseSucceeded, final.Phase, "%+v", final.Record.Decisions)

			drift := decisions(final, "drift")
			if !tc.drift {
				assert.Empty(t, drift)
				return
			}
			require.Len(t, drift, 1)
			assert.Contains(t, drift[0].Reason, "the rollout had applied 90% stable / 10% canary")
			assert.Contains(t, drift[0].Reason, "restored: 90% stable / 10% canary")
			assert.Equal(t, 2, drift[0].Step, "found at resume, in the step the rollout was in")
			require.NotEmpty(t, seen)
			assert.Equal(t, rollout.EventRoutesChanged, seen[0].Type, "the first thing the resumed process reports")
			assert.Contains(t, seen[0].Message, "drifted")
		})
	}
}

// countingRouter counts GetRoutes calls.
type countingRouter struct {
	progressive.TrafficRouter
	gets *int
}

func (r countingRouter) GetRoutes(ctx context.Context, t progressive.Target) (progressive.Routes, error) {
	*r.gets++
	return r.TrafficRouter.GetRoutes(ctx, t)
}

// TestResumeReadsTheRoutesOnce: the check at resume is one read, not one per
// wake of Run (a 15-minute soak wakes Run every minute).
func TestResumeReadsTheRoutesOnce(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	first := w.runner()
	started, err := first.Start(ctx, seedCanary(t))
	require.NoError(t, err)
	reconcileUntilStep(t, w, first, started.ID, 2)

	gets := 0
	w.router = countingRouter{TrafficRouter: w.env.Router, gets: &gets}
	second := w.runner()
	stop := sim.Drive(ctx, w.clock, time.Second)
	defer stop()
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	final, err := second.Resume(rctx, started.ID)
	require.NoError(t, err)
	require.Equal(t, rollout.PhaseSucceeded, final.Phase)
	// The check at resume, the read-back of weight-50 and finalize's.
	assert.Equal(t, 3, gets)
}
