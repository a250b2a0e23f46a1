package rollout_test

import (
	"context"
	"fmt"
	"time"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/provider/sim"
	"github.com/agentops/progressive/rollout"
	"github.com/agentops/progressive/strategy"
	testingclock "k8s.io/utils/clock/testing"
)

// A canary of payment-service in the simulator, driven in virtual time the way a
// test harness does it: Reconcile, then advance the clock by what it asks.
func ExampleRunner() {
	ctx := context.Background()
	clk := testingclock.NewFakeClock(time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC))
	env := sim.New(sim.Options{Clock: clk})
	target := progressive.Target{Namespace: "production", Name: "payment-service"}
	_ = env.Metrics.SetProfile(target, sim.Profile{RequestRate: 1000})
	_ = env.Workload.AddService(target, sim.ServiceSpec{Replicas: 10, Version: "v1", Image: "payment-service:v1"})

	runner, err := rollout.New(rollout.Options{
		Providers: rollout.Providers{
			Routers:   []progressive.TrafficRouter{env.Router},
			Metrics:   []progressive.MetricSource{env.Metrics},
			Workloads: []progressive.Workload{env.Workload},
		},
		Clock: clk,
	})
	if err != nil {
		panic(err)
	}
	plan, err := strategy.Canary{
		Weights: []float64{10, 50, 100},
		Soak:    15 * time.Minute,
		Checks:  []progressive.Check{{Name: "error-rate", Query: "error_rate", Max: progressive.Float(1)}},
	}.Plan(target, progressive.Release{Version: "v2", Image: "payment-service:v2"})
	if err != nil {
		panic(err)
	}
	st, err := runner.Start(ctx, plan)
	if err != nil {
		panic(err)
	}
	for {
		res, err := runner.Reconcile(ctx, st.ID)
		if err != nil {
			panic(err)
		}
		if res.Phase.Terminal() {
			break
		}
		clk.Step(res.RequeueAfter)
	}
	rec, _ := runner.Record(ctx, st.ID)
	fmt.Println(rec.Impact.Outcome, "after", time.Duration(rec.Impact.Duration), "with the canary at up to", rec.Impact.MaxCanaryWeight, "percent")
	// Output: promoted after 30m0s with the canary at up to 50 percent
}

// Explain renders the timeline a person reads before approving a plan.
func ExampleExplain() {
	plan, _ := strategy.Fast([]progressive.Check{
		{Name: "error-rate", Query: "error_rate", Max: progressive.Float(1)},
	}).Plan(progressive.Target{Name: "search"}, progressive.Release{Version: "v7"})
	fmt.Print(rollout.Explain(plan))
	// Output:
	// Rollout search-v7: canary of search to v7
	// Why: Canary: v7 takes 10% of requests, soaking 10m with analysis, then is promoted; a failing check (error-rate) or an inconclusive analysis (no data or NaN: missing data is never a pass) sets all traffic back to stable.
	// Least duration when healthy: 10m
	//
	// T+0        1. deploy v7 as the canary with 1 pod(s), wait until ready (up to 10m)
	// T+0        2. weight-10: send 10% of traffic to the canary, verified by reading the routes back
	// T+0        3. analyze for 10m (first measurement at +1m, once its window holds only this step's traffic; the end of the soak is measured too): error-rate <= 1 every 1m, fails after 1 failed measurement(s)
	// T+10m      4. promote: stable takes v7, wait until ready
	// T+10m      5. finalize: all traffic to stable (now running the release), remove canary routes, scale the canary to 0
	// T+10m      done: v7 serves all traffic
	//
	// Rollback is automatic when:
	//   - check error-rate <= 1 every 1m, fails after 1 failed measurement(s)
	//   - no data, NaN or an unreachable metrics backend 3 times in a row for a check, counting no data only after the check's warm-up (then: rollback; never a promotion)
	//   - the canary is not ready in time
	//   - a person calls Rollback or Abort
	// Rollback restores: all traffic to stable in one write, read back; canary scaled to 0, stable untouched.
	//
	// Good to know:
	//   - On its first rollout the deploy step adopts the stable Deployment search: with the Kubernetes workload, a pod template without progressive.agentops.io/role=stable gets that label, which restarts every stable pod once (a new ReplicaSet revision). DryRun says whether it will.
}
