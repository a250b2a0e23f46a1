// Command build-anchors builds the Flagger and Argo Rollouts controllers the
// live comparison runs (internal/anchors), so that CI pays for the builds once,
// before the tests, and prints where they are.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"

	"github.com/agentops/progressive/internal/anchors"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	for _, t := range []anchors.Tool{anchors.Flagger(), anchors.ArgoRollouts()} {
		bin, err := anchors.Build(ctx, t, log)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Println(bin)
	}
}
