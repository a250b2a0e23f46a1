// Command quickstart rehearses two canary rollouts of payment-service in the
// simulator, with no infrastructure: the first is healthy and gets promoted, the
// second regresses at 50% of traffic and is rolled back automatically. An hour of
// rollout runs in virtual time; the library's progress printer (rollout/progress)
// shows each step, the canary's weight and every check against its threshold,
// and the program prints the decision records at the end and draws each as an
// HTML timeline (rollout/timeline).
//
//	go run ./examples/quickstart
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/provider/sim"
	"github.com/agentops/progressive/rollout"
	"github.com/agentops/progressive/rollout/progress"
	"github.com/agentops/progressive/rollout/timeline"
	"github.com/agentops/progressive/strategy"
	testingclock "k8s.io/utils/clock/testing"
)

func main() {
	pace := flag.Duration("pace", 40*time.Millisecond, "real time between progress lines (0 for as fast as possible)")
	recordsDir := flag.String("records", "", "directory to write the decision records to as JSON (optional)")
	timelineDir := flag.String("timeline", filepath.Join(os.TempDir(), "progressive-quickstart"), "directory to write each record's HTML timeline to (empty for none)")
	flag.Parse()
	if err := run(context.Background(), os.Stdout, *pace, *recordsDir, *timelineDir); err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(1)
	}
}

var service = progressive.Target{Namespace: "production", Name: "payment-service"}

// checks are the guide's rollback triggers: error rate above 1%, p95 latency above
// 500 ms, and CPU above 80% as a warning only.
func checks() []progressive.Check {
	return []progressive.Check{
		{Name: "error-rate", Query: "error_rate", Max: progressive.Float(1)},
		{Name: "latency-p95", Query: "latency_p95", Max: progressive.Float(500)},
		{Name: "cpu", Query: "cpu", Max: progressive.Float(80), Severity: progressive.SeverityWarn},
	}
}

func run(ctx context.Context, out io.Writer, pace time.Duration, recordsDir, timelineDir string) error {
	start := time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)
	clk := testingclock.NewFakeClock(start)
	env := sim.New(sim.Options{Clock: clk, Seed: 42})
	if err := env.Metrics.SetProfile(service, sim.Profile{RequestRate: 1200}); err != nil {
		return err
	}
	if err := env.Workload.AddService(service, sim.ServiceSpec{Replicas: 10, Version: "v1.9.0", Image: "registry.example.com/payment-service:v1.9.0"}); err != nil {
		return err
	}
	printer, err := progress.New(progress.Options{
		Out:        out,
		TimeFormat: "15:04",
		Units:      map[string]string{"error-rate": "%", "cpu": "%", "latency-p95": "ms"},
	})
	if err != nil {
		return err
	}
	runner, err := rollout.New(rollout.Options{
		Providers: rollout.Providers{
			Routers:   []progressive.TrafficRouter{env.Router},
			Metrics:   []progressive.MetricSource{env.Metrics},
			Workloads: []progressive.Workload{env.Workload},
		},
		Clock:     clk,
		Observers: []rollout.Observer{printer, paced(pace)},
	})
	if err != nil {
		return err
	}
	canary := strategy.Canary{Weights: []float64{10, 50, 100}, Soak: 15 * time.Minute, Checks: checks(), Replicas: 2}

	var records []rollout.DecisionRecord
	for i, rel := range []progressive.Release{
		{Version: "v2.0.0", Image: "registry.example.com/payment-service:v2.0.0"},
		{Version: "v2.1.0", Image: "registry.example.com/payment-service:v2.1.0"},
	} {
		plan, err := canary.Plan(service, rel)
		if err != nil {
			return err
		}
		if err := runner.Validate(plan); err != nil {
			return err
		}
		if i == 0 {
			fmt.Fprintf(out, "== The plan, as a person approves it ==\n%s\n", rollout.Explain(plan))
		}
		if i == 1 {
			// v2.1.0 has a bug that only shows under load: 5% of its requests fail
			// once it takes half of the traffic.
			at := clk.Now().Add(20 * time.Minute)
			if err := env.Metrics.Inject(sim.Incident{Target: service, Role: progressive.Canary, Kind: sim.ErrorRateSet, Value: 5, Start: at}); err != nil {
				return err
			}
		}
		fmt.Fprintf(out, "== Rollout %d: %s to %s ==\n", i+1, service, rel)
		st, err := runner.Start(ctx, plan)
		if err != nil {
			return err
		}
		for {
			res, err := runner.Reconcile(ctx, st.ID)
			if err != nil {
				return err
			}
			if res.Phase.Terminal() {
				break
			}
			clk.Step(res.RequeueAfter)
		}
		rec, err := runner.Record(ctx, st.ID)
		if err != nil {
			return err
		}
		records = append(records, rec)
		printRecord(out, rec)
	}
	printSummary(out, rollout.Aggregate(records))
	if recordsDir != "" {
		if err := writeRecords(recordsDir, records); err != nil {
			return err
		}
		fmt.Fprintf(out, "\nDecision records written to %s\n", recordsDir)
	}
	if timelineDir != "" {
		paths, err := writeTimelines(timelineDir, records)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "\nTimelines (open in a browser):\n")
		for _, p := range paths {
			fmt.Fprintf(out, "  file://%s\n", filepath.ToSlash(p))
		}
	}
	return printer.Err()
}

