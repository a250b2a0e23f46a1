package routertest_test

import (
	"context"
	"fmt"

	"testing"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/provider/routertest"
	"github.com/agentops/progressive/provider/sim"
)

// TestSimRouter runs the conformance suite against the in-memory router of
// provider/sim, which supports matches and mirroring and reports exactly what
// it was told.
func TestSimRouter(t *testing.T) {
	routertest.Run(t, func(t *testing.T) routertest.Setup {
		return routertest.Setup{
			Router:  sim.NewRouter(sim.Options{}),
			Target:  progressive.Target{Namespace: "shop", Name: "checkout"},
			Matches: true,
			Mirror:  true,
		}
	})
}

// weightsOnly is a router without matches or mirroring, to run the suite's
// progressive.ErrUnsupported branches.
type weightsOnly struct{ *sim.Router }

func (w weightsOnly) SetRoutes(ctx context.Context, t progressive.Target, r progressive.Routes) error {
	if len(r.Matches) > 0 || r.MirrorPercent > 0 {
		return fmt.Errorf("weights only: %w", progressive.ErrUnsupported)
	}
	return w.Router.SetRoutes(ctx, t, r)
}

func TestWeightsOnlyRouter(t *testing.T) {
	routertest.Run(t, func(t *testing.T) routertest.Setup {
		return routertest.Setup{Router: weightsOnly{sim.NewRouter(sim.Options{})}, Target: progressive.Target{Name: "checkout"}}
	})
}
