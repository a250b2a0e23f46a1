// Package flagtest is the conformance suite every progressive.FlagStore passes, and
// small helpers for tests that drive flag rollouts.
//
// A store's test calls Run with a factory that builds a fresh Fixture: the store,
// a flag created in two environments, a segment, and (when the store has an SDK)
// a way to evaluate the flag for a user. Run then checks, in subtests, what the
// rollout runner and the flags helpers rely on:
//
//   - read: the flag, its variations, its state and its rollout;
//   - percentage writes, read back and (with Evaluate) served to users;
//   - turning on and off;
//   - individual targets: replaced per variation, served whatever the rollout;
//   - rules naming a segment, and attribute rules (geography, tier);
//   - an unknown flag is progressive.ErrNotFound;
//   - an unknown variation is progressive.ErrInvalid naming the known ones;
//   - a percentage outside 0-100 is progressive.ErrInvalid before any request;
//   - environments are independent: staging on for everyone while production ramps.
package flagtest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/flags"
)

// Fixture is what a store's factory prepares for one subtest.
type Fixture struct {
	// Store is the store under test. It must also be a progressive.FlagTargeter.
	Store progressive.FlagStore
	// Project is passed in every FlagRef (empty for stores without projects).
	Project string
	// Environments names two environments holding the flag.
	Environments [2]string
	// Flag is the key of a flag that exists in both environments, off, with two
	// variations named "on" and "off" (OffVariation "off"), a fallthrough serving
	// "off" to everyone, no targets and no rules.
	Flag string
	// Segment names a segment the store knows in both environments, whose members
	// are SegmentMembers.
	Segment        string
	SegmentMembers []string
	// ClauseRules says whether the store writes rules with attribute clauses. When
	// false, such rules must fail with progressive.ErrUnsupported.
	ClauseRules bool
	// Evaluate returns the name of the variation the store's SDK serves the context
	// with key and attrs ("" when the flag is off and the application's default
	// applies). Nil skips the evaluation checks.
	Evaluate func(ctx context.Context, ref progressive.FlagRef, key string, attrs map[string]string) (string, error)
	// Requests counts the requests the store sent its backend so far. Nil skips the
	// checks that bad input is rejected before any request.
	Requests func() int
}

func (f Fixture) ref(env int) progressive.FlagRef {
	return progressive.FlagRef{Project: f.Project, Environment: f.Environments[env], Key: f.Flag}
}

