package metrics_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/analysis"
	"github.com/agentops/progressive/metrics"
)

var vars = analysis.Vars{Namespace: "shop", Service: "checkout", CanaryVersion: "v2", StableVersion: "stable"}

func render(t *testing.T, c progressive.Check, role progressive.Role) string {
	t.Helper()
	s, err := analysis.Render(c, vars, role)
	require.NoError(t, err)
	return s
}

// all returns every helper's check, for the tests that apply to each.
func all() []progressive.Check {
	var out []progressive.Check
	for _, r := range []metrics.Requests{
		metrics.App{}, metrics.Istio{},
		metrics.App{RoleLabel: "role", ServiceLabel: "app", CodeLabel: "status"},
		metrics.Istio{Reporter: "source", Service: "{{.Service}}.{{.Namespace}}.svc.cluster.local", Window: "5m"},
	} {
		out = append(out, r.SuccessRate(99), r.ErrorRate(1), r.Latency(0.5, 100), r.Latency(0.95, 500), r.Latency(0.99, 900), r.Latency(0.999, 2000))
	}
	return append(out, metrics.CPU(80), metrics.Kubernetes{Pods: "{{.Service}}-{{.Role}}-.*", Window: "2m"}.CPU(90))
}

func TestTemplatesValidate(t *testing.T) {
	for _, c := range all() {
		require.NoError(t, c.Validate(), c.Name)
		require.NoError(t, analysis.ValidateTemplates([]progressive.Check{c}), c.Query)
		for _, role := range []progressive.Role{progressive.Canary, progressive.Stable} {
			q := render(t, c, role)
			assert.NotContains(t, q, "{{", "fully rendered")
			assert.NotContains(t, q, "<no value>")
		}
	}
}

func TestAppQueries(t *testing.T) {
	c := metrics.ErrorRate(1)
	c.Interval = 30 * time.Second
	assert.Equal(t, metrics.NameErrorRate, c.Name)
	assert.Equal(t, 1.0, *c.Max)
	assert.Nil(t, c.Min)
	assert.Equal(t,
		`100 * (sum(rate(http_requests_total{namespace="shop",service="checkout",version="v2",code=~"5.."}[30s])) or vector(0))`+
			` / sum(rate(http_requests_total{namespace="shop",service="checkout",version="v2"}[30s]))`,
		render(t, c, progressive.Canary))
	assert.Contains(t, render(t, c, progressive.Stable), `version="stable"`)

	c = metrics.SuccessRate(99)
	assert.Equal(t, metrics.NameSuccessRate, c.Name)
	assert.Equal(t, 99.0, *c.Min)
	assert.Contains(t, render(t, c, progressive.Canary), `code!~"5.."`)

	c = metrics.LatencyP95(500)
	assert.Equal(t, metrics.NameLatencyP95, c.Name)
	assert.Equal(t,
		`1000 * histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket{namespace="shop",service="checkout",version="v2"}[1m])))`,
		render(t, c, progressive.Canary))
	assert.Equal(t, metrics.NameLatencyP50, metrics.LatencyP50(1).Name)
	assert.Equal(t, metrics.NameLatencyP99, metrics.LatencyP99(1).Name)
	assert.Equal(t, "latency-p999", metrics.App{}.Latency(0.999, 1).Name)

	byRole := metrics.App{RoleLabel: "role", ServiceLabel: "app", CodeLabel: "status", Requests: "requests_total", Window: "2m"}
	q := render(t, byRole.ErrorRate(1), progressive.Stable)
	assert.Contains(t, q, `requests_total{namespace="shop",app="checkout",role="stable",status=~"5.."}[2m]`)

	custom := metrics.App{Selector: `job="checkout",track="{{.Role}}"`}
	assert.Contains(t, render(t, custom.ErrorRate(1), progressive.Canary), `{job="checkout",track="canary",code=~"5.."}`)
}

