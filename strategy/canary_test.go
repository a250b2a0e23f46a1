package strategy_test

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/strategy"
)

func TestCanaryPlanShape(t *testing.T) {
	m15 := 15 * time.Minute
	cases := []struct {
		name     string
		canary   strategy.Canary
		kinds    []progressive.StepKind
		weights  []float64
		timed    []time.Duration
		replicas int
	}{
		{
			name:     "defaults are the design document's 10, 50, 100 with 15m soaks",
			canary:   strategy.Canary{Checks: checks},
			kinds:    []progressive.StepKind{D, W, A, W, A, PR, FI},
			weights:  []float64{10, 50},
			timed:    []time.Duration{m15, m15},
			replicas: 1,
		},
		{
			name:     "explicit weights, replicas and soak",
			canary:   strategy.Canary{Weights: []float64{10, 50, 100}, Soak: 15 * time.Minute, Replicas: 2, Checks: checks},
			kinds:    []progressive.StepKind{D, W, A, W, A, PR, FI},
			weights:  []float64{10, 50},
			timed:    []time.Duration{m15, m15},
			replicas: 2,
		},
		{
			name:     "weights stopping short of 100 promote after the last",
			canary:   strategy.Canary{Weights: []float64{10, 50}, Checks: checks},
			kinds:    []progressive.StepKind{D, W, A, W, A, PR, FI},
			weights:  []float64{10, 50},
			timed:    []time.Duration{m15, m15},
			replicas: 1,
		},
		{
			name:     "fractional weights",
			canary:   strategy.Canary{Weights: []float64{0.5, 12.5, 100}, Checks: checks},
			kinds:    []progressive.StepKind{D, W, A, W, A, PR, FI},
			weights:  []float64{0.5, 12.5},
			timed:    []time.Duration{m15, m15},
			replicas: 1,
		},
		{
			name:     "full soak adds 100%",
			canary:   strategy.Canary{Weights: []float64{10, 100}, FullSoak: true, Soak: time.Minute, Checks: checks},
			kinds:    []progressive.StepKind{D, W, A, W, A, PR, FI},
			weights:  []float64{10, 100},
			timed:    []time.Duration{time.Minute, time.Minute},
			replicas: 1,
		},
		{
			name:     "full soak with weights short of 100 still soaks at 100",
			canary:   strategy.Canary{Weights: []float64{25}, FullSoak: true, Checks: checks},
			kinds:    []progressive.StepKind{D, W, A, W, A, PR, FI},
			weights:  []float64{25, 100},
			timed:    []time.Duration{m15, m15},
			replicas: 1,
		},
		{
			name:     "weights of only 100 with full soak",
			canary:   strategy.Canary{Weights: []float64{100}, FullSoak: true, Checks: checks},
			kinds:    []progressive.StepKind{D, W, A, PR, FI},
			weights:  []float64{100},
			timed:    []time.Duration{m15},
			replicas: 1,
		},
		{
			name:     "flagger style stepWeight 10 maxWeight 50",
			canary:   strategy.Canary{StepWeight: 10, MaxWeight: 50, Soak: time.Minute, Checks: checks},
			kinds:    []progressive.StepKind{D, W, A, W, A, W, A, W, A, W, A, PR, FI},
			weights:  []float64{10, 20, 30, 40, 50},
			timed:    repeat(time.Minute, 5),
			replicas: 1,
		},
		{
			name:     "maxWeight defaults to 50",
			canary:   strategy.Canary{StepWeight: 25, Checks: checks},
			kinds:    []progressive.StepKind{D, W, A, W, A, PR, FI},
			weights:  []float64{25, 50},
			timed:    []time.Duration{m15, m15},
			replicas: 1,
		},
		{
			name:     "maxWeight not a multiple of stepWeight is the last phase",
			canary:   strategy.Canary{StepWeight: 20, MaxWeight: 50, Checks: checks},
			kinds:    []progressive.StepKind{D, W, A, W, A, W, A, PR, FI},
			weights:  []float64{20, 40, 50},
			timed:    repeat(m15, 3),
			replicas: 1,
		},
		{
			name:     "stepWeight with maxWeight 100 promotes at 100 without soaking",
			canary:   strategy.Canary{StepWeight: 50, MaxWeight: 100, Checks: checks},
			kinds:    []progressive.StepKind{D, W, A, PR, FI},
			weights:  []float64{50},
			timed:    []time.Duration{m15},
			replicas: 1,
		},
		{
			name:     "float steps do not drift",
			canary:   strategy.Canary{StepWeight: 0.1, MaxWeight: 0.3, Checks: checks},
			kinds:    []progressive.StepKind{D, W, A, W, A, W, A, PR, FI},
			weights:  []float64{0.1, 0.2, 0.3},
			timed:    repeat(m15, 3),
			replicas: 1,
		},
		{
			name:     "promotion approval comes after the last soak",
			canary:   strategy.Canary{Checks: checks, PromotionApproval: "release-manager", ApprovalTimeout: time.Hour},
			kinds:    []progressive.StepKind{D, W, A, W, A, AP, PR, FI},
			weights:  []float64{10, 50},
			timed:    []time.Duration{m15, m15},
			replicas: 1,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, err := tc.canary.Plan(target, release)
			requireValid(t, tc.canary, p, err)
			assert.Equal(t, tc.kinds, kinds(p))
			assert.InDeltaSlice(t, tc.weights, weights(p), 1e-9)
			assert.Equal(t, tc.timed, timed(p))
			assert.Equal(t, tc.replicas, p.Steps[0].Deploy.Replicas)
			assert.Equal(t, checks, p.Checks)
			for _, s := range p.Steps {
				if s.Analyze != nil {
					assert.Empty(t, s.Analyze.Checks, "analysis uses the plan's checks")
				}
			}
		})
	}
}