// paced slows the virtual hour down to a few seconds of real time, so the
// progress can be followed as it happens; 0 runs flat out.
func paced(pace time.Duration) rollout.Observer {
	return rollout.ObserverFunc(func(_ context.Context, e rollout.Event) {
		if pace > 0 && (e.Type == rollout.EventMeasured || e.Type == rollout.EventRoutesChanged) {
			time.Sleep(pace)
		}
	})
}

// writeTimelines draws each record as a self-contained HTML page.
func writeTimelines(dir string, records []rollout.DecisionRecord) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	var paths []string
	for _, r := range records {
		var b bytes.Buffer
		if err := timeline.HTML(&b, r, timeline.Options{}); err != nil {
			return nil, err
		}
		p, err := filepath.Abs(filepath.Join(dir, r.ID+".html"))
		if err != nil {
			return nil, err
		}
		if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
			return nil, err
		}
		paths = append(paths, p)
	}
	return paths, nil
}

func printRecord(out io.Writer, rec rollout.DecisionRecord) {
	im := rec.Impact
	fmt.Fprintf(out, "\nDecision record %s\n", rec.ID)
	fmt.Fprintf(out, "  context:   %s, %s: %s\n", rec.Context.Service, rec.Context.Strategy, rec.Context.Reason)
	fmt.Fprintf(out, "  solution:  %d steps, checks: %s\n", len(rec.Solution.Steps), strings.Join(rec.Solution.Checks, "; "))
	fmt.Fprintf(out, "  observed:  %d measurements\n", len(rec.Observations))
	for _, d := range rec.Decisions {
		if d.Action == "rollback" || d.Action == "promoted" || d.Action == "rolled-back" {
			fmt.Fprintf(out, "  decision:  %s at %s: %s\n", d.Action, d.Time.Format("15:04"), d.Reason)
		}
	}
	for _, l := range rec.Learning {
		fmt.Fprintf(out, "  learning:  %s\n", l)
	}
	fmt.Fprintf(out, "  impact:    %s after %s, canary up to %g%%", im.Outcome, time.Duration(im.Duration), im.MaxCanaryWeight)
	if im.TimeToDetect != nil {
		fmt.Fprintf(out, ", detected within %s, recovered %s after the last good measurement", time.Duration(*im.TimeToDetect), time.Duration(*im.TimeToRecover))
	}
	fmt.Fprintf(out, "\n\n")
}

func printSummary(out io.Writer, sums []rollout.Summary) {
	fmt.Fprintf(out, "== Across rollouts ==\n%-28s %-8s %8s %9s %10s %8s %8s\n", "service", "strategy", "rollouts", "promoted", "rollbacks", "MTTD", "MTTR")
	for _, s := range sums {
		fmt.Fprintf(out, "%-28s %-8s %8d %9d %9.0f%% %8s %8s\n", s.Service, s.Strategy, s.Rollouts, s.Promoted, 100*s.RollbackRate, time.Duration(s.MeanTimeToDetect), time.Duration(s.MeanTimeToRecover))
	}
}

func writeRecords(dir string, records []rollout.DecisionRecord) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, r := range records {
		b, err := json.MarshalIndent(r, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, r.ID+".json"), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}
