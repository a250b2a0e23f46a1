package analysis_test

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	testingclock "k8s.io/utils/clock/testing"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/analysis"
	"github.com/agentops/progressive/provider/sim"
)

// A canary whose error rate is five times the baseline's, at 10% of 100 req/s,
// judged every minute by the sequential test watching for 2x and 5x (each at
// alpha/2 = 0.005, bound ln(2/0.01)): the 5x test fails it at the first minute.
func ExampleSPRTJudge() {
	ctx := context.Background()
	start := time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)
	clk := testingclock.NewFakeClock(start)
	env := sim.New(sim.Options{Clock: clk, Seed: 3})
	svc := progressive.Target{Namespace: "shop", Name: "checkout"}
	_ = env.Metrics.SetProfile(svc, sim.Profile{RequestRate: 100, ErrorRate: 0.5})
	_ = env.Router.SetRoutes(ctx, svc, progressive.Routes{StableWeight: 90, CanaryWeight: 10})
	_ = env.Metrics.Inject(sim.Incident{Target: svc, Role: progressive.Canary, Kind: sim.ErrorRateFactor, Value: 5})

	engine, err := analysis.NewEngine(analysis.Options{
		Sources: func(string) (progressive.MetricSource, error) { return env.Metrics, nil },
		Judges: map[string]analysis.Judge{
			// The simulator's error_rate is a percentage; request_rate, per second.
			analysis.KindSPRT: analysis.SPRTJudge{Requests: analysis.RequestsExpr(sim.SeriesRequestRate)},
		},
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		panic(err)
	}
	checks := []progressive.Check{{
		Name: "error-rate", Query: sim.SeriesErrorRate, InitialDelay: time.Minute,
		Judge: &progressive.JudgeSpec{Kind: analysis.KindSPRT, Params: map[string]float64{
			analysis.SPRTRatio: 100, analysis.SPRTScale: 60, analysis.SPRTFastRatio: 5}},
	}}
	vars := analysis.Vars{Namespace: svc.Namespace, Service: svc.Name, CanaryVersion: "v2", StableVersion: "v1"}
	st := engine.Begin(checks, start, start.Add(15*time.Minute))
	for now := start.Add(time.Minute); ; now = now.Add(time.Minute) {
		clk.SetTime(now)
		res, err := engine.Tick(ctx, checks, vars, &st, now)
		if err != nil {
			panic(err)
		}
		m := res.Measurements[0]
		fmt.Printf("%s %s: llr %.2f (2x), %.2f (5x), bound %.2f\n", now.Format("15:04"), m.Outcome, m.Details["llr"], m.Details["llrFast"], m.Details["upperBound"])
		if res.Verdict.Done() {
			fmt.Println(res.Verdict)
			break
		}
	}
	// Output:
	// 09:01 fail: llr 4.32 (2x), 6.01 (5x), bound 5.30
	// fail
}

// Three checks combined Kayenta-style: latency and CPU weigh 1 each, errors 2 and
// are critical. CPU is high, the others pass: 75, marginal.
func ExampleScore() {
	check := func(name string, weight, critical float64) progressive.Check {
		return progressive.Check{Name: name, Query: name, Judge: &progressive.JudgeSpec{Kind: analysis.KindMannWhitney,
			Params: map[string]float64{analysis.ParamWeight: weight, analysis.ParamCritical: critical}}}
	}
	checks := []progressive.Check{check("latency", 1, 0), check("cpu", 1, 0), check("errors", 2, 1)}
	pass := analysis.Measurement{Status: progressive.StatusValue, Outcome: analysis.OutcomePass}
	high := analysis.Measurement{Status: progressive.StatusValue, Outcome: analysis.OutcomeFail,
		Details: map[string]float64{analysis.DetailClass: 1}}
	at := func(name string, m analysis.Measurement) analysis.Measurement { m.Check = name; return m }

	card, err := analysis.Score(checks, []analysis.Measurement{at("latency", pass), at("cpu", high), at("errors", pass)}, analysis.ScoreOptions{})
	if err != nil {
		panic(err)
	}
	for _, m := range card.Metrics {
		fmt.Printf("%-8s %-5s weight %g\n", m.Check, m.Class, m.Weight)
	}
	fmt.Println(card.Verdict, "-", card.Reason)

	card, _ = analysis.Score(checks, []analysis.Measurement{at("latency", pass), at("cpu", pass), at("errors", high)}, analysis.ScoreOptions{})
	fmt.Println(card.Verdict, "-", card.Reason)
	// Output:
	// latency  pass  weight 1
	// cpu      high  weight 1
	// errors   pass  weight 2
	// marginal - score 75: marginal (pass 95, marginal 75)
	// fail - critical check(s) errors failed (score 50)
}
