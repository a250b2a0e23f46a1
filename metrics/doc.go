// Package metrics holds ready-made, provider-neutral checks: the request success
// rate, the 5xx error rate, latency quantiles and CPU use against limits, for an
// application's own metrics (App), for Istio's standard metrics (Istio) and for
// Kubernetes container metrics (Kubernetes). Each helper returns a
// progressive.Check with a sensible name and the threshold you pass; its query is a
// PromQL template that the analysis engine renders for each role (see
// analysis.Render) before asking the metric source, usually provider/prometheus.
//
//	checks := []progressive.Check{
//		metrics.ErrorRate(1),       // "error-rate": at most 1% of requests answer 5xx
//		metrics.LatencyP95(500),    // "latency-p95": p95 at most 500 ms
//		metrics.Warn(metrics.CPU(80)), // "cpu": above 80% of the CPU limit only warns
//	}
//
// Monitor returns exactly these three, the guide's monitor. The checks are plain
// values: set Interval, FailureLimit, InitialDelay and the rest on what you get.
//
// # Units
//
// Rates are percents (0 to 100), latencies milliseconds, CPU percent of the
// limit. Thresholds are in the same units.
//
// # Template variables
//
// The queries use {{.Namespace}} and {{.Service}} (the rollout's target),
// {{.Version}} (the canary's Release.Version for the canary role; for the stable
// role what the runner supplies as analysis.Vars.StableVersion, which
// rollout.Runner sets to "stable"), {{.Role}} ("canary" or "stable") and
// {{.Interval}} (the check's interval, which is also the default rate() window,
// DefaultWindow). Values are inserted verbatim: they are DNS labels and version
// strings, which need no escaping in PromQL.
//
// # Missing data
//
// No query here turns missing data into a number. A role with no series at all
// (a canary that never received a request) gives an empty result; a role whose
// counters did not move during the window gives NaN (0/0). Both count as no data
// in the analysis, never as a pass. The 5xx numerator of a rate is completed
// with "or vector(0)", so a healthy service that never answered a 5xx (and so has
// no 5xx series) has an error rate of 0, not "no data".
//
// # Label conventions
//
// Application metrics (App): a counter and a histogram, labelled with the
// namespace, the service, the release and the status code:
//
//	http_requests_total{namespace="shop", service="checkout", version="v2.1.0", code="200"}
//	http_request_duration_seconds_bucket{namespace="shop", service="checkout", version="v2.1.0", le="0.25"}
//
// A role's series are those of its version: version="{{.Version}}". Label the
// stable pods' metrics with the version the runner reports for them, or tell the
// roles apart by a role label instead (App.RoleLabel). The Kubernetes workload
// provider labels pods progressive.agentops.io/role=stable|canary; a Prometheus
// scrape configuration (kubernetes_sd_configs, role pod) turns it into a "role"
// label with
//
//	relabel_configs:
//	  - source_labels: [__meta_kubernetes_pod_label_progressive_agentops_io_role]
//	    target_label: role
//	  - source_labels: [__meta_kubernetes_namespace]
//	    target_label: namespace
//
// and App{RoleLabel: "role"} selects on it. App.ServiceLabel, VersionLabel and
// CodeLabel follow other conventions (the guide's examples use app= and
// status=); App.Selector replaces the matchers altogether.
//
// Istio (Istio): the standard metrics as the destination sidecar reports them,
// istio_requests_total and istio_request_duration_milliseconds_bucket, with
// reporter="destination", destination_workload_namespace="{{.Namespace}}" and
// destination_workload naming the role's Deployment: the target for stable and
// <target>-canary for the canary (RoleSuffix), the names the progressive workload
// providers use. Errors are response_code=~"5.*". Istio.Service adds a
// destination_service matcher (the requested host).
//
// Kubernetes (Kubernetes): container_cpu_usage_seconds_total from cAdvisor and
// kube_pod_container_resource_limits{resource="cpu"} from kube-state-metrics v2,
// both with namespace, pod and container labels (scrape kube-state-metrics with
// honor_labels: true, or its namespace label becomes exported_namespace). A role's
// pods are those of its Deployment, by name (DeploymentPods).
//
// # Windows and scrape intervals
//
// rate() needs two samples in its window. With the default window of one check
// interval, keep the interval at least twice the scrape interval, or set Window
// to a longer fixed range ("1m", "5m"). A longer window smooths noise and delays
// detection: a regression shows in full only once it fills the window.
package metrics
