package rollout_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/rollout"
)

// One corrupt file used to make List fail for every rollout.
func TestFileStoreListSkipsCorruptEntries(t *testing.T) {
	dir := t.TempDir()
	fs, err := rollout.NewFileStore(dir)
	require.NoError(t, err)
	ctx := context.Background()
	for _, id := range []string{"a", "b"} {
		_, err := fs.Create(ctx, rollout.State{ID: id})
		require.NoError(t, err)
	}
	require.NoError(t, os.WriteFile(filepath.Join(dir, "broken.json"), []byte(`{"id": "broken", `), 0o600))
	b, err := os.ReadFile(filepath.Join(dir, "a.json"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "copied.json"), b, 0o600))

	states, err := fs.List(ctx)
	require.ErrorIs(t, err, rollout.ErrCorruptState)
	assert.ErrorContains(t, err, "broken.json")
	assert.ErrorContains(t, err, `copied.json: holds rollout "a"`)
	require.Len(t, states, 2, "the readable ones are still listed")
	assert.Equal(t, "a", states[0].ID)
	assert.Equal(t, "b", states[1].ID)
}

// A name starting with "." was stored as a hidden file that List never showed.
func TestFileStoreRefusesIDsItCouldNotList(t *testing.T) {
	fs, err := rollout.NewFileStore(t.TempDir())
	require.NoError(t, err)
	for _, id := range []string{".hidden", "a/b", "..", "", "Upper", "trailing-"} {
		_, err := fs.Create(context.Background(), rollout.State{ID: id})
		require.ErrorIs(t, err, progressive.ErrInvalid, "%q", id)
	}
	p := validPlanForStore()
	p.Name = ".hidden"
	assert.ErrorContains(t, p.Validate(), "name")
}

// A full disk or a read-only directory is transient: the runner retries it.
func TestFileStoreWriteFailuresAreTransient(t *testing.T) {
	// Tests run as root here, and root writes into read-only directories: a
	// file standing where the directory was fails every write the same way.
	dir := filepath.Join(t.TempDir(), "states")
	fs, err := rollout.NewFileStore(dir)
	require.NoError(t, err)
	ctx := context.Background()
	st, err := fs.Create(ctx, rollout.State{ID: "a"})
	require.NoError(t, err)
	require.NoError(t, os.RemoveAll(dir))
	require.NoError(t, os.WriteFile(dir, nil, 0o600)) // a file where the directory was
	_, err = fs.Update(ctx, st)
	require.Error(t, err)
	_, err = fs.Create(ctx, rollout.State{ID: "b"})
	require.Error(t, err)
	assert.True(t, progressive.IsTransient(err), "%v", err)
	assert.False(t, errors.Is(err, progressive.ErrInvalid))
}

func validPlanForStore() progressive.Plan {
	return progressive.Plan{
		Name:   "p",
		Target: progressive.Target{Name: "svc"},
		Checks: []progressive.Check{{Name: "e", Query: "q", Max: progressive.Float(1)}},
		Steps:  []progressive.Step{{Pause: &progressive.PauseStep{Duration: 1}}},
	}
}
