package progressive_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentops/progressive"
)

// A misspelled "maximum" used to vanish, taking the threshold with it.
func TestDecodingIsStrict(t *testing.T) {
	var c progressive.Check
	err := json.Unmarshal([]byte(`{"name":"error-rate","query":"q","maximum":1}`), &c)
	require.ErrorIs(t, err, progressive.ErrInvalid)
	assert.ErrorContains(t, err, `unknown field "maximum"`)

	var p progressive.Plan
	b, err := json.Marshal(validPlan())
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &p), "what we write reads back")
	assert.Equal(t, validPlan(), p)

	err = json.Unmarshal([]byte(`{"name":"p","steps":[{"analyze":{"duration":1,"checks":[{"name":"e","query":"q","max":1,"failureLimt":3}]}}]}`), &p)
	require.ErrorIs(t, err, progressive.ErrInvalid)
	assert.ErrorContains(t, err, `unknown field "failureLimt"`)

	err = json.Unmarshal([]byte(`{"name":"p","stepz":[]}`), &p)
	assert.ErrorContains(t, err, `unknown field "stepz"`)
}
