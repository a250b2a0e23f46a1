package strategy_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/strategy"
)

func TestStagedConservative(t *testing.T) {
	// Staging -> Canary 5% -> 25% -> 50% -> Full 100%, each stage a 30 minute soak.
	s := strategy.StagedConservative(checks)
	assert.Equal(t, []float64{5, 25, 50, 100}, s.Weights)
	assert.Equal(t, 30*time.Minute, s.Soak)
	p, err := s.Plan(target, release)
	requireValid(t, s, p, err)
	assert.Equal(t, []float64{5, 25, 50}, weights(p))
	assert.Equal(t, repeat(30*time.Minute, 3), timed(p))
	assert.Equal(t, 90*time.Minute, p.TotalDuration())
	assert.Equal(t, []progressive.StepKind{D, W, A, W, A, W, A, PR, FI}, kinds(p))
}

func TestFast(t *testing.T) {
	// Staging -> Canary 10% -> Full 100%, a 10 minute validation.
	s := strategy.Fast(checks)
	assert.Equal(t, []float64{10, 100}, s.Weights)
	p, err := s.Plan(target, release)
	requireValid(t, s, p, err)
	assert.Equal(t, []float64{10}, weights(p))
	assert.Equal(t, []time.Duration{10 * time.Minute}, timed(p))
	assert.Equal(t, []progressive.StepKind{D, W, A, PR, FI}, kinds(p))
}

func TestBlueGreenManualApproval(t *testing.T) {
	// Deploy Green -> Auto-tests -> Manual approval -> Switch traffic -> Monitor 1 hour -> Decommission Blue.
	s := strategy.BlueGreenManualApproval(checks, "release-manager")
	assert.Equal(t, time.Hour, s.Monitor)
	assert.Equal(t, "release-manager", s.ManualApproval)

	_, err := s.Plan(target, release)
	assert.Contains(t, problems(t, err), "blueGreen.replicas", "replicas must be chosen by the caller")

	s.Replicas = 10
	s.Validation = []progressive.HookSpec{smoke}
	p, err := s.Plan(target, release)
	requireValid(t, s, p, err)
	assert.Equal(t, []progressive.StepKind{D, H, AP, SW, A, P, PR, FI}, kinds(p))
	assert.Equal(t, "release-manager", p.Steps[2].Approval.Gate)
	assert.Equal(t, []time.Duration{time.Hour, 5 * time.Minute}, timed(p))
}

func TestFlagGradual(t *testing.T) {
	// Deploy code (flag OFF) -> Enable 1% -> 10% -> 50% -> 100%, 24 hours each.
	s := strategy.FlagGradual(gatewayFlag, "on", "off", checks)
	p, err := s.Plan(target, release)
	requireValid(t, s, p, err)
	assert.Equal(t, []float64{1, 10, 50, 100}, flagPercents(p))
	assert.Equal(t, repeat(24*time.Hour, 3), timed(p))
	assert.Equal(t, 72*time.Hour, p.TotalDuration())
}

func TestPatternsCopyChecks(t *testing.T) {
	cs := []progressive.Check{errorRate}
	s := strategy.Fast(cs)
	cs[0].Name = "changed"
	require.Len(t, s.Checks, 1)
	assert.Equal(t, "error-rate", s.Checks[0].Name)
}

func TestPaymentServiceCanary(t *testing.T) {
	// The design document's first prompt: payment-service, 10% -> 50% -> 100%, 15 minutes each,
	// rollback on error rate > 1%, p95 latency > 500ms (CPU > 80% only warns).
	s := strategy.Canary{Weights: []float64{10, 50, 100}, Soak: 15 * time.Minute, Checks: checks}
	p, err := s.Plan(target, release)
	requireValid(t, s, p, err)
	assert.Equal(t, []float64{10, 50}, weights(p))
	assert.Equal(t, 30*time.Minute, p.TotalDuration())

	// The design document's second: user-authentication-api, 20 replicas, canary of 2 (10%).
	auth := strategy.Canary{Replicas: 2, Weights: []float64{10, 100}, Checks: checks}
	p, err = auth.Plan(progressive.Target{Namespace: "production", Name: "user-authentication-api"}, release)
	require.NoError(t, err)
	assert.Equal(t, 2, p.Steps[0].Deploy.Replicas)
}
