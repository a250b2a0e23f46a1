// Command decision-benchmark compares canary decision rules on the same simulated
// traffic: models of Flagger's and Argo Rollouts' rules with their documented
// defaults, this SDK's analysis engine with threshold checks, a Kayenta-like
// judgement once per phase, and the statistical judges (a sequential test of the
// error rate and a Mann-Whitney comparison of latency). It prints, per request
// rate, scenario and rule, how often the canary was rolled back, promoted or held,
// the median and 90th percentile time to detect, and the median time to promote.
//
//	go run ./examples/decision-benchmark
//	go run ./examples/decision-benchmark -runs 1000 -healthy-runs 5000 -format markdown
//
// Everything runs in virtual time from per-minute streams generated with seeded PCG
// generators: the same seed prints the same table. See internal/decisionbench for
// the model.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"

	"github.com/agentops/progressive/internal/decisionbench"
)

func main() {
	runs := flag.Int("runs", 300, "runs per scenario and rate for the bad canaries")
	healthy := flag.Int("healthy-runs", 1000, "runs per rate for the good canaries (healthy, outage, spike); at least 1000 to measure a 1% false-rollback rate")
	seed := flag.Uint64("seed", 1, "seed of every random stream")
	rates := flag.String("rates", "10,100,1000", "total request rates of the service, in requests per second, comma-separated")
	errRate := flag.Float64("error-rate", 0.5, "healthy error rate, in percent")
	format := flag.String("format", "text", "text or markdown")
	goals := flag.Bool("goals", true, "print the goals of the statistical rule after the table")
	flag.Parse()

	cfg := decisionbench.Config{Seed: *seed, Runs: *runs, HealthyRuns: *healthy, Traffic: decisionbench.DefaultTraffic()}
	cfg.Traffic.ErrorRate = *errRate / 100
	for _, s := range strings.Split(*rates, ",") {
		r, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil || r <= 0 {
			fmt.Fprintf(os.Stderr, "decision-benchmark: -rates: %q is not a positive number\n", s)
			os.Exit(2)
		}
		cfg.Rates = append(cfg.Rates, r)
	}
	if *format != "text" && *format != "markdown" {
		fmt.Fprintf(os.Stderr, "decision-benchmark: -format must be text or markdown, not %q\n", *format)
		os.Exit(2)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	res, err := decisionbench.Run(ctx, cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "decision-benchmark:", err)
		os.Exit(1)
	}
	if *format == "markdown" {
		err = res.WriteMarkdown(os.Stdout)
	} else {
		err = res.WriteText(os.Stdout)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "decision-benchmark:", err)
		os.Exit(1)
	}
	if *goals {
		rule := decisionbench.Statistical{}.Name()
		fmt.Printf("\nGoals of %q:\n", rule)
		for _, g := range res.Goals(rule) {
			mark := "met"
			if !g.Met {
				mark = "NOT MET"
			}
			fmt.Printf("  [%s] %s: %s\n", mark, g.Name, g.Detail)
		}
	}
}
