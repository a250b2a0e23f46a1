package document

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/agentops/progressive"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const canaryDoc = `apiVersion: progressive.agentops.dev/v1alpha1
kind: Rollout
metadata:
  name: payment-service-v2-0-0
  labels: {team: payments}
spec:
  target:
    namespace: production
    name: payment-service
  release:
    version: v2.0.0
    image: registry.example.com/payment-service:v2.0.0
  strategy:
    canary:
      weights: [10, 50, 100]
      soak: 15m
      replicas: 2
  checks:
    - name: error-rate
      query: error_rate
      max: 1
    - name: cpu
      query: cpu
      max: 80
      severity: warn
  providers:
    router: sim
`

// problemsOf returns the problems of a document error, failing the test when
// err is anything else.
func problemsOf(t *testing.T, err error) []Problem {
	t.Helper()
	require.Error(t, err)
	assert.True(t, errors.Is(err, progressive.ErrInvalid), "every document error wraps ErrInvalid: %v", err)
	var de *Error
	require.True(t, errors.As(err, &de), "want *document.Error, got %T: %v", err, err)
	return de.Problems
}

func find(ps []Problem, path string) (Problem, bool) {
	for _, p := range ps {
		if p.Field == path {
			return p, true
		}
	}
	return Problem{}, false
}

func TestDecodeCanary(t *testing.T) {
	r, err := Decode([]byte(canaryDoc))
	require.NoError(t, err)
	assert.Equal(t, []float64{10, 50, 100}, r.Spec.Strategy.Canary.Weights)
	assert.Equal(t, D(15*time.Minute), r.Spec.Strategy.Canary.Soak)
	assert.Equal(t, map[string]string{"team": "payments"}, r.Metadata.Labels)

	p, err := r.Plan(context.Background())
	require.NoError(t, err)
	assert.Equal(t, "payment-service-v2-0-0", p.Name)
	assert.Equal(t, progressive.StrategyCanary, p.Strategy)
	assert.Equal(t, "sim", p.Providers.Router)
	require.Len(t, p.Checks, 2)
	assert.Equal(t, 1.0, *p.Checks[0].Max)
	assert.Equal(t, progressive.SeverityWarn, p.Checks[1].Severity)
	assert.Equal(t, 30*time.Minute, p.TotalDuration(), "two soaks of 15m: the last 100 means promote")
}

func TestDecodeJSONIsYAML(t *testing.T) {
	doc := `{"apiVersion": "progressive.agentops.dev/v1alpha1", "kind": "Rollout",
 "spec": {"target": {"name": "content-api"}, "release": {"version": "v3"},
  "strategy": {"rolling": {"replicas": 30, "batchSize": 3, "pace": "30s"}}}}`
	r, err := Decode([]byte(doc))
	require.NoError(t, err)
	p, err := r.Plan(context.Background())
	require.NoError(t, err)
	assert.Equal(t, progressive.StrategyRolling, p.Strategy)
	assert.Len(t, p.Steps, 19, "10 batches of 3 with a pause between each")
}

func TestDecodeReportsEveryProblemWithPosition(t *testing.T) {
	doc := `apiVersion: progressive.agentops.dev/v1beta9
kind: Rollout
metadata:
  name: x
  colour: blue
spec:
  target: {name: payment-service}
  release: {version: 1.10}
  strategy:
    canary:
      weights: [10, fifty, 100]
      soak: 900
      maxweight: 50
  checks:
    - name: error-rate
      query: error_rate
      maximum: 1
      max: 1
      max: 2
      failureLimit: 1.5
      severity: [warn]
