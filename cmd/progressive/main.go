package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/agentops/progressive/internal/cli"
)

func main() {
	// Ctrl-C ends the command's context: a run stops driving and leaves the
	// rollout stored (exit 6) instead of dying between two writes.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, "progressive", os.Args[1:])
	stop()
	os.Exit(code)
}