func TestIstioQueries(t *testing.T) {
	i := metrics.Istio{}
	c := i.ErrorRate(1)
	assert.Equal(t,
		`100 * (sum(rate(istio_requests_total{reporter="destination",destination_workload_namespace="shop",destination_workload="checkout-canary",response_code=~"5.*"}[1m])) or vector(0))`+
			` / sum(rate(istio_requests_total{reporter="destination",destination_workload_namespace="shop",destination_workload="checkout-canary"}[1m]))`,
		render(t, c, progressive.Canary))
	assert.Contains(t, render(t, c, progressive.Stable), `destination_workload="checkout",`)
	assert.Equal(t,
		`histogram_quantile(0.99, sum by (le) (rate(istio_request_duration_milliseconds_bucket{reporter="destination",destination_workload_namespace="shop",destination_workload="checkout"}[1m])))`,
		render(t, i.LatencyP99(300), progressive.Stable))
	assert.Contains(t, render(t, metrics.Istio{Service: "{{.Service}}.{{.Namespace}}.svc.cluster.local"}.SuccessRate(99), progressive.Canary),
		`destination_service="checkout.shop.svc.cluster.local"`)
}

func TestCPUQuery(t *testing.T) {
	c := metrics.CPU(80)
	assert.Equal(t, metrics.NameCPU, c.Name)
	assert.Equal(t, progressive.Severity(""), c.Severity, "a failing check unless made a warning")
	assert.Equal(t,
		`100 * sum(rate(container_cpu_usage_seconds_total{namespace="shop",pod=~"checkout-canary-[a-z0-9]+-[a-z0-9]+",container!="",container!="POD"}[1m])`+
			` and on (namespace, pod, container) kube_pod_container_resource_limits{namespace="shop",pod=~"checkout-canary-[a-z0-9]+-[a-z0-9]+",resource="cpu"})`+
			` / sum(kube_pod_container_resource_limits{namespace="shop",pod=~"checkout-canary-[a-z0-9]+-[a-z0-9]+",resource="cpu"})`,
		render(t, c, progressive.Canary))
	assert.Contains(t, render(t, c, progressive.Stable), `pod=~"checkout-[a-z0-9]+-[a-z0-9]+"`)
	assert.Equal(t, progressive.SeverityWarn, metrics.Warn(c).Severity)
}

func TestMonitor(t *testing.T) {
	for _, r := range []metrics.Requests{nil, metrics.Istio{}} {
		checks := metrics.Monitor(r, metrics.Kubernetes{})
		require.Len(t, checks, 3)
		assert.Equal(t, metrics.NameErrorRate, checks[0].Name)
		assert.Equal(t, 1.0, *checks[0].Max)
		assert.Equal(t, metrics.NameLatencyP95, checks[1].Name)
		assert.Equal(t, 500.0, *checks[1].Max)
		assert.Equal(t, metrics.NameCPU, checks[2].Name)
		assert.Equal(t, 80.0, *checks[2].Max)
		assert.Equal(t, progressive.SeverityWarn, checks[2].Severity)
		for _, c := range checks[:2] {
			assert.NotEqual(t, progressive.SeverityWarn, c.Severity)
		}
		assert.NoError(t, analysis.ValidateTemplates(checks))
	}
}

func TestRatioChecksCarryTheirSampleSize(t *testing.T) {
	c := metrics.ErrorRate(1)
	require.NotNil(t, c.Samples)
	assert.Equal(t, 101.0, c.Samples.Min, "one error among 101 requests reads below 1%")
	assert.Equal(t, `sum(increase(http_requests_total{namespace="{{.Namespace}}",service="{{.Service}}",version="{{.Version}}"}[{{.Interval}}]))`, c.Samples.Query)

	s := metrics.SuccessRate(99.5)
	require.NotNil(t, s.Samples)
	assert.Equal(t, 201.0, s.Samples.Min, "a 99.5% success rate allows 0.5% errors")

	i := metrics.Istio{}.ErrorRate(5)
	require.NotNil(t, i.Samples)
	assert.Equal(t, 21.0, i.Samples.Min)
	assert.Contains(t, i.Samples.Query, "increase(istio_requests_total{")

	assert.Nil(t, metrics.LatencyP95(500).Samples, "a latency quantile is not a ratio of requests")
	assert.NoError(t, c.Validate())
}