func TestCanaryPlanDetails(t *testing.T) {
	hooks := []progressive.HookSpec{
		{Name: "slack-notification", Phase: progressive.HookPostRollout, URL: "https://hooks.slack.com/services/X", Metadata: map[string]string{"channel": "#deployments"}},
		{Name: "rollback-alert", Phase: progressive.HookOnRollback, URL: "https://hooks.slack.com/services/X", Metadata: map[string]string{"channel": "#alerts"}},
	}
	c := strategy.Canary{Checks: checks, Hooks: hooks, PromotionApproval: "release-manager", ApprovalTimeout: time.Hour, OnInconclusive: progressive.HoldOnInconclusive}
	p, err := c.Plan(target, release)
	requireValid(t, c, p, err)
	assert.Equal(t, hooks, p.Hooks)
	assert.Equal(t, progressive.HoldOnInconclusive, p.OnInconclusive)
	ap := p.Steps[len(p.Steps)-3].Approval
	require.NotNil(t, ap)
	assert.Equal(t, progressive.ApprovalStep{Gate: "release-manager", Timeout: time.Hour}, *ap)
	assert.Equal(t, 30*time.Minute, p.TotalDuration())

	for _, want := range []string{"10% and 50%", "15m", "error-rate, latency-p95", "warn-only checks (cpu)", `gate "release-manager"`, "holds the rollout", "refused approval"} {
		assert.Contains(t, p.Reason, want)
	}

	// The plan does not alias the options.
	p.Checks[0].Name = "changed"
	p.Hooks[0].Name = "changed"
	assert.Equal(t, "error-rate", checks[0].Name)
	assert.Equal(t, "slack-notification", hooks[0].Name)

	// Rollback on inconclusive is the default, and the reason says why.
	p, err = strategy.Canary{Checks: checks}.Plan(target, release)
	require.NoError(t, err)
	assert.Empty(t, p.OnInconclusive)
	assert.Contains(t, p.Reason, "missing data is never a pass")
}

