package sim_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/provider/sim"
)

var newCheckout = progressive.FlagRef{Project: "shop", Environment: "production", Key: "new-checkout"}

// checkoutFlag is on, serves "off" to everyone, and has the variations on and off
// (ids "true" and "false").
func checkoutFlag() progressive.Flag {
	return progressive.Flag{
		Ref: newCheckout,
		On:  true,
		Variations: []progressive.Variation{
			{ID: "true", Name: "on", Value: true},
			{ID: "false", Name: "off", Value: false},
		},
		OffVariation: "false",
		Fallthrough:  progressive.PercentRollout("true", "false", 0),
	}
}

func newFlags(t *testing.T) *sim.FlagStore {
	t.Helper()
	env, _ := newEnv(t, sim.Options{})
	require.NoError(t, env.Flags.AddFlag(checkoutFlag()))
	return env.Flags
}

func users(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("user-%05d", i)
	}
	return out
}

func eval(t *testing.T, s *sim.FlagStore, key string, attrs map[string]string) string {
	t.Helper()
	v, err := s.Evaluate(newCheckout, key, attrs)
	require.NoError(t, err)
	return v
}

func TestFlagsGetSetRolloutAndOn(t *testing.T) {
	s := newFlags(t)
	assert.Equal(t, "sim", s.Name())
	f, err := s.GetFlag(ctx(t), newCheckout)
	require.NoError(t, err)
	assert.Equal(t, int64(1), f.Version)

	require.NoError(t, s.SetRollout(ctx(t), newCheckout, progressive.PercentRollout("on", "off", 25)))
	require.NoError(t, s.SetOn(ctx(t), newCheckout, false))
	f, err = s.GetFlag(ctx(t), newCheckout)
	require.NoError(t, err)
	assert.Equal(t, 25.0, f.Fallthrough.WeightOf("on"), "weights read back as written")
	assert.False(t, f.On)
	assert.Equal(t, int64(3), f.Version)
	assert.Equal(t, 2, s.Writes(newCheckout))

	f.Fallthrough.Weights[0].Weight = 99
	again, _ := s.GetFlag(ctx(t), newCheckout)
	assert.Equal(t, 25.0, again.Fallthrough.WeightOf("on"), "GetFlag returns a copy")
}

func TestFlagsUnknownFlag(t *testing.T) {
	s := newFlags(t)
	ref := progressive.FlagRef{Key: "missing"}
	_, getErr := s.GetFlag(ctx(t), ref)
	_, evalErr := s.Evaluate(ref, "u", nil)
	for name, err := range map[string]error{
		"GetFlag":    getErr,
		"SetRollout": s.SetRollout(ctx(t), ref, progressive.PercentRollout("true", "false", 10)),
		"SetOn":      s.SetOn(ctx(t), ref, true),
		"SetTargets": s.SetTargets(ctx(t), ref, "true", []string{"u"}),
		"SetRules":   s.SetRules(ctx(t), ref, nil),
		"Evaluate":   evalErr,
	} {
		assert.ErrorIs(t, err, progressive.ErrNotFound, name)
		assert.ErrorContains(t, err, "missing", name)
		assert.ErrorContains(t, err, "shop/production/new-checkout", name+" names the known flags")
	}
	other := newCheckout
	other.Environment = "staging"
	_, err := s.GetFlag(ctx(t), other)
	assert.ErrorIs(t, err, progressive.ErrNotFound, "the environment is part of the reference")
	_, err = s.GetFlag(ctx(t), progressive.FlagRef{})
	assert.ErrorIs(t, err, progressive.ErrInvalid)
}

