package sim_test

import (
	"context"
	"testing"
	"time"

	testingclock "k8s.io/utils/clock/testing"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/provider/sim"
)

var (
	t0       = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	checkout = progressive.Target{Namespace: "shop", Name: "checkout"}
	unknown  = progressive.Target{Namespace: "shop", Name: "nobody"}
)

// newEnv returns a simulator on a fake clock at t0.
func newEnv(t *testing.T, opts sim.Options) (*sim.Env, *testingclock.FakeClock) {
	t.Helper()
	fc := testingclock.NewFakeClock(t0)
	opts.Clock = fc
	return sim.New(opts), fc
}

func ctx(t *testing.T) context.Context { return t.Context() }
