package rollout

import (
	"context"
	"testing"
	"time"

	"github.com/agentops/progressive"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func stores(t *testing.T) map[string]StateStore {
	fs, err := NewFileStore(t.TempDir())
	require.NoError(t, err)
	return map[string]StateStore{"memory": NewMemoryStore(), "file": fs}
}

func TestStoresOptimisticConcurrency(t *testing.T) {
	ctx := context.Background()
	for name, store := range stores(t) {
		t.Run(name, func(t *testing.T) {
			_, err := store.Get(ctx, "payments")
			require.ErrorIs(t, err, progressive.ErrNotFound)

			now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
			created, err := store.Create(ctx, State{ID: "payments", Phase: PhaseProgressing, StartedAt: now})
			require.NoError(t, err)
			assert.Equal(t, int64(1), created.Version)

			_, err = store.Create(ctx, State{ID: "payments"})
			require.ErrorIs(t, err, progressive.ErrConflict)

			created.Step.Index = 2
			updated, err := store.Update(ctx, created)
			require.NoError(t, err)
			assert.Equal(t, int64(2), updated.Version)

			// A writer holding the old version loses.
			created.Step.Index = 5
			_, err = store.Update(ctx, created)
			require.ErrorIs(t, err, progressive.ErrConflict)

			got, err := store.Get(ctx, "payments")
			require.NoError(t, err)
			assert.Equal(t, 2, got.Step.Index)
			assert.True(t, got.StartedAt.Equal(now))

			_, err = store.Create(ctx, State{ID: "auth"})
			require.NoError(t, err)
			all, err := store.List(ctx)
			require.NoError(t, err)
			require.Len(t, all, 2)
			assert.Equal(t, "auth", all[0].ID)
			assert.Equal(t, "payments", all[1].ID)
		})
	}
}

func TestMemoryStoreReturnsCopies(t *testing.T) {
	ctx := context.Background()
	store := NewMemoryStore()
	st, err := store.Create(ctx, State{ID: "a", HooksRun: []string{"x"}})
	require.NoError(t, err)
	st.HooksRun[0] = "changed"
	got, err := store.Get(ctx, "a")
	require.NoError(t, err)
	assert.Equal(t, []string{"x"}, got.HooksRun, "the store must not share memory with callers")
}

func TestFileStoreRejectsPathLikeIDs(t *testing.T) {
	fs, err := NewFileStore(t.TempDir())
	require.NoError(t, err)
	for _, id := range []string{"", "../escape", "a/b", ".."} {
		_, err := fs.Create(context.Background(), State{ID: id})
		require.ErrorIs(t, err, progressive.ErrInvalid, id)
	}
	_, err = NewFileStore("")
	require.ErrorIs(t, err, progressive.ErrInvalid)
}
