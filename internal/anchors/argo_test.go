package anchors

import (
	"context"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/agentops/progressive/internal/livecanary"
)

// argoBinary builds the rollouts-controller (or finds it built: Build
// waits on its file lock while another process builds it) and returns it,
// skipping the test (failing it under CI=true) when it cannot be had.
func argoBinary(t *testing.T) string {
	t.Helper()
	// A cold build with the go1.27.3 toolchain takes about 5 minutes on
	// two cores.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	bin, err := Build(ctx, ArgoRollouts(), slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	return requireBinary(t, "rollouts-controller", bin, err)
}

func TestArgoHealthyPromoted(t *testing.T) {
	t.Parallel()
	a := requireStack(t)
	bin := argoBinary(t)
	r := runContender(t, a, NewArgo(a, bin, ArgoDefaults()), Scenario{Name: "healthy", Canary: livecanary.Healthy})
	assert.Equal(t, Promoted, r.Outcome)
	// Argo's promotion routes everything to the canary (100%) before the
	// stable Service takes the new pods and the route goes back to it (0%):
	// the steps themselves end at the plan's 50%.
	var steps []float64
	for _, w := range r.Weights {
		if w.Weight > 0 && w.Weight < 100 {
			steps = append(steps, w.Weight)
		}
	}
	assert.Equal(t, []float64{10, 20, 30, 40, 50}, steps, "the canary went up the plan's steps")
	assert.Equal(t, 100.0, MaxWeight(r.Weights), "promotion routed everything to the new version")
	assert.Equal(t, 0.0, r.Weights[len(r.Weights)-1].Weight, "traffic back on the stable route (running the release) at the end")
}

func TestArgoRegressionRolledBack(t *testing.T) {
	t.Parallel()
	a := requireStack(t)
	bin := argoBinary(t)
	r := runContender(t, a, NewArgo(a, bin, ArgoDefaults()), regressAt(20))
	assertRolledBack(t, r)
	// Argo's promotion first routes everything to the canary: an aborted
	// rollout never showed 100%.
	assert.Less(t, MaxWeight(r.Weights), 100.0, "never promoted")
}
