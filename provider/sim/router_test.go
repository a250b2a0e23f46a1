package sim_test

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
	"github.com/agentops/progressive/provider/sim"
)

func TestRouterName(t *testing.T) {
	env, _ := newEnv(t, sim.Options{})
	assert.Equal(t, "sim", env.Router.Name())
}

func TestRouterInitializeSetGet(t *testing.T) {
	env, fc := newEnv(t, sim.Options{})
	r := env.Router

	require.NoError(t, r.Initialize(ctx(t), checkout))
	require.NoError(t, r.Initialize(ctx(t), checkout), "Initialize is idempotent")
	got, err := r.GetRoutes(ctx(t), checkout)
	require.NoError(t, err)
	assert.Equal(t, progressive.AllStable(), got)
	assert.Zero(t, r.Writes(checkout), "Initialize is not a counted write")

	fc.Step(time.Minute)
	want := progressive.Routes{
		StableWeight: 80, CanaryWeight: 20, MirrorPercent: 10,
		Matches: []progressive.Match{{Kind: progressive.MatchHeader, Name: "x-canary", Value: "1"}},
	}
	require.NoError(t, r.SetRoutes(ctx(t), checkout, want))
	got, err = r.GetRoutes(ctx(t), checkout)
	require.NoError(t, err)
	assert.Equal(t, want, got)
	assert.Equal(t, 1, r.Writes(checkout))

	h := r.History(checkout)
	require.Len(t, h, 2)
	assert.Equal(t, sim.OpInitialize, h[0].Op)
	assert.Equal(t, t0, h[0].Time)
	assert.Equal(t, sim.OpSetRoutes, h[1].Op)
	assert.Equal(t, t0.Add(time.Minute), h[1].Time)
	assert.Equal(t, want, h[1].Routes)
}

func TestRouterSetRoutesCreatesTarget(t *testing.T) {
	env, _ := newEnv(t, sim.Options{})
	require.NoError(t, env.Router.SetRoutes(ctx(t), checkout, progressive.WeightedRoutes(5)))
	got, err := env.Router.GetRoutes(ctx(t), checkout)
	require.NoError(t, err)
	assert.Equal(t, progressive.WeightedRoutes(5), got)
}

func TestRouterCopiesRoutes(t *testing.T) {
	env, _ := newEnv(t, sim.Options{})
	in := progressive.Routes{StableWeight: 100, Matches: []progressive.Match{{Kind: progressive.MatchCookie, Name: "beta", Value: "yes"}}}
	require.NoError(t, env.Router.SetRoutes(ctx(t), checkout, in))
	in.Matches[0].Value = "changed"
	got, err := env.Router.GetRoutes(ctx(t), checkout)
	require.NoError(t, err)
	assert.Equal(t, "yes", got.Matches[0].Value)
	got.Matches[0].Value = "changed again"
	again, _ := env.Router.GetRoutes(ctx(t), checkout)
	assert.Equal(t, "yes", again.Matches[0].Value)
}

func TestRouterRejectsBadRoutes(t *testing.T) {
	for name, routes := range map[string]progressive.Routes{
		"weights do not sum to 100": {StableWeight: 80, CanaryWeight: 30},
		"negative weight":           {StableWeight: 110, CanaryWeight: -10},
		"percent over 100":          {StableWeight: 0, CanaryWeight: 150},
		"mirror over 100":           {StableWeight: 100, MirrorPercent: 101},
		"incomplete match":          {StableWeight: 100, Matches: []progressive.Match{{Kind: "query", Name: ""}}},
		"zero value":                {},
	} {
		t.Run(name, func(t *testing.T) {
			env, _ := newEnv(t, sim.Options{})
			require.NoError(t, env.Router.SetRoutes(ctx(t), checkout, progressive.WeightedRoutes(10)))
			err := env.Router.SetRoutes(ctx(t), checkout, routes)
			require.ErrorIs(t, err, progressive.ErrInvalid)
			got, _ := env.Router.GetRoutes(ctx(t), checkout)
			assert.Equal(t, progressive.WeightedRoutes(10), got, "a rejected write changes nothing")
			assert.Equal(t, 1, env.Router.Writes(checkout))
		})
	}
}