func TestFlagsRejectsBadRollouts(t *testing.T) {
	for name, tc := range map[string]struct {
		rollout progressive.Rollout
		says    string
	}{
		"unknown variation": {progressive.PercentRollout("blue", "false", 10), "known: true, false"},
		"percent over 100":  {progressive.PercentRollout("true", "false", 150), "between 0 and 100"},
		"negative percent":  {progressive.PercentRollout("true", "false", -5), "between 0 and 100"},
		"sum is not 100":    {progressive.Rollout{Weights: []progressive.VariationWeight{{Variation: "true", Weight: 30}, {Variation: "false", Weight: 30}}}, "sum to 100"},
		"no weights":        {progressive.Rollout{}, "at least one"},
	} {
		t.Run(name, func(t *testing.T) {
			s := newFlags(t)
			err := s.SetRollout(ctx(t), newCheckout, tc.rollout)
			require.ErrorIs(t, err, progressive.ErrInvalid)
			assert.ErrorContains(t, err, tc.says)
			f, _ := s.GetFlag(ctx(t), newCheckout)
			assert.Equal(t, checkoutFlag().Fallthrough, f.Fallthrough, "a rejected write changes nothing")
			assert.Zero(t, s.Writes(newCheckout))
		})
	}
}

func TestFlagsAddFlagValidates(t *testing.T) {
	env, _ := newEnv(t, sim.Options{})
	s := env.Flags
	bad := checkoutFlag()
	bad.OffVariation = "maybe"
	bad.Variations = append(bad.Variations, progressive.Variation{ID: "true"})
	bad.Targets = []progressive.FlagTarget{{Variation: "blue", Keys: []string{"a"}}}
	err := s.AddFlag(bad)
	require.ErrorIs(t, err, progressive.ErrInvalid)
	for _, field := range []string{"offVariation", "variations[2].id", "targets[0].variation"} {
		assert.ErrorContains(t, err, field)
	}
	assert.ErrorIs(t, s.AddFlag(progressive.Flag{}), progressive.ErrInvalid, "empty key")
}

func TestFlagsEvaluateOff(t *testing.T) {
	s := newFlags(t)
	require.NoError(t, s.SetRollout(ctx(t), newCheckout, progressive.PercentRollout("true", "false", 100)))
	require.NoError(t, s.SetTargets(ctx(t), newCheckout, "true", []string{"vip"}))
	require.NoError(t, s.SetOn(ctx(t), newCheckout, false))
	assert.Equal(t, "false", eval(t, s, "anyone", nil))
	assert.Equal(t, "false", eval(t, s, "vip", nil), "off beats targets")
}

func TestFlagsRolloutShares(t *testing.T) {
	s := newFlags(t)
	all := users(10000)
	for _, percent := range []float64{10, 50} {
		require.NoError(t, s.SetRollout(ctx(t), newCheckout, progressive.PercentRollout("on", "off", percent)))
		on := 0
		for _, u := range all {
			if eval(t, s, u, nil) == "true" {
				on++
			}
		}
		share := float64(on) / float64(len(all)) * 100
		assert.InDelta(t, percent, share, 1.5, "share at %g%%", percent)
	}
}

func TestFlagsRolloutIsMonotone(t *testing.T) {
	s := newFlags(t)
	all := users(5000)
	var previous map[string]bool
	for _, percent := range []float64{1, 5, 10, 25, 50, 100} {
		require.NoError(t, s.SetRollout(ctx(t), newCheckout, progressive.PercentRollout("true", "false", percent)))
		in := map[string]bool{}
		for _, u := range all {
			if eval(t, s, u, nil) == "true" {
				in[u] = true
			}
		}
		for u := range previous {
			require.True(t, in[u], "%s was in before and must stay in at %g%%", u, percent)
		}
		previous = in
	}
	assert.Len(t, previous, len(all), "100% is everyone")

	require.NoError(t, s.SetRollout(ctx(t), newCheckout, progressive.PercentRollout("true", "false", 0)))
	for _, u := range all[:500] {
		require.Equal(t, "false", eval(t, s, u, nil), "0% is nobody")
	}
}

func TestFlagsBucketIsStable(t *testing.T) {
	assert.Equal(t, sim.Bucket("new-checkout", "user-1"), sim.Bucket("new-checkout", "user-1"))
	assert.NotEqual(t, sim.Bucket("new-checkout", "user-1"), sim.Bucket("other-flag", "user-1"),
		"buckets differ per flag")
	for _, u := range users(1000) {
		b := sim.Bucket("f", u)
		require.True(t, b >= 0 && b < 100000, "bucket %d", b)
	}
}

