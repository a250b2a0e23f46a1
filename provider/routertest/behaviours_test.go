package routertest_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentops/progressive/provider/routertest"
)

// TestBehavioursIsACopy: a suite that trims or edits the table it got changes
// nobody else's (Behaviours was a package variable anyone could change).
func TestBehavioursIsACopy(t *testing.T) {
	mine := routertest.Behaviours()
	require.Greater(t, len(mine), 1)
	first := mine[0].Name
	mine[0] = routertest.Behaviour{Name: "changed"}
	mine = mine[:1]

	again := routertest.Behaviours()
	assert.Equal(t, first, again[0].Name)
	assert.Greater(t, len(again), len(mine))
}
