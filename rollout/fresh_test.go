package rollout_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/rollout"
)

// freshStore is a store whose GetFresh fails transiently a number of times
// first, and counts its calls.
type freshStore struct {
	rollout.StateStore
	mu       sync.Mutex
	failures int
	calls    []string
}

func (s *freshStore) GetFresh(ctx context.Context, id string) (rollout.State, error) {
	s.mu.Lock()
	s.calls = append(s.calls, id)
	fail := s.failures > 0
	s.failures--
	s.mu.Unlock()
	if fail {
		return rollout.State{}, fmt.Errorf("fresh read of %s: the server is currently unable to handle the request: %w", id, progressive.ErrTransient)
	}
	return s.StateStore.Get(ctx, id)
}

// TestRunReadsFreshBeforeDriving: Run reads the state through a FreshReader
// once before it drives, tries a transient failure again, and stops at a
// missing rollout.
func TestRunReadsFreshBeforeDriving(t *testing.T) {
	w := newWorld(t)
	done := w.execute(seedCanary(t))
	require.Equal(t, rollout.PhaseSucceeded, done.Phase)

	store := &freshStore{StateStore: w.store, failures: 2}
	r, err := rollout.New(rollout.Options{
		Providers: rollout.Providers{
			Routers:   []progressive.TrafficRouter{w.env.Router},
			Metrics:   []progressive.MetricSource{w.env.Metrics},
			Workloads: []progressive.Workload{w.env.Workload},
		},
		Store:        store,
		PollInterval: 10 * time.Millisecond,
		Logger:       slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := r.Run(ctx, done.ID)
	require.NoError(t, err)
	assert.Equal(t, rollout.PhaseSucceeded, st.Phase)
	assert.Equal(t, []string{done.ID, done.ID, done.ID}, store.calls, "two transient failures, then the read")

	store.calls = nil
	_, err = r.Run(ctx, "missing")
	require.ErrorIs(t, err, progressive.ErrNotFound)
	assert.Equal(t, []string{"missing"}, store.calls)
}