func TestFlagsBucketBy(t *testing.T) {
	s := newFlags(t)
	r := progressive.PercentRollout("true", "false", 50)
	r.BucketBy = "org"
	require.NoError(t, s.SetRollout(ctx(t), newCheckout, r))
	for _, org := range []string{"acme", "globex", "initech", "umbrella"} {
		first := eval(t, s, "alice", map[string]string{"org": org})
		for _, u := range users(50) {
			require.Equal(t, first, eval(t, s, u, map[string]string{"org": org}), "everyone in %s shares a variation", org)
		}
	}
	assert.Equal(t, "true", eval(t, s, "no-org", nil), "a missing bucketBy attribute falls in bucket 0")
}

func TestFlagsTargetedUsersAlwaysGetTheirVariation(t *testing.T) {
	s := newFlags(t)
	require.NoError(t, s.SetTargets(ctx(t), newCheckout, "on", []string{"qa-1", "qa-2"}))
	require.NoError(t, s.SetTargets(ctx(t), newCheckout, "false", []string{"ceo"}))
	require.NoError(t, s.SetRules(ctx(t), newCheckout, []progressive.FlagRule{
		{Clauses: []progressive.Clause{{Attribute: "key", Values: []string{"ceo", "qa-1"}}}, Variation: "false"},
	}))
	for _, percent := range []float64{0, 10, 50, 100} {
		require.NoError(t, s.SetRollout(ctx(t), newCheckout, progressive.PercentRollout("true", "false", percent)))
		assert.Equal(t, "true", eval(t, s, "qa-1", nil), "targets come before rules, at %g%%", percent)
		assert.Equal(t, "true", eval(t, s, "qa-2", nil))
		assert.Equal(t, "false", eval(t, s, "ceo", nil))
	}

	require.NoError(t, s.SetTargets(ctx(t), newCheckout, "true", []string{"ceo"}))
	assert.Equal(t, "true", eval(t, s, "ceo", nil), "a key moves between variations")
	f, _ := s.GetFlag(ctx(t), newCheckout)
	assert.Equal(t, []progressive.FlagTarget{{Variation: "true", Keys: []string{"ceo"}}}, f.Targets,
		"the key list of a variation is replaced")

	err := s.SetTargets(ctx(t), newCheckout, "purple", []string{"x"})
	require.ErrorIs(t, err, progressive.ErrInvalid)
	assert.ErrorContains(t, err, "known: true, false")
	require.NoError(t, s.SetTargets(ctx(t), newCheckout, "true", nil))
	f, _ = s.GetFlag(ctx(t), newCheckout)
	assert.Empty(t, f.Targets)
}

func TestFlagsRules(t *testing.T) {
	s := newFlags(t)
	s.AddSegment("beta-testers", "bob", "carol")
	clause := func(attr, op string, negate bool, values ...string) progressive.FlagRule {
		return progressive.FlagRule{Clauses: []progressive.Clause{{Attribute: attr, Op: op, Values: values, Negate: negate}}, Variation: "true"}
	}
	for name, tc := range map[string]struct {
		rule  progressive.FlagRule
		key   string
		attrs map[string]string
		want  string
	}{
		"in":                 {clause("country", "", false, "DE", "FR"), "u", map[string]string{"country": "FR"}, "true"},
		"in, no":             {clause("country", "in", false, "DE", "FR"), "u", map[string]string{"country": "US"}, "false"},
		"startsWith":         {clause("email", "startsWith", false, "admin@"), "u", map[string]string{"email": "admin@shop.io"}, "true"},
		"endsWith":           {clause("email", "endsWith", false, "@shop.io"), "u", map[string]string{"email": "eve@shop.io"}, "true"},
		"endsWith, no":       {clause("email", "endsWith", false, "@shop.io"), "u", map[string]string{"email": "eve@gmail.com"}, "false"},
		"contains":           {clause("agent", "contains", false, "Android"), "u", map[string]string{"agent": "Mozilla (Linux; Android 14)"}, "true"},
		"matches":            {clause("tier", "matches", false, "^(gold|platinum)$"), "u", map[string]string{"tier": "platinum"}, "true"},
		"matches, no":        {clause("tier", "matches", false, "^(gold|platinum)$"), "u", map[string]string{"tier": "platinum-trial"}, "false"},
		"negate":             {clause("country", "in", true, "DE"), "u", map[string]string{"country": "US"}, "true"},
		"negate, no":         {clause("country", "in", true, "DE"), "u", map[string]string{"country": "DE"}, "false"},
		"missing attribute":  {clause("country", "in", true, "DE"), "u", nil, "false"},
		"key attribute":      {clause("key", "startsWith", false, "qa-"), "qa-7", nil, "true"},
		"segment member":     {progressive.FlagRule{Segment: "beta-testers", Variation: "true"}, "carol", nil, "true"},
		"segment non-member": {progressive.FlagRule{Segment: "beta-testers", Variation: "true"}, "dave", nil, "false"},
		"all clauses must match": {progressive.FlagRule{Clauses: []progressive.Clause{
			{Attribute: "country", Values: []string{"DE"}},
			{Attribute: "tier", Values: []string{"gold"}},
		}, Variation: "true"}, "u", map[string]string{"country": "DE", "tier": "silver"}, "false"},
		"rule rollout": {progressive.FlagRule{Clauses: []progressive.Clause{{Attribute: "country", Values: []string{"DE"}}},
			Rollout: &progressive.Rollout{Weights: []progressive.VariationWeight{{Variation: "on", Weight: 100}}}},
			"u", map[string]string{"country": "DE"}, "true"},
	} {
		t.Run(name, func(t *testing.T) {
			require.NoError(t, s.SetRules(ctx(t), newCheckout, []progressive.FlagRule{tc.rule}))
			assert.Equal(t, tc.want, eval(t, s, tc.key, tc.attrs))
		})
	}
}