func TestCanaryWithDefaultsAndPhases(t *testing.T) {
	d := strategy.Canary{}.WithDefaults()
	assert.Equal(t, []float64{10, 50, 100}, d.Weights)
	assert.Equal(t, 15*time.Minute, d.Soak)
	assert.Equal(t, 1, d.Replicas)

	d = strategy.Canary{StepWeight: 10}.WithDefaults()
	assert.Empty(t, d.Weights)
	assert.Equal(t, 50.0, d.MaxWeight)

	ph, err := strategy.Canary{StepWeight: 10, Checks: checks}.Phases()
	require.NoError(t, err)
	assert.Equal(t, []float64{10, 20, 30, 40, 50}, ph)

	_, err = strategy.Canary{Weights: []float64{50, 10}, Checks: checks}.Phases()
	assert.ErrorIs(t, err, progressive.ErrInvalid)

	assert.NoError(t, strategy.Canary{Checks: checks}.Validate())
	assert.Error(t, strategy.Canary{}.Validate())
}

func TestCanaryInvalid(t *testing.T) {
	badTarget := progressive.Target{Name: "Payment_Service"}
	noVersion := progressive.Release{}
	runBad(t, []badCase{
		{name: "weights not increasing", strategy: strategy.Canary{Weights: []float64{10, 10, 50}, Checks: checks},
			fields: map[string]any{"canary.weights[1]": 10.0}},
		{name: "weights decreasing", strategy: strategy.Canary{Weights: []float64{50, 10, 100}, Checks: checks},
			fields: map[string]any{"canary.weights[1]": 10.0}},
		{name: "weight above 100", strategy: strategy.Canary{Weights: []float64{10, 50, 150}, Checks: checks},
			fields: map[string]any{"canary.weights[2]": 150.0}},
		{name: "weight zero or negative", strategy: strategy.Canary{Weights: []float64{0, -5, 10}, Checks: checks},
			fields: map[string]any{"canary.weights[0]": 0.0, "canary.weights[1]": -5.0}},
		{name: "weight NaN", strategy: strategy.Canary{Weights: []float64{math.NaN()}, Checks: checks},
			fields: map[string]any{"canary.weights[0]": nil}},
		{name: "only 100 without full soak", strategy: strategy.Canary{Weights: []float64{100}, Checks: checks},
			fields: map[string]any{"canary.weights": "[100]"}},
		{name: "too many weights", strategy: strategy.Canary{Weights: seq(0.5, 101), Checks: checks},
			fields: map[string]any{"canary.weights": 101}},
		{name: "weights and stepWeight", strategy: strategy.Canary{Weights: []float64{10}, StepWeight: 10, Checks: checks},
			fields: map[string]any{"canary.weights": "[10]"}},
		{name: "stepWeight out of range", strategy: strategy.Canary{StepWeight: -10, MaxWeight: 150, Checks: checks},
			fields: map[string]any{"canary.stepWeight": -10.0, "canary.maxWeight": 150.0}},
		{name: "maxWeight without stepWeight", strategy: strategy.Canary{MaxWeight: 50, Checks: checks},
			fields: map[string]any{"canary.stepWeight": 0.0}},
		{name: "maxWeight below stepWeight", strategy: strategy.Canary{StepWeight: 30, MaxWeight: 20, Checks: checks},
			fields: map[string]any{"canary.maxWeight": 20.0}},
		{name: "stepWeight makes too many phases", strategy: strategy.Canary{StepWeight: 1e-9, MaxWeight: 100, Checks: checks},
			fields: map[string]any{"canary.stepWeight": 1e-9}},
		{name: "negative soak", strategy: strategy.Canary{Soak: -time.Minute, Checks: checks},
			fields: map[string]any{"canary.soak": "-1m0s"}},
		{name: "negative replicas", strategy: strategy.Canary{Replicas: -1, Checks: checks},
			fields: map[string]any{"canary.replicas": -1}},
		{name: "no checks", strategy: strategy.Canary{},
			fields: map[string]any{"canary.checks": nil}},
		{name: "only warn-only checks", strategy: strategy.Canary{Checks: []progressive.Check{cpu}},
			fields: map[string]any{"canary.checks": nil}},
		{name: "invalid check", strategy: strategy.Canary{Checks: []progressive.Check{errorRate, invalidCheck}},
			fields: map[string]any{"canary.checks[1].query": nil, "canary.checks[1].max": nil}},
		{name: "duplicate check names", strategy: strategy.Canary{Checks: []progressive.Check{errorRate, errorRate}},
			fields: map[string]any{"canary.checks[1].name": "error-rate"}},
		{name: "invalid lifecycle hook", strategy: strategy.Canary{Checks: checks, Hooks: []progressive.HookSpec{{Name: "x", URL: "ftp://x"}}},
			fields: map[string]any{"canary.hooks[0].phase": "", "canary.hooks[0].url": "ftp://x/"}},
		{name: "unknown inconclusive policy", strategy: strategy.Canary{Checks: checks, OnInconclusive: "promote"},
			fields: map[string]any{"canary.onInconclusive": "promote"}},
		{name: "approval timeout without gate", strategy: strategy.Canary{Checks: checks, ApprovalTimeout: time.Hour},
			fields: map[string]any{"canary.approvalTimeout": "1h0m0s"}},
		{name: "bad target and release", strategy: strategy.Canary{Checks: checks}, target: &badTarget, release: &noVersion,
			fields: map[string]any{"target.name": "Payment_Service", "release.version": nil}},
	})
}