// Run runs the conformance suite against the stores newFixture builds, one per
// subtest.
func Run(t *testing.T, newFixture func(t *testing.T) Fixture) {
	t.Helper()
	ctx := context.Background()
	sub := func(name string, fn func(t *testing.T, f Fixture)) {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t)
			if f.Store == nil || f.Flag == "" || f.Environments[0] == "" || f.Environments[1] == "" {
				t.Fatalf("fixture incomplete: %+v", f)
			}
			fn(t, f)
		})
	}

	sub("read", func(t *testing.T, f Fixture) {
		for i := range f.Environments {
			flag := must(f.Store.GetFlag(ctx, f.ref(i)))(t)
			if flag.Ref.Key != f.Flag {
				t.Errorf("GetFlag(%s).Ref.Key = %q", f.ref(i), flag.Ref.Key)
			}
			if flag.On {
				t.Errorf("%s: fixture flag should be off", f.ref(i))
			}
			for _, name := range []string{"on", "off"} {
				if _, ok := flag.Variation(name); !ok {
					t.Errorf("%s: no variation named %q among %s", f.ref(i), name, flags.Known(flag))
				}
			}
			st := must(flags.Read(ctx, f.Store, f.ref(i), "on"))(t)
			if st.Percent != 0 || st.Serving != 0 {
				t.Errorf("%s: fixture should serve on to 0%%, reads %+v", f.ref(i), st)
			}
			if off := flags.WeightOf(st.Flag, st.Flag.Fallthrough, "off"); off != 100 {
				t.Errorf("%s: fallthrough gives off %g%%, want 100%%", f.ref(i), off)
			}
		}
	})

	sub("percent writes", func(t *testing.T, f Fixture) {
		ref := f.ref(0)
		noErr(t, f.Store.SetOn(ctx, ref, true))
		for _, p := range []float64{0, 30, 100, 0} {
			noErr(t, flags.SetPercent(ctx, f.Store, ref, "on", "off", p))
			st := must(flags.Read(ctx, f.Store, ref, "on"))(t)
			if math.Abs(st.Percent-p) > 1e-9 || math.Abs(st.Serving-p) > 1e-9 {
				t.Fatalf("after setting %g%%: read %+v", p, st)
			}
			off := flags.WeightOf(st.Flag, st.Flag.Fallthrough, "off")
			if math.Abs(off-(100-p)) > 1e-9 {
				t.Fatalf("after setting %g%%: off has %g%%", p, off)
			}
			if f.Evaluate != nil {
				share := serveShare(t, f, ref, "on", 2000, nil)
				if math.Abs(share-p) > 4 {
					t.Fatalf("after setting %g%%: the SDK serves on to %.2f%% of 2000 users", p, share)
				}
			}
		}
		// A rollout by ids works as well as one by names.
		flag := must(f.Store.GetFlag(ctx, ref))(t)
		r := progressive.Rollout{Weights: []progressive.VariationWeight{
			{Variation: variationID(t, flag, "on"), Weight: 12.5},
			{Variation: variationID(t, flag, "off"), Weight: 87.5},
		}}
		noErr(t, f.Store.SetRollout(ctx, ref, r))
		if got := must(flags.Percent(must(f.Store.GetFlag(ctx, ref))(t), "on"))(t); got != 12.5 {
			t.Fatalf("rollout by ids: read %g%%, want 12.5%%", got)
		}
	})

	sub("on and off", func(t *testing.T, f Fixture) {
		ref := f.ref(0)
		noErr(t, flags.SetPercent(ctx, f.Store, ref, "on", "off", 100))
		noErr(t, f.Store.SetOn(ctx, ref, true))
		if st := must(flags.Read(ctx, f.Store, ref, "on"))(t); !st.Flag.On || st.Serving != 100 {
			t.Fatalf("after SetOn(true): %+v", st)
		}
		if f.Evaluate != nil {
			if got := must(f.Evaluate(ctx, ref, "user-1", nil))(t); got != "on" {
				t.Fatalf("flag on at 100%%: served %q", got)
			}
		}
		noErr(t, f.Store.SetOn(ctx, ref, false))
		noErr(t, f.Store.SetOn(ctx, ref, false)) // idempotent
		if st := must(flags.Read(ctx, f.Store, ref, "on"))(t); st.Flag.On || st.Serving != 0 || st.Percent != 100 {
			t.Fatalf("after SetOn(false): %+v (the rollout must be kept while off)", st)
		}
		if f.Evaluate != nil {
			if got := must(f.Evaluate(ctx, ref, "user-1", nil))(t); got != "" && got != "off" {
				t.Fatalf("flag off: served %q, want the off variation or the default", got)
			}
		}
	})

	sub("targets", func(t *testing.T, f Fixture) {
		ref := f.ref(0)
		noErr(t, f.Store.SetOn(ctx, ref, true))
		noErr(t, flags.SetTargets(ctx, f.Store, ref, "on", []string{"alice", "bob"}))
		flag := must(f.Store.GetFlag(ctx, ref))(t)
		if got := targeted(flag, "on"); !slices.Equal(got, []string{"alice", "bob"}) {
			t.Fatalf("targets of on: %v, want [alice bob] (flag: %+v)", got, flag.Targets)
		}
		if f.Evaluate != nil {
			for _, k := range []string{"alice", "bob"} {
				if got := must(f.Evaluate(ctx, ref, k, nil))(t); got != "on" {
					t.Fatalf("targeted %s at 0%%: served %q", k, got)
				}
			}
			if got := must(f.Evaluate(ctx, ref, "carol", nil))(t); got != "off" {
				t.Fatalf("untargeted carol at 0%%: served %q", got)
			}
		}
		// The keys replace those of the variation.
		noErr(t, flags.SetTargets(ctx, f.Store, ref, "on", []string{"bob", "carol"}))
		flag = must(f.Store.GetFlag(ctx, ref))(t)
		if got := targeted(flag, "on"); !slices.Equal(got, []string{"bob", "carol"}) {
			t.Fatalf("targets of on after replacing: %v, want [bob carol]", got)
		}
		if f.Evaluate != nil {
			if got := must(f.Evaluate(ctx, ref, "alice", nil))(t); got != "off" {
				t.Fatalf("alice no longer targeted: served %q", got)
			}
		}
		// A key moves between variations.
		noErr(t, flags.SetTargets(ctx, f.Store, ref, "off", []string{"carol"}))
		flag = must(f.Store.GetFlag(ctx, ref))(t)
		if got := targeted(flag, "on"); !slices.Equal(got, []string{"bob"}) {
			t.Fatalf("carol moved to off: targets of on are %v", got)
		}
		if got := targeted(flag, "off"); !slices.Equal(got, []string{"carol"}) {
			t.Fatalf("carol moved to off: targets of off are %v", got)
		}
		if f.Evaluate != nil {
			noErr(t, flags.SetPercent(ctx, f.Store, ref, "on", "off", 100))
			if got := must(f.Evaluate(ctx, ref, "carol", nil))(t); got != "off" {
				t.Fatalf("carol targeted to off at 100%%: served %q", got)
			}
		}
		noErr(t, flags.SetTargets(ctx, f.Store, ref, "on", nil))
		flag = must(f.Store.GetFlag(ctx, ref))(t)
		if got := targeted(flag, "on"); len(got) != 0 {
			t.Fatalf("targets of on after clearing: %v", got)
		}
		err := flags.SetTargets(ctx, f.Store, ref, "v3", []string{"dave"})
		wantInvalidVariation(t, err, "v3")
	})

	sub("rules", func(t *testing.T, f Fixture) {
		ref := f.ref(0)
		noErr(t, f.Store.SetOn(ctx, ref, true))
		rules := []progressive.FlagRule{flags.SegmentRule(f.Segment, "on")}
		noErr(t, flags.SetRules(ctx, f.Store, ref, rules))
		flag := must(f.Store.GetFlag(ctx, ref))(t)
		if len(flag.Rules) != 1 || flag.Rules[0].Segment != f.Segment || !same(flag, flag.Rules[0].Variation, "on") {
			t.Fatalf("rules read back: %+v", flag.Rules)
		}
		if f.Evaluate != nil {
			for _, m := range f.SegmentMembers {
				if got := must(f.Evaluate(ctx, ref, m, nil))(t); got != "on" {
					t.Fatalf("segment member %s at 0%%: served %q", m, got)
				}
			}
			if got := must(f.Evaluate(ctx, ref, "not-a-member", nil))(t); got != "off" {
				t.Fatalf("non-member at 0%%: served %q", got)
			}
		}
		geo := flags.AttributeRule("country", "on", "DE", "FR")
		err := flags.SetRules(ctx, f.Store, ref, []progressive.FlagRule{geo, flags.SegmentRule(f.Segment, "on")})
		if !f.ClauseRules {
			if !errors.Is(err, progressive.ErrUnsupported) {
				t.Fatalf("a store without clause rules must say so with ErrUnsupported, got %v", err)
			}
			if got := must(f.Store.GetFlag(ctx, ref))(t); len(got.Rules) != 1 {
				t.Fatalf("a rejected rule change must change nothing: %+v", got.Rules)
			}
		} else {
			noErr(t, err)
			flag = must(f.Store.GetFlag(ctx, ref))(t)
			if len(flag.Rules) != 2 || len(flag.Rules[0].Clauses) != 1 || flag.Rules[0].Clauses[0].Attribute != "country" ||
				!slices.Equal(flag.Rules[0].Clauses[0].Values, []string{"DE", "FR"}) || flag.Rules[1].Segment != f.Segment {
				t.Fatalf("rules read back: %+v", flag.Rules)
			}
			if f.Evaluate != nil {
				if got := must(f.Evaluate(ctx, ref, "hans", map[string]string{"country": "DE"}))(t); got != "on" {
					t.Fatalf("user in DE: served %q", got)
				}
				if got := must(f.Evaluate(ctx, ref, "john", map[string]string{"country": "US"}))(t); got != "off" {
					t.Fatalf("user in US: served %q", got)
				}
			}
		}
		// A rollout inside a rule, by names.
		half := progressive.PercentRollout("on", "off", 50)
		noErr(t, flags.SetRules(ctx, f.Store, ref, []progressive.FlagRule{{Segment: f.Segment, Rollout: &half}}))
		flag = must(f.Store.GetFlag(ctx, ref))(t)
		if len(flag.Rules) != 1 || flag.Rules[0].Rollout == nil || flags.WeightOf(flag, *flag.Rules[0].Rollout, "on") != 50 {
			t.Fatalf("rule with a rollout read back: %+v", flag.Rules)
		}
		noErr(t, flags.SetRules(ctx, f.Store, ref, nil))
		if got := must(f.Store.GetFlag(ctx, ref))(t); len(got.Rules) != 0 {
			t.Fatalf("rules after clearing: %+v", got.Rules)
		}
		err = flags.SetRules(ctx, f.Store, ref, []progressive.FlagRule{flags.SegmentRule("no-such-segment", "on")})
		if !errors.Is(err, progressive.ErrInvalid) || !strings.Contains(err.Error(), "no-such-segment") {
			t.Fatalf("unknown segment: want ErrInvalid naming it, got %v", err)
		}
		err = flags.SetRules(ctx, f.Store, ref, []progressive.FlagRule{flags.SegmentRule(f.Segment, "v3")})
		wantInvalidVariation(t, err, "v3")
	})

	sub("unknown flag", func(t *testing.T, f Fixture) {
		ref := f.ref(0)
		ref.Key = "no_such_flag"
		_, err := f.Store.GetFlag(ctx, ref)
		wantNotFound(t, "GetFlag", err)
		wantNotFound(t, "SetRollout", f.Store.SetRollout(ctx, ref, progressive.PercentRollout("on", "off", 10)))
		wantNotFound(t, "SetOn", f.Store.SetOn(ctx, ref, true))
		wantNotFound(t, "SetTargets", flags.SetTargets(ctx, f.Store, ref, "on", []string{"alice"}))
	})

	sub("unknown variation", func(t *testing.T, f Fixture) {
		ref := f.ref(0)
		before := must(f.Store.GetFlag(ctx, ref))(t)
		err := f.Store.SetRollout(ctx, ref, progressive.PercentRollout("v3", "off", 10))
		wantInvalidVariation(t, err, "v3")
		after := must(f.Store.GetFlag(ctx, ref))(t)
		if !slices.Equal(before.Fallthrough.Weights, after.Fallthrough.Weights) {
			t.Fatalf("a rejected rollout changed the flag: %v -> %v", before.Fallthrough, after.Fallthrough)
		}
	})

	sub("percent outside 0-100", func(t *testing.T, f Fixture) {
		ref := f.ref(0)
		for _, p := range []float64{-1, 100.5, 150, math.NaN(), math.Inf(1)} {
			var before int
			if f.Requests != nil {
				before = f.Requests()
			}
			for name, err := range map[string]error{
				"SetRollout": f.Store.SetRollout(ctx, ref, progressive.PercentRollout("on", "off", p)),
				"SetPercent": flags.SetPercent(ctx, f.Store, ref, "on", "off", p),
			} {
				if !errors.Is(err, progressive.ErrInvalid) {
					t.Fatalf("%s(%g%%): want ErrInvalid, got %v", name, p, err)
				}
			}
			if f.Requests != nil && f.Requests() != before {
				t.Fatalf("%g%%: %d request(s) sent before rejecting", p, f.Requests()-before)
			}
		}
		half := progressive.Rollout{Weights: []progressive.VariationWeight{{Variation: "on", Weight: 50}, {Variation: "off", Weight: 40}}}
		if err := f.Store.SetRollout(ctx, ref, half); !errors.Is(err, progressive.ErrInvalid) {
			t.Fatalf("weights summing to 90: want ErrInvalid, got %v", err)
		}
	})

	sub("environments are independent", func(t *testing.T, f Fixture) {
		staging, production := f.Environments[0], f.Environments[1]
		envs := flags.Environments{Project: f.Project, Key: f.Flag, Variation: "on", Fallback: "off", States: []flags.EnvironmentState{
			{Environment: staging, On: true, Percent: 100},
			{Environment: production, On: true, Percent: 10},
		}}
		plan := must(envs.Plan(ctx, f.Store))(t)
		if len(plan) != 4 {
			t.Fatalf("plan from off: want 4 writes (rollout and on, twice), got %v", plan)
		}
		if _, err := envs.Apply(ctx, f.Store, plan); err != nil {
			t.Fatal(err)
		}
		if again := must(envs.Plan(ctx, f.Store))(t); len(again) != 0 {
			t.Fatalf("plan after apply: want nothing left, got %v", again)
		}
		check := func(env string, on bool, pct float64) {
			t.Helper()
			st := must(flags.Read(ctx, f.Store, envs.Ref(env), "on"))(t)
			if st.Flag.On != on || st.Percent != pct {
				t.Fatalf("%s: want on=%v at %g%%, read on=%v at %g%%", env, on, pct, st.Flag.On, st.Percent)
			}
		}
		check(staging, true, 100)
		check(production, true, 10)
		// Production ramps and is then switched off; staging does not move.
		noErr(t, flags.SetPercent(ctx, f.Store, envs.Ref(production), "on", "off", 50))
		noErr(t, f.Store.SetOn(ctx, envs.Ref(production), false))
		check(staging, true, 100)
		check(production, false, 50)
		if f.Evaluate != nil {
			if got := must(f.Evaluate(ctx, envs.Ref(staging), "user-7", nil))(t); got != "on" {
				t.Fatalf("staging at 100%%: served %q", got)
			}
			if got := must(f.Evaluate(ctx, envs.Ref(production), "user-7", nil))(t); got != "" && got != "off" {
				t.Fatalf("production off: served %q", got)
			}
		}
		noErr(t, flags.SetTargets(ctx, f.Store, envs.Ref(staging), "off", []string{"qa-bot"}))
		if got := must(f.Store.GetFlag(ctx, envs.Ref(production)))(t); len(got.Targets) != 0 {
			t.Fatalf("a target set in staging shows in production: %+v", got.Targets)
		}
	})
}

