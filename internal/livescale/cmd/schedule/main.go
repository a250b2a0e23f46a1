// Command schedule starts the test control plane (internal/testenv, with the
// Istio CRDs) and a Prometheus (internal/promtest), drives -n canary rollouts
// at once with one rollout.Runner and prints how late their steps started
// against their plans, the API requests per second, the RSS and the wall time
// (package livescale):
//
//	go run ./internal/livescale/cmd/schedule -n 100
//	go run ./internal/livescale/cmd/schedule -n 100 -poll 5s   # the runner's default poll
//	go run ./internal/livescale/cmd/schedule -n 100 -qps 5 -burst 10  # client-go's default limit
//	go run ./internal/livescale/cmd/schedule -n 100 -qps 400 -burst 800  # no client-side throttling
//	go run ./internal/livescale/cmd/schedule -n 100 -memory-store  # without the ConfigMap store's requests
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime/pprof"
	"time"

	"github.com/agentops/progressive/internal/livescale"
	"github.com/agentops/progressive/internal/promtest"
	"github.com/agentops/progressive/internal/testenv"
)

func main() {
	var o livescale.Options
	flag.IntVar(&o.N, "n", livescale.DefaultN, "concurrent rollouts")
	flag.DurationVar(&o.Soak, "soak", livescale.DefaultSoak, "analysis time at each weight")
	flag.DurationVar(&o.Interval, "interval", livescale.DefaultInterval, "checks' interval")
	flag.StringVar(&o.Window, "window", livescale.DefaultWindow, "checks' rate() window")
	flag.DurationVar(&o.PollInterval, "poll", 0, "the runner's PollInterval (0: rollout.DefaultPollInterval)")
	flag.DurationVar(&o.RetryBackoff, "retry-backoff", 0, "the runner's RetryBackoff (0: its default)")
	qps := flag.Float64("qps", 0, "rate limit of the runner's clients (0: the providers' defaults)")
	flag.IntVar(&o.Burst, "burst", 0, "burst of the runner's clients, with -qps")
	flag.BoolVar(&o.MemoryStore, "memory-store", false, "keep the states in memory instead of ConfigMaps (an experiment: the store's share of the lag)")
	flag.DurationVar(&o.Timeout, "timeout", livescale.DefaultTimeout, "bound on the rollouts")
	verbose := flag.Bool("v", false, "log the harness' progress and the runner's warnings")
	cpuprofile := flag.String("cpuprofile", "", "write this process' CPU profile of the whole run to the file")
	flag.Parse()
	o.QPS = float32(*qps)
	level := slog.LevelError
	if *verbose {
		level = slog.LevelInfo
	}
	o.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt)
	defer cancel()
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "schedule:", err)
			os.Exit(1)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(os.Stderr, "schedule:", err)
			os.Exit(1)
		}
		defer pprof.StopCPUProfile()
	}
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "schedule:", err)
		pprof.StopCPUProfile()
		os.Exit(1)
	}
}

func run(ctx context.Context, o livescale.Options) error {
	start := time.Now()
	env, err := testenv.Start(ctx, livescale.TestenvOptions())
	if err != nil {
		return fmt.Errorf("control plane: %w", err)
	}
	defer func() { _ = env.Stop() }()
	fmt.Fprintf(os.Stderr, "control plane ready in %s\n", time.Since(start).Round(time.Millisecond))
	app := promtest.NewApp()
	defer app.Close()
	prom, err := promtest.New(promtest.Options{Targets: []string{app.Addr()}})
	if err != nil {
		return fmt.Errorf("prometheus: %w", err)
	}
	defer prom.Stop()
	o.Config, o.App, o.Prometheus = env.Config(), app, prom
	rep, err := livescale.Run(ctx, o)
	if err != nil {
		return err
	}
	fmt.Print(rep)
	if rep.Promoted < rep.N {
		return fmt.Errorf("%d of %d rollouts were not promoted", rep.N-rep.Promoted, rep.N)
	}
	return nil
}
