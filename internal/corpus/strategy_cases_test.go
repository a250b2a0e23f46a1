package corpus_test

import (
	"context"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/strategy"
)

func checks() []progressive.Check { return []progressive.Check{errorCheck()} }

var huge = progressive.MaxStepDuration + time.Hour

func strategyCases() []bad {
	var out []bad
	add := func(entry, name, field string, plan func() (progressive.Plan, error)) {
		out = append(out, bad{entry: entry, name: name, field: field, run: func(context.Context) error {
			p, err := plan()
			if err == nil && len(p.Steps) > 0 {
				return fmt.Errorf("a plan came back: %d steps", len(p.Steps))
			}
			return err
		}})
	}
	canary := func(name, field string, c strategy.Canary) {
		if c.Checks == nil {
			c.Checks = checks()
		}
		add("strategy.Canary.Plan", name, field, func() (progressive.Plan, error) { return c.Plan(goodTarget, goodRelease) })
	}
	for i, w := range [][]float64{{nan}, {posInf}, {-10}, {0}, {10, 10}, {50, 10}, {10, 101}, {10, nan, 50}, {1e308}, {negInf}} {
		idx := 0
		for j, x := range w {
			if math.IsNaN(x) || x <= 0 || x > 100 || (j > 0 && x <= w[j-1]) {
				idx = j
				break
			}
		}
		canary(fmt.Sprintf("weights#%d", i), fmt.Sprintf("canary.weights[%d]", idx), strategy.Canary{Weights: w})
	}
	many := make([]float64, strategy.MaxPhases+1)
	for i := range many {
		many[i] = float64(i+1) * 100 / float64(len(many)+1)
	}
	canary("weights-too-many", "canary.weights", strategy.Canary{Weights: many})
	canary("weights-only-100", "canary.weights", strategy.Canary{Weights: []float64{100}})
	canary("weights-and-stepWeight", "canary.weights", strategy.Canary{Weights: []float64{10}, StepWeight: 10})
	for i, s := range []float64{nan, -1, 101, posInf, 1e-9, 0.4} {
		canary(fmt.Sprintf("stepWeight#%d", i), "canary.stepWeight", strategy.Canary{StepWeight: s, MaxWeight: 50})
	}
	for i, m := range []float64{nan, -5, 101, negInf} {
		canary(fmt.Sprintf("maxWeight#%d", i), "canary.maxWeight", strategy.Canary{StepWeight: 10, MaxWeight: m})
	}
	canary("maxWeight-below-step", "canary.maxWeight", strategy.Canary{StepWeight: 30, MaxWeight: 20})
	canary("soak-negative", "canary.soak", strategy.Canary{Soak: -time.Minute})
	canary("soak-above-max", "canary.soak", strategy.Canary{Soak: huge})
	canary("soak-MaxInt64", "canary.soak", strategy.Canary{Soak: math.MaxInt64})
	canary("replicas-negative", "canary.replicas", strategy.Canary{Replicas: -1})
	canary("replicas-above-max", "canary.replicas", strategy.Canary{Replicas: progressive.MaxReplicas + 1})
	canary("approvalTimeout-negative", "canary.approvalTimeout", strategy.Canary{PromotionApproval: "g", ApprovalTimeout: -1})
	canary("approvalTimeout-without-gate", "canary.approvalTimeout", strategy.Canary{ApprovalTimeout: time.Hour})
	canary("approvalTimeout-above-max", "canary.approvalTimeout", strategy.Canary{PromotionApproval: "g", ApprovalTimeout: huge})
	canary("promotionApproval-CRLF", "canary.promotionApproval", strategy.Canary{PromotionApproval: "gate\nX: y"})
	canary("onInconclusive", "canary.onInconclusive", strategy.Canary{OnInconclusive: "continue"})
	canary("no-checks", "canary.checks", strategy.Canary{Checks: []progressive.Check{}})
	canary("warn-only", "canary.checks", strategy.Canary{Checks: []progressive.Check{{Name: "cpu", Query: "cpu", Max: progressive.Float(80), Severity: progressive.SeverityWarn}}})
	canary("check-max-NaN", "canary.checks[0].max", strategy.Canary{Checks: []progressive.Check{{Name: "e", Query: "q", Max: progressive.Float(nan)}}})
	canary("check-interval-1ns", "canary.checks[0].interval", strategy.Canary{Checks: []progressive.Check{{Name: "e", Query: "q", Max: progressive.Float(1), Interval: 1}}})
	canary("hook-phase", "canary.hooks[0].phase", strategy.Canary{Hooks: []progressive.HookSpec{{Name: "h", Phase: "later"}}})
	out = append(out, bad{entry: "strategy.Canary.Plan", name: "hook-url-secret", field: "canary.hooks[0].url",
		secrets: []string{secretPassword, secretToken}, run: func(context.Context) error {
			_, err := strategy.Canary{Checks: checks(), Hooks: []progressive.HookSpec{{Name: "h", Phase: progressive.HookPreRollout,
				URL: "gopher://u:" + secretPassword + "@h/?token=" + secretToken}}}.Plan(goodTarget, goodRelease)
			return err
		}})
	// Arguments: the target and release of every strategy.
	for i, name := range with(injections[:8], "", "Payment") {
		canary("target#"+label(i), "target.name", strategy.Canary{})
		out[len(out)-1].run = func(context.Context) error {
			_, err := strategy.Canary{Checks: checks()}.Plan(progressive.Target{Namespace: "production", Name: name}, goodRelease)
			return err
		}
	}
	for i, v := range with(injections, "", `v2"} or vector(1) #`, strings.Repeat("9", 64)) {
		canary("release.version#"+label(i), "release.version", strategy.Canary{})
		out[len(out)-1].run = func(context.Context) error {
			_, err := strategy.Canary{Checks: checks()}.Plan(goodTarget, progressive.Release{Version: v})
			return err
		}
	}
	canary("release.image", "release.image", strategy.Canary{})
	out[len(out)-1].run = func(context.Context) error {
		_, err := strategy.Canary{Checks: checks()}.Plan(goodTarget, progressive.Release{Version: "v2", Image: "app:v2 --privileged"})
		return err
	}

	bg := func(name, field string, b strategy.BlueGreen) {
		if b.Checks == nil {
			b.Checks = checks()
		}
		add("strategy.BlueGreen.Plan", name, field, func() (progressive.Plan, error) { return b.Plan(goodTarget, goodRelease) })
	}
	bg("replicas-0", "blueGreen.replicas", strategy.BlueGreen{})
	bg("replicas-negative", "blueGreen.replicas", strategy.BlueGreen{Replicas: -10})
	bg("replicas-above-max", "blueGreen.replicas", strategy.BlueGreen{Replicas: progressive.MaxReplicas + 1})
	bg("monitor-negative", "blueGreen.monitor", strategy.BlueGreen{Replicas: 10, Monitor: -1})
	bg("monitor-above-max", "blueGreen.monitor", strategy.BlueGreen{Replicas: 10, Monitor: huge})
	bg("decommissionDelay-negative", "blueGreen.decommissionDelay", strategy.BlueGreen{Replicas: 10, DecommissionDelay: -1})
	bg("decommissionDelay-above-max", "blueGreen.decommissionDelay", strategy.BlueGreen{Replicas: 10, DecommissionDelay: huge})
	bg("approvalTimeout-without-gate", "blueGreen.approvalTimeout", strategy.BlueGreen{Replicas: 10, ApprovalTimeout: time.Minute})
	bg("migration-phase", "blueGreen.migration.phase", strategy.BlueGreen{Replicas: 10, Migration: &progressive.HookSpec{Name: "m", Phase: progressive.HookPreRollout}})
	bg("migration-no-name", "blueGreen.migration.name", strategy.BlueGreen{Replicas: 10, Migration: &progressive.HookSpec{}})
	bg("migration-url", "blueGreen.migration.url", strategy.BlueGreen{Replicas: 10, Migration: &progressive.HookSpec{Name: "m", URL: "ftp://x"}})
	bg("validation-url", "blueGreen.validation[0].url", strategy.BlueGreen{Replicas: 10, Validation: []progressive.HookSpec{{Name: "v", URL: "https://"}}})
	bg("validation-timeout", "blueGreen.validation[0].timeout", strategy.BlueGreen{Replicas: 10, Validation: []progressive.HookSpec{{Name: "v", Timeout: -1}}})
	bg("validation-duplicate", "blueGreen.validation[1].name", strategy.BlueGreen{Replicas: 10, Validation: []progressive.HookSpec{{Name: "v"}, {Name: "v"}}})
	bg("no-checks", "blueGreen.checks", strategy.BlueGreen{Replicas: 10, Checks: []progressive.Check{}})
	bg("onInconclusive", "blueGreen.onInconclusive", strategy.BlueGreen{Replicas: 10, OnInconclusive: "hold\n"})
	bg("manualApproval-CRLF", "blueGreen.manualApproval", strategy.BlueGreen{Replicas: 10, ManualApproval: "gate\r\nX: y"})
	bg("manualApproval-too-long", "blueGreen.manualApproval", strategy.BlueGreen{Replicas: 10, ManualApproval: strings.Repeat("g", 254)})

	rolling := func(name, field string, r strategy.Rolling) {
		add("strategy.Rolling.Plan", name, field, func() (progressive.Plan, error) { return r.Plan(goodTarget, goodRelease) })
	}
	rolling("replicas-0", "rolling.replicas", strategy.Rolling{})
	rolling("replicas-negative", "rolling.replicas", strategy.Rolling{Replicas: -3})
	rolling("replicas-above-max", "rolling.replicas", strategy.Rolling{Replicas: progressive.MaxReplicas + 1})
	rolling("batchSize-and-percent", "rolling.batchSize", strategy.Rolling{Replicas: 30, BatchSize: 3, BatchPercent: 10})
	rolling("batchSize-negative", "rolling.batchSize", strategy.Rolling{Replicas: 30, BatchSize: -1})
	rolling("batchSize-above-replicas", "rolling.batchSize", strategy.Rolling{Replicas: 30, BatchSize: 31})
	rolling("batchSize-too-many-batches", "rolling.batchSize", strategy.Rolling{Replicas: 5000, BatchSize: 1})
	for i, bp := range []float64{nan, -1, 101, posInf} {
		rolling(fmt.Sprintf("batchPercent#%d", i), "rolling.batchPercent", strategy.Rolling{Replicas: 30, BatchPercent: bp})
	}
	rolling("pace-negative", "rolling.pace", strategy.Rolling{Replicas: 30, Pace: -1})
	rolling("pace-above-max", "rolling.pace", strategy.Rolling{Replicas: 30, Pace: huge})
	rolling("maxSurge--2", "rolling.maxSurge", strategy.Rolling{Replicas: 30, MaxSurge: -2})
	rolling("maxSurge-above-max", "rolling.maxSurge", strategy.Rolling{Replicas: 30, MaxSurge: progressive.MaxReplicas + 1})
	rolling("maxUnavailable-above-max", "rolling.maxUnavailable", strategy.Rolling{Replicas: 30, MaxUnavailable: progressive.MaxReplicas + 1})
	rolling("maxUnavailable--2", "rolling.maxUnavailable", strategy.Rolling{Replicas: 30, MaxUnavailable: -2})
	rolling("both-none", "rolling.maxSurge", strategy.Rolling{Replicas: 30, MaxSurge: strategy.NoPods, MaxUnavailable: strategy.NoPods})
	for i, b := range []float64{nan, -2, 101, posInf} {
		rolling(fmt.Sprintf("readinessBudget#%d", i), "rolling.readinessBudget", strategy.Rolling{Replicas: 30, ReadinessBudget: b})
	}
	rolling("check-max-Inf", "rolling.checks[0].max", strategy.Rolling{Replicas: 30, Checks: []progressive.Check{{Name: "e", Query: "q", Max: progressive.Float(posInf)}}})
	rolling("onInconclusive", "rolling.onInconclusive", strategy.Rolling{Replicas: 30, OnInconclusive: "x"})

	ab := func(name, field string, a strategy.ABTest) {
		if a.Checks == nil {
			a.Checks = checks()
		}
		add("strategy.ABTest.Plan", name, field, func() (progressive.Plan, error) { return a.Plan(goodTarget, goodRelease) })
	}
	hm := func(name, value string) []progressive.Match {
		return []progressive.Match{{Kind: progressive.MatchHeader, Name: name, Value: value}}
	}
	ab("no-matches", "abTest.matches", strategy.ABTest{})
	ab("match-name-CRLF", "abTest.matches[0].name", strategy.ABTest{Matches: hm("x-version\r\nx-admin", "green")})
	ab("match-name-empty", "abTest.matches[0].name", strategy.ABTest{Matches: hm("", "green")})
	ab("match-value-LF", "abTest.matches[0].value", strategy.ABTest{Matches: hm("x-version", "green\n")})
	ab("match-kind", "abTest.matches[0].kind", strategy.ABTest{Matches: []progressive.Match{{Kind: "path", Name: "x", Value: "y"}}})
	ab("match-regex", "abTest.matches[0].value", strategy.ABTest{Matches: []progressive.Match{{Kind: progressive.MatchHeader, Name: "x", Value: "[", Regex: true}}})
	ab("duration-negative", "abTest.duration", strategy.ABTest{Matches: hm("x", "y"), Duration: -1})
	ab("duration-above-max", "abTest.duration", strategy.ABTest{Matches: hm("x", "y"), Duration: huge})
	ab("replicas-negative", "abTest.replicas", strategy.ABTest{Matches: hm("x", "y"), Replicas: -1})
	ab("replicas-above-max", "abTest.replicas", strategy.ABTest{Matches: hm("x", "y"), Replicas: progressive.MaxReplicas + 1})
	ab("no-checks", "abTest.checks", strategy.ABTest{Matches: hm("x", "y"), Checks: []progressive.Check{}})

	mirror := func(name, field string, m strategy.Mirror) {
		if m.Checks == nil {
			m.Checks = checks()
		}
		add("strategy.Mirror.Plan", name, field, func() (progressive.Plan, error) { return m.Plan(goodTarget, goodRelease) })
	}
	for i, p := range []float64{nan, -1, 100.5, posInf, negInf} {
		mirror(fmt.Sprintf("percent#%d", i), "mirror.percent", strategy.Mirror{Percent: p})
	}
	mirror("duration-negative", "mirror.duration", strategy.Mirror{Duration: -1})
	mirror("duration-above-max", "mirror.duration", strategy.Mirror{Duration: huge})
	mirror("replicas-negative", "mirror.replicas", strategy.Mirror{Replicas: -1})
	mirror("replicas-above-max", "mirror.replicas", strategy.Mirror{Replicas: progressive.MaxReplicas + 1})
	mirror("no-checks", "mirror.checks", strategy.Mirror{Checks: []progressive.Check{}})

	fr := func(name, field string, f strategy.FlagRollout) {
		if f.Checks == nil {
			f.Checks = checks()
		}
		if f.Flag.Key == "" && !strings.Contains(field, "flag.key") {
			f.Flag.Key = "payment_gateway_v2"
		}
		add("strategy.FlagRollout.Plan", name, field, func() (progressive.Plan, error) { return f.Plan(goodTarget, progressive.Release{}) })
	}
	for i, k := range with(injections[:10], "", "-k") {
		fr("flag.key#"+label(i), "flagRollout.flag.key", strategy.FlagRollout{Flag: progressive.FlagRef{Key: k}, Variation: "on", Fallback: "off"})
	}
	fr("flag.project", "flagRollout.flag.project", strategy.FlagRollout{Flag: progressive.FlagRef{Project: "a b"}, Variation: "on", Fallback: "off"})
	fr("no-variation", "flagRollout.variation", strategy.FlagRollout{Fallback: "off"})
	fr("no-fallback", "flagRollout.fallback", strategy.FlagRollout{Variation: "on"})
	fr("fallback-is-variation", "flagRollout.fallback", strategy.FlagRollout{Variation: "on", Fallback: "on"})
	for i, ps := range [][]float64{{nan}, {0}, {-1}, {101}, {10, 5}, {posInf}, {1, 1}} {
		idx := 0
		if len(ps) > 1 {
			idx = 1
		}
		fr(fmt.Sprintf("percentages#%d", i), fmt.Sprintf("flagRollout.percentages[%d]", idx), strategy.FlagRollout{Variation: "on", Fallback: "off", Percentages: ps})
	}
	fr("percentages-only-100", "flagRollout.percentages", strategy.FlagRollout{Variation: "on", Fallback: "off", Percentages: []float64{100}})
	fr("percentages-finer-than-thousandth", "flagRollout.percentages[0]", strategy.FlagRollout{Variation: "on", Fallback: "off", Percentages: []float64{12.3456, 100}})
	fr("soak-negative", "flagRollout.soak", strategy.FlagRollout{Variation: "on", Fallback: "off", Soak: -1})
	fr("soak-above-max", "flagRollout.soak", strategy.FlagRollout{Variation: "on", Fallback: "off", Soak: huge})
	fr("no-checks", "flagRollout.checks", strategy.FlagRollout{Variation: "on", Fallback: "off", Checks: []progressive.Check{}})

	// The patterns, given bad checks or a bad gate.
	badChecks := []progressive.Check{{Name: "e", Query: "q", Max: progressive.Float(nan)}}
	add("strategy.StagedConservative", "check-max-NaN", "canary.checks[0].max", func() (progressive.Plan, error) {
		return strategy.StagedConservative(badChecks).Plan(goodTarget, goodRelease)
	})
	add("strategy.StagedConservative", "no-checks", "canary.checks", func() (progressive.Plan, error) {
		return strategy.StagedConservative(nil).Plan(goodTarget, goodRelease)
	})
	add("strategy.Fast", "check-max-NaN", "canary.checks[0].max", func() (progressive.Plan, error) {
		return strategy.Fast(badChecks).Plan(goodTarget, goodRelease)
	})
	add("strategy.Fast", "bad-version", "release.version", func() (progressive.Plan, error) {
		return strategy.Fast(checks()).Plan(goodTarget, progressive.Release{Version: "v2\r\n"})
	})
	add("strategy.BlueGreenManualApproval", "no-replicas", "blueGreen.replicas", func() (progressive.Plan, error) {
		return strategy.BlueGreenManualApproval(checks(), "gate").Plan(goodTarget, goodRelease)
	})
	add("strategy.BlueGreenManualApproval", "check-no-bound", "blueGreen.checks[0].max", func() (progressive.Plan, error) {
		b := strategy.BlueGreenManualApproval([]progressive.Check{{Name: "e", Query: "q"}}, "gate")
		b.Replicas = 10
		return b.Plan(goodTarget, goodRelease)
	})
	add("strategy.FlagGradual", "bad-key", "flagRollout.flag.key", func() (progressive.Plan, error) {
		return strategy.FlagGradual(progressive.FlagRef{Key: "a b"}, "on", "off", checks()).Plan(goodTarget, progressive.Release{})
	})
	add("strategy.FlagGradual", "same-variations", "flagRollout.fallback", func() (progressive.Plan, error) {
		return strategy.FlagGradual(progressive.FlagRef{Key: "k"}, "on", "on", checks()).Plan(goodTarget, progressive.Release{})
	})

	// Lookup: no fallback to a default strategy.
	for i, n := range with(injections[:10], "", "Canary", "canary ", "bluegreen", "flag_rollout", "default") {
		out = append(out, bad{entry: "strategy.Lookup", name: "name#" + label(i), field: "strategy", run: func(context.Context) error {
			return strategy.Lookup(n)
		}})
	}
	return out
}

