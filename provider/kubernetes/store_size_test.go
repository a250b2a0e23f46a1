package kubernetes_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	testingclock "k8s.io/utils/clock/testing"

	"github.com/agentops/progressive"
	k8s "github.com/agentops/progressive/provider/kubernetes"
	"github.com/agentops/progressive/provider/sim"
	"github.com/agentops/progressive/rollout"
	"github.com/agentops/progressive/strategy"
)

// The state of a 72-hour rollout (five 14.4-hour phases, three checks every
// five minutes: 2,592 measurements, of which the newest
// rollout.MaxInlineObservations stay in the state) fits in one ConfigMap: the
// real apiserver takes it and gives it back whole.
func TestSeventyTwoHourStateFitsInAConfigMap(t *testing.T) {
	e := env.Require(t)
	ns := e.NewNamespace(t)
	ctx := context.Background()

	fc := testingclock.NewFakeClock(time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC))
	world := sim.New(sim.Options{Clock: fc, Seed: 5})
	tg := progressive.Target{Namespace: ns, Name: "checkout"}
	require.NoError(t, world.Workload.AddService(tg, sim.ServiceSpec{Replicas: 10, Version: "v1", Image: "checkout:v1"}))
	require.NoError(t, world.Metrics.SetProfile(tg, sim.Profile{RequestRate: 1000}))
	every := 5 * time.Minute
	checks := []progressive.Check{
		{Name: "error-rate", Query: "error_rate", Max: progressive.Float(1), Interval: every},
		{Name: "latency-p95", Query: "latency_p95", Max: progressive.Float(500), Interval: every},
		{Name: "cpu", Query: "cpu", Max: progressive.Float(80), Interval: every, Severity: progressive.SeverityWarn},
	}
	plan, err := strategy.Canary{Weights: []float64{5, 10, 20, 35, 50}, Soak: 72 * time.Hour / 5, Replicas: 2, Checks: checks}.Plan(tg, progressive.Release{Version: "v2", Image: "checkout:v2"})
	require.NoError(t, err)
	// Like the ConfigMap store, without an ObservationLog: the measurements
	// stay in the state, the newest MaxInlineObservations of them.
	mem := struct{ rollout.StateStore }{rollout.NewMemoryStore()}
	r, err := rollout.New(rollout.Options{
		Providers: rollout.Providers{
			Routers: []progressive.TrafficRouter{world.Router}, Metrics: []progressive.MetricSource{world.Metrics},
			Workloads: []progressive.Workload{world.Workload},
		},
		Store: mem, Clock: fc, Logger: slog.New(slog.DiscardHandler),
	})
	require.NoError(t, err)
	st, err := r.Start(ctx, plan)
	require.NoError(t, err)
	for range 100_000 {
		res, err := r.Reconcile(ctx, st.ID)
		require.NoError(t, err)
		if res.Phase.Terminal() {
			break
		}
		fc.Step(res.RequeueAfter)
	}
	final, err := mem.Get(ctx, st.ID)
	require.NoError(t, err)
	require.Equal(t, rollout.PhaseSucceeded, final.Phase)
	require.GreaterOrEqual(t, final.Record.Impact.Measurements, 2500)
	assert.GreaterOrEqual(t, time.Duration(final.Record.Impact.Duration), 72*time.Hour)

	p := newProvider(t, e.Config(), fastOptions())
	store, err := p.Store(ns)
	require.NoError(t, err)
	_, err = store.Create(ctx, final)
	require.NoError(t, err, "the apiserver takes the state")
	cm, err := e.Clientset().CoreV1().ConfigMaps(ns).Get(ctx, k8s.ConfigMapName(final.ID), metav1.GetOptions{})
	require.NoError(t, err)
	size := 0
	for _, v := range cm.Data {
		size += len(v)
	}
	for _, v := range cm.BinaryData {
		size += len(v)
	}
	t.Logf("72-hour state: %d measurements, %d inline, %d decisions; %d bytes in the ConfigMap", final.Record.Impact.Measurements, len(final.Record.Observations), len(final.Record.Decisions), size)
	assert.Len(t, final.Record.Observations, rollout.MaxInlineObservations)
	assert.Less(t, size, 1<<20/2, "well under the 1 MiB ConfigMap limit")
	got, err := store.Get(ctx, final.ID)
	require.NoError(t, err)
	assert.Len(t, got.Record.Observations, len(final.Record.Observations))
}
