package document_test

import (
	"context"
	"fmt"

	"github.com/agentops/progressive/rollout/document"
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