// ServeShare evaluates n users ("user-0" ...) and returns the percentage served
// variation. attrs, when not nil, gives each user's attributes.
func serveShare(t *testing.T, f Fixture, ref progressive.FlagRef, variation string, n int, attrs func(i int) map[string]string) float64 {
	t.Helper()
	ctx := context.Background()
	hits := 0
	for i := range n {
		var a map[string]string
		if attrs != nil {
			a = attrs(i)
		}
		got, err := f.Evaluate(ctx, ref, fmt.Sprintf("user-%d", i), a)
		if err != nil {
			t.Fatal(err)
		}
		if got == variation {
			hits++
		}
	}
	return 100 * float64(hits) / float64(n)
}

func targeted(f progressive.Flag, variation string) []string {
	var keys []string
	for _, t := range f.Targets {
		if same(f, t.Variation, variation) {
			keys = append(keys, t.Keys...)
		}
	}
	slices.Sort(keys)
	return keys
}

// same reports whether a and b (ids or names) are the same variation of f.
func same(f progressive.Flag, a, b string) bool {
	va, okA := f.Variation(a)
	vb, okB := f.Variation(b)
	return okA && okB && va.ID == vb.ID
}

func variationID(t *testing.T, f progressive.Flag, name string) string {
	t.Helper()
	v, ok := f.Variation(name)
	if !ok {
		t.Fatalf("flag %s has no variation %q (known: %s)", f.Ref, name, flags.Known(f))
	}
	return v.ID
}

func wantNotFound(t *testing.T, op string, err error) {
	t.Helper()
	if !errors.Is(err, progressive.ErrNotFound) {
		t.Fatalf("%s of an unknown flag: want ErrNotFound, got %v", op, err)
	}
	if !strings.Contains(err.Error(), "no_such_flag") {
		t.Fatalf("%s of an unknown flag: the error should name it: %v", op, err)
	}
}

func wantInvalidVariation(t *testing.T, err error, variation string) {
	t.Helper()
	if !errors.Is(err, progressive.ErrInvalid) {
		t.Fatalf("unknown variation %q: want ErrInvalid, got %v", variation, err)
	}
	msg := err.Error()
	if !strings.Contains(msg, variation) || !strings.Contains(msg, "on") || !strings.Contains(msg, "off") {
		t.Fatalf("unknown variation %q: the error should name it and the known ones (on, off): %v", variation, err)
	}
}

func noErr(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// must turns a value and an error into the value, failing the test on the error:
// must(store.GetFlag(ctx, ref))(t).
func must[T any](v T, err error) func(t *testing.T) T {
	return func(t *testing.T) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}
