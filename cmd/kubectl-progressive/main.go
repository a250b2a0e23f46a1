package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/agentops/progressive/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// kubectl finds plugins by the executable's name and passes the
	// arguments after "progressive"; the help texts name the command the
	// way a person types it.
	code := cli.Main(ctx, "kubectl progressive", os.Args[1:])
	stop()
	os.Exit(code)
}
