package analysis_test

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/analysis"
)

// exampleSource stands in for Prometheus: the canary gets no traffic during its
// first minute, then serves 0.3% errors and answers 10% slower than stable.
type exampleSource struct{ start time.Time }

func (exampleSource) Name() string { return "example" }

func (s exampleSource) Query(_ context.Context, q progressive.Query) (progressive.Result, error) {
	r := progressive.Result{Status: progressive.StatusValue, Time: q.Time}
	switch {
	case q.Time.Sub(s.start) < time.Minute && q.Role == progressive.Canary:
		r.Status = progressive.StatusNoData
	case q.Name == "error-rate":
		r.Value = 0.3
	case q.Name == "latency" && q.Role == progressive.Canary:
		r.Value = 0.220
	case q.Name == "latency":
		r.Value = 0.200
	}
	return r, nil
}

func ExampleEngine() {
	start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	engine, err := analysis.NewEngine(analysis.Options{
		Sources: func(name string) (progressive.MetricSource, error) { return exampleSource{start: start}, nil },
		Logger:  slog.New(slog.DiscardHandler),
	})
	if err != nil {
		panic(err)
	}
	checks := []progressive.Check{
		{
			Name: "error-rate",
			Query: `100 * sum(rate(http_requests_total{namespace="{{.Namespace}}",service="{{.Service}}",version="{{.Version}}",code=~"5.."}[{{.Interval}}]))` +
				` / sum(rate(http_requests_total{namespace="{{.Namespace}}",service="{{.Service}}",version="{{.Version}}"}[{{.Interval}}]))`,
			Max: progressive.Float(1),
		},
		{
			Name:     "latency",
			Query:    `histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket{service="{{.Service}}",version="{{.Version}}"}[{{.Interval}}])))`,
			Max:      progressive.Float(1.2),
			Baseline: &progressive.Baseline{Mode: progressive.BaselineRatio},
		},
	}
	vars := analysis.Vars{Namespace: "shop", Service: "payment", CanaryVersion: "v2", StableVersion: "v1"}
	ctx := context.Background()

	// Before any traffic moves: every query is sound and the backend answers.
	if err := engine.Preflight(ctx, checks, vars, start); err != nil {
		fmt.Println("not starting:", err)
		return
	}
	q, _ := analysis.Render(checks[0], vars, progressive.Canary)
	fmt.Println(q)

	// A three-minute analysis, ticked in virtual time. The runner would persist st
	// after every Tick. Each check is first measured when its 1m window lies
	// entirely after the start (12:01), and the end of the soak (12:03) is measured
	// before the verdict.
	st := engine.Begin(checks, start, start.Add(3*time.Minute))
	for now := start; ; {
		res, err := engine.Tick(ctx, checks, vars, &st, now)
		if err != nil {
			fmt.Println("roll back:", err)
			return
		}
		for _, m := range res.Measurements {
			fmt.Printf("%s %-10s %-12s %s\n", m.Time.Format("15:04"), m.Check, m.Outcome, m.Reason)
		}
		if res.Verdict.Done() {
			fmt.Printf("%s: %s\n", res.Verdict, res.Reason)
			return
		}
		now = res.NextDue
	}
	// Output:
	// 100 * sum(rate(http_requests_total{namespace="shop",service="payment",version="v2",code=~"5.."}[1m])) / sum(rate(http_requests_total{namespace="shop",service="payment",version="v2"}[1m]))
	// 12:01 error-rate pass         error-rate 0.3 <= max 1
	// 12:01 latency    pass         latency ratio 1.1 <= max 1.2 (canary 0.22, stable 0.2)
	// 12:02 error-rate pass         error-rate 0.3 <= max 1
	// 12:02 latency    pass         latency ratio 1.1 <= max 1.2 (canary 0.22, stable 0.2)
	// 12:03 error-rate pass         error-rate 0.3 <= max 1
	// 12:03 latency    pass         latency ratio 1.1 <= max 1.2 (canary 0.22, stable 0.2)
	// pass: every check passed by the deadline: error-rate passed 3 of 3, latency passed 3 of 3
}
