// Command build-controlplane builds (or finds in the cache) the control plane
// binaries that testkit/controlplane runs, so CI can build them before the
// tests, from any module that requires github.com/agentops/progressive:
//
//	go run github.com/agentops/progressive/testkit/cmd/build-controlplane
//
// It prints the directory of the binaries: <cache>/<key>, where the cache is
// $PROGRESSIVE_TESTENV_CACHE, else the checkout's .cache/testenv/bin inside
// this repository, else os.UserCacheDir()/progressive-testkit/bin. With -start
// it also starts a control plane once and stops it again, as a smoke test.
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
