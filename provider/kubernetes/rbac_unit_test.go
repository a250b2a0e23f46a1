package kubernetes

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRoleYAMLIsACopy: what a caller does with the YAML it got does not change
// the Role the provider documents and Role returns (RoleYAML was a package
// variable anyone could overwrite).
func TestRoleYAMLIsACopy(t *testing.T) {
	y := RoleYAML()
	require.Contains(t, string(y), "kind: Role")
	clear(y)
	assert.Contains(t, string(RoleYAML()), "kind: Role")
	r, err := Role("shop")
	require.NoError(t, err)
	assert.Equal(t, RoleName, r.Name)
	assert.Equal(t, "shop", r.Namespace)
	assert.NotEmpty(t, r.Rules)
}
