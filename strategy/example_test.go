package strategy_test

import (
	"fmt"
	"strings"
	"time"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/strategy"
)

// The design document's payment-service canary: 10% -> 50% -> 100%, 15 minutes each, rolled
// back on an error rate above 1% or a p95 latency above 500ms.
func ExampleCanary() {
	c := strategy.Canary{
		Weights: []float64{10, 50, 100},
		Soak:    15 * time.Minute,
		Checks: []progressive.Check{
			{Name: "error-rate", Query: `sum(rate(http_requests_total{app="{{.Service}}",status=~"5.."}[1m])) / sum(rate(http_requests_total{app="{{.Service}}"}[1m])) * 100`, Max: progressive.Float(1)},
			{Name: "latency-p95", Query: `histogram_quantile(0.95, sum(rate(http_request_duration_seconds_bucket{app="{{.Service}}"}[1m])) by (le)) * 1000`, Max: progressive.Float(500)},
		},
	}
	plan, err := c.Plan(
		progressive.Target{Namespace: "production", Name: "payment-service"},
		progressive.Release{Version: "v2.0.0", Image: "registry.example.com/payment-service:v2.0.0"},
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("plan:", plan.Name, "strategy:", plan.Strategy)
	for i, s := range plan.Steps {
		switch {
		case s.Deploy != nil:
			fmt.Printf("%d. deploy %d canary pod(s)\n", i+1, s.Deploy.Replicas)
		case s.SetWeight != nil:
			fmt.Printf("%d. send %g%% of requests to the canary\n", i+1, s.SetWeight.Weight)
		case s.Analyze != nil:
			fmt.Printf("%d. analyze for %s\n", i+1, s.Analyze.Duration)
		default:
			fmt.Printf("%d. %s\n", i+1, s.Kind())
		}
	}
	fmt.Println("at least:", plan.TotalDuration())
	fmt.Println("valid:", plan.Validate() == nil)
	fmt.Println(plan.Reason)
	// Output:
	// plan: production-payment-service-v2-0-0 strategy: canary
	// 1. deploy 1 canary pod(s)
	// 2. send 10% of requests to the canary
	// 3. analyze for 15m0s
	// 4. send 50% of requests to the canary
	// 5. analyze for 15m0s
	// 6. promote
	// 7. finalize
	// at least: 30m0s
	// valid: true
	// Canary: v2.0.0 takes 10% and 50% of requests in turn, soaking 15m with analysis at each step, then is promoted; a failing check (error-rate, latency-p95) or an inconclusive analysis (no data or NaN: missing data is never a pass) sets all traffic back to stable.
}

// Invalid options are reported all at once, each under its field path.
func ExampleCanary_invalid() {
	_, err := strategy.Canary{Weights: []float64{50, 10, 150}, Soak: -time.Minute}.Plan(
		progressive.Target{Name: "payment-service"}, progressive.Release{Version: "v2"})
	fmt.Println(err)
	fmt.Println("configuration error:", progressive.IsInvalid(err))
	// Output:
	// 4 problem(s) found
	//   - canary.weights[1]: must be greater than the previous one (50) (got 10)
	//   - canary.weights[2]: must be above 0 and at most 100 (got 150)
	//   - canary.soak: must not be negative (zero selects the default) (got "-1m0s")
	//   - canary.checks: a canary needs at least one check: without checks nothing can trigger a rollback
	// configuration error: true
}

// The design document's content-api: 30 replicas, 3 pods at a time, rolled back when more than
// 5% of pods fail readiness.
func ExampleRolling() {
	plan, err := strategy.Rolling{Replicas: 30, BatchSize: 3}.Plan(
		progressive.Target{Namespace: "production", Name: "content-api"}, progressive.Release{Version: "v3"})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, s := range plan.Steps[:4] {
		if s.Roll != nil {
			fmt.Printf("roll to %d updated pods (surge %d, unavailable %d)\n", s.Roll.Updated, s.Roll.Params.MaxSurge, s.Roll.Params.MaxUnavailable)
		} else {
			fmt.Printf("%s %s\n", s.Kind(), s.Pause.Duration)
		}
	}
	fmt.Println("steps:", len(plan.Steps))
	// Output:
	// roll to 3 updated pods (surge 3, unavailable 0)
	// pause 30s
	// roll to 6 updated pods (surge 3, unavailable 0)
	// pause 30s
	// steps: 19
}

func ExampleFlagGradual() {
	checks := []progressive.Check{{Name: "payment-success", Query: "payment_success_ratio", Min: progressive.Float(0.99)}}
	s := strategy.FlagGradual(progressive.FlagRef{Environment: "production", Key: "payment_gateway_v2"}, "on", "off", checks)
	plan, err := s.Plan(progressive.Target{Name: "payment-service"}, progressive.Release{})
	if err != nil {
		fmt.Println(err)
		return
	}
	var shares []string
	for _, st := range plan.Steps {
		if st.SetFlag != nil {
			shares = append(shares, fmt.Sprintf("%g%%", st.SetFlag.Percent))
		}
	}
	fmt.Println(strings.Join(shares, " -> "))
	fmt.Println(plan.Name, plan.TotalDuration())
	// Output:
	// 1% -> 10% -> 50% -> 100%
	// payment-service-payment-gateway-v2 72h0m0s
}

func ExampleRecommend() {
	r := strategy.Recommend(strategy.Profile{
		RequestsPerSecond: 2500,
		Critical:          true,
		DatabaseMigration: true,
	})
	fmt.Println("strategy:", r.Strategy)
	fmt.Println("alternatives:", r.Alternatives)
	for _, reason := range r.Reasons {
		fmt.Println("-", reason)
	}
	// Output:
	// strategy: blue-green
	// alternatives: [canary]
	// - The change ships a database migration (DatabaseMigration=true): blue-green runs it once as a hook before green is deployed, and traffic switches only after the schema is ready; keep the migration backwards compatible so blue can take the traffic back.
	// - The service handles 2500 requests per second, above the 1000 at which a canary is recommended.
	// - The service is business-critical (Critical=true), so the new version should meet real traffic on a small share first.
	// - Those alone would call for a canary, but the constraints above take precedence because a canary keeps both versions serving for its whole duration; a canary remains the alternative once the change is safe to run side by side.
	// - Blue-green runs twice the replicas until blue is decommissioned; budget for it.
}

func ExampleLookup() {
	fmt.Println(strategy.Lookup("canary"))
	fmt.Println(strategy.Lookup("bluegreen"))
	// Output:
	// <nil>
	// 1 problem(s) found
	//   - strategy: unknown strategy; the known strategies are canary, blue-green, rolling, ab-test, mirror, flag-rollout (got "bluegreen")
}
