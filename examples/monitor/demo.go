package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/analysis"
	"github.com/agentops/progressive/internal/promtest"
	"github.com/agentops/progressive/provider/sim"
	"github.com/agentops/progressive/rollout"
	"github.com/agentops/progressive/strategy"
)

// demo rehearses two canary rollouts of payment-service against a local
// Prometheus: the simulated router's weight sets the canary's share of the test
// application's requests, and the queries are live.
func demo(ctx context.Context, out io.Writer, cfg config) int {
	fail := func(err error) int {
		fmt.Fprintln(out, "monitor -demo:", err)
		return exitConfig
	}
	target := progressive.Target{Namespace: cfg.namespace, Name: cfg.service}
	env := sim.New(sim.Options{})
	if err := env.Workload.AddService(target, sim.ServiceSpec{Replicas: 10, Version: "v1.9.0", Image: "registry.example.com/payment-service:v1.9.0"}); err != nil {
		return fail(err)
	}
	share := func() float64 {
		r, err := env.Router.GetRoutes(context.Background(), target)
		if err != nil {
			return 0
		}
		return r.CanaryWeight
	}

	app := promtest.NewApp()
	defer app.Close()
	releases := []progressive.Release{
		{Version: "v2.0.0", Image: "registry.example.com/payment-service:v2.0.0"},
		{Version: "v2.1.0", Image: "registry.example.com/payment-service:v2.1.0"},
	}
	healthy := promtest.Behavior{ErrorPercent: 0.2, Latency: 95 * time.Millisecond, CPU: 50}
	svc := app.Service(promtest.ServiceSpec{Namespace: target.Namespace, Name: target.Name, CanaryVersion: releases[0].Version, RPS: 200, CanaryShare: share,
		Stable: promtest.Behavior{ErrorPercent: 0.2, Latency: 90 * time.Millisecond, CPU: 45},
		Canary: healthy})
	prom, err := promtest.New(promtest.Options{Targets: []string{app.Addr()}, ScrapeInterval: cfg.demoScrape})
	if err != nil {
		return fail(err)
	}
	defer prom.Stop()
	fmt.Fprintf(out, "Prometheus %s scraping the test application every %s; waiting for its first scrape...\n", prom.URL, cfg.demoScrape)
	if err := prom.WaitFor(ctx, fmt.Sprintf(`http_requests_total{service=%q}`, target.Name), time.Minute); err != nil {
		return fail(err)
	}

	cfg.interval = cfg.demoInterval
	cfg.initialDelay = 3 * cfg.demoScrape
	if cfg.window == "" {
		cfg.window = analysis.FormatDuration(max(5*cfg.demoInterval, 10*cfg.demoScrape))
	}
	checks, err := seedChecks(cfg)
	if err != nil {
		return fail(err)
	}
	src, err := source(cfg, prom.URL)
	if err != nil {
		return fail(err)
	}
	var mu sync.Mutex
	var onMeasured func(rollout.Event)
	printer, err := newPrinter(out)
	if err != nil {
		return fail(err)
	}
	runner, err := rollout.New(rollout.Options{
		Providers: rollout.Providers{
			Routers:   []progressive.TrafficRouter{env.Router},
			Metrics:   []progressive.MetricSource{src},
			Workloads: []progressive.Workload{env.Workload},
		},
		PollInterval: 250 * time.Millisecond,
		Logger:       slog.New(slog.DiscardHandler),
		Observers: []rollout.Observer{printer, rollout.ObserverFunc(func(_ context.Context, e rollout.Event) {
			mu.Lock()
			f := onMeasured
			mu.Unlock()
			if f != nil && e.Type == rollout.EventMeasured {
				f(e)
			}
		})},
	})
	if err != nil {
		return fail(err)
	}
	canary := strategy.Canary{Weights: []float64{10, 50}, Soak: cfg.demoSoak, Checks: checks}

	var records []rollout.DecisionRecord
	for i, rel := range releases {
		plan, err := canary.Plan(target, rel)
		if err != nil {
			return fail(err)
		}
		if i == 0 {
			fmt.Fprintf(out, "\n== The plan ==\n%s\n", rollout.Explain(plan))
		}
		var regressed time.Time
		svc.SetCanaryRelease(rel.Version, healthy)
		if i == 1 {
			// v2.1.0 fails under load: once it takes half of the traffic, 20% of
			// its requests answer 500.
			mu.Lock()
			onMeasured = func(e rollout.Event) {
				if regressed.IsZero() && share() >= 50 {
					regressed = svc.SetCanary(promtest.Behavior{ErrorPercent: 20, Latency: 95 * time.Millisecond, CPU: 50})
					fmt.Fprintf(out, "%s  INCIDENT  v2.1.0 starts failing 20%% of its requests\n", regressed.Format("15:04:05"))
				}
			}
			mu.Unlock()
		}
		fmt.Fprintf(out, "\n== Rollout %d: %s to %s ==\n", i+1, target, rel)
		st, err := runner.Execute(ctx, plan)
		if err != nil {
			return fail(err)
		}
		rec, err := runner.Record(ctx, st.ID)
		if err != nil {
			return fail(err)
		}
		printRecord(out, rec)
		if !regressed.IsZero() && !rec.Impact.DetectedAt.IsZero() {
			fmt.Fprintf(out, "  measured:  rollback decided %s after the incident began\n", rec.Impact.DetectedAt.Sub(regressed).Round(time.Millisecond))
		}
		records = append(records, rec)
	}
	if err := writeRecords(cfg.recordFile, records); err != nil {
		return fail(err)
	}
	if records[0].Impact.Outcome != rollout.OutcomePromoted || records[1].Impact.Outcome != rollout.OutcomeRolledBack {
		fmt.Fprintln(out, "\nunexpected outcomes: the healthy release should be promoted and the failing one rolled back")
		return exitRollback
	}
	fmt.Fprintln(out, "\nThe healthy release was promoted and the failing one rolled back.")
	return exitPassed
}
