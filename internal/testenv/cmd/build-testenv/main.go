// Command build-testenv builds (or finds in the cache) the control plane
// binaries that internal/testenv runs, so CI can prebuild them before the
// tests:
//
//	go run ./internal/testenv/cmd/build-testenv
//
// It prints the directory of the binaries. Run it from anywhere inside the
// repository. With -start it also starts a control plane once and stops it
// again, as a smoke test, printing how long each step took.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/agentops/progressive/internal/testenv"
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
	bins, err := testenv.EnsureBinaries(ctx, testenv.BuildOptions{Logger: log})
	if err != nil {
		fmt.Fprintln(os.Stderr, "build-testenv:", err)
		os.Exit(1)
	}
	log.Info("binaries ready", "dir", bins.Dir, "took", time.Since(t0).Round(time.Millisecond))
	fmt.Println(bins.Dir)
	if !*start {
		return
	}
	t1 := time.Now()
	env, err := testenv.Start(ctx, testenv.Options{Logger: log})
	if err != nil {
		fmt.Fprintln(os.Stderr, "build-testenv: start:", err)
		os.Exit(1)
	}
	log.Info("control plane ready", "took", time.Since(t1).Round(time.Millisecond), "kubeconfig", env.Kubeconfig())
	if err := env.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "build-testenv: stop:", err)
		os.Exit(1)
	}
	log.Info("control plane stopped", "total", time.Since(t1).Round(time.Millisecond))
}
