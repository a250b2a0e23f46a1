package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/agentops/progressive/testkit/controlplane"
)

func main() {
	timeout := flag.Duration("timeout", 30*time.Minute, "give up after this long")
	start := flag.Bool("start", false, "also start a control plane once and stop it (smoke test)")
	quiet := flag.Bool("q", false, "print only the binaries directory")
	flag.Parse()

	level := slog.LevelInfo
	if *quiet {
		level = slog.LevelWarn
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()

	t0 := time.Now()
	bins, err := controlplane.EnsureBinaries(ctx, controlplane.BuildOptions{Logger: log})
	if err != nil {
		fmt.Fprintln(os.Stderr, "build-controlplane:", err)
		os.Exit(1)
	}
	log.Info("binaries ready", "dir", bins.Dir, "took", time.Since(t0).Round(time.Millisecond))
	fmt.Println(bins.Dir)
	if !*start {
		return
	}
	t1 := time.Now()
	env, err := controlplane.Start(ctx, controlplane.Options{Logger: log})
	if err != nil {
		fmt.Fprintln(os.Stderr, "build-controlplane: start:", err)
		os.Exit(1)
	}
	log.Info("control plane ready", "took", time.Since(t1).Round(time.Millisecond), "kubeconfig", env.Kubeconfig())
	if err := env.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "build-controlplane: stop:", err)
		os.Exit(1)
	}
	log.Info("control plane stopped", "total", time.Since(t1).Round(time.Millisecond))
}