`
	_, err := Decode([]byte(doc))
	ps := problemsOf(t, err)
	want := map[string]int{ // path -> line
		"apiVersion":                      1,
		"metadata.colour":                 5,
		"spec.release.version":            8,
		"spec.strategy.canary.weights[1]": 11,
		"spec.strategy.canary.soak":       12,
		"spec.strategy.canary.maxweight":  13,
		"spec.checks[0].maximum":          17,
		"spec.checks[0].max":              19,
		"spec.checks[0].failureLimit":     20,
		"spec.checks[0].severity":         21,
	}
	for path, line := range want {
		p, ok := find(ps, path)
		if assert.True(t, ok, "no problem at %s in %v", path, err) {
			assert.Equal(t, line, p.Line, path)
			assert.NotZero(t, p.Column, path)
		}
	}
	assert.Len(t, ps, len(want), "%v", err)
	p, _ := find(ps, "spec.strategy.canary.maxweight")
	assert.Contains(t, p.Reason, `did you mean "maxWeight"?`)
	p, _ = find(ps, "spec.release.version")
	assert.Equal(t, "1.10", p.Value, "the text as written, not 1.1")
	assert.Contains(t, p.Reason, "quote it")
	p, _ = find(ps, "spec.checks[0].max")
	assert.Contains(t, p.Reason, "set twice")
}

func TestDecodeRefusesWhatIsNotOneRollout(t *testing.T) {
	for name, doc := range map[string]string{
		"empty":      "  \n",
		"scalar":     "hello",
		"list":       "- a\n- b\n",
		"syntax":     "apiVersion: [\n",
		"two docs":   canaryDoc + "---\n" + canaryDoc,
		"wrong kind": strings.Replace(canaryDoc, "kind: Rollout", "kind: Canary", 1),
		"too large":  canaryDoc + "# " + strings.Repeat("x", MaxDocumentSize),
		"alias bomb": "a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\ne: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\nmetadata: {labels: {x: y}}\nspec: {checks: [*e, *e]}\n",
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Decode([]byte(doc))
			assert.NotEmpty(t, problemsOf(t, err))
		})
	}
	_, err := Decode([]byte("apiVersion: [\n"))
	assert.Equal(t, 1, problemsOf(t, err)[0].Line, "a syntax error says where")
}

func TestPlanMapsValidationToDocument(t *testing.T) {
	doc := `apiVersion: progressive.agentops.dev/v1alpha1
kind: Rollout
metadata:
  name: Payment_Service
spec:
  target: {name: payment-service}
  release: {version: v2.0.0}
  strategy:
    canary:
      weights: [10, 5, 100]
  checks:
    - name: error-rate
      query: error_rate
      baseline: percent
      min: 3
      max: 1
  hooks:
    - name: slack
      phase: sometimes
      url: https://hooks.example.com/T000/B000/secret
`
	r, err := Decode([]byte(doc))
	require.NoError(t, err, "each value has the right type; what they mean together is Plan's job")
	_, err = r.Plan(context.Background())
	ps := problemsOf(t, err)
	want := map[string]int{
		"spec.strategy.canary.weights[1]": 10,
		"spec.checks[0].baseline":         14,
		"spec.checks[0].min":              15,
		"spec.hooks[0].phase":             19,
	}
	for path, line := range want {
		p, ok := find(ps, path)
		if assert.True(t, ok, "no problem at %s in %v", path, err) {
			assert.Equal(t, line, p.Line, path)
		}
	}
	assert.NotContains(t, err.Error(), "secret", "a webhook URL is never quoted")
	assert.Equal(t, err.Error(), r.Validate().Error(), "Validate reports what Plan does")

	// The strategy is valid once fixed; the plan's own rules still apply, at their lines.
	r.Spec.Strategy.Canary.Weights = []float64{10, 50, 100}
	r.Spec.Checks[0].Baseline, r.Spec.Checks[0].Min = "", nil
	r.Spec.Hooks[0].Phase = "on-rollback"
	_, err = r.Plan(context.Background())
	ps = problemsOf(t, err)
	require.Len(t, ps, 1, "%v", err)
	assert.Equal(t, "metadata.name", ps[0].Field)
	assert.Equal(t, 4, ps[0].Line)
}

func TestPlanNeedsExactlyOneStrategy(t *testing.T) {
	r, err := Decode([]byte(strings.Replace(canaryDoc, "  strategy:\n", "  strategy:\n    mirror: {}\n", 1)))
	require.NoError(t, err)
	_, err = r.Plan(context.Background())
	p, ok := find(problemsOf(t, err), "spec.strategy")
	require.True(t, ok)
	assert.Equal(t, "canary, mirror", p.Value)
	assert.Equal(t, 13, p.Line)

	r.Spec.Strategy = Strategy{}
	_, err = r.Plan(context.Background())
	_, ok = find(problemsOf(t, err), "spec.strategy")
	assert.True(t, ok)
}

func TestURLFrom(t *testing.T) {
	doc := canaryDoc + `  hooks:
    - name: slack
      phase: on-rollback
      urlFrom: {env: PROGRESSIVE_TEST_SLACK_URL}
    - name: pager
      phase: on-rollback
      urlFrom: {file: pager-url}
