package flags_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/flags"
)

func TestLookupEnvironment(t *testing.T) {
	one := map[string]int{"production": 1}
	got, err := flags.LookupEnvironment("store", one, "")
	require.NoError(t, err)
	assert.Equal(t, 1, got, "an empty name means the only environment")

	two := map[string]int{"production": 1, "staging": 2}
	got, err = flags.LookupEnvironment("store", two, "staging")
	require.NoError(t, err)
	assert.Equal(t, 2, got)

	_, err = flags.LookupEnvironment("store", two, "")
	require.ErrorIs(t, err, progressive.ErrInvalid)
	assert.EqualError(t, err, "store: the flag names no environment and the store has several (production, staging): invalid configuration")

	_, err = flags.LookupEnvironment("store", two, "qa")
	require.ErrorIs(t, err, progressive.ErrInvalid)
	assert.Contains(t, err.Error(), `unknown environment "qa" (known: production, staging)`)
}
