// Command scaleout starts the test control plane (internal/testenv, with the
// Istio CRDs) and a Prometheus (internal/promtest), starts -n canary rollouts
// and lets -p replica processes (this executable again) share them through
// the targets' Leases, SIGKILLs the replica holding the most of them once
// -kill-after of the steps are done, and prints whether every step was done
// exactly once by one replica at a time, how soon the killed replica's
// rollouts were resumed, the API requests per second, the RSS per rollout,
// the CPU per decision and the schedule lag (package livescale):
//
//	go run ./internal/livescale/cmd/scaleout -n 1000 -p 3
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/agentops/progressive/internal/livescale"
	"github.com/agentops/progressive/internal/promtest"
	"github.com/agentops/progressive/internal/testenv"
)

func main() {
	// A replica is this executable started again by the harness.
	livescale.MaybeRunScaleOutChild()
	var o livescale.ScaleOutOptions
	flag.IntVar(&o.N, "n", livescale.DefaultN, "rollouts")
	flag.IntVar(&o.P, "p", livescale.DefaultReplicas, "replica processes")
	flag.Float64Var(&o.KillAfter, "kill-after", livescale.DefaultKillAfter, "share of the steps done before a replica is killed (negative: none)")
	flag.DurationVar(&o.LeaseDuration, "lease-duration", 0, "Lease duration (0: 15s)")
	flag.DurationVar(&o.RenewDeadline, "renew-deadline", 0, "Lease renew deadline (0: 10s)")
	flag.DurationVar(&o.RetryPeriod, "retry-period", 0, "Lease retry period (0: 2s)")
	flag.DurationVar(&o.Resync, "resync", livescale.DefaultResync, "the replicas' Manager resync")
	flag.DurationVar(&o.ClaimSpread, "claim-spread", livescale.DefaultClaimSpread, "longest random wait before a replica claims a Lease (negative: none)")
	flag.IntVar(&o.InconclusiveLimit, "inconclusive-limit", 10, "checks' inconclusive limit (0: their default)")
	flag.DurationVar(&o.Timeout, "timeout", 30*time.Minute, "bound on the rollouts")
	flag.StringVar(&o.LogDir, "log-dir", "", "directory of the replicas' logs (default: a new temporary one)")
	verbose := flag.Bool("v", false, "log the harness' progress")
	flag.Parse()
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelInfo
	}
	o.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt)
	defer cancel()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "scaleout:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o livescale.ScaleOutOptions) error {
	start := time.Now()
	opts := livescale.TestenvOptions()
	// testenv's defaults (a /24 of Service IPs, three nodes of 110 pods)
	// hold about a hundred targets: each has a Service and up to four pods.
	opts.APIServerArgs = append(opts.APIServerArgs, "--service-cluster-ip-range=10.96.0.0/16")
	pods := max(110, 2*o.N)
	opts.NodeCapacity = corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse("1000"),
		corev1.ResourceMemory: resource.MustParse("4Ti"),
		corev1.ResourcePods:   *resource.NewQuantity(int64(pods), resource.DecimalSI),
	}
	env, err := testenv.Start(ctx, opts)
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
	o.Config, o.Kubeconfig, o.App, o.Prometheus = env.Config(), env.Kubeconfig(), app, prom
	rep, err := livescale.RunScaleOut(ctx, o)
	if err != nil {
		return err
	}
	fmt.Print(rep)
	if rep.Promoted < rep.N || len(rep.Violations) > 0 {
		return fmt.Errorf("%d of %d rollouts not promoted, %d violations", rep.N-rep.Promoted, rep.N, len(rep.Violations))
	}
	return nil
}
