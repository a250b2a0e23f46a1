package controller_test

import (
	"context"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentops/progressive/controller"
	"github.com/agentops/progressive/rollout"
)

// freshCounting is a store whose cache may lag its backend, as the
// kubernetes ConfigMap store's may: it counts the fresh reads per rollout.
type freshCounting struct {
	*rollout.MemoryStore
	mu    sync.Mutex
	reads map[string]int
}

func (s *freshCounting) GetFresh(ctx context.Context, id string) (rollout.State, error) {
	s.mu.Lock()
	s.reads[id]++
	s.mu.Unlock()
	return s.Get(ctx, id)
}

func (s *freshCounting) count(id string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reads[id]
}

// TestTheFirstDriveReadsTheStateFresh: a Reconciler that starts driving a
// rollout (after its process started, or it won the leader election) reads
// the rollout's state from the store's backend once before its first
// Reconcile, and not again while it keeps driving it; a new Reconciler (the
// next leader) reads it again.
func TestTheFirstDriveReadsTheStateFresh(t *testing.T) {
	store := &freshCounting{MemoryStore: rollout.NewMemoryStore(), reads: map[string]int{}}
	h := newHarnessStore(t, releaseBinding{namespace: "shop"}, controller.Options[*Release]{}, store)
	h.create("checkout-v2", "checkout", "v2")
	h.reconcile("checkout-v2")
	id := h.get("checkout-v2").Status.RolloutID
	require.NotEmpty(t, id)
	for range 5 {
		h.reconcile("checkout-v2")
	}
	assert.Equal(t, 1, store.count(id), "one fresh read for the first drive")

	next, err := controller.NewReconciler(h.client, h.runner, controller.Binding[*Release](releaseBinding{namespace: "shop"}), controller.Options[*Release]{})
	require.NoError(t, err)
	h.r = next
	h.reconcile("checkout-v2")
	assert.Equal(t, 2, store.count(id), "the next leader reads it fresh again")
}
