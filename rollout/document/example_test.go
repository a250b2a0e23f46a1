package document_test

import (
	"context"
	"fmt"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/rollout/document"
	"github.com/agentops/progressive/strategy"
)

func ExampleDecode() {
	doc := []byte(`
apiVersion: progressive.agentops.dev/v1alpha1
kind: Rollout
metadata:
  name: payment-service-v2-0-0
spec:
  target: {namespace: production, name: payment-service}
  release: {version: v2.0.0}
  strategy:
    canary: {weights: [10, 50, 100], soak: 15m}
  checks:
    - {name: error-rate, query: error_rate, max: 1}
`)
	r, err := document.Decode(doc)
	if err != nil {
		fmt.Println(err)
		return
	}
	plan, err := r.Plan(context.Background())
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(plan.Name, plan.Strategy, len(plan.Steps), "steps, at least", plan.TotalDuration())
	// Output: payment-service-v2-0-0 canary 7 steps, at least 30m0s
}

func ExampleDecode_problems() {
	doc := []byte(`apiVersion: progressive.agentops.dev/v1alpha1
kind: Rollout
spec:
  target: {name: payment-service}
  release: {version: v2.0.0}
  strategy:
    canary: {weights: [10, 50, 100], soak: 15}
  checks:
    - {name: error-rate, query: error_rate, maximum: 1}
`)
	_, err := document.Decode(doc)
	fmt.Println(err)
	// Output:
	// rollout document: 2 problem(s)
	//   - line 7, column 44: spec.strategy.canary.soak: must be a duration string such as 90s, 15m or 1h30m (with its unit) (got "15")
	//   - line 9, column 45: spec.checks[0].maximum: unknown field (did you mean "max"?); known fields: name, query, metrics, min, max, baseline, interval, initialDelay, window, warmUp, samples, failureLimit, consecutiveFailureLimit, inconclusiveLimit, severity, noData, judge
}

func ExamplePattern() {
	tpl, err := document.Pattern("staged-conservative")
	if err != nil {
		fmt.Println(err)
		return
	}
	r, err := tpl.Render(map[string]string{"service": "payment-service", "version": "v2.0.0"})
	if err != nil {
		fmt.Println(err)
		return
	}
	plan, err := r.Plan(context.Background())
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(plan.Name)
	fmt.Println(r.Spec.Strategy.Canary.Weights, r.Spec.Strategy.Canary.Soak)
	// Output:
	// production-payment-service-v2-0-0
	// [5 25 50 100] 30m
}

func ExampleTemplate_Render_problems() {
	tpl, _ := document.Pattern("fast")
	_, err := tpl.Render(map[string]string{"service": "Payment Service", "errorRateMax": "one", "colour": "blue"})
	fmt.Println(err)
	// Output:
	// rollout document: 4 problem(s)
	//   - parameters.service: must be a DNS-1123 label (lower-case letters, digits and '-', at most 63) (got "Payment Service")
	//   - parameters.version: is required and was given no value
	//   - parameters.errorRateMax: must be a finite number (got "one")
	//   - parameters.colour: is not a parameter of template fast; its parameters are service, namespace, version, image, errorRateQuery, errorRateMax, latencyQuery, latencyP95Max, cpuQuery, cpuMax, soak, replicas (got "blue")
}

func ExampleFromPlan() {
	plan, err := strategy.Canary{
		Weights: []float64{10, 50, 100},
		Checks:  []progressive.Check{{Name: "error-rate", Query: "error_rate", Max: progressive.Float(1)}},
	}.Plan(progressive.Target{Namespace: "production", Name: "payment-service"}, progressive.Release{Version: "v2.0.0"})
	if err != nil {
		fmt.Println(err)
		return
	}
	doc, err := document.FromPlan(plan)
	if err != nil {
		fmt.Println(err)
		return
	}
	text, _ := document.Marshal(doc, document.YAML)
	fmt.Print(string(text))
	// Output:
	// apiVersion: progressive.agentops.dev/v1alpha1
	// kind: Rollout
	// metadata:
	//   name: production-payment-service-v2-0-0
	// spec:
	//   target:
	//     namespace: production
	//     name: payment-service
	//   release:
	//     version: v2.0.0
	//   strategy:
	//     canary:
	//       weights:
	//         - 10
	//         - 50
	//         - 100
	//       soak: 15m
	//       replicas: 1
	//   checks:
	//     - name: error-rate
	//       query: error_rate
	//       max: 1
}

func ExampleEncode() {
	plan, _ := strategy.Fast([]progressive.Check{{Name: "errors", Query: "rate(errors[1m]) > 0", Max: progressive.Float(1)}}).
		Plan(progressive.Target{Name: "api"}, progressive.Release{Version: "v2"})
	text, _ := document.Encode(plan.Steps[2], document.JSON)
	fmt.Print(string(text))
	text, _ = document.Encode(plan.Checks[0], document.YAML)
	fmt.Print(string(text))
	// Output:
	// {
	//   "name": "analyze-10",
	//   "analyze": {
	//     "duration": "10m0s"
	//   }
	// }
	// name: errors
	// query: rate(errors[1m]) > 0
	// max: 1
}
