package livescale_test

import (
	"context"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/agentops/progressive/internal/livescale"
	"github.com/agentops/progressive/internal/promtest"
	"github.com/agentops/progressive/internal/testenv"
)

var env *testenv.Env

func TestMain(m *testing.M) {
	os.Exit(testenv.RunMain(m, livescale.TestenvOptions(), &env))
}

// Spec is how late a step may start against its plan.
const Spec = time.Second

// TestHundredRolloutsKeepSchedule drives 100 canary rollouts at once (10% to
// 50% in steps of 10, 10 s of analysis at each, two Prometheus checks every
// 10 s over [10s]) with one Runner, one istio router, one kubernetes provider
// and one ConfigMap store, and asserts that every rollout is promoted and that
// every step starts within Spec of when its plan says. Under CI=true it fails
// when the control plane or Prometheus cannot start.
func TestHundredRolloutsKeepSchedule(t *testing.T) {
	e := env.Require(t)
	app := promtest.NewApp()
	t.Cleanup(app.Close)
	prom := promtest.Start(t, promtest.Options{Targets: []string{app.Addr()}})
	ns := e.NewNamespace(t)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	rep, err := livescale.Run(ctx, livescale.Options{
		Config: e.Config(), App: app, Prometheus: prom, Namespace: ns, N: 100,
		Logger: slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	require.NoError(t, err)
	t.Logf("\n%s", rep)

	require.Equal(t, rep.N, rep.Promoted, "every rollout is promoted: %v", rep.Failed)
	require.Empty(t, rep.Problems, "every step is compared with its plan")
	if over := livescale.Over(rep.Lags, Spec); len(over) > 0 {
		t.Errorf("%d of %d steps started more than %s after their plan (p99 %s, max %s); the latest:\n%s",
			len(over), len(rep.Lags), Spec, rep.Lag.P99.Round(time.Millisecond), rep.Lag.Max.Round(time.Millisecond), lines(livescale.Worst(over, 10)))
	}
	if over := livescale.Over(rep.FirstMeasurements, Spec); len(over) > 0 {
		t.Errorf("%d of %d first measurements came more than %s after their plan:\n%s",
			len(over), len(rep.FirstMeasurements), Spec, lines(livescale.Worst(over, 10)))
	}
}

func lines(ls []livescale.StepLag) string {
	s := ""
	for _, l := range ls {
		s += "  " + l.String() + "\n"
	}
	return s
}

// testWriter sends the harness' log lines to t.Log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(string(p))
	return len(p), nil
}
