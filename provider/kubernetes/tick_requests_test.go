package kubernetes_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentops/progressive"
	k8s "github.com/agentops/progressive/provider/kubernetes"
	"github.com/agentops/progressive/rollout"
)

// tickRequests are the API requests of a kind of Reconcile call, summed.
type tickRequests struct {
	ticks         int
	reads, writes int64
}

func (c tickRequests) perTick() (reads, writes float64) {
	if c.ticks == 0 {
		return 0, 0
	}
	return float64(c.reads) / float64(c.ticks), float64(c.writes) / float64(c.ticks)
}

// TestAPIRequestsPerTick drives one rollout of the kubernetes workload with the
// ConfigMap store on the test control plane, one Reconcile at a time with a
// status subscription held (as Run holds one), and counts the provider's API
// requests per advancing tick (the step index moved) and per idle tick (a
// wait: pods not ready yet, a pause). It also counts a Store.List. The figures
// are logged; the bounds are what the informer-backed reads allow.
func TestAPIRequestsPerTick(t *testing.T) {
	e := env.Require(t)
	ns := e.NewNamespace(t)
	seed(t, e.Clientset(), ns, "ticks", 2, "registry.example/ticks:v1")
	p := newProvider(t, e.Config(), fastOptions())
	store, err := p.Store(ns)
	require.NoError(t, err)
	r, err := rollout.New(rollout.Options{
		Providers:    rollout.Providers{Workloads: []progressive.Workload{p.Workload()}},
		Store:        store,
		PollInterval: 100 * time.Millisecond,
		Logger:       quietLogger(),
	})
	require.NoError(t, err)
	plan := progressive.Plan{
		Name:    "ticks-v2",
		Target:  target(ns, "ticks"),
		Release: progressive.Release{Version: "v2", Image: "registry.example/ticks:v2"},
		Steps: []progressive.Step{
			{Deploy: &progressive.DeployStep{Replicas: 1}},
			{Pause: &progressive.PauseStep{Duration: time.Second}},
			{Scale: &progressive.ScaleStep{Replicas: 2}},
			{Pause: &progressive.PauseStep{Duration: time.Second}},
			{Promote: &progressive.PromoteStep{}},
		},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	st, err := r.Start(ctx, plan)
	require.NoError(t, err)
	ch, err := p.Workload().WatchStatus(ctx, plan.Target)
	require.NoError(t, err)

	var advancing, idle tickRequests
	var trace []string // step:reads/writes of each tick
	step, phase := st.Step.Index, st.Phase
	for !phase.Terminal() {
		require.NoError(t, ctx.Err(), "the rollout did not end")
		before := p.Stats()
		res, err := r.Reconcile(ctx, st.ID)
		require.NoError(t, err)
		d := since(p, before)
		// An advancing tick moves the rollout on: a step completed, or a
		// step's action carried out and stored.
		c := &idle
		if res.Step != step || res.Phase != phase || d.Writes > 0 {
			c = &advancing
		}
		trace = append(trace, sprintf("%d:%d/%d", res.Step, d.Reads, d.Writes))
		c.ticks++
		c.reads += d.Reads
		c.writes += d.Writes
		step, phase = res.Step, res.Phase
		select {
		case <-ch:
		case <-time.After(res.RequeueAfter):
		}
	}
	require.Equal(t, rollout.PhaseSucceeded, phase)
	ar, aw := advancing.perTick()
	ir, iw := idle.perTick()
	t.Logf("ticks (step:reads/writes): %v", trace)
	t.Logf("advancing ticks: %d, %.2f reads and %.2f writes each; idle ticks: %d, %.2f reads and %.2f writes each", advancing.ticks, ar, aw, idle.ticks, ir, iw)

	before := p.Stats()
	list, err := store.List(ctx)
	require.NoError(t, err)
	require.Len(t, list, 1)
	listed := since(p, before)
	t.Logf("Store.List: %d reads", listed.Reads)

	require.Positive(t, idle.ticks, "the pauses and the pods' waits make idle ticks")
	// Before the Deployment reads went through the informer: 0.58 reads per
	// idle tick (adopting the target read it on every tick) and 1.57 per
	// advancing tick; Store.List was one LIST.
	assert.LessOrEqual(t, ir, 0.25, "an idle tick reads from the caches")
	assert.LessOrEqual(t, ar, 1.0, "an advancing tick's reads")
	assert.Equal(t, k8s.Stats{}, listed, "Store.List reads the informer")
}
