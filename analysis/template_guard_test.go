package analysis_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/analysis"
)

// A version rendered unescaped into a label matcher closed it: this one made every
// check read 0 and pass.
func TestValuesCannotEscapeTheirLabelMatcher(t *testing.T) {
	c := progressive.Check{Name: "e", Query: `sum(rate(errors{version="{{.Version}}"}[1m]))`, Max: progressive.Float(1)}
	evil := `v2"}[1m])) * 0 or vector(0) #`
	q, err := analysis.Render(c, analysis.Vars{Namespace: "shop", Service: "payment", CanaryVersion: evil, StableVersion: "v1"}, progressive.Canary)
	require.NoError(t, err)
	assert.Equal(t, `sum(rate(errors{version="v2\"}[1m])) * 0 or vector(0) #"}[1m]))`, q, "the whole value stays inside the string literal")

	c.Query = `x{version='{{.Version}}'}`
	q, err = analysis.Render(c, analysis.Vars{CanaryVersion: `a'b\c`}, progressive.Canary)
	require.NoError(t, err)
	assert.Equal(t, `x{version='a\'b\\c'}`, q)

	// And a plan does not get that far: a version must be a label value.
	err = progressive.Release{Version: evil}.Validate()
	require.ErrorIs(t, err, progressive.ErrInvalid)
	assert.ErrorContains(t, err, "version")
}

func TestQueryTemplatesAreBounded(t *testing.T) {
	cases := map[string]string{
		"range":  `{{range 2000000000}}x{{end}}`,
		"printf": `{{printf "%01000000000d" 0}}`,
		"with":   `{{with .Version}}{{.}}{{end}}`,
		"define": `{{define "x"}}a{{end}}{{template "x"}}`,
	}
	for name, query := range cases {
		t.Run(name, func(t *testing.T) {
			start := time.Now()
			err := analysis.ValidateTemplates([]progressive.Check{{Name: "c", Query: query, Max: progressive.Float(1)}})
			require.ErrorIs(t, err, progressive.ErrInvalid)
			assert.ErrorContains(t, err, "not allowed in a query template")
			_, err = analysis.Render(progressive.Check{Name: "c", Query: query}, analysis.Vars{}, progressive.Canary)
			require.ErrorIs(t, err, progressive.ErrInvalid)
			assert.Less(t, time.Since(start), time.Second)
		})
	}
	ok := `{{if eq .Role "canary"}}c{{else if and (ne .Version "") (not false)}}s{{end}}`
	assert.NoError(t, analysis.ValidateTemplates([]progressive.Check{{Name: "c", Query: ok, Max: progressive.Float(1)}}))

	err := analysis.ValidateTemplates([]progressive.Check{{Name: "c", Query: "q", Max: progressive.Float(1),
		Samples: &progressive.SampleSize{Query: `{{range 5}}{{end}}`, Min: 1}}})
	require.ErrorIs(t, err, progressive.ErrInvalid)
	assert.ErrorContains(t, err, "checks[0].samples.query")
}