func TestRouterBadAndUnknownTargets(t *testing.T) {
	env, _ := newEnv(t, sim.Options{})
	r := env.Router
	bad := progressive.Target{Name: "Not_A_Label"}
	assert.ErrorIs(t, r.Initialize(ctx(t), bad), progressive.ErrInvalid)
	assert.ErrorIs(t, r.SetRoutes(ctx(t), bad, progressive.AllStable()), progressive.ErrInvalid)
	assert.ErrorIs(t, r.Finalize(ctx(t), bad), progressive.ErrInvalid)
	_, err := r.GetRoutes(ctx(t), bad)
	assert.ErrorIs(t, err, progressive.ErrInvalid)

	_, err = r.GetRoutes(ctx(t), unknown)
	require.ErrorIs(t, err, progressive.ErrNotFound)
	assert.Contains(t, err.Error(), "shop/nobody")
	assert.Zero(t, r.Writes(unknown))
	assert.Nil(t, r.History(unknown))
}

func TestRouterFinalize(t *testing.T) {
	env, _ := newEnv(t, sim.Options{})
	r := env.Router
	require.NoError(t, r.SetRoutes(ctx(t), checkout, progressive.Routes{
		StableWeight: 50, CanaryWeight: 50, MirrorPercent: 20,
		Matches: []progressive.Match{{Kind: progressive.MatchHeader, Name: "x-version", Value: "green"}},
	}))
	require.NoError(t, r.Finalize(ctx(t), checkout))
	got, err := r.GetRoutes(ctx(t), checkout)
	require.NoError(t, err)
	assert.Equal(t, progressive.AllStable(), got)
	assert.Empty(t, got.Matches)
	assert.Zero(t, got.MirrorPercent)
	assert.Equal(t, 2, r.Writes(checkout))
	assert.Equal(t, sim.OpFinalize, r.History(checkout)[1].Op)

	require.NoError(t, r.Finalize(ctx(t), unknown), "Finalize of a target never seen succeeds")
}

func TestRouterFailNextWrites(t *testing.T) {
	env, _ := newEnv(t, sim.Options{})
	r := env.Router
	require.NoError(t, r.SetRoutes(ctx(t), checkout, progressive.WeightedRoutes(10)))

	r.FailNextWrites(2, nil)
	err := r.SetRoutes(ctx(t), checkout, progressive.WeightedRoutes(50))
	require.ErrorIs(t, err, progressive.ErrTransient)
	assert.True(t, progressive.IsTransient(err))
	require.ErrorIs(t, r.Finalize(ctx(t), checkout), progressive.ErrTransient)

	got, _ := r.GetRoutes(ctx(t), checkout)
	assert.Equal(t, progressive.WeightedRoutes(10), got, "failed writes change nothing")
	assert.Equal(t, 1, r.Writes(checkout))
	h := r.History(checkout)
	require.Len(t, h, 3)
	assert.Error(t, h[1].Err)
	assert.Error(t, h[2].Err)

	require.NoError(t, r.SetRoutes(ctx(t), checkout, progressive.WeightedRoutes(50)), "the third write succeeds")
	assert.Equal(t, 2, r.Writes(checkout))

	boom := errors.New("conflict on VirtualService")
	r.FailNextWrites(1, boom)
	assert.ErrorIs(t, r.SetRoutes(ctx(t), checkout, progressive.AllStable()), boom)

	r.FailNextWrites(3, nil)
	r.FailNextWrites(0, nil)
	assert.NoError(t, r.SetRoutes(ctx(t), checkout, progressive.AllStable()), "n = 0 clears pending failures")
}

func TestRouterCanceledContext(t *testing.T) {
	env, _ := newEnv(t, sim.Options{})
	c, cancel := context.WithCancel(context.Background())
	cancel()
	assert.ErrorIs(t, env.Router.SetRoutes(c, checkout, progressive.AllStable()), context.Canceled)
	assert.Zero(t, env.Router.Writes(checkout))
}

func TestRouterConcurrentUse(t *testing.T) {
	env, _ := newEnv(t, sim.Options{})
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			target := progressive.Target{Name: fmt.Sprintf("svc-%d", i%2)}
			for w := range 50 {
				assert.NoError(t, env.Router.SetRoutes(ctx(t), target, progressive.WeightedRoutes(float64(w))))
				_, err := env.Router.GetRoutes(ctx(t), target)
				assert.NoError(t, err)
				_ = env.Router.History(target)
			}
		})
	}
	wg.Wait()
	assert.Equal(t, 200, env.Router.Writes(progressive.Target{Name: "svc-0"}))
}
