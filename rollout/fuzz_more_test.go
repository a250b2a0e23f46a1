package rollout_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"testing"
	"time"

	testingclock "k8s.io/utils/clock/testing"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/provider/sim"
	"github.com/agentops/progressive/rollout"
	"github.com/agentops/progressive/strategy"
)

// FuzzStoredState: whatever a state store hands back (a hand-edited ConfigMap,
// a file from another version), decoding it into a State and letting a runner
// reconcile it never panics and always returns: the runner either refuses the
// state or acts on it. Seeds are states the runner itself wrote.
func FuzzStoredState(f *testing.F) {
	plan, err := strategy.Canary{
		Weights: []float64{10, 100},
		Soak:    time.Minute,
		Checks:  []progressive.Check{{Name: "error-rate", Query: sim.SeriesErrorRate, Max: progressive.Float(1), Interval: 10 * time.Second}},
	}.Plan(progressive.Target{Namespace: "production", Name: "payment-service"}, progressive.Release{Version: "v2.0.0"})
	if err != nil {
		f.Fatal(err)
	}
	// Seed with the states of a real rollout at every transition.
	{
		r, store, fc := fuzzRunner(f)
		ctx := context.Background()
		st, err := r.Start(ctx, plan)
		if err != nil {
			f.Fatal(err)
		}
		for i := 0; i < 12; i++ {
			b, _ := json.Marshal(st)
			f.Add(b)
			res, err := r.Reconcile(ctx, st.ID)
			if err != nil || res.RequeueAfter == 0 {
				break
			}
			fc.Step(res.RequeueAfter)
			st, _ = store.Get(ctx, st.ID)
		}
	}
	f.Add([]byte(`{"id":"x","plan":{"name":"x"},"phase":"progressing","step":{"index":-1}}`))
	f.Add([]byte(`{"id":"payment-service-v2-0-0","phase":"rolling-back","step":{"index":99,"attempts":-1}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var st rollout.State
		if json.Unmarshal(data, &st) != nil || st.ID == "" {
			return
		}
		r, store, _ := fuzzRunner(t)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		stored, err := store.Create(ctx, st)
		if err != nil {
			return
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			_, _ = r.Reconcile(ctx, stored.ID)
		}()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("Reconcile did not return for %s", data)
		}
	})
}

func fuzzRunner(tb testing.TB) (*rollout.Runner, *rollout.MemoryStore, *testingclock.FakeClock) {
	tb.Helper()
	fc := testingclock.NewFakeClock(time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC))
	env := sim.New(sim.Options{Clock: fc})
	target := progressive.Target{Namespace: "production", Name: "payment-service"}
	if err := env.Workload.AddService(target, sim.ServiceSpec{Replicas: 10, Version: "v1.5.0"}); err != nil {
		tb.Fatal(err)
	}
	if err := env.Metrics.SetProfile(target, sim.Profile{RequestRate: 1000}); err != nil {
		tb.Fatal(err)
	}
	store := rollout.NewMemoryStore()
	r, err := rollout.New(rollout.Options{
		Providers: rollout.Providers{
			Routers:   []progressive.TrafficRouter{env.Router},
			Metrics:   []progressive.MetricSource{env.Metrics},
			Flags:     []progressive.FlagStore{env.Flags},
			Workloads: []progressive.Workload{env.Workload},
		},
		Store:        store,
		Clock:        fc,
		Logger:       slog.New(slog.DiscardHandler),
		PollInterval: time.Second,
	})
	if err != nil {
		tb.Fatal(err)
	}
	return r, store, fc
}
