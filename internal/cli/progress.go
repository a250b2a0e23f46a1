package cli

import (
	"context"
	"fmt"
	"time"

	"k8s.io/utils/clock"

	"github.com/agentops/progressive/rollout"
	"github.com/agentops/progressive/rollout/progress"
)

// progressObserver is run's view: rollout/progress's printer, live on a
// terminal (one status line redrawn in place: step, weight, each check's
// latest value against its threshold, time left) and plain lines
// otherwise. pace slows a simulated run down to watching speed.
func (a *App) progressObserver(clk clock.PassiveClock, pace time.Duration) (rollout.Observer, error) {
	mode := progress.ModeLines
	if a.Terminal() {
		mode = progress.ModeLive
	}
	p, err := progress.New(progress.Options{Out: a.Stdout, Mode: mode, Clock: clk})
	if err != nil {
		return nil, fmt.Errorf("progress view: %w", err)
	}
	if pace <= 0 {
		return p, nil
	}
	return rollout.ObserverFunc(func(ctx context.Context, e rollout.Event) {
		p.Observe(ctx, e)
		time.Sleep(pace)
	}), nil
}
