package rollout_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/rollout"
)

// A state whose step index is past the end of its plan used to be marked
// succeeded and promoted; now nothing is changed and the error says why.
func TestALoadedStateOutOfRangeIsRefused(t *testing.T) {
	w := newWorld(t)
	r := w.runner()
	ctx := context.Background()
	st, err := r.Start(ctx, seedCanary(t))
	require.NoError(t, err)
	st.Step.Index = len(st.Plan.Steps) + 3
	st, err = w.store.Update(ctx, st)
	require.NoError(t, err)

	_, err = r.Reconcile(ctx, st.ID)
	require.ErrorIs(t, err, progressive.ErrInvalid)
	assert.ErrorContains(t, err, "step.index")
	assert.ErrorContains(t, err, "nothing was changed")
	after, err := w.store.Get(ctx, st.ID)
	require.NoError(t, err)
	assert.Equal(t, rollout.PhaseProgressing, after.Phase, "not promoted")
	assert.Equal(t, st.Version, after.Version, "not written")
	_, err = w.env.Router.GetRoutes(ctx, service)
	assert.ErrorIs(t, err, progressive.ErrNotFound, "the router was never touched")
}

// A state file copied under another id used to be driven, and saved, as the
// wrong rollout.
func TestAStateStoredUnderAnotherIDIsRefused(t *testing.T) {
	w := newWorld(t)
	dir := t.TempDir()
	fs, err := rollout.NewFileStore(dir)
	require.NoError(t, err)
	w.store = fs
	r := w.runner()
	ctx := context.Background()
	st, err := r.Start(ctx, seedCanary(t))
	require.NoError(t, err)
	b, err := os.ReadFile(filepath.Join(dir, st.ID+".json"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "other-rollout.json"), b, 0o600))

	_, err = r.Reconcile(ctx, "other-rollout")
	require.ErrorIs(t, err, progressive.ErrInvalid)
	assert.ErrorContains(t, err, `is not the id it was stored under ("other-rollout")`)
	copied, err := os.ReadFile(filepath.Join(dir, "other-rollout.json"))
	require.NoError(t, err)
	assert.Equal(t, b, copied, "nothing written")
	orig, err := fs.Get(ctx, st.ID)
	require.NoError(t, err)
	assert.Equal(t, st.Version, orig.Version, "the real rollout untouched")
}

func TestALoadedStateWithBrokenCountersIsRefused(t *testing.T) {
	w := newWorld(t)
	r := w.runner()
	ctx := context.Background()
	st, err := r.Start(ctx, seedCanary(t))
	require.NoError(t, err)
	st.Phase = rollout.PhaseRollingBack
	st.Step.Attempts = -1
	st.Applied.MaxCanaryWeight = 250
	st, err = w.store.Update(ctx, st)
	require.NoError(t, err)
	_, err = r.Reconcile(ctx, st.ID)
	require.ErrorIs(t, err, progressive.ErrInvalid)
	for _, field := range []string{"rollback: a rolling-back rollout needs its rollback state", "step.attempts", "applied.maxCanaryWeight"} {
		assert.ErrorContains(t, err, field)
	}
}
