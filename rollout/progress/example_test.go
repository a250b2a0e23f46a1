package progress_test

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/analysis"
	"github.com/agentops/progressive/rollout"
	"github.com/agentops/progressive/rollout/progress"
)

// A Printer goes into rollout.Options.Observers; here it is fed two events by
// hand to show what it writes. Plain lines, as standard output under go test
// is not a terminal.
func ExampleNew() {
	p, err := progress.New(progress.Options{
		Out:        os.Stdout,
		Mode:       progress.ModeLines,
		TimeFormat: "15:04",
		Units:      map[string]string{"error-rate": "%"},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	start := time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)
	ctx := context.Background()
	p.Observe(ctx, rollout.Event{Time: start, Rollout: "checkout-v2", Type: rollout.EventRoutesChanged, Step: 1,
		Message: "routes set: 90% stable / 10% canary", Routes: &progressive.Routes{StableWeight: 90, CanaryWeight: 10}})
	p.Observe(ctx, rollout.Event{Time: start, Rollout: "checkout-v2", Type: rollout.EventStepStarted, Step: 2,
		Message: "analyze for 10m (first measurement at +1m): error-rate <= 1 every 1m"})
	p.Observe(ctx, rollout.Event{Time: start.Add(time.Minute), Rollout: "checkout-v2", Type: rollout.EventMeasured, Step: 2,
		Verdict: analysis.VerdictRunning, Measurements: []analysis.Measurement{
			{Check: "error-rate", Value: 0.21, Outcome: analysis.OutcomePass, Reason: "error-rate 0.21 <= max 1"},
		}})
	// Output:
	// 09:00  traffic   canary  10.0%  routes set: 90% stable / 10% canary
	// 09:00  step 3    analyze for 10m
	// 09:01  analyze   canary  10.0%  error-rate 0.21% <= 1  -> running, 9m left
}