func TestFlagsRejectsBadRules(t *testing.T) {
	s := newFlags(t)
	err := s.SetRules(ctx(t), newCheckout, []progressive.FlagRule{
		{Clauses: []progressive.Clause{{Attribute: "tier", Op: "matches", Values: []string{"(unclosed"}}}, Variation: "true"},
		{Clauses: []progressive.Clause{{Attribute: "tier", Op: "greaterThan", Values: []string{"3"}}}, Variation: "true"},
		{Segment: "nobody-defined-this", Variation: "true"},
		{Clauses: []progressive.Clause{{Attribute: "", Values: nil}}, Variation: "blue"},
		{Variation: "true", Rollout: &progressive.Rollout{Weights: []progressive.VariationWeight{{Variation: "true", Weight: 100}}}},
		{},
	})
	require.ErrorIs(t, err, progressive.ErrInvalid)
	for _, want := range []string{
		"rules[0].clauses[0].values[0]", "rules[1].clauses[0].op", "rules[2].segment",
		"rules[3].clauses[0].attribute", "rules[3].clauses[0].values", "rules[3].variation",
		"rules[4].variation", "rules[5].variation", "known: in, startsWith",
	} {
		assert.ErrorContains(t, err, want)
	}
	f, _ := s.GetFlag(ctx(t), newCheckout)
	assert.Empty(t, f.Rules)
}

func TestFlagsFailNextWrites(t *testing.T) {
	s := newFlags(t)
	s.FailNextWrites(1, nil)
	err := s.SetRollout(ctx(t), newCheckout, progressive.PercentRollout("true", "false", 50))
	require.ErrorIs(t, err, progressive.ErrTransient)
	f, _ := s.GetFlag(ctx(t), newCheckout)
	assert.Zero(t, f.Fallthrough.WeightOf("true"))
	assert.Zero(t, s.Writes(newCheckout))

	limited := errors.New("429 too many requests")
	s.FailNextWrites(1, limited)
	assert.ErrorIs(t, s.SetOn(ctx(t), newCheckout, false), limited)
	require.NoError(t, s.SetOn(ctx(t), newCheckout, false))
	assert.Equal(t, 1, s.Writes(newCheckout))
}

func TestFlagsEmptyFallthroughServesOffVariation(t *testing.T) {
	env, _ := newEnv(t, sim.Options{})
	f := checkoutFlag()
	f.Fallthrough = progressive.Rollout{}
	require.NoError(t, env.Flags.AddFlag(f))
	assert.Equal(t, "false", eval(t, env.Flags, "u", nil))
}
