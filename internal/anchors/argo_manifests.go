package anchors

import (
	"fmt"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/agentops/progressive/internal/livecanary"
)

// The Argo Rollouts resources the contender seeds and reads.
var (
	argoRolloutGVR          = schema.GroupVersionResource{Group: "argoproj.io", Version: "v1alpha1", Resource: "rollouts"}
	argoAnalysisTemplateGVR = schema.GroupVersionResource{Group: "argoproj.io", Version: "v1alpha1", Resource: "analysistemplates"}
	argoAnalysisRunGVR      = schema.GroupVersionResource{Group: "argoproj.io", Version: "v1alpha1", Resource: "analysisruns"}
)

// argoRoute is the VirtualService's HTTP route the Rollout names
// (trafficRouting.istio.virtualService.routes).
const argoRoute = "primary"

// argoServiceArg is the AnalysisTemplate's argument holding the canary
// Service's host, as in Argo's documented templates.
const argoServiceArg = "service-name"

// ArgoAnalysis is the AnalysisTemplate's one metric. Nil limits are left unset,
// so Argo's defaults apply (failureLimit 0, inconclusiveLimit 0,
// consecutiveErrorLimit 4; count unset: a background analysis measures until
// the rollout ends).
type ArgoAnalysis struct {
	// Name is the metric's name.
	Name string
	// Query is the PromQL, with {{args.service-name}} for the canary
	// Service's host.
	Query string
	// SuccessCondition is the expr condition on result (a vector: result[0]).
	SuccessCondition string
	// Interval between measurements (an errored one is retried after 10 s,
	// whatever the interval).
	Interval time.Duration
	// FailureLimit, InconclusiveLimit and ConsecutiveErrorLimit, when set.
	FailureLimit, InconclusiveLimit, ConsecutiveErrorLimit *int
}

// argoIstioSelector selects the canary's requests on Istio's standard
// metric as the App exports it: reported by the destination's sidecar (the
// App exports no reporter="source" series; Argo's docs select "source"), for
// the canary Service's host.
const argoIstioSelector = `reporter="destination",destination_service=~"{{args.service-name}}"`

// ArgoErrorRateQuery is the error ratio the way Argo's analysis docs write
// their error-rate template (features/analysis.md): 5xx requests over all
// requests, with no guard for a missing series. The numerator's series exists
// only after the canary's first 5xx, so until then the result is an empty
// vector, which Argo evaluates as an Error measurement, not a success: a
// canary answering no 5xx at all is aborted after five of them (about 40 s,
// measured live), and the scenarios' healthy canary (0.5% errors at 100
// req/s) starts with two of the four errors the default allows. The
// docs use irate over [5m] with a 5m interval; here the window is the 10 s
// interval and the function rate: on this stack's 1 s scrape irate is a
// one-second rate, which would measure something else than the 10 s error
// ratio every other contender checks.
func ArgoErrorRateQuery(window time.Duration) string {
	w := argoDur(window)
	return `sum(rate(istio_requests_total{` + argoIstioSelector + `,response_code=~"5.*"}[` + w + `]))` +
		` / sum(rate(istio_requests_total{` + argoIstioSelector + `}[` + w + `]))`
}

// ArgoSuccessRateQuery is the success ratio of Argo's Prometheus docs
// (analysis/prometheus.md): non-5xx requests over all requests. Its
// numerator exists as soon as the canary answers anything, so "no 5xx yet"
// is not "no data".
func ArgoSuccessRateQuery(window time.Duration) string {
	w := argoDur(window)
	return `sum(rate(istio_requests_total{` + argoIstioSelector + `,response_code!~"5.*"}[` + w + `]))` +
		` / sum(rate(istio_requests_total{` + argoIstioSelector + `}[` + w + `]))`
}

// argoDur renders d as a PromQL/Argo duration in whole seconds ("10s").
func argoDur(d time.Duration) string {
	return fmt.Sprintf("%ds", int(d.Round(time.Second)/time.Second))
}

// argoNames are the names of one rollout's objects.
type argoNames struct {
	NS, Name       string // the Rollout, the VirtualService and the App's service
	Stable, Canary string // the Services
	Template       string // the AnalysisTemplate
}

func newArgoNames(ns, name string) argoNames {
	return argoNames{NS: ns, Name: name, Stable: name + "-stable", Canary: name + "-canary", Template: name + "-analysis"}
}

// host is a Service's cluster-local host, the destination_service Istio
// reports.
func (n argoNames) host(svc string) string { return svc + "." + n.NS + ".svc.cluster.local" }

// argoImage is the image of a version of the rollout's pods.
func (n argoNames) image(version string) string { return "registry.example/" + n.Name + ":" + version }

