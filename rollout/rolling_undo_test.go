package rollout_test

import (
	"context"
	"testing"
	"time"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/provider/sim"
	"github.com/agentops/progressive/rollout"
	"github.com/agentops/progressive/strategy"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRollingUndoWaitsForThePreviousRevision: the rollback of a rolling update
// ends once the pods of the revision it brought back are ready, and the record's
// recovery is that instant, not the instant Undo was called.
func TestRollingUndoWaitsForThePreviousRevision(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	target := progressive.Target{Namespace: "production", Name: "content-api"}
	require.NoError(t, w.env.Workload.AddService(target, sim.ServiceSpec{Replicas: 30, Version: "v1", Image: "content-api:v1"}))
	bad := progressive.Release{Version: "v2", Image: "content-api:v2-never-ready"}
	w.env.Workload.NeverReady(bad.Image)
	w.env.Workload.SetReadyDelay(3 * time.Minute) // every pod started from now on
	p, err := strategy.Rolling{Replicas: 30, BatchSize: 3, ReadyTimeout: 4 * time.Minute}.Plan(target, bad)
	require.NoError(t, err)

	var events []rollout.Event
	w.obs = []rollout.Observer{rollout.ObserverFunc(func(_ context.Context, e rollout.Event) { events = append(events, e) })}
	st := w.execute(p)
	require.Equal(t, rollout.PhaseRolledBack, st.Phase, "%+v", st.Record.Decisions)

	after, err := w.env.Workload.RollStatus(ctx, target)
	require.NoError(t, err)
	assert.Equal(t, 0, after.Unready, "reported rolled back only once every pod of the old revision is ready")
	assert.Equal(t, 30, after.UpdatedReady)

	im := st.Record.Impact
	assert.Equal(t, t0.Add(4*time.Minute), im.DetectedAt, "undone at the batch's ReadyTimeout, 4m")
	require.NotNil(t, im.RollbackDuration)
	assert.GreaterOrEqual(t, time.Duration(*im.RollbackDuration), 3*time.Minute, "time to recover includes the old pods' start")
	assert.Len(t, decisions(st, "recovered"), 1)
	last := events[len(events)-1]
	assert.Equal(t, rollout.EventRollbackCompleted, last.Type)
	assert.Equal(t, im.RecoveredAt, last.Time)
}

func TestRollingExplainedAsRolledOut(t *testing.T) {
	w := newWorld(t)
	target := progressive.Target{Namespace: "production", Name: "content-api"}
	require.NoError(t, w.env.Workload.AddService(target, sim.ServiceSpec{Replicas: 30, Version: "v1", Image: "content-api:v1"}))
	p, err := strategy.Rolling{Replicas: 30, BatchSize: 3}.Plan(target, progressive.Release{Version: "v2", Image: "content-api:v2"})
	require.NoError(t, err)

	out := rollout.Explain(p)
	assert.Contains(t, out, "1. roll-3: update pods in place until 3 run v2 (content-api:v2) (up to 3 new pod(s) at once beside the old, none unavailable), wait up to 10m")
	assert.NotContains(t, out, "max surge 8")
	assert.Contains(t, out, "done: every pod runs v2")
	assert.NotContains(t, out, "serves all traffic")

	var events []rollout.Event
	w.obs = []rollout.Observer{rollout.ObserverFunc(func(_ context.Context, e rollout.Event) { events = append(events, e) })}
	st := w.execute(p)
	require.Equal(t, rollout.PhaseSucceeded, st.Phase)
	last := events[len(events)-1]
	assert.Equal(t, rollout.EventSucceeded, last.Type)
	assert.Equal(t, "rolled out v2 (content-api:v2)", last.Message)
}
