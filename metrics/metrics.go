package metrics

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/agentops/progressive"
)

// Names of the checks the helpers return.
const (
	NameSuccessRate = "success-rate"
	NameErrorRate   = "error-rate"
	NameLatencyP50  = "latency-p50"
	NameLatencyP95  = "latency-p95"
	NameLatencyP99  = "latency-p99"
	NameCPU         = "cpu"
)

// DefaultWindow is the range of rate() in every query: the check's interval, so
// that consecutive measurements cover the time between them without gaps or
// overlap. It must hold at least two scrapes (with a 1m interval and the common
// 15s or 30s scrape interval it does).
const DefaultWindow = "{{.Interval}}"

// RoleSuffix is the conventional workload template: the stable Deployment is
// named like the target ({{.Service}}) and the canary <target>-canary, as the
// progressive workload providers create them.
const RoleSuffix = `{{.Service}}{{if eq .Role "canary"}}-canary{{end}}`

// Requests are the query families of request metrics: App for an application's
// own metrics, Istio for the mesh's. Each returns checks whose thresholds are
// arguments and whose queries are templates analysis.Render fills in.
type Requests interface {
	// SuccessRate fails when fewer than min percent of requests are answered
	// without a 5xx.
	SuccessRate(min float64) progressive.Check
	// ErrorRate fails when more than max percent of requests are answered with a
	// 5xx.
	ErrorRate(max float64) progressive.Check
	// Latency fails when the quantile (0.95 for p95) of request duration exceeds
	// maxMs milliseconds.
	Latency(quantile, maxMs float64) progressive.Check
}

var (
	_ Requests = App{}
	_ Requests = Istio{}
)

// App selects an application's own request metrics, as client libraries export
// them (prometheus/client_golang's promhttp, Micrometer, prom-client):
//
//	http_requests_total{namespace, service, version, code}             counter
//	http_request_duration_seconds_bucket{namespace, service, version, le}  histogram
//
// The zero value uses those names; every field overrides one of them.
type App struct {
	// Requests is the request counter. Default "http_requests_total".
	Requests string
	// Duration is the request-duration histogram in seconds, without "_bucket".
	// Default "http_request_duration_seconds".
	Duration string
	// NamespaceLabel, ServiceLabel, VersionLabel and CodeLabel name the labels that
	// hold the namespace ({{.Namespace}}), the service ({{.Service}}; many setups
	// use "app"), the release ({{.Version}}) and the HTTP status code. Defaults
	// "namespace", "service", "version", "code" (some libraries say "status").
	NamespaceLabel, ServiceLabel, VersionLabel, CodeLabel string
	// RoleLabel, when set, tells the roles apart by a label holding "stable" or
	// "canary" ({{.Role}}) instead of by VersionLabel. Prometheus gets one by
	// relabeling the pod label progressive.agentops.io/role that the Kubernetes
	// workload provider sets (see the package documentation).
	RoleLabel string
	// Selector, when set, replaces the label matchers built from the fields
	// above: a template such as `app="{{.Service}}",track="{{.Role}}"`.
	Selector string
	// Window is the range of rate(). Default DefaultWindow ({{.Interval}}).
	Window string
}

func (a App) withDefaults() App {
	def := func(v *string, d string) {
		if *v == "" {
			*v = d
		}
	}
	def(&a.Requests, "http_requests_total")
	def(&a.Duration, "http_request_duration_seconds")
	def(&a.NamespaceLabel, "namespace")
	def(&a.ServiceLabel, "service")
	def(&a.VersionLabel, "version")
	def(&a.CodeLabel, "code")
	def(&a.Window, DefaultWindow)
	return a
}

// selector returns the label matchers of one role's series.
func (a App) selector() string {
	if a.Selector != "" {
		return a.Selector
	}
	role := fmt.Sprintf(`%s="{{.Version}}"`, a.VersionLabel)
	if a.RoleLabel != "" {
		role = fmt.Sprintf(`%s="{{.Role}}"`, a.RoleLabel)
	}
	return fmt.Sprintf(`%s="{{.Namespace}}",%s="{{.Service}}",%s`, a.NamespaceLabel, a.ServiceLabel, role)
}

// SuccessRate returns the check "success-rate": the percent of requests answered
// without a 5xx over the window, at least min.
func (a App) SuccessRate(min float64) progressive.Check {
	a = a.withDefaults()
	c := check(NameSuccessRate, ratio(a.Requests, a.selector(), fmt.Sprintf(`%s!~"5.."`, a.CodeLabel), a.Window), &min, nil)
	return withSamples(c, a.Requests, a.selector(), a.Window, 100-min)
}

// ErrorRate returns the check "error-rate": the percent of requests answered
// with a 5xx over the window, at most max.
func (a App) ErrorRate(max float64) progressive.Check {
	a = a.withDefaults()
	c := check(NameErrorRate, ratio(a.Requests, a.selector(), fmt.Sprintf(`%s=~"5.."`, a.CodeLabel), a.Window), nil, &max)
	return withSamples(c, a.Requests, a.selector(), a.Window, max)
}

