package flags_test

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/flags"
	"github.com/agentops/progressive/provider/sim"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var ref = progressive.FlagRef{Environment: "production", Key: "search_algorithm"}

func newStore(t *testing.T) *sim.FlagStore {
	t.Helper()
	s := sim.NewFlagStore(sim.Options{})
	for _, env := range []string{"staging", "production"} {
		r := ref
		r.Environment = env
		require.NoError(t, s.AddFlag(progressive.Flag{
			Ref:          r,
			Variations:   []progressive.Variation{{ID: "0", Name: "classic"}, {ID: "1", Name: "vector"}},
			OffVariation: "0",
			Fallthrough:  progressive.PercentRollout("0", "1", 100),
		}))
	}
	return s
}

// readOnly hides the targeting methods of a store.
type readOnly struct{ progressive.FlagStore }

func TestReadAndSetPercent(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	st, err := flags.Read(ctx, s, ref, "vector")
	require.NoError(t, err)
	assert.Equal(t, "1", st.Variation.ID)
	assert.Zero(t, st.Percent)

	require.NoError(t, flags.SetPercent(ctx, s, ref, "vector", "classic", 25))
	st, err = flags.Read(ctx, s, ref, "vector")
	require.NoError(t, err)
	assert.Equal(t, 25.0, st.Percent)
	assert.Zero(t, st.Serving, "the flag is still off")

	for _, p := range []float64{-0.1, 100.01, math.NaN()} {
		err := flags.SetPercent(ctx, s, ref, "vector", "classic", p)
		assert.ErrorIs(t, err, progressive.ErrInvalid, "%g", p)
	}
	assert.Equal(t, 1, s.Writes(ref), "rejected percentages never reach the store")
	assert.ErrorIs(t, flags.SetPercent(ctx, s, ref, "vector", "vector", 5), progressive.ErrInvalid)

	_, err = flags.Read(ctx, s, ref, "graph")
	require.ErrorIs(t, err, progressive.ErrInvalid)
	assert.Contains(t, err.Error(), `no variation "graph" (known: 0 (classic), 1 (vector))`)
}

func TestResolveRollout(t *testing.T) {
	f := progressive.Flag{Ref: ref, Variations: []progressive.Variation{{ID: "a1", Name: "off"}, {ID: "b2", Name: "on"}}}
	r, err := flags.ResolveRollout(f, progressive.PercentRollout("on", "off", 30))
	require.NoError(t, err)
	assert.Equal(t, []progressive.VariationWeight{{Variation: "b2", Weight: 30}, {Variation: "a1", Weight: 70}}, r.Weights)
	_, err = flags.ResolveRollout(f, progressive.PercentRollout("on", "off", 130))
	assert.ErrorIs(t, err, progressive.ErrInvalid)
}

func TestTargetsAndRulesNeedATargeter(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	err := flags.SetTargets(ctx, readOnly{s}, ref, "vector", []string{"ann"})
	require.ErrorIs(t, err, progressive.ErrUnsupported)
	assert.True(t, flags.IsUnsupported(err))
	assert.Contains(t, err.Error(), "flag store sim cannot set targets")

	require.NoError(t, flags.SetTargets(ctx, s, ref, "vector", []string{"ann"}))
	s.AddSegment("beta-testers", "bea")
	rules := []progressive.FlagRule{
		flags.SegmentRule("beta-testers", "vector"),
		flags.AttributeRule("country", "vector", "DE", "AT"),
		flags.AttributeRule("tier", "vector", "gold"),
	}
	require.NoError(t, flags.SetRules(ctx, s, ref, rules))
	require.NoError(t, s.SetOn(ctx, ref, true))
	for key, attrs := range map[string]map[string]string{
		"ann": nil, "bea": nil, "hans": {"country": "AT"}, "gil": {"tier": "gold"},
	} {
		got, err := s.Evaluate(ref, key, attrs)
		require.NoError(t, err)
		assert.Equal(t, "1", got, key)
	}
	got, err := s.Evaluate(ref, "zed", map[string]string{"country": "US", "tier": "free"})
	require.NoError(t, err)
	assert.Equal(t, "0", got)
}

