package corpus_test

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"time"

	testingclock "k8s.io/utils/clock/testing"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/analysis"
	"github.com/agentops/progressive/provider/sim"
	"github.com/agentops/progressive/rollout"
	"github.com/agentops/progressive/strategy"
)

var t0 = time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)

// simRunner is a runner over a fresh simulator that serves goodTarget, on a fake
// clock, so that nothing it starts waits for real time.
func simRunner(store rollout.StateStore, hooks map[string]rollout.Hook) (*rollout.Runner, error) {
	fc := testingclock.NewFakeClock(t0)
	env := sim.New(sim.Options{Clock: fc})
	if err := env.Workload.AddService(goodTarget, sim.ServiceSpec{Replicas: 10, Version: "v1.5.0", Image: "registry.example.com/payment-service:v1.5.0"}); err != nil {
		return nil, err
	}
	if err := env.Flags.AddFlag(progressive.Flag{
		Ref:          progressive.FlagRef{Key: "payment_gateway_v2"},
		Variations:   []progressive.Variation{{ID: "off", Name: "off"}, {ID: "on", Name: "on"}},
		OffVariation: "off",
		Fallthrough:  progressive.PercentRollout("off", "on", 100),
	}); err != nil {
		return nil, err
	}
	if store == nil {
		store = rollout.NewMemoryStore()
	}
	return rollout.New(rollout.Options{
		Providers: rollout.Providers{
			Routers:   []progressive.TrafficRouter{env.Router},
			Metrics:   []progressive.MetricSource{env.Metrics},
			Flags:     []progressive.FlagStore{env.Flags},
			Workloads: []progressive.Workload{env.Workload},
			Hooks:     hooks,
		},
		Store:  store,
		Clock:  fc,
		Logger: slog.New(slog.DiscardHandler),
		Judges: map[string]analysis.Judge{analysis.KindSPRT: analysis.SPRTJudge{}},
	})
}

// simPlan is a valid canary plan the simulator can run.
func simPlan() progressive.Plan {
	p, err := strategy.Canary{
		Weights: []float64{10, 50, 100},
		Soak:    time.Minute,
		Checks:  []progressive.Check{{Name: "error-rate", Query: sim.SeriesErrorRate, Max: progressive.Float(1)}},
	}.Plan(goodTarget, goodRelease)
	if err != nil {
		panic(err)
	}
	return p
}