// with copies base and appends extra: appending to a shared slice of cases
// would overwrite it.
func with(base []string, extra ...string) []string {
	return append(append([]string(nil), base...), extra...)
}

// Recommend returns no error, so it is not in the corpus: whatever the profile
// (NaN, infinite or negative traffic), it must answer a known strategy with
// reasons and not panic.
func TestRecommendTakesAnyProfile(t *testing.T) {
	for _, rps := range []float64{nan, posInf, negInf, -1, 0, math.MaxFloat64, math.SmallestNonzeroFloat64} {
		for mask := 0; mask < 1<<9; mask += 37 {
			p := strategy.Profile{
				RequestsPerSecond: rps, Critical: mask&1 != 0, DatabaseMigration: mask&2 != 0, LongRunningRequests: mask&4 != 0,
				NeedsInstantRollback: mask&8 != 0, UserTargeting: mask&16 != 0, DecoupleRelease: mask&32 != 0,
				ToleratesVersionMixing: mask&64 != 0, LowRisk: mask&128 != 0, HasServiceMesh: mask&256 != 0,
			}
			r := strategy.Recommend(p)
			if strategy.Lookup(r.Strategy) != nil || len(r.Reasons) == 0 {
				t.Errorf("Recommend(%+v) = %+v", p, r)
			}
		}
	}
}