`
	r, err := Decode([]byte(doc))
	require.NoError(t, err)
	require.NoError(t, r.Validate(), "Validate does not need the secrets")

	_, err = r.Plan(context.Background())
	ps := problemsOf(t, err)
	assert.Len(t, ps, 2, "%v", err)
	p, _ := find(ps, "spec.hooks[0].urlFrom")
	assert.Contains(t, p.Reason, "PROGRESSIVE_TEST_SLACK_URL is not set")

	dir := t.TempDir()
	require.NoError(t, os.WriteFile(dir+"/pager-url", []byte("https://pager.example.com/hook\n"), 0o600))
	t.Setenv("PROGRESSIVE_TEST_SLACK_URL", "https://hooks.slack.example.com/services/T/B/x")
	plan, err := r.Plan(context.Background(), WithResolver(EnvFileResolver{Dir: dir}))
	require.NoError(t, err)
	assert.Equal(t, "https://hooks.slack.example.com/services/T/B/x", plan.Hooks[0].URL)
	assert.Equal(t, "https://pager.example.com/hook", plan.Hooks[1].URL, "the file's trailing newline is not part of the URL")

	r.Spec.Hooks[0].URL = "https://elsewhere.example.com/"
	r.Spec.Hooks[1].URLFrom = &ValueFrom{Env: "A", File: "b"}
	err = r.Validate()
	ps = problemsOf(t, err)
	assert.Len(t, ps, 2, "%v", err)
}

func TestJudgeIsTyped(t *testing.T) {
	doc := strings.Replace(canaryDoc, "      max: 1\n", `      judge:
        sprt: {alpha: 0.02, minRatio: 3, step: 1m, lookback: 5m, ratio: 100, critical: true}
`, 1)
	r, err := Decode([]byte(doc))
	require.NoError(t, err)
	p, err := r.Plan(context.Background())
	require.NoError(t, err)
	j := p.Checks[0].Judge
	require.NotNil(t, j)
	assert.Equal(t, "sprt", j.Kind)
	assert.Equal(t, map[string]float64{"alpha": 0.02, "minRatio": 3, "step": 60, "lookback": 300, "ratio": 100, "critical": 1}, j.Params)

	doc = strings.Replace(canaryDoc, "      max: 1\n", `      judge:
        mannWhitney: {direction: sideways, confidence: 0.99}
        sprt: {}
`, 1)
	r, err = Decode([]byte(doc))
	require.NoError(t, err)
	_, err = r.Plan(context.Background())
	p2, ok := find(problemsOf(t, err), "spec.checks[0].judge")
	require.True(t, ok, "%v", err)
	assert.Contains(t, p2.Reason, "several judges")

	r.Spec.Checks[0].Judge.SPRT = nil
	_, err = r.Plan(context.Background())
	p2, ok = find(problemsOf(t, err), "spec.checks[0].judge.mannWhitney.direction")
	require.True(t, ok, "%v", err)
	assert.Equal(t, 22, p2.Line)
}

func TestPlanChecksJudgeParamsAndQueries(t *testing.T) {
	doc := strings.Replace(canaryDoc, "      max: 1\n", `      judge:
        sprt: {alpha: 0.7, minRatio: 3}
`, 1)
	doc = strings.Replace(doc, "query: cpu", "query: 'cpu{app=\"{{.Servce}}\"}'", 1)
	r, err := Decode([]byte(doc))
	require.NoError(t, err)
	_, err = r.Plan(context.Background())
	ps := problemsOf(t, err)
	p, ok := find(ps, "spec.checks[0].judge.sprt.alpha")
	if assert.True(t, ok, "%v", err) {
		assert.Equal(t, 22, p.Line, "the line of the alpha")
	}
	p, ok = find(ps, "spec.checks[1].query")
	if assert.True(t, ok, "%v", err) {
		assert.Equal(t, 24, p.Line)
	}
}

func TestUnmarshalJSONIsStrict(t *testing.T) {
	var holder struct {
		Rollout Rollout `json:"rollout"`
	}
	good, err := Marshal(mustDecode(t, canaryDoc), JSON)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal([]byte(`{"rollout":`+string(good)+`}`), &holder))
	assert.Equal(t, "payment-service-v2-0-0", holder.Rollout.Metadata.Name)

	bad := strings.Replace(string(good), `"max": 1`, `"maximum": 1`, 1)
	err = json.Unmarshal([]byte(`{"rollout":`+bad+`}`), &holder)
	assert.ErrorIs(t, err, progressive.ErrInvalid)
	assert.Contains(t, err.Error(), "spec.checks[0].maximum")
}

func mustDecode(t *testing.T, doc string) *Rollout {
	t.Helper()
	r, err := Decode([]byte(doc))
	require.NoError(t, err)
	return r
}

func TestEmptyMemberChoosesDefaults(t *testing.T) {
	doc := strings.Replace(canaryDoc, "    canary:\n      weights: [10, 50, 100]\n      soak: 15m\n      replicas: 2\n", "    canary:\n", 1)
	r := mustDecode(t, doc)
	require.NotNil(t, r.Spec.Strategy.Canary)
	p, err := r.Plan(context.Background())
	require.NoError(t, err)
	assert.Equal(t, 30*time.Minute, p.TotalDuration(), "the default 10, 50, 100 with 15m soaks")
	assert.NoError(t, compiledSchema(t).Validate(asJSONValue(t, doc)), "the schema takes it too")
}
