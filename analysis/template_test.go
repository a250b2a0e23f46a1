package analysis_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/analysis"
)

func TestRender(t *testing.T) {
	all := `{{.Namespace}}/{{.Service}} {{.Role}} {{.Version}} [{{.Interval}}]`
	cases := []struct {
		name     string
		query    string
		interval time.Duration
		role     progressive.Role
		want     string
		err      string
	}{
		{name: "canary", query: all, role: progressive.Canary, want: "shop/payment canary v2 [1m]"},
		{name: "stable", query: all, role: progressive.Stable, want: "shop/payment stable v1 [1m]"},
		{name: "interval 30s", query: "[{{.Interval}}]", interval: 30 * time.Second, role: progressive.Canary, want: "[30s]"},
		{name: "interval 1h30m", query: "[{{.Interval}}]", interval: 90 * time.Minute, role: progressive.Canary, want: "[90m]"},
		{name: "no variables", query: `up{job="x"}`, role: progressive.Canary, want: `up{job="x"}`},
		{name: "template actions", query: `{{if eq .Role "canary"}}c{{else}}s{{end}}`, role: progressive.Stable, want: "s"},
		{name: "unknown variable", query: "{{.Pod}}", role: progressive.Canary, err: `map has no entry for key "Pod"`},
		{name: "does not parse", query: "{{.Version", role: progressive.Canary, err: "query does not parse"},
		{name: "unknown function", query: "{{lower .Version}}", role: progressive.Canary, err: `function "lower" not defined`},
		{name: "bad role", query: all, role: "baseline", err: `role "baseline" is neither "canary" nor "stable"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := progressive.Check{Name: "c", Query: tc.query, Interval: tc.interval}
			got, err := analysis.Render(c, testVars, tc.role)
			if tc.err != "" {
				require.ErrorIs(t, err, progressive.ErrInvalid)
				assert.ErrorContains(t, err, tc.err)
				assert.ErrorContains(t, err, `check "c"`)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestValidateTemplates(t *testing.T) {
	checks := []progressive.Check{
		{Name: "ok", Query: `rate(x{version="{{.Version}}"}[{{.Interval}}])`},
		{Name: "unparsable", Query: `x{version="{{.Version"}`},
		{Name: "unknown", Query: `x{pod="{{.Pod}}"}`},
		{Name: "ok2", Query: `x`},
		{Name: "badfunc", Query: `{{upper .Service}}`},
	}
	err := analysis.ValidateTemplates(checks)
	var ve *progressive.ValidationError
	require.ErrorAs(t, err, &ve)
	require.ErrorIs(t, err, progressive.ErrInvalid)
	require.Len(t, ve.Problems, 3)
	assert.Equal(t, "checks[1].query", ve.Problems[0].Field)
	assert.Contains(t, ve.Problems[0].Reason, "does not parse")
	assert.Equal(t, "checks[2].query", ve.Problems[1].Field)
	assert.Contains(t, ve.Problems[1].Reason, `map has no entry for key "Pod"`)
	assert.Contains(t, ve.Problems[1].Reason, "known variables: .Namespace, .Service, .Version, .Role, .Interval")
	assert.Equal(t, `x{pod="{{.Pod}}"}`, ve.Problems[1].Value)
	assert.Equal(t, "checks[4].query", ve.Problems[2].Field)

	assert.NoError(t, analysis.ValidateTemplates(checks[:1]))
	assert.NoError(t, analysis.ValidateTemplates(nil))
}

func TestFormatDuration(t *testing.T) {
	cases := []struct {
		in   time.Duration
		want string
	}{
		{time.Minute, "1m"},
		{30 * time.Second, "30s"},
		{90 * time.Minute, "90m"},
		{time.Hour + 30*time.Minute, "90m"},
		{90 * time.Second, "90s"},
		{time.Hour, "1h"},
		{2 * time.Hour, "2h"},
		{24 * time.Hour, "1d"},
		{36 * time.Hour, "36h"},
		{7 * 24 * time.Hour, "7d"},
		{1500 * time.Millisecond, "1500ms"},
		{time.Millisecond, "1ms"},
		{time.Microsecond, "1ms"},
		{time.Second + time.Microsecond, "1001ms"},
		{0, "0s"},
		{-time.Minute, "0s"},
	}
	for _, tc := range cases {
		t.Run(tc.in.String(), func(t *testing.T) {
			assert.Equal(t, tc.want, analysis.FormatDuration(tc.in))
		})
	}
}