// argoService is a Service as Argo's Istio docs deploy it: selecting the
// app's pods; Argo adds the ReplicaSet's pod-template hash to the selector.
func argoService(n argoNames, name string) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "Service",
		"metadata": map[string]any{"name": name, "namespace": n.NS},
		"spec": map[string]any{
			"selector": map[string]any{"app": n.Name},
			"ports":    []any{map[string]any{"name": "http", "port": int64(80), "targetPort": int64(8080), "protocol": "TCP"}},
		},
	}}
}

// argoVirtualService is the host-level split of Argo's Istio docs: one named
// HTTP route with the stable and the canary Service as destinations, all
// weight on stable.
func argoVirtualService(n argoNames) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
		"metadata": map[string]any{"name": n.Name, "namespace": n.NS},
		"spec": map[string]any{
			"hosts": []any{n.Name},
			"http": []any{map[string]any{
				"name": argoRoute,
				"route": []any{
					map[string]any{"destination": map[string]any{"host": n.Stable}, "weight": int64(100)},
					map[string]any{"destination": map[string]any{"host": n.Canary}, "weight": int64(0)},
				},
			}},
		},
	}}
}

// argoAnalysisTemplate holds the metric, querying Prometheus at address.
func argoAnalysisTemplate(n argoNames, m ArgoAnalysis, address string) *unstructured.Unstructured {
	metric := map[string]any{
		"name":             m.Name,
		"interval":         argoDur(m.Interval),
		"successCondition": m.SuccessCondition,
		"provider": map[string]any{"prometheus": map[string]any{
			"address": address,
			"query":   m.Query,
		}},
	}
	for k, v := range map[string]*int{"failureLimit": m.FailureLimit, "inconclusiveLimit": m.InconclusiveLimit, "consecutiveErrorLimit": m.ConsecutiveErrorLimit} {
		if v != nil {
			metric[k] = int64(*v)
		}
	}
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "argoproj.io/v1alpha1", "kind": "AnalysisTemplate",
		"metadata": map[string]any{"name": n.Template, "namespace": n.NS},
		"spec": map[string]any{
			"args":    []any{map[string]any{"name": argoServiceArg}},
			"metrics": []any{metric},
		},
	}}
}

// argoSteps mirror the plan every contender runs: 10% steps up to 50%, each
// held 10 s; after the last step Argo promotes.
func argoSteps() []any {
	var steps []any
	for w := livecanary.StepWeight; w <= livecanary.MaxWeight; w += livecanary.StepWeight {
		steps = append(steps,
			map[string]any{"setWeight": int64(w)},
			map[string]any{"pause": map[string]any{"duration": argoDur(livecanary.Soak)}})
	}
	return steps
}

// argoStartingStep is the background analysis' startingStep: index 1, the
// pause after the first setWeight, so the AnalysisRun starts once the
// canary takes traffic (Argo's docs delay it the same way, to a step with
// canary weight).
const argoStartingStep = 1

// argoRollout is the Rollout at version (replicas 2, canary strategy with
// Istio host-level traffic routing and the background analysis).
func argoRollout(n argoNames, version string) *unstructured.Unstructured {
	labels := map[string]any{"app": n.Name}
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
		"metadata": map[string]any{"name": n.Name, "namespace": n.NS},
		"spec": map[string]any{
			"replicas": int64(2),
			"selector": map[string]any{"matchLabels": labels},
			"template": map[string]any{
				"metadata": map[string]any{"labels": labels},
				"spec": map[string]any{"containers": []any{map[string]any{
					"name": "app", "image": n.image(version),
					"ports": []any{map[string]any{"name": "http", "containerPort": int64(8080)}},
				}}},
			},
			"strategy": map[string]any{"canary": map[string]any{
				"canaryService": n.Canary,
				"stableService": n.Stable,
				"trafficRouting": map[string]any{"istio": map[string]any{
					"virtualService": map[string]any{"name": n.Name, "routes": []any{argoRoute}},
				}},
				"analysis": map[string]any{
					"templates":    []any{map[string]any{"templateName": n.Template}},
					"startingStep": int64(argoStartingStep),
					"args":         []any{map[string]any{"name": argoServiceArg, "value": n.host(n.Canary)}},
				},
				"steps": argoSteps(),
			}},
		},
	}}
}

// describeArgoSteps renders the steps for Settings.
func describeArgoSteps() string {
	var b strings.Builder
	for i, s := range argoSteps() {
		if i > 0 {
			b.WriteString(", ")
		}
		m := s.(map[string]any)
		if w, ok := m["setWeight"]; ok {
			fmt.Fprintf(&b, "setWeight %d", w)
		} else {
			fmt.Fprintf(&b, "pause %s", m["pause"].(map[string]any)["duration"])
		}
	}
	return b.String()
}
