package promtest_test

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/agentops/progressive/internal/promtest"
	public "github.com/agentops/progressive/testkit/promtest"
)

// The wrapper must stay a wrapper: aliases, and the same sentinel error.
func TestForwardsToTestkit(t *testing.T) {
	var s *promtest.Server
	var _ *public.Server = s
	t.Setenv(promtest.EnvPrometheus, "/nonexistent/prometheus")
	_, err := promtest.New(promtest.Options{})
	assert.True(t, errors.Is(err, public.ErrNoBinary), "%v", err)
	assert.Equal(t, public.StableVersion, promtest.StableVersion)
}