func TestCheckRulesReportsEverything(t *testing.T) {
	bad := progressive.Rollout{Weights: []progressive.VariationWeight{{Variation: "on", Weight: 120}}}
	err := flags.CheckRules([]progressive.FlagRule{
		{Variation: "on"},
		{Segment: "beta", Variation: "on", Rollout: &bad},
		{Clauses: []progressive.Clause{{Op: "near"}}, Rollout: &bad},
	})
	var ve *progressive.ValidationError
	require.ErrorAs(t, err, &ve)
	var fields []string
	for _, p := range ve.Problems {
		fields = append(fields, p.Field)
	}
	assert.ElementsMatch(t, []string{
		"rules[0]", "rules[1].variation", "rules[2].rollout.weights[0].weight", "rules[2].rollout.weights",
		"rules[2].clauses[0].attribute", "rules[2].clauses[0].values", "rules[2].clauses[0].op",
	}, fields)
	assert.Contains(t, err.Error(), "known: in, startsWith, endsWith, contains, matches")
}

func TestEnvironmentsPlanApply(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	envs := flags.Environments{Key: ref.Key, Variation: "vector", Fallback: "classic", States: []flags.EnvironmentState{
		{Environment: "staging", On: true, Percent: 100},
		{Environment: "production", On: true, Percent: 5},
	}}
	plan, err := envs.Plan(ctx, s)
	require.NoError(t, err)
	require.Len(t, plan, 4)
	assert.Equal(t, flags.ActionSetRollout, plan[0].Action, "the rollout is set before the flag goes on")
	assert.Equal(t, flags.ActionTurnOn, plan[1].Action)
	assert.Equal(t, "staging/search_algorithm: serve 100% (now off, 0% vector)", plan[0].String())

	s.FailNextWrites(1, nil)
	done, err := envs.Apply(ctx, s, plan)
	require.ErrorIs(t, err, progressive.ErrTransient)
	assert.Empty(t, done)
	assert.Contains(t, err.Error(), "(0 of 4 done)")

	done, err = envs.Sync(ctx, s)
	require.NoError(t, err)
	assert.Len(t, done, 4)
	left, err := envs.Plan(ctx, s)
	require.NoError(t, err)
	assert.Empty(t, left)

	// Production switched off: the plan turns it off first and leaves staging alone.
	envs.States[1] = flags.EnvironmentState{Environment: "production", On: false, Percent: 0}
	plan, err = envs.Plan(ctx, s)
	require.NoError(t, err)
	require.Len(t, plan, 2)
	assert.Equal(t, flags.ActionTurnOff, plan[0].Action)
	assert.Equal(t, "production", plan[0].Ref.Environment)

	err = flags.Environments{Key: "", Variation: "x", Fallback: "x", States: []flags.EnvironmentState{
		{Environment: "a", Percent: 101}, {Environment: "a"},
	}}.Validate()
	var ve *progressive.ValidationError
	require.ErrorAs(t, err, &ve)
	assert.Len(t, ve.Problems, 4, err.Error())

	_, err = flags.Environments{Key: "nope", Variation: "vector", Fallback: "classic", States: []flags.EnvironmentState{{Environment: "production"}}}.Plan(ctx, s)
	assert.ErrorIs(t, err, progressive.ErrNotFound)
}

func TestUnsupportedSaysWhy(t *testing.T) {
	err := flags.Unsupported("launchdarkly", "set rollout", "no API token configured (Options.APIToken)")
	assert.True(t, errors.Is(err, progressive.ErrUnsupported))
	assert.True(t, strings.HasPrefix(err.Error(), "flag store launchdarkly cannot set rollout: no API token"))
}
