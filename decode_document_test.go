package progressive_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentops/progressive"
)

func TestDecodePlanReadsWhatMarshalWrites(t *testing.T) {
	want := progressive.Plan{
		Name:   "payment-v2",
		Target: progressive.Target{Namespace: "production", Name: "payment"},
		Checks: []progressive.Check{{Name: "errors", Query: "q", Max: progressive.Float(1)}},
		Steps:  []progressive.Step{{Name: "pause", Pause: &progressive.PauseStep{Duration: 1}}, {Finalize: &progressive.FinalizeStep{}}},
	}
	b, err := json.Marshal(want)
	require.NoError(t, err)
	got, err := progressive.DecodePlan(append(b, " \n"...))
	require.NoError(t, err)
	assert.Equal(t, want, got)

	c, err := progressive.DecodeCheck([]byte(`{"name":"e","query":"q","max":1}`))
	require.NoError(t, err)
	assert.Equal(t, "e", c.Name)
}

func TestDecodeWrapsEveryError(t *testing.T) {
	for _, doc := range []string{
		"", "null", "[]", `{"name":1}`, `{"name":"p","stepz":[]}`, `{"name":"p"} {}`, `{"name":"p"}}`,
		`{"name":"p","steps":[`, `{"name":NaN}`, strings.Repeat("[", 20000),
	} {
		_, err := progressive.DecodePlan([]byte(doc))
		assert.ErrorIs(t, err, progressive.ErrInvalid, "DecodePlan(%.40q)", doc)
		_, err = progressive.DecodeCheck([]byte(doc))
		assert.ErrorIs(t, err, progressive.ErrInvalid, "DecodeCheck(%.40q)", doc)
	}
}

func TestFieldErrorCutsLongValues(t *testing.T) {
	long := strings.Repeat("é", 40000) // 80,000 bytes, two per character
	msg := progressive.FieldError{Field: "query", Value: long, Reason: "is bad"}.Error()
	assert.Less(t, len(msg), 1200)
	assert.Contains(t, msg, "… (80000 bytes)")
	assert.NotContains(t, msg, `\x`, "a character was split")

	short := progressive.FieldError{Field: "name", Value: "a\r\nb", Reason: "is bad"}.Error()
	assert.Equal(t, `name: is bad (got "a\r\nb")`, short)

	list := make([]int, 10000)
	msg = progressive.FieldError{Field: "ports", Value: list, Reason: "is bad"}.Error()
	assert.Less(t, len(msg), 700)
	assert.Contains(t, msg, "(20001 bytes)")
}
