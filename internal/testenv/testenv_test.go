package testenv_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentops/progressive/internal/testenv"
	"github.com/agentops/progressive/testkit/controlplane"
)

// The wrapper must stay a wrapper: the same types and the same answers, so an
// Env made through one package is usable through the other.
func TestForwardsToControlplane(t *testing.T) {
	var e *testenv.Env
	var _ *controlplane.Env = e // an alias, not a copy of the type
	assert.Equal(t, controlplane.KubernetesVersion, testenv.KubernetesVersion)
	assert.Equal(t, controlplane.CacheDirEnv, testenv.CacheDirEnv)
	key, err := testenv.CacheKey("ignored")
	require.NoError(t, err)
	want, err := controlplane.CacheKey()
	require.NoError(t, err)
	assert.Equal(t, want, key)
	assert.Equal(t, controlplane.IstioCRDs(), testenv.IstioCRDs())
	t.Setenv("CI", "true")
	assert.True(t, testenv.Required())
}
