package progressive_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	testingclock "k8s.io/utils/clock/testing"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/provider/sim"
	"github.com/agentops/progressive/rollout"
	"github.com/agentops/progressive/strategy"
)

// Example_embedding is the README's "Embedding a canary", as it is printed
// there (TestREADMEEmbeddingSnippet keeps the two equal): a canary of
// payment-service on the simulator, in virtual time.
func Example_embedding() {
	ctx := context.Background()
	// README:begin
	clk := testingclock.NewFakeClock(time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)) // leave Clock unset for real time
	env := sim.New(sim.Options{Clock: clk, Seed: 1})                               // or provider/kubernetes, istio, prometheus, ...
	service := progressive.Target{Namespace: "production", Name: "payment-service"}
	if err := env.Workload.AddService(service, sim.ServiceSpec{Replicas: 10, Version: "v1.9.0"}); err != nil {
		panic(err)
	}
	if err := env.Metrics.SetProfile(service, sim.Profile{RequestRate: 1000}); err != nil {
		panic(err)
	}

	runner, err := rollout.New(rollout.Options{
		Providers: rollout.Providers{
			Routers:   []progressive.TrafficRouter{env.Router},
			Metrics:   []progressive.MetricSource{env.Metrics},
			Workloads: []progressive.Workload{env.Workload},
		},
		Store: rollout.NewMemoryStore(), // rollout.NewFileStore(dir), or the Kubernetes ConfigMap store
		Clock: clk,
	})
	if err != nil {
		panic(err)
	}
	plan, err := strategy.Canary{
		Weights: []float64{10, 50, 100},
		Soak:    15 * time.Minute,
		Checks: []progressive.Check{
			{Name: "error-rate", Query: "error_rate", Max: progressive.Float(1)},
			{Name: "latency-p95", Query: "latency_p95", Max: progressive.Float(500)},
			{Name: "cpu", Query: "cpu", Max: progressive.Float(80), Severity: progressive.SeverityWarn},
		},
	}.Plan(service, progressive.Release{Version: "v2.0.0", Image: "registry.example.com/payment-service:v2.0.0"})
	if err != nil {
		panic(err) // every problem at once, each with its field path
	}
	log.Print(rollout.Explain(plan))        // the timeline a person approves
	report, err := runner.DryRun(ctx, plan) // every query asked once; writes rehearsed by dry-run providers
	if err != nil || !report.OK() {
		panic(fmt.Sprint(err, report.Queries))
	}
	st, err := runner.Start(ctx, plan) // a controller calls Reconcile from its loop instead of this one
	for err == nil && !st.Phase.Terminal() {
		var res rollout.Result
		if res, err = runner.Reconcile(ctx, st.ID); err == nil {
			clk.Step(res.RequeueAfter) // a real clock just waits
			st, err = runner.Get(ctx, st.ID)
		}
	}
	if err != nil {
		panic(err)
	}
	rec, err := runner.Record(ctx, st.ID) // the decision record
	if err != nil {
		panic(err)
	}
	fmt.Println(rec.Impact.Outcome, "after", time.Duration(rec.Impact.Duration))
	// README:end

	// Output: promoted after 30m0s
}

// TestREADMEEmbeddingSnippet checks that the README's embedding snippet is the
// runnable example's body, so the README shows code that compiles and runs.
func TestREADMEEmbeddingSnippet(t *testing.T) {
	src, err := os.ReadFile("readme_example_test.go")
	require.NoError(t, err)
	readme, err := os.ReadFile("README.md")
	require.NoError(t, err)
	body := regexp.MustCompile(`(?s)// README:begin\n(.*?)\t// README:end`).FindSubmatch(src)
	require.NotNil(t, body, "markers in readme_example_test.go")
	snippet := regexp.MustCompile("(?s)## Embedding a canary\n\n```go\n(.*?)```").FindSubmatch(readme)
	require.NotNil(t, snippet, "the README's Embedding a canary block")
	var want strings.Builder
	for _, line := range strings.SplitAfter(string(body[1]), "\n") {
		want.WriteString(strings.TrimPrefix(line, "\t"))
	}
	require.Equal(t, want.String(), string(snippet[1]), "README.md's snippet differs from Example_embedding: copy the example's body between the markers")
}
