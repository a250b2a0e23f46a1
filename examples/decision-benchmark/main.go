// Command decision-benchmark compares canary decision rules on the same simulated
// traffic: source-cited models of Flagger's and Argo Rollouts' rules (each with its
// defaults and one documented tuning), this SDK's analysis engine with threshold
// checks, and its statistical judges (a sequential test of the error rate and a
// Mann-Whitney comparison of latency), with their defaults and one tuning. It
// checks them at several healthy error rates, request rates and seeds, and prints
// the false-rollback and missed-regression rates, the time to detect and to
// promote, whether the project's goals hold under each condition, and, with
// -details, every scenario.
//
//	go run ./examples/decision-benchmark
//	go run ./examples/decision-benchmark -details -format markdown
//	go run ./examples/decision-benchmark -runs 1000 -healthy-runs 5000 -seeds 1,2,3,4,5
//
// Everything runs in virtual time from per-minute streams generated with seeded PCG
// generators: the same seeds print the same tables. See internal/decisionbench for
// the model and the citations of the tools' source.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"strconv"
	"strings"

	"github.com/agentops/progressive/internal/decisionbench"
)

func main() {
	runs := flag.Int("runs", 150, "runs per cell of every scenario but healthy, over all seeds")
	healthy := flag.Int("healthy-runs", 1200, "runs per cell of the healthy scenario, over all seeds; at least 1000 to check the 1% false-rollback goal")
	seeds := flag.String("seeds", "1,2,3", "seeds of the random streams, comma-separated; the runs are dealt to them in turn")
	rates := flag.String("rates", "10,100,1000", "total request rates of the service, in requests per second, comma-separated")
	errRates := flag.String("error-rates", "0.1,0.5,2", "healthy error rates, in percent, comma-separated; the error threshold is twice each")
	format := flag.String("format", "text", "text or markdown")
	details := flag.Bool("details", false, "also print every scenario under every condition")
	kayenta := flag.Bool("kayenta", false, "add the kayenta-like rule (one Mann-Whitney judgement per phase)")
	workers := flag.Int("workers", 0, "parallel workers (default GOMAXPROCS)")
	flag.Parse()
	if os.Getenv("GOGC") == "" {
		// The analysis engine allocates per measurement; a larger heap target
		// halves the time spent collecting, for tens of megabytes.
		debug.SetGCPercent(400)
	}

	cfg := decisionbench.Config{Runs: *runs, HealthyRuns: *healthy, Workers: *workers}
	var err error
	if cfg.Rates, err = floats(*rates, 1); err != nil {
		fail(2, "-rates: %v", err)
	}
	if cfg.ErrorRates, err = floats(*errRates, 100); err != nil {
		fail(2, "-error-rates: %v", err)
	}
	for _, s := range strings.Split(*seeds, ",") {
		v, err := strconv.ParseUint(strings.TrimSpace(s), 10, 64)
		if err != nil || v == 0 {
			fail(2, "-seeds: %q is not a positive integer", s)
		}
		cfg.Seeds = append(cfg.Seeds, v)
	}
	if *format != "text" && *format != "markdown" {
		fail(2, "-format must be text or markdown, not %q", *format)
	}
	if *kayenta {
		cfg.Rules = append(decisionbench.Rules(), decisionbench.KayentaLike{})
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	res, err := decisionbench.Run(ctx, cfg)
	if err != nil {
		fail(1, "%v", err)
	}
	rep := decisionbench.Report{Details: *details, GoalRules: []string{
		decisionbench.Statistical{}.Name(), decisionbench.Statistical{Tuned: true}.Name()}}
	if *format == "markdown" {
		err = res.WriteMarkdown(os.Stdout, rep)
	} else {
		err = res.WriteText(os.Stdout, rep)
	}
	if err != nil {
		fail(1, "%v", err)
	}
}

// floats parses a comma-separated list of positive numbers, each divided by div
// (and rounded to 12 digits, so that "0.1" percent is exactly 0.001).
func floats(list string, div float64) ([]float64, error) {
	var out []float64
	for _, s := range strings.Split(list, ",") {
		v, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil || v <= 0 {
			return nil, fmt.Errorf("%q is not a positive number", s)
		}
		v, _ = strconv.ParseFloat(strconv.FormatFloat(v/div, 'g', 12, 64), 64)
		out = append(out, v)
	}
	return out, nil
}

func fail(code int, format string, args ...any) {
	fmt.Fprintf(os.Stderr, "decision-benchmark: "+format+"\n", args...)
	os.Exit(code)
}
