package sim_test

import (
	"context"
	"fmt"
	"time"

	testingclock "k8s.io/utils/clock/testing"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/provider/sim"
)

// A bad release: from ten minutes into the rollout the canary answers 8% of its
// requests with a 5xx. The error rate read before and after the incident begins is
// what an analysis step would see.
func Example() {
	ctx := context.Background()
	start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	fc := testingclock.NewFakeClock(start)
	env := sim.New(sim.Options{Clock: fc, Seed: 42})

	target := progressive.Target{Namespace: "shop", Name: "checkout"}
	_ = env.Workload.AddService(target, sim.ServiceSpec{Replicas: 4, Version: "v1", Image: "shop/checkout:1"})
	_ = env.Metrics.SetProfile(target, sim.Profile{RequestRate: 200, ErrorRate: 0.5})
	_ = env.Workload.DeployCanary(ctx, target, progressive.Release{Version: "v2", Image: "shop/checkout:2"}, 1)
	_ = env.Router.SetRoutes(ctx, target, progressive.WeightedRoutes(25))

	_ = env.Metrics.Inject(sim.Incident{
		Target: target, Role: progressive.Canary,
		Kind: sim.ErrorRateSet, Value: 8,
		Start: start.Add(10 * time.Minute),
	})

	errorRate := func(role progressive.Role) string {
		r, err := env.Metrics.Query(ctx, progressive.Query{Expr: "error_rate", Target: target, Role: role})
		if err != nil {
			return err.Error()
		}
		return fmt.Sprintf("%.1f%%", r.Value)
	}
	fmt.Println("before: canary", errorRate(progressive.Canary), "stable", errorRate(progressive.Stable))
	fc.Step(10 * time.Minute)
	fmt.Println("after:  canary", errorRate(progressive.Canary), "stable", errorRate(progressive.Stable))

	_ = env.Router.SetRoutes(ctx, target, progressive.AllStable()) // roll back
	r, _ := env.Metrics.Query(ctx, progressive.Query{Expr: "error_rate", Target: target, Role: progressive.Canary})
	fmt.Println("rolled back: canary", r.Status)
	// Output:
	// before: canary 0.4% stable 0.6%
	// after:  canary 7.4% stable 0.4%
	// rolled back: canary no-data
}