func rolloutCases() []bad {
	var out []bad
	// Every plan breakage is refused the same way by Validate, Start and DryRun;
	// Start and DryRun must refuse before they touch anything.
	type planBreak struct {
		name, field string
		mutate      func(p *progressive.Plan)
	}
	breaks := []planBreak{
		{"unknown-router", "providers.router", func(p *progressive.Plan) { p.Providers.Router = "istio" }},
		{"unknown-metrics", "checks[0].metrics", func(p *progressive.Plan) { p.Providers.Metrics = "prometheus" }},
		{"unknown-check-metrics", "checks[0].metrics", func(p *progressive.Plan) { p.Checks[0].Metrics = "datadog" }},
		{"unknown-workload", "providers.workload", func(p *progressive.Plan) { p.Providers.Workload = "kubernetes" }},
		{"unknown-flags", "providers.flags", func(p *progressive.Plan) { p.Providers.Flags = "launchdarkly" }},
		{"unknown-go-hook", "hooks[0].name", func(p *progressive.Plan) {
			p.Hooks = []progressive.HookSpec{{Name: "smoke", Phase: progressive.HookPrePromotion}}
		}},
		{"unknown-step-hook", "steps[1].hook.hook.name", func(p *progressive.Plan) {
			p.Steps[1] = progressive.Step{Hook: &progressive.HookStep{Hook: progressive.HookSpec{Name: "migrate"}}}
		}},
		{"approval-without-approver", "providers.approver", func(p *progressive.Plan) {
			p.Steps = append(p.Steps[:len(p.Steps)-2], progressive.Step{Approval: &progressive.ApprovalStep{Gate: "g"}}, p.Steps[len(p.Steps)-2], p.Steps[len(p.Steps)-1])
		}},
		{"unknown-judge", "checks[0].judge.kind", func(p *progressive.Plan) {
			p.Checks[0].Max, p.Checks[0].Judge = nil, &progressive.JudgeSpec{Kind: analysis.KindMannWhitney}
		}},
		{"judge-param-NaN", "checks[0].judge.params.alpha", func(p *progressive.Plan) {
			p.Checks[0].Max, p.Checks[0].Judge = nil, &progressive.JudgeSpec{Kind: analysis.KindSPRT, Params: map[string]float64{analysis.SPRTAlpha: math.NaN()}}
		}},
		{"bad-template", "checks[0].query", func(p *progressive.Plan) { p.Checks[0].Query = "{{.Canary}}" }},
		{"bad-name", "name", func(p *progressive.Plan) { p.Name = "../payment-service" }},
		{"bad-version", "release.version", func(p *progressive.Plan) { p.Release.Version = `v2"} or vector(1)` }},
		{"weight-NaN", "steps[1].setWeight.weight", func(p *progressive.Plan) { p.Steps[1].SetWeight.Weight = math.NaN() }},
		{"no-steps", "steps", func(p *progressive.Plan) { p.Steps = nil }},
		{"webhook-secret", "hooks[0].url", func(p *progressive.Plan) {
			p.Hooks = []progressive.HookSpec{{Name: "n", Phase: progressive.HookPostRollout, URL: "ftp://u:" + secretPassword + "@h.example.com/" + secretPath}}
		}},
	}
	for _, b := range breaks {
		secrets := []string{secretPassword, secretPath}
		out = append(out,
			bad{entry: "rollout.Runner.Validate", name: b.name, field: b.field, secrets: secrets, run: func(context.Context) error {
				r, err := simRunner(nil, nil)
				if err != nil {
					return err
				}
				p := simPlan()
				b.mutate(&p)
				return r.Validate(p)
			}},
			bad{entry: "rollout.Runner.Start", name: b.name, field: b.field, secrets: secrets, run: func(ctx context.Context) error {
				store := rollout.NewMemoryStore()
				r, err := simRunner(store, nil)
				if err != nil {
					return err
				}
				p := simPlan()
				b.mutate(&p)
				_, err = r.Start(ctx, p)
				if states, _ := store.List(ctx); len(states) > 0 && err != nil {
					return fmt.Errorf("a refused plan was stored anyway (%v)", err)
				}
				return err
			}},
			bad{entry: "rollout.Runner.DryRun", name: b.name, field: b.field, secrets: secrets, run: func(ctx context.Context) error {
				r, err := simRunner(nil, nil)
				if err != nil {
					return err
				}
				p := simPlan()
				b.mutate(&p)
				_, err = r.DryRun(ctx, p)
				return err
			}},
		)
	}
	// Preflight: a query the simulator does not know stops Start before anything moves.
	out = append(out, bad{entry: "rollout.Runner.Start", name: "preflight-unknown-series", field: "error-rate", run: func(ctx context.Context) error {
		r, err := simRunner(nil, nil)
		if err != nil {
			return err
		}
		p := simPlan()
		p.Checks[0].Query = "no_such_series"
		_, err = r.Start(ctx, p)
		return err
	}})

	out = append(out,
		bad{entry: "rollout.New", name: "nil-judge", field: "Judges", run: func(context.Context) error {
			_, err := rollout.New(rollout.Options{Judges: map[string]analysis.Judge{"sprt": nil}})
			return err
		}},
	)
	for _, o := range []struct {
		name, field string
		opts        rollout.Options
	}{
		{"PollInterval-negative", "PollInterval", rollout.Options{PollInterval: -time.Second}},
		{"MaxAttempts-negative", "MaxAttempts", rollout.Options{MaxAttempts: -1}},
		{"RetryBackoff-negative", "RetryBackoff", rollout.Options{RetryBackoff: -time.Second}},
	} {
		out = append(out, bad{entry: "rollout.New", name: o.name, field: o.field, run: func(context.Context) error {
			_, err := rollout.New(o.opts)
			return err
		}})
	}

	// A stored state the runner must not act on: Reconcile refuses it.
	for _, s := range []struct {
		name, field string
		mutate      func(st *rollout.State)
	}{
		{"phase-unknown", "phase", func(st *rollout.State) { st.Phase = "dancing" }},
		{"step-index-past-end", "step.index", func(st *rollout.State) { st.Step.Index = 99 }},
		{"step-index-negative", "step.index", func(st *rollout.State) { st.Step.Index = -1 }},
		{"step-attempts-negative", "step.attempts", func(st *rollout.State) { st.Step.Attempts = -1 }},
		{"rolling-back-without-state", "rollback", func(st *rollout.State) { st.Phase = rollout.PhaseRollingBack; st.Rollback = nil }},
		{"max-weight-negative", "applied.maxCanaryWeight", func(st *rollout.State) { st.Applied.MaxCanaryWeight = -1 }},
		{"max-flag-percent-101", "applied.maxFlagPercent", func(st *rollout.State) { st.Applied.MaxFlagPercent = 101 }},
		{"plan-invalid", "plan.steps[1].setWeight.weight", func(st *rollout.State) { st.Plan.Steps[1].SetWeight.Weight = -5 }},
		{"plan-name-mismatch", "plan.name", func(st *rollout.State) { st.Plan.Name = "another-plan" }},
	} {
		out = append(out, bad{entry: "rollout.Runner.Reconcile(stored state)", name: s.name, field: s.field, run: func(ctx context.Context) error {
			store := rollout.NewMemoryStore()
			r, err := simRunner(store, nil)
			if err != nil {
				return err
			}
			st, err := r.Start(ctx, simPlan())
			if err != nil {
				return fmt.Errorf("setup: %v", err)
			}
			st.Plan.Steps = append([]progressive.Step(nil), st.Plan.Steps...)
			st.Plan.Steps[1].SetWeight = &progressive.SetWeightStep{Weight: st.Plan.Steps[1].SetWeight.Weight}
			id := st.ID
			s.mutate(&st)
			if _, err := store.Update(ctx, st); err != nil {
				return fmt.Errorf("setup: %v", err)
			}
			_, err = r.Reconcile(ctx, id)
			return err
		}})
	}
	return out
}
