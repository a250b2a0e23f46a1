package anchors

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentops/progressive/internal/decisionbench"
	"github.com/agentops/progressive/internal/livecanary"
)

// The models' validation (issue 15, item 2): on the same scripted metric
// stream, the model's decisions equal the live tool's. Each test runs one
// scripted scenario with the real controller at the contender's defaults,
// replays the decisionbench model configured as the live objects are on the
// same script, and compares what both define unambiguously: the canary
// weights set, in order, and the outcome. Wall-clock times are not compared.

func logDecisions(t *testing.T, ds []decisionbench.Decision) {
	t.Helper()
	for _, d := range ds {
		t.Logf("  model: %s", d)
	}
}

// TestValidateFlaggerModel: healthy at 10%, 10% errors from the moment the
// VirtualService shows 20%. Flagger (threshold 5) holds 20% through five
// failed analyses and rolls back at the next tick.
func TestValidateFlaggerModel(t *testing.T) {
	t.Parallel()
	a := requireStack(t)
	bin := requireBinary(t, "flagger", flaggerBin, flaggerErr)
	s := FlaggerDefaults()
	sc := regressAt(20)
	cfg := FlaggerModel(s)
	ds := decisionbench.ReplayFlagger(cfg, FlaggerStream(sc))
	model := ModelDecided(ds)
	t.Logf("script: %s; model: Flagger %s", scriptString(sc), cfg)
	logDecisions(t, ds)

	r := runContender(t, a, NewFlagger(a, bin, s), sc)
	live := RunDecided(r)
	t.Logf("live:  %s", live)
	t.Logf("model: %s", model)
	assert.Equal(t, model, live, "the model's weights and outcome are the live Flagger's")

	// The rollback's reason: the failed-checks count the model reached is
	// the one Flagger reported.
	last := ds[len(ds)-1]
	require.Equal(t, decisionbench.KindRollback, last.Kind)
	found := false
	for _, n := range r.Notes {
		found = found || strings.Contains(n, last.Reason)
	}
	assert.True(t, found, "Flagger's last warning says %q: %v", last.Reason, r.Notes)
}

// TestValidateArgoModel: a healthy canary (0.5% errors) under the error-ratio
// analysis every 10 s: promoted after 10..50%, the first measurements Error
// (no 5xx series yet) but fewer than consecutiveErrorLimit 4 allows.
func TestValidateArgoModel(t *testing.T) {
	validateArgo(t, Scenario{Name: "healthy", Canary: livecanary.Healthy})
}

// TestValidateArgoModelRegression: healthy at 10%, 10% errors from the
// moment the VirtualService shows 20%.
func TestValidateArgoModelRegression(t *testing.T) {
	validateArgo(t, regressAt(20))
}

// TestValidateArgoModelRegressionAtLastStep: healthy up to 40%, 10% errors
// from the moment the VirtualService shows 50%, the last step. The
// measurement that sees the regression is due when the last pause ends.
// Live, Argo takes it and aborts (the background run is only cancelled once
// the rollout is fully promoted); the model once promoted first, and was
// corrected after this test showed it (ReplayArgo's doc).
func TestValidateArgoModelRegressionAtLastStep(t *testing.T) {
	validateArgo(t, regressAt(50))
}

// validateArgo runs sc with Argo Rollouts' defaults live and replays the model
// on the same script: the weights and outcome must be the same.
func validateArgo(t *testing.T, sc Scenario) {
	t.Parallel()
	a := requireStack(t)
	bin := argoBinary(t)
	s := ArgoDefaults()
	cfg, err := ArgoModel(s)
	require.NoError(t, err)
	ds := decisionbench.ReplayArgo(cfg, ArgoStream(sc, cfg, s.Analysis.Interval))
	model := ModelDecided(ds)
	t.Logf("script: %s; model: Argo steps %v, startingStep %d, metric %s %s", scriptString(sc), cfg.Steps, cfg.StartingStep, cfg.Metrics[0], cfg.Metrics[0].SuccessCondition)
	logDecisions(t, ds)

	r := runContender(t, a, NewArgo(a, bin, s), sc)
	live := RunDecided(r)
	t.Logf("live:  %s", live)
	t.Logf("model: %s", model)
	assert.Equal(t, model, live, "the model's weights and outcome are the live Argo Rollouts'")
}