// Latency returns the check "latency-p<quantile>": the quantile of request
// duration over the window, in milliseconds, at most maxMs.
func (a App) Latency(quantile, maxMs float64) progressive.Check {
	a = a.withDefaults()
	q := fmt.Sprintf(`1000 * histogram_quantile(%s, sum by (le) (rate(%s_bucket{%s}[%s])))`,
		formatFloat(quantile), a.Duration, a.selector(), a.Window)
	return check(latencyName(quantile), q, nil, &maxMs)
}

// LatencyP50, LatencyP95 and LatencyP99 are Latency at 0.5, 0.95 and 0.99.
func (a App) LatencyP50(maxMs float64) progressive.Check { return a.Latency(0.5, maxMs) }
func (a App) LatencyP95(maxMs float64) progressive.Check { return a.Latency(0.95, maxMs) }
func (a App) LatencyP99(maxMs float64) progressive.Check { return a.Latency(0.99, maxMs) }

// Istio selects Istio's standard metrics, reported by the destination's sidecar:
//
//	istio_requests_total{reporter, destination_workload_namespace, destination_workload, response_code, ...}
//	istio_request_duration_milliseconds_bucket{..., le}
//
// A role is told apart by its workload: the stable Deployment is the target,
// the canary <target>-canary (RoleSuffix). The zero value is ready to use.
type Istio struct {
	// Reporter is "destination" (default: the server's sidecar sees every request
	// the workload answered) or "source".
	Reporter string
	// Workload is the template of a role's destination_workload. Default
	// RoleSuffix.
	Workload string
	// Service, when set, also matches destination_service, the host the requests
	// were addressed to: a template such as
	// "{{.Service}}.{{.Namespace}}.svc.cluster.local".
	Service string
	// Window is the range of rate(). Default DefaultWindow ({{.Interval}}).
	Window string
}

func (i Istio) withDefaults() Istio {
	if i.Reporter == "" {
		i.Reporter = "destination"
	}
	if i.Workload == "" {
		i.Workload = RoleSuffix
	}
	if i.Window == "" {
		i.Window = DefaultWindow
	}
	return i
}

func (i Istio) selector() string {
	s := fmt.Sprintf(`reporter=%q,destination_workload_namespace="{{.Namespace}}",destination_workload="%s"`, i.Reporter, i.Workload)
	if i.Service != "" {
		s += fmt.Sprintf(`,destination_service="%s"`, i.Service)
	}
	return s
}

// SuccessRate returns the check "success-rate" over istio_requests_total.
func (i Istio) SuccessRate(min float64) progressive.Check {
	i = i.withDefaults()
	c := check(NameSuccessRate, ratio("istio_requests_total", i.selector(), `response_code!~"5.*"`, i.Window), &min, nil)
	return withSamples(c, "istio_requests_total", i.selector(), i.Window, 100-min)
}

// ErrorRate returns the check "error-rate" over istio_requests_total.
func (i Istio) ErrorRate(max float64) progressive.Check {
	i = i.withDefaults()
	c := check(NameErrorRate, ratio("istio_requests_total", i.selector(), `response_code=~"5.*"`, i.Window), nil, &max)
	return withSamples(c, "istio_requests_total", i.selector(), i.Window, max)
}

// Latency returns the check "latency-p<quantile>" over
// istio_request_duration_milliseconds.
func (i Istio) Latency(quantile, maxMs float64) progressive.Check {
	i = i.withDefaults()
	q := fmt.Sprintf(`histogram_quantile(%s, sum by (le) (rate(istio_request_duration_milliseconds_bucket{%s}[%s])))`,
		formatFloat(quantile), i.selector(), i.Window)
	return check(latencyName(quantile), q, nil, &maxMs)
}

// LatencyP50, LatencyP95 and LatencyP99 are Latency at 0.5, 0.95 and 0.99.
func (i Istio) LatencyP50(maxMs float64) progressive.Check { return i.Latency(0.5, maxMs) }
func (i Istio) LatencyP95(maxMs float64) progressive.Check { return i.Latency(0.95, maxMs) }
func (i Istio) LatencyP99(maxMs float64) progressive.Check { return i.Latency(0.99, maxMs) }

// Kubernetes selects container metrics: CPU use from the kubelet's cAdvisor and
// CPU limits from kube-state-metrics (v2 names):
//
//	container_cpu_usage_seconds_total{namespace, pod, container}
//	kube_pod_container_resource_limits{namespace, pod, container, resource="cpu"}
//
// A role's pods are found by name. The zero value is ready to use.
type Kubernetes struct {
	// Pods is a regular-expression template for a role's pod names. Default
	// DeploymentPods: the pods of the Deployment RoleSuffix names.
	Pods string
	// Window is the range of rate(). Default DefaultWindow ({{.Interval}}).
	Window string
}

