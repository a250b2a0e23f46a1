package metrics_test

import (
	"fmt"
	"time"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/analysis"
	"github.com/agentops/progressive/metrics"
)

// The guide's monitor: what each check measures and when it rolls back, with the
// queries as the analysis engine renders them for the canary.
func ExampleMonitor() {
	vars := analysis.Vars{Namespace: "production", Service: "payment-service", CanaryVersion: "v2.0.0", StableVersion: "stable"}
	for _, c := range metrics.Monitor(metrics.Istio{}, metrics.Kubernetes{}) {
		c.Interval = 30 * time.Second
		q, err := analysis.Render(c, vars, progressive.Canary)
		if err != nil {
			panic(err)
		}
		action := "roll back"
		if c.Severity == progressive.SeverityWarn {
			action = "warn"
		}
		fmt.Printf("%s > %g: %s\n  %s\n", c.Name, *c.Max, action, q)
	}
	// Output:
	// error-rate > 1: roll back
	//   100 * (sum(rate(istio_requests_total{reporter="destination",destination_workload_namespace="production",destination_workload="payment-service-canary",response_code=~"5.*"}[30s])) or vector(0)) / sum(rate(istio_requests_total{reporter="destination",destination_workload_namespace="production",destination_workload="payment-service-canary"}[30s]))
	// latency-p95 > 500: roll back
	//   histogram_quantile(0.95, sum by (le) (rate(istio_request_duration_milliseconds_bucket{reporter="destination",destination_workload_namespace="production",destination_workload="payment-service-canary"}[30s])))
	// cpu > 80: warn
	//   100 * sum(rate(container_cpu_usage_seconds_total{namespace="production",pod=~"payment-service-canary-[a-z0-9]+-[a-z0-9]+",container!="",container!="POD"}[30s]) and on (namespace, pod, container) kube_pod_container_resource_limits{namespace="production",pod=~"payment-service-canary-[a-z0-9]+-[a-z0-9]+",resource="cpu"}) / sum(kube_pod_container_resource_limits{namespace="production",pod=~"payment-service-canary-[a-z0-9]+-[a-z0-9]+",resource="cpu"})
}
