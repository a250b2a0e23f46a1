package rollout_test

import (
	"context"
	"testing"
	"time"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/provider/sim"
	"github.com/agentops/progressive/rollout"
	"github.com/agentops/progressive/strategy"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// targetedFlagWorld is the flag of newWorld with a key a person targeted to "on"
// before any rollout, and a beta-testers segment.
func targetedFlagWorld(t *testing.T) *world {
	t.Helper()
	w := newWorld(t)
	w.bindFlag()
	w.env.Flags.AddSegment("beta-testers", "dave", "erin")
	require.NoError(t, w.env.Flags.SetTargets(context.Background(), flagRef, "on", []string{"qa-lead"}))
	return w
}

func targetedFlagPlan(t *testing.T) progressive.Plan {
	return mustPlan(t, strategy.FlagRollout{
		Flag: flagRef, Variation: "on", Fallback: "off",
		Targets: []string{"alice", "bob", "qa-lead"}, Segments: []string{"beta-testers"}, TargetSoak: 2 * time.Hour,
		Percentages: []float64{10, 100}, Soak: 24 * time.Hour, Checks: seedChecks(),
	})
}

func (w *world) served(key string) string {
	w.t.Helper()
	v, err := w.env.Flags.Evaluate(flagRef, key, nil)
	require.NoError(w.t, err)
	return v
}

func TestFlagTargetsFirst(t *testing.T) {
	ctx := context.Background()
	t.Run("targeted users first, removed again by a rollback", func(t *testing.T) {
		w := targetedFlagWorld(t)
		w.inject(sim.ErrorRateSet, "", 4, 5*time.Hour) // during the 10% soak
		r := w.runner()
		started, err := r.Start(ctx, targetedFlagPlan(t))
		require.NoError(t, err)

		st := reconcileUntilStep(t, w, r, started.ID, 1) // the targeted users' soak
		assert.Equal(t, rollout.PhaseProgressing, st.Phase, "no analysis of a handful of users, so no no-data rollback")
		for _, key := range []string{"alice", "bob", "dave", "erin", "qa-lead"} {
			assert.Equal(t, "on", w.served(key), key)
		}
		assert.Equal(t, "off", w.served("carol"), "everyone else stays on the fallback")
		assert.Equal(t, []string{"alice", "bob"}, st.Applied.Flags[0].Targets, "qa-lead was targeted before the rollout")

		final, _ := drive(t, r, w.clock, st.ID, 10_000)
		require.Equal(t, rollout.PhaseRolledBack, final.Phase, "%+v", final.Record.Decisions)
		for _, key := range []string{"alice", "bob", "dave", "erin", "carol"} {
			assert.Equal(t, "off", w.served(key), key)
		}
		f, err := w.env.Flags.GetFlag(ctx, flagRef)
		require.NoError(t, err)
		assert.Equal(t, []progressive.FlagTarget{{Variation: "on", Keys: []string{"qa-lead"}}}, f.Targets, "a person's own target stays")
		assert.Empty(t, f.Rules)
		assert.Equal(t, 0.0, f.Fallthrough.WeightOf("on"))
	})
	t.Run("healthy: the targets stay after the release", func(t *testing.T) {
		w := targetedFlagWorld(t)
		st := w.execute(targetedFlagPlan(t))
		require.Equal(t, rollout.PhaseSucceeded, st.Phase, "%+v", st.Record.Decisions)
		assert.Equal(t, 26*time.Hour, time.Duration(st.Record.Impact.Duration), "2h for the targets, 24h at 10%")
		assert.Equal(t, "on", w.served("carol"))
		assert.Equal(t, "on", w.served("alice"))
	})
	t.Run("explained", func(t *testing.T) {
		out := rollout.Explain(targetedFlagPlan(t))
		assert.Contains(t, out, `1. flag-targets: serve flag shop/production/payment_gateway_v2 variation "on" to 3 targeted user(s) (alice, bob, qa-lead) and segment(s) beta-testers first, and to 0% of everyone else`)
		assert.Contains(t, out, "2. soak-targets: wait 2h")
		assert.Contains(t, out, "the targets the rollout added removed, then 0%")
		assert.Contains(t, out, "without analysis")
	})
	t.Run("a store that cannot target rolls back before any user is served", func(t *testing.T) {
		w := targetedFlagWorld(t)
		r, err := rollout.New(rollout.Options{
			Providers: rollout.Providers{
				Metrics: []progressive.MetricSource{w.env.Metrics},
				Flags:   []progressive.FlagStore{percentOnly{w.env.Flags}},
			},
			Store: w.store, Clock: w.clock, PollInterval: 10 * time.Second,
		})
		require.NoError(t, err)
		report, err := r.DryRun(ctx, targetedFlagPlan(t))
		require.NoError(t, err)
		assert.False(t, report.OK(), "the dry run says so before anything runs")
		assert.Contains(t, report.Steps[0].Error, "cannot write targets")
		started, err := r.Start(ctx, targetedFlagPlan(t))
		require.NoError(t, err)
		final, _ := drive(t, r, w.clock, started.ID, 100)
		require.Equal(t, rollout.PhaseRolledBack, final.Phase)
		assert.Contains(t, final.Rollback.Reason, "cannot write targets")
		assert.Equal(t, "off", w.served("alice"))
	})
}

// percentOnly hides the simulator's FlagTargeter side.
type percentOnly struct{ progressive.FlagStore }
