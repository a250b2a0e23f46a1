package cli

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/analysis"
)

func TestNamedQueryTemplatesAreCheckedWhenTheConfigLoads(t *testing.T) {
	c := newCLI(t)
	r := c.run("status", "--config", writeConfig(t, `apiVersion: progressive.agentops.dev/v1alpha1
kind: Config
queries:
  error_rate: 'sum(rate(http_requests_total{service="{{.Service}}",version="{{.Version}}"}[{{.Interval}}]))'
  latency_p95: 'histogram_quantile(0.95, {{.Window}})'
  cpu: 'sum(rate(x[{{.Interval}]))'
  success_rate: '{{range .Service}}x{{end}}'
  empty: ""
`))
	assert.Equal(t, ExitInvalid, r.code)
	assert.Contains(t, r.stderr, "4 problem(s)")
	assert.Contains(t, r.stderr, `queries.latency_p95: "histogram_quantile(0.95, {{.Window}})": does not render`)
	assert.Contains(t, r.stderr, "known variables: .Namespace, .Service, .Version, .Role, .Interval")
	assert.Contains(t, r.stderr, `queries.cpu: "sum(rate(x[{{.Interval}]))": does not parse`)
	assert.Contains(t, r.stderr, `queries.success_rate:`)
	assert.Contains(t, r.stderr, "range is not allowed")
	assert.Contains(t, r.stderr, `queries.empty: "": must be a query template`)
	assert.NotContains(t, r.stderr, "queries.error_rate")
}

func TestChecksNamingAConfiguredQueryAreMeasuredByItsTemplate(t *testing.T) {
	c := newCLI(t)
	doc := seedDocuments(t)["order-management"]
	src, err := readDocument(doc, nil)
	require.NoError(t, err)
	a := &App{Getenv: func(k string) string { return c.env[k] }}
	a.defaults()
	plan, err := a.plan(t.Context(), src, true)
	require.NoError(t, err)

	queries := map[string]string{
		"error_rate": `100 * sum(rate(http_requests_total{namespace="{{.Namespace}}",service="{{.Service}}",version="{{.Version}}",code=~"5.."}[{{.Interval}}]))`,
	}
	resolveQueries(&plan, queries)
	require.Len(t, plan.Checks, 2)
	assert.Equal(t, queries["error_rate"], plan.Checks[0].Query)
	assert.Equal(t, "latency_p95", plan.Checks[1].Query, "a name the config does not define is the query itself")

	// The engine renders the template with the rollout's variables, escaping
	// what comes from the release as it does for a query in the document.
	vars := analysis.Vars{Namespace: plan.Target.Namespace, Service: plan.Target.Name, CanaryVersion: `v3"}[1m])) or vector(0) #`, StableVersion: "stable"}
	q, err := analysis.Render(plan.Checks[0], vars, progressive.Canary)
	require.NoError(t, err)
	assert.Equal(t, `100 * sum(rate(http_requests_total{namespace="production",service="order-management",version="v3\"}[1m])) or vector(0) #",code=~"5.."}[1m]))`, q)
	q, err = analysis.Render(plan.Checks[0], vars, progressive.Stable)
	require.NoError(t, err)
	assert.Contains(t, q, `version="stable"`)
}