// DeploymentPods matches the pods of a role's Deployment: <deployment>-<pod
// template hash>-<suffix>. The stable pattern cannot match the canary's pods,
// whose names have one more dash-separated part.
const DeploymentPods = RoleSuffix + `-[a-z0-9]+-[a-z0-9]+`

// CPU returns the check "cpu": the role's CPU use in percent of its CPU limits
// over the window, at most max. Containers without a CPU limit are left out of
// both sides of the ratio.
func (k Kubernetes) CPU(max float64) progressive.Check {
	if k.Pods == "" {
		k.Pods = DeploymentPods
	}
	if k.Window == "" {
		k.Window = DefaultWindow
	}
	limits := fmt.Sprintf(`kube_pod_container_resource_limits{namespace="{{.Namespace}}",pod=~"%s",resource="cpu"}`, k.Pods)
	q := fmt.Sprintf(`100 * sum(rate(container_cpu_usage_seconds_total{namespace="{{.Namespace}}",pod=~"%s",container!="",container!="POD"}[%s]) and on (namespace, pod, container) %s) / sum(%s)`,
		k.Pods, k.Window, limits, limits)
	return check(NameCPU, q, nil, &max)
}

// SuccessRate, ErrorRate, LatencyP50, LatencyP95 and LatencyP99 are App{}'s, and
// CPU is Kubernetes{}'s: the defaults for an application's own metrics.
func SuccessRate(min float64) progressive.Check  { return App{}.SuccessRate(min) }
func ErrorRate(max float64) progressive.Check    { return App{}.ErrorRate(max) }
func LatencyP50(maxMs float64) progressive.Check { return App{}.Latency(0.5, maxMs) }
func LatencyP95(maxMs float64) progressive.Check { return App{}.Latency(0.95, maxMs) }
func LatencyP99(maxMs float64) progressive.Check { return App{}.Latency(0.99, maxMs) }
func CPU(max float64) progressive.Check          { return Kubernetes{}.CPU(max) }

// Warn returns c as a warning-only check: a failure is recorded and never rolls
// back (the guide's "CPU > 80%").
func Warn(c progressive.Check) progressive.Check {
	c.Severity = progressive.SeverityWarn
	return c
}

// The guide's rollback triggers.
const (
	SeedMaxErrorRate    = 1.0   // percent of requests answered with a 5xx
	SeedMaxLatencyP95Ms = 500.0 // milliseconds
	SeedMaxCPU          = 80.0  // percent of the CPU limit, a warning only
)

// Monitor returns the guide's monitor as checks: an error rate above 1% and a p95
// latency above 500 ms roll back; CPU above 80% of the limit is a warning only.
// requests is App{} or Istio{} (or nil for App{}); the checks keep the default
// interval (1m), which callers may change on the returned values.
func Monitor(requests Requests, cpu Kubernetes) []progressive.Check {
	if requests == nil {
		requests = App{}
	}
	return []progressive.Check{
		requests.ErrorRate(SeedMaxErrorRate),
		requests.Latency(0.95, SeedMaxLatencyP95Ms),
		Warn(cpu.CPU(SeedMaxCPU)),
	}
}

// ratio is 100 * matching / all requests. A service without a single matching
// request has no series for the numerator; "or vector(0)" makes that a 0 rather
// than no data, while no requests at all still give no data (empty denominator)
// or NaN (0/0), which an analysis never counts as a pass.
func ratio(metric, sel, match, window string) string {
	return fmt.Sprintf(`100 * (sum(rate(%s{%s,%s}[%s])) or vector(0)) / sum(rate(%s{%s}[%s]))`,
		metric, sel, match, window, metric, sel, window)
}

// withSamples gives a ratio check its minimum sample size: the requests of the
// window, at least as many as one error needs to read below the threshold
// (progressive.MinSamplesFor). errorMax is the largest error percentage the
// check allows (100 - min for a success rate).
func withSamples(c progressive.Check, metric, sel, window string, errorMax float64) progressive.Check {
	if n := progressive.MinSamplesFor(errorMax, 100); n > 0 {
		c.Samples = &progressive.SampleSize{
			Query: fmt.Sprintf(`sum(increase(%s{%s}[%s]))`, metric, sel, window),
			Min:   n,
		}
	}
	return c
}

func check(name, query string, min, max *float64) progressive.Check {
	return progressive.Check{Name: name, Query: query, Min: min, Max: max}
}

// latencyName is "latency-p95" for 0.95, "latency-p999" for 0.999.
func latencyName(q float64) string {
	digits := strings.TrimPrefix(formatFloat(q), "0.")
	if q >= 1 || q <= 0 || digits == formatFloat(q) {
		return "latency-q" + formatFloat(q)
	}
	if len(digits) == 1 {
		digits += "0"
	}
	return "latency-p" + digits
}

func formatFloat(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
