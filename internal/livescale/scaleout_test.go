package livescale_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/agentops/progressive/internal/livescale"
	"github.com/agentops/progressive/internal/promtest"
)

// The replicas of TestScaleOut are this test binary, started again with
// livescale.ScaleOutChildEnv set: init runs before TestMain, so a replica
// never starts a control plane of its own.
func init() { livescale.MaybeRunScaleOutChild() }

// ScaleOutN is the CI size: 60 rollouts across 3 replicas finish in about two
// minutes on two shared cores, the 1,000-rollout figures come from
// internal/livescale/cmd/scaleout.
const ScaleOutN = 60

// TestScaleOut drives ScaleOutN canary rollouts with three replica processes
// sharing them through the targets' Leases, SIGKILLs the replica holding the
// most rollouts once 30% of the steps are done, and asserts that every
// rollout is promoted, that every step was completed (stored) exactly once,
// that one replica at a time drove each rollout and only while holding its
// Lease, and that the killed replica's rollouts were taken over by the others.
// Figures (API requests, RSS, CPU, schedule lag, how soon the rollouts were
// resumed) are logged, not asserted. Under CI=true it fails when the control
// plane or Prometheus cannot start.
func TestScaleOut(t *testing.T) {
	e := env.Require(t)
	app := promtest.NewApp()
	t.Cleanup(app.Close)
	prom := promtest.Start(t, promtest.Options{Targets: []string{app.Addr()}})
	ns := e.NewNamespace(t)

	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	rep, err := livescale.RunScaleOut(ctx, livescale.ScaleOutOptions{
		Config: e.Config(), Kubeconfig: e.Kubeconfig(), App: app, Prometheus: prom, Namespace: ns,
		N: ScaleOutN, P: 3, InconclusiveLimit: 10, LogDir: t.TempDir(), Timeout: 6 * time.Minute,
		Logger: slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo})),
	})
	require.NoError(t, err)
	t.Logf("\n%s", rep)

	require.Equal(t, rep.N, rep.Promoted, "every rollout is promoted: %v", rep.Failed)
	require.Empty(t, rep.Violations, "no step done twice or never, one replica at a time, each under its Lease")
	require.GreaterOrEqual(t, rep.Killed, 0, "a replica was killed")
	require.NotEmpty(t, rep.Resumes, "the killed replica's rollouts were taken over")
	for _, r := range rep.Resumes {
		require.NotEqual(t, rep.Killed, r.By, "%s resumed by another replica", r.Rollout)
	}
}
