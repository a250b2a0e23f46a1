package strategy_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/strategy"
)

var (
	migration = progressive.HookSpec{Name: "add-column", Timeout: 10 * time.Minute, Retries: -1}
	smoke     = progressive.HookSpec{Name: "smoke", URL: "http://smoke-tests.ci/run"}
	e2e       = progressive.HookSpec{Name: "e2e", URL: "http://smoke-tests.ci/e2e"}
)

func TestBlueGreenPlanShape(t *testing.T) {
	cases := []struct {
		name  string
		bg    strategy.BlueGreen
		kinds []progressive.StepKind
		steps []string
		timed []time.Duration
	}{
		{
			name:  "minimal with defaults",
			bg:    strategy.BlueGreen{Replicas: 10, Checks: checks},
			kinds: []progressive.StepKind{D, SW, A, P, PR, FI},
			steps: []string{"deploy-green", "switch", "monitor", "keep-blue", "promote", "finalize"},
			timed: []time.Duration{15 * time.Minute, 5 * time.Minute},
		},
		{
			name: "the design document's order-management: migration, deploy, validate, approve, switch, monitor 1h",
			bg: strategy.BlueGreen{Replicas: 10, Migration: &migration, Validation: []progressive.HookSpec{smoke, e2e},
				ManualApproval: "release-manager", Monitor: time.Hour, DecommissionDelay: 10 * time.Minute, Checks: checks},
			kinds: []progressive.StepKind{H, D, H, H, AP, SW, A, P, PR, FI},
			steps: []string{"migrate", "deploy-green", "validate-smoke", "validate-e2e", "approve-switch", "switch", "monitor", "keep-blue", "promote", "finalize"},
			timed: []time.Duration{time.Hour, 10 * time.Minute},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, err := tc.bg.Plan(target, release)
			requireValid(t, tc.bg, p, err)
			assert.Equal(t, tc.kinds, kinds(p))
			var names []string
			for _, s := range p.Steps {
				names = append(names, s.Name)
			}
			assert.Equal(t, tc.steps, names)
			assert.Equal(t, tc.timed, timed(p))
			for _, s := range p.Steps {
				if s.Deploy != nil {
					assert.Equal(t, 10, s.Deploy.Replicas)
				}
				if s.Switch != nil {
					assert.Equal(t, progressive.Canary, s.Switch.To)
				}
			}
			assert.Contains(t, p.Reason, "switches all traffic back to blue in one write")
		})
	}
}

func TestBlueGreenHooksInOrder(t *testing.T) {
	bg := strategy.BlueGreen{Replicas: 3, Migration: &migration, Validation: []progressive.HookSpec{smoke, e2e}, Checks: checks}
	p, err := bg.Plan(target, release)
	require.NoError(t, err)
	assert.Equal(t, migration, p.Steps[0].Hook.Hook)
	assert.Equal(t, smoke, p.Steps[2].Hook.Hook)
	assert.Equal(t, e2e, p.Steps[3].Hook.Hook)
	assert.Contains(t, p.Reason, `migration "add-column" runs first`)
	assert.Contains(t, p.Reason, "validation (smoke, e2e) must pass on green")
}

func TestBlueGreenDefaults(t *testing.T) {
	d := strategy.BlueGreen{}.WithDefaults()
	assert.Equal(t, 15*time.Minute, d.Monitor)
	assert.Equal(t, 5*time.Minute, d.DecommissionDelay)
	assert.NoError(t, strategy.BlueGreen{Replicas: 1, Checks: checks}.Validate())
}

func TestBlueGreenInvalid(t *testing.T) {
	phased := smoke
	phased.Phase = progressive.HookPreRollout
	runBad(t, []badCase{
		{name: "no replicas", strategy: strategy.BlueGreen{Checks: checks},
			fields: map[string]any{"blueGreen.replicas": 0}},
		{name: "no checks", strategy: strategy.BlueGreen{Replicas: 10},
			fields: map[string]any{"blueGreen.checks": nil}},
		{name: "bad migration hook", strategy: strategy.BlueGreen{Replicas: 10, Checks: checks, Migration: &progressive.HookSpec{URL: "mailto:x", Timeout: -1}},
			fields: map[string]any{"blueGreen.migration.name": nil, "blueGreen.migration.url": "mailto:[redacted]", "blueGreen.migration.timeout": "-1ns"}},
		{name: "validation hook with a phase", strategy: strategy.BlueGreen{Replicas: 10, Checks: checks, Validation: []progressive.HookSpec{smoke, phased}},
			fields: map[string]any{"blueGreen.validation[1].phase": "pre-rollout", "blueGreen.validation[1].name": "smoke"}},
		{name: "negative durations", strategy: strategy.BlueGreen{Replicas: 10, Checks: checks, Monitor: -time.Hour, DecommissionDelay: -time.Minute, ApprovalTimeout: -time.Second, ManualApproval: "g"},
			fields: map[string]any{"blueGreen.monitor": "-1h0m0s", "blueGreen.decommissionDelay": "-1m0s", "blueGreen.approvalTimeout": "-1s"}},
		{name: "approval timeout without gate", strategy: strategy.BlueGreen{Replicas: 10, Checks: checks, ApprovalTimeout: time.Hour},
			fields: map[string]any{"blueGreen.approvalTimeout": "1h0m0s"}},
	})
}
