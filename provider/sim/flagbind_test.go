package sim_test

import (
	"context"
	"testing"
	"time"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/provider/sim"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	testingclock "k8s.io/utils/clock/testing"
)

func TestBindFlagMakesTheVariationTheCanary(t *testing.T) {
	ctx := context.Background()
	fc := testingclock.NewFakeClock(time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC))
	env := sim.New(sim.Options{Clock: fc})
	target := progressive.Target{Namespace: "shop", Name: "checkout"}
	ref := progressive.FlagRef{Key: "payment_gateway_v2"}
	require.NoError(t, env.Flags.AddFlag(progressive.Flag{
		Ref:          ref,
		Variations:   []progressive.Variation{{ID: "off"}, {ID: "on"}},
		OffVariation: "off",
		Fallthrough:  progressive.PercentRollout("on", "off", 0),
	}))
	require.NoError(t, env.Metrics.SetProfile(target, sim.Profile{RequestRate: 1000}))
	require.Error(t, env.Metrics.BindFlag(target, env.Flags, ref, "v3"), "unknown variation")
	require.NoError(t, env.Metrics.BindFlag(target, env.Flags, ref, "on"))

	rate := func(role progressive.Role) progressive.Result {
		r, err := env.Metrics.Query(ctx, progressive.Query{Expr: "request_rate", Target: target, Role: role})
		require.NoError(t, err)
		return r
	}
	assert.Equal(t, progressive.StatusNoData, rate(progressive.Canary).Status, "flag off: nobody is served the variation")

	require.NoError(t, env.Flags.SetOn(ctx, ref, true))
	require.NoError(t, env.Flags.SetRollout(ctx, ref, progressive.PercentRollout("on", "off", 25)))
	canary, stable := rate(progressive.Canary), rate(progressive.Stable)
	require.Equal(t, progressive.StatusValue, canary.Status)
	assert.InDelta(t, 0.25, canary.Value/(canary.Value+stable.Value), 0.03)
}
