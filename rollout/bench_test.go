package rollout_test

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/provider/sim"
	"github.com/agentops/progressive/rollout"
	"github.com/agentops/progressive/strategy"
	testingclock "k8s.io/utils/clock/testing"
)

func benchRunner(b *testing.B, env *sim.Env, fc *testingclock.FakeClock, store rollout.StateStore) *rollout.Runner {
	r, err := rollout.New(rollout.Options{
		Providers: rollout.Providers{
			Routers:   []progressive.TrafficRouter{env.Router},
			Metrics:   []progressive.MetricSource{env.Metrics},
			Workloads: []progressive.Workload{env.Workload},
		},
		Store: store,
		Clock: fc,
	})
	if err != nil {
		b.Fatal(err)
	}
	return r
}

// BenchmarkRunnerDecision measures one Reconcile that takes an analysis tick of the
// guide's three checks and decides to keep going: load the state, measure, decide,
// save.
func BenchmarkRunnerDecision(b *testing.B) {
	ctx := context.Background()
	fc := testingclock.NewFakeClock(t0)
	env := sim.New(sim.Options{Clock: fc})
	if err := env.Metrics.SetProfile(service, sim.Profile{RequestRate: 1000}); err != nil {
		b.Fatal(err)
	}
	if err := env.Workload.AddService(service, sim.ServiceSpec{Replicas: 10, Version: "v1", Image: "app:v1"}); err != nil {
		b.Fatal(err)
	}
	plan, err := strategy.Canary{Weights: []float64{10, 100}, Soak: 1000 * time.Hour, Checks: seedChecks()}.Plan(service, release)
	if err != nil {
		b.Fatal(err)
	}
	r := benchRunner(b, env, fc, rollout.NewMemoryStore())
	st, err := r.Start(ctx, plan)
	if err != nil {
		b.Fatal(err)
	}
	res, err := r.Reconcile(ctx, st.ID) // deploy, route, first tick
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		fc.Step(res.RequeueAfter)
		if res, err = r.Reconcile(ctx, st.ID); err != nil {
			b.Fatal(err)
		}
		if res.Phase != rollout.PhaseProgressing {
			b.Fatalf("phase %s", res.Phase)
		}
	}
}

// BenchmarkActiveRollouts keeps 1,000 canaries in flight in one runner, each mid-way
// through its first soak, and reports the memory each one holds.
func BenchmarkActiveRollouts(b *testing.B) {
	const rollouts = 1000
	ctx := context.Background()
	for b.Loop() {
		fc := testingclock.NewFakeClock(t0)
		env := sim.New(sim.Options{Clock: fc})
		runtime.GC()
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		r := benchRunner(b, env, fc, rollout.NewMemoryStore())
		ids := make([]string, 0, rollouts)
		for i := range rollouts {
			target := progressive.Target{Namespace: "bench", Name: fmt.Sprintf("svc-%d", i)}
			if err := env.Workload.AddService(target, sim.ServiceSpec{Replicas: 10, Version: "v1", Image: "app:v1"}); err != nil {
				b.Fatal(err)
			}
			plan, err := strategy.Canary{Weights: []float64{10, 50, 100}, Checks: seedChecks()}.Plan(target, release)
			if err != nil {
				b.Fatal(err)
			}
			st, err := r.Start(ctx, plan)
			if err != nil {
				b.Fatal(err)
			}
			ids = append(ids, st.ID)
		}
		for tick := 0; tick < 5; tick++ {
			for _, id := range ids {
				if _, err := r.Reconcile(ctx, id); err != nil {
					b.Fatal(err)
				}
			}
			fc.Step(time.Minute)
		}
		runtime.GC()
		var after runtime.MemStats
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/rollouts, "heap-bytes/rollout")
		runtime.KeepAlive(r)
		runtime.KeepAlive(env)
	}
}
