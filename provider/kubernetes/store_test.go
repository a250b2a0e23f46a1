package kubernetes_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/analysis"
	k8s "github.com/agentops/progressive/provider/kubernetes"
	"github.com/agentops/progressive/rollout"
)

func TestStoreOptimisticConcurrency(t *testing.T) {
	e := env.Require(t)
	ns := e.NewNamespace(t)
	ctx := context.Background()
	p := newProvider(t, e.Config(), fastOptions())
	a, err := p.Store(ns)
	require.NoError(t, err)
	b, err := p.Store(ns)
	require.NoError(t, err)

	_, err = a.Get(ctx, "checkout/v2 rollout")
	require.ErrorIs(t, err, progressive.ErrNotFound)

	st, err := a.Create(ctx, rollout.State{ID: "checkout/v2 rollout", Phase: rollout.PhaseProgressing, Plan: progressive.Plan{Name: "checkout/v2 rollout", Target: target(ns, "checkout")}})
	require.NoError(t, err)
	assert.Equal(t, int64(1), st.Version)
	_, err = b.Create(ctx, st)
	require.ErrorIs(t, err, progressive.ErrConflict, "a second Create of the same id")

	// One write per update when the store saw the previous version.
	before := p.Stats()
	st.Step.Index = 1
	st, err = a.Update(ctx, st)
	require.NoError(t, err)
	assert.Equal(t, int64(2), st.Version)
	after := p.Stats()
	assert.Equal(t, int64(1), after.Writes-before.Writes)
	assert.Equal(t, int64(0), after.Reads-before.Reads)

	// A store holding a stale version loses.
	stale := st
	stale.Version = 1
	_, err = b.Update(ctx, stale)
	require.ErrorIs(t, err, progressive.ErrConflict)

	// Someone else writes the ConfigMap: the next update from the old
	// resourceVersion is refused, then succeeds from a fresh read.
	cms := e.Clientset().CoreV1().ConfigMaps(ns)
	cm, err := cms.Get(ctx, k8s.ConfigMapName(st.ID), metav1.GetOptions{})
	require.NoError(t, err)
	cm.Labels["someone"] = "else"
	_, err = cms.Update(ctx, cm, metav1.UpdateOptions{})
	require.NoError(t, err)
	st.Step.Index = 2
	_, err = a.Update(ctx, st)
	require.ErrorIs(t, err, progressive.ErrConflict)
	assert.Contains(t, err.Error(), "someone else wrote it")
	fresh, err := a.Get(ctx, st.ID)
	require.NoError(t, err)
	fresh.Step.Index = 2
	fresh, err = a.Update(ctx, fresh)
	require.NoError(t, err)
	assert.Equal(t, int64(3), fresh.Version)

	// A large state (thousands of observations) is stored gzipped and reads back.
	big := fresh
	for i := 0; i < 2000; i++ {
		big.Record.Observations = append(big.Record.Observations, analysis.Measurement{Check: "error-rate", Reason: strings.Repeat("x", 200), Time: time.Unix(int64(i), 0).UTC()})
	}
	big, err = a.Update(ctx, big)
	require.NoError(t, err)
	cm, err = cms.Get(ctx, k8s.ConfigMapName(st.ID), metav1.GetOptions{})
	require.NoError(t, err)
	assert.Contains(t, cm.BinaryData, k8s.StateGzipKey)
	got, err := b.Get(ctx, st.ID)
	require.NoError(t, err)
	assert.Len(t, got.Record.Observations, 2000)
	assert.Equal(t, big.Version, got.Version)

	_, err = a.Create(ctx, rollout.State{ID: "other"})
	require.NoError(t, err)
	list, err := b.List(ctx)
	require.NoError(t, err)
	require.Len(t, list, 2)
	assert.Equal(t, "checkout/v2 rollout", list[0].ID)
	assert.Equal(t, "other", list[1].ID)
}

// Delete removes the ConfigMap, and reads do not see it any more even before
// the informer hears of the delete; the id can then be created again.
func TestStoreDelete(t *testing.T) {
	e := env.Require(t)
	ns := e.NewNamespace(t)
	ctx := context.Background()
	p := newProvider(t, e.Config(), fastOptions())
	s, err := p.Store(ns)
	require.NoError(t, err)
	id := "production-checkout-v2"
	st, err := s.Create(ctx, rollout.State{ID: id, Phase: rollout.PhaseSucceeded, Plan: progressive.Plan{Name: id, Target: target(ns, "checkout")}})
	require.NoError(t, err)
	_, err = s.Get(ctx, id)
	require.NoError(t, err)

	before := p.Stats()
	require.NoError(t, s.Delete(ctx, id))
	assert.Equal(t, int64(1), p.Stats().Writes-before.Writes, "one DELETE")
	_, err = s.Get(ctx, id)
	require.ErrorIs(t, err, progressive.ErrNotFound, "gone at once, whatever the informer still holds")
	_, err = e.Clientset().CoreV1().ConfigMaps(ns).Get(ctx, k8s.ConfigMapName(id), metav1.GetOptions{})
	require.Error(t, err, "the ConfigMap is gone")
	require.ErrorIs(t, s.Delete(ctx, id), progressive.ErrNotFound)

	again, err := s.Create(ctx, st)
	require.NoError(t, err, "the id is free again")
	got, err := s.Get(ctx, id)
	require.NoError(t, err)
	assert.Equal(t, again.Version, got.Version)
}