func TestCanaryReportsEveryProblemAtOnce(t *testing.T) {
	bad := progressive.Target{}
	_, err := strategy.Canary{Weights: []float64{50, 10, 200}, Soak: -1, Replicas: -3}.Plan(bad, progressive.Release{})
	got := problems(t, err)
	for _, f := range []string{"target.name", "release.version", "canary.weights[1]", "canary.weights[2]", "canary.soak", "canary.replicas", "canary.checks"} {
		assert.Contains(t, got, f)
	}
	assert.Contains(t, err.Error(), "canary.weights[2]: must be above 0 and at most 100 (got 200)")
}

func seq(step float64, n int) []float64 {
	s := make([]float64, n)
	for i := range s {
		s[i] = step * float64(i+1)
	}
	return s
}

func TestPlanName(t *testing.T) {
	cases := []struct {
		target, version, want string
	}{
		{"payment-service", "v2.0.0", "payment-service-v2-0-0"},
		{"production/payment-service", "v2.0.0", "production-payment-service-v2-0-0"},
		{"staging/payment-service", "v2.0.0", "staging-payment-service-v2-0-0"},
		{"api", "V2_RC.1", "api-v2-rc-1"},
		{"api", "--sha:ABC--", "api-sha-abc"},
		{"api", "", "api"},
		{"", "", "rollout"},
		{"api", "ünïcode", "api-n-code"},
	}
	for _, tc := range cases {
		ns, name, ok := strings.Cut(tc.target, "/")
		if !ok {
			ns, name = "", tc.target
		}
		assert.Equal(t, tc.want, strategy.PlanName(progressive.Target{Namespace: ns, Name: name}, progressive.Release{Version: tc.version}))
	}
	long := strategy.PlanName(progressive.Target{Name: "a-very-long-service-name-that-goes-on-and-on"}, progressive.Release{Version: "v1.2.3-rc.4+build.5678.abcdef"})
	assert.LessOrEqual(t, len(long), 63)
	assert.NoError(t, progressive.Target{Name: long}.Validate(), long)
	other := strategy.PlanName(progressive.Target{Name: "a-very-long-service-name-that-goes-on-and-on"}, progressive.Release{Version: "v1.2.3-rc.4+build.5678.abcdeg"})
	assert.NotEqual(t, long, other, "shortened names keep a hash of the whole")
}

func TestCanaryFullSoakCountsTowardMaxPhases(t *testing.T) {
	c := strategy.Canary{Weights: seq(0.5, strategy.MaxPhases), FullSoak: true, Checks: checks}
	_, err := c.Plan(target, release)
	require.ErrorIs(t, err, progressive.ErrInvalid)
	require.ErrorContains(t, err, "canary.fullSoak")

	c.Weights = seq(0.5, strategy.MaxPhases-1)
	p, err := c.Plan(target, release)
	require.NoError(t, err)
	phases, err := c.Phases()
	require.NoError(t, err)
	require.Len(t, phases, strategy.MaxPhases)
	require.Equal(t, 100.0, phases[len(phases)-1])
	require.Len(t, p.Steps, 1+2*strategy.MaxPhases+2)
}
