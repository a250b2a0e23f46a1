package document

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/strategy"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// simQueries point a pattern's checks at the simulator's series.
var simQueries = map[string]string{"errorRateQuery": "error_rate", "latencyQuery": "latency_p95", "cpuQuery": "cpu"}

func with(m map[string]string, kv ...string) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}

func seedPatternChecks(cpu bool) []progressive.Check {
	cs := []progressive.Check{
		{Name: "error-rate", Query: "error_rate", Max: progressive.Float(1)},
		{Name: "latency-p95", Query: "latency_p95", Max: progressive.Float(500)},
	}
	if cpu {
		cs = append(cs, progressive.Check{Name: "cpu", Query: "cpu", Max: progressive.Float(80), Severity: progressive.SeverityWarn})
	}
	return cs
}

// TestPatternsAreTheSeedsPatterns: each shipped template renders to the plan
// package strategy's pattern builds.
func TestPatternsAreTheSeedsPatterns(t *testing.T) {
	target := progressive.Target{Namespace: "production", Name: "payment-service"}
	release := progressive.Release{Version: "v2.0.0"}
	bg := strategy.BlueGreenManualApproval(seedPatternChecks(true), "release-manager")
	bg.Replicas = 10
	bg.Validation = []progressive.HookSpec{{Name: "smoke-tests"}}
	flagRelease := progressive.Release{}
	cases := map[string]struct {
		values  map[string]string
		want    progressive.Strategy
		release progressive.Release
	}{
		"staged-conservative":        {with(simQueries, "service", "payment-service", "version", "v2.0.0"), strategy.StagedConservative(seedPatternChecks(true)), release},
		"fast":                       {with(simQueries, "service", "payment-service", "version", "v2.0.0"), strategy.Fast(seedPatternChecks(true)), release},
		"blue-green-manual-approval": {with(simQueries, "service", "payment-service", "version", "v2.0.0", "replicas", "10"), bg, release},
		"flag-gradual": {map[string]string{"service": "payment-service", "flag": "payment_gateway_v2", "errorRateQuery": "error_rate", "latencyQuery": "latency_p95"},
			strategy.FlagGradual(progressive.FlagRef{Key: "payment_gateway_v2"}, "on", "off", seedPatternChecks(false)), flagRelease},
	}
	assert.ElementsMatch(t, []string{"staged-conservative", "fast", "blue-green-manual-approval", "flag-gradual"}, Patterns())
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			tpl, err := Pattern(name)
			require.NoError(t, err)
			assert.Equal(t, name, tpl.Metadata.Name)
			assert.NotEmpty(t, tpl.Metadata.Description)
			r, err := tpl.Render(c.values)
			require.NoError(t, err)
			got, err := r.Plan(context.Background())
			require.NoError(t, err)
			want, err := c.want.Plan(target, c.release)
			require.NoError(t, err)
			assert.Equal(t, want, got)

			// The template survives its own text, both formats.
			for _, f := range []Format{YAML, JSON} {
				text, err := tpl.Marshal(f)
				require.NoError(t, err)
				again, err := DecodeTemplate(text)
				require.NoError(t, err, "%s:\n%s", f, text)
				r2, err := again.Render(c.values)
				require.NoError(t, err)
				got2, err := r2.Plan(context.Background())
				require.NoError(t, err)
				assert.Equal(t, want, got2, f.String())
			}
		})
	}
	_, err := Pattern("yolo")
	assert.ErrorIs(t, err, progressive.ErrInvalid)
	assert.Contains(t, err.Error(), "staged-conservative")
}

func TestRenderRefusesBadParameters(t *testing.T) {
	tpl, err := Pattern("staged-conservative")
	require.NoError(t, err)
	_, err = tpl.Render(map[string]string{
		"service":      "Payment Service",
		"errorRateMax": "one",
		"soak":         "half an hour",
		"replicas":     "2.5",
		"colour":       "blue",
	})
	ps := problemsOf(t, err)
	for _, field := range []string{"parameters.service", "parameters.version", "parameters.errorRateMax", "parameters.soak", "parameters.replicas", "parameters.colour"} {
		_, ok := find(ps, field)
		assert.True(t, ok, "no problem for %s in %v", field, err)
	}
	p, _ := find(ps, "parameters.version")
	assert.Contains(t, p.Reason, "required")
	p, _ = find(ps, "parameters.colour")
	assert.Contains(t, p.Reason, "not a parameter")
}

// TestRenderCannotInjectYAML: a value is set on one node; whatever it holds, it
// cannot add a field, a check or a document.
func TestRenderCannotInjectYAML(t *testing.T) {
	tpl, err := Pattern("fast")
	require.NoError(t, err)
	evil := "error_rate\n    max: 1000000\n  - name: x\n---\nkind: Other"
	_, err = tpl.Render(with(simQueries, "service", "payment-service", "version", "v2", "errorRateQuery", evil))
	p, ok := find(problemsOf(t, err), "parameters.errorRateQuery")
	require.True(t, ok)
	assert.Contains(t, p.Reason, "control characters", "newlines are refused outright")

	sneaky := `error_rate", max: 1000000, x: "`
	r, err := tpl.Render(with(simQueries, "service", "payment-service", "version", "v2", "errorRateQuery", sneaky))
	require.NoError(t, err)
	assert.Equal(t, sneaky, r.Spec.Checks[0].Query, "the value is text, quotes and all")
	assert.Equal(t, 1.0, *r.Spec.Checks[0].Max, "the threshold is untouched")
	assert.Len(t, r.Spec.Checks, 3)
}

func TestDecodeTemplateReportsEveryProblem(t *testing.T) {
	doc := `apiVersion: progressive.agentops.dev/v1alpha1
kind: RolloutTemplate
metadata:
  name: t
parameters:
  - {name: service, type: name, required: true, default: x}
  - {name: service}
  - {name: 9lives}
  - {name: max, type: number, default: lots}
  - {name: mode, enum: [a, b], typo: 1}
template:
  apiVersion: progressive.agentops.dev/v1alpha1
  kind: Rollout
  spec:
    target: {name: "${service}"}
    release: {version: "${version}", image: "literal $${HOME}"}
`
	_, err := DecodeTemplate([]byte(doc))
	ps := problemsOf(t, err)
	want := map[string]int{
		"parameters[0].default": 6,
		"parameters[1].name":    7,
		"parameters[2].name":    8,
		"parameters[3].default": 9,
		"parameters[4].typo":    10,
		"template":              16,
	}
	for path, line := range want {
		p, ok := find(ps, path)
		if assert.True(t, ok, "no problem at %s in %v", path, err) {
			assert.Equal(t, line, p.Line, path)
		}
	}
	p, _ := find(ps, "template")
	assert.Equal(t, "${version}", p.Value, "the undeclared reference, not the escaped $${HOME}")
	assert.Len(t, ps, len(want), "%v", err)
}

func TestRenderEscapesAndTypes(t *testing.T) {
	doc := `apiVersion: progressive.agentops.dev/v1alpha1
kind: RolloutTemplate
metadata: {name: t}
parameters:
  - {name: service, type: name, required: true}
  - {name: weight, type: number, default: "20"}
  - {name: soak, type: duration, default: 5m}
template:
  apiVersion: progressive.agentops.dev/v1alpha1
  kind: Rollout
  spec:
    target: {name: "${service}"}
    release: {version: v1}
    strategy:
      canary: {weights: ["${weight}", 100], soak: "${soak}"}
    checks:
      - {name: e, query: 'sum(x{app="${service}"}) > $${literal}', max: 1}
`
	tpl, err := DecodeTemplate([]byte(doc))
	require.NoError(t, err)
	r, err := tpl.Render(map[string]string{"service": "api", "weight": "12.5"})
	require.NoError(t, err)
	assert.Equal(t, []float64{12.5, 100}, r.Spec.Strategy.Canary.Weights, "a whole-value number reference is a number")
	assert.Equal(t, D(5*time.Minute), r.Spec.Strategy.Canary.Soak)
	assert.Equal(t, `sum(x{app="api"}) > ${literal}`, r.Spec.Checks[0].Query)
	assert.True(t, strings.HasPrefix(tpl.Metadata.Name, "t"))
}

// TestRenderAliasBomb: nested aliases in a template (10^10 values expanded) do
// not multiply when the template is copied for rendering.
func TestRenderAliasBomb(t *testing.T) {
	var b strings.Builder
	b.WriteString("apiVersion: progressive.agentops.dev/v1alpha1\nkind: RolloutTemplate\nmetadata: {name: t}\nparameters: [{name: s}]\ntemplate:\n  x0: &a0 [\"${s}\", \"${s}\", \"${s}\", \"${s}\", \"${s}\", \"${s}\", \"${s}\", \"${s}\", \"${s}\", \"${s}\"]\n")
	for i := 1; i <= 9; i++ {
		b.WriteString("  x" + string(rune('0'+i)) + ": &a" + string(rune('0'+i)) + " [")
		for j := 0; j < 10; j++ {
			if j > 0 {
				b.WriteString(", ")
			}
			b.WriteString("*a" + string(rune('0'+i-1)))
		}
		b.WriteString("]\n")
	}
	tpl, err := DecodeTemplate([]byte(b.String()))
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { _, err := tpl.Render(map[string]string{"s": "x"}); done <- err }()
	select {
	case err := <-done:
		// Copied in linear time, and refused for what it is: fields no rollout has.
		_, ok := find(problemsOf(t, err), "x9")
		assert.True(t, ok, "%v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("rendering a template of nested aliases did not end")
	}
}

func TestZeroValuesRefusedNotPanicking(t *testing.T) {
	_, err := (&Template{}).Render(nil)
	assert.ErrorIs(t, err, progressive.ErrInvalid)
	_, err = (*Template)(nil).Marshal(YAML)
	assert.ErrorIs(t, err, progressive.ErrInvalid)
	var r *Rollout
	assert.ErrorIs(t, r.Validate(), progressive.ErrInvalid)
	_, err = r.Plan(context.Background())
	assert.ErrorIs(t, err, progressive.ErrInvalid)
	_, err = r.Strategy(context.Background())
	assert.ErrorIs(t, err, progressive.ErrInvalid)
	_, err = (&Rollout{}).Plan(context.Background())
	assert.ErrorIs(t, err, progressive.ErrInvalid, "an empty rollout is a list of problems")
}
