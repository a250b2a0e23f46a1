package strategy_test

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/strategy"
)

func rolls(p progressive.Plan) (updated []int, params []progressive.RollingParams, budgets []float64) {
	for _, s := range p.Steps {
		if s.Roll != nil {
			updated = append(updated, s.Roll.Updated)
			params = append(params, s.Roll.Params)
			budgets = append(budgets, s.Roll.ReadinessBudget)
		}
	}
	return
}

func TestRollingPlanShape(t *testing.T) {
	s30 := 30 * time.Second
	cases := []struct {
		name    string
		rolling strategy.Rolling
		kinds   []progressive.StepKind
		updated []int
		params  progressive.RollingParams
		budget  float64
		timed   []time.Duration
	}{
		{
			name:    "content-api example: 30 replicas, 3 at a time, 5% readiness budget",
			rolling: strategy.Rolling{Replicas: 30, BatchSize: 3},
			kinds:   append(repeat2(RO, P, 9), RO),
			updated: []int{3, 6, 9, 12, 15, 18, 21, 24, 27, 30},
			params:  progressive.RollingParams{MaxSurge: 3, MaxUnavailable: 0}, // clamped to the batch: 3 at a time
			budget:  5,
			timed:   repeat(s30, 9),
		},
		{
			name:    "defaults: batches of 25% rounded up",
			rolling: strategy.Rolling{Replicas: 30},
			kinds:   []progressive.StepKind{RO, P, RO, P, RO, P, RO},
			updated: []int{8, 16, 24, 30},
			params:  progressive.RollingParams{MaxSurge: 8, MaxUnavailable: 0},
			budget:  5,
			timed:   repeat(s30, 3),
		},
		{
			name:    "batch percent 10 of 30",
			rolling: strategy.Rolling{Replicas: 30, BatchPercent: 10, Pace: time.Minute},
			kinds:   append(repeat2(RO, P, 9), RO),
			updated: []int{3, 6, 9, 12, 15, 18, 21, 24, 27, 30},
			params:  progressive.RollingParams{MaxSurge: 3, MaxUnavailable: 0}, // clamped to the batch: 3 at a time
			budget:  5,
			timed:   repeat(time.Minute, 9),
		},
		{
			name:    "API service example: 1 pod every 30 seconds, 25% surge and unavailable of 20",
			rolling: strategy.Rolling{Replicas: 20, BatchSize: 1},
			kinds:   append(repeat2(RO, P, 19), RO),
			updated: seqInt(1, 20),
			params:  progressive.RollingParams{MaxSurge: 1, MaxUnavailable: 0},
			budget:  5,
			timed:   repeat(s30, 19),
		},
		{
			name:    "with checks an analysis follows every batch, the last too",
			rolling: strategy.Rolling{Replicas: 10, BatchSize: 4, Checks: checks, ReadinessBudget: 10},
			kinds:   []progressive.StepKind{RO, A, RO, A, RO, A},
			updated: []int{4, 8, 10},
			params:  progressive.RollingParams{MaxSurge: 3, MaxUnavailable: 1},
			budget:  10,
			timed:   repeat(s30, 3),
		},
		{
			name:    "one replica: surge up to 1, unavailable down to 0",
			rolling: strategy.Rolling{Replicas: 1},
			kinds:   []progressive.StepKind{RO},
			updated: []int{1},
			params:  progressive.RollingParams{MaxSurge: 1, MaxUnavailable: 0},
			budget:  5,
		},
		{
			name:    "no surge: unavailable defaults to 0 of 2, so becomes 1 as in Kubernetes",
			rolling: strategy.Rolling{Replicas: 2, MaxSurge: strategy.NoPods, ReadinessBudget: strategy.NoPods},
			kinds:   []progressive.StepKind{RO, P, RO},
			updated: []int{1, 2},
			params:  progressive.RollingParams{MaxSurge: 0, MaxUnavailable: 1},
			budget:  0,
			timed:   []time.Duration{s30},
		},
		{
			name:    "explicit surge and no unavailability",
			rolling: strategy.Rolling{Replicas: 6, BatchSize: 6, MaxSurge: 6, MaxUnavailable: strategy.NoPods},
			kinds:   []progressive.StepKind{RO},
			updated: []int{6},
			params:  progressive.RollingParams{MaxSurge: 6, MaxUnavailable: 0},
			budget:  5,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, err := tc.rolling.Plan(target, release)
			requireValid(t, tc.rolling, p, err)
			assert.Equal(t, tc.kinds, kinds(p))
			updated, params, budgets := rolls(p)
			assert.Equal(t, tc.updated, updated)
			assert.Equal(t, repeat(tc.params, len(updated)), params)
			assert.Equal(t, repeat(tc.budget, len(updated)), budgets)
			assert.Equal(t, tc.timed, timed(p))
			assert.NotContains(t, kinds(p), PR, "no promote without a router")
			assert.NotContains(t, kinds(p), FI, "no finalize without a router")
		})
	}
}

func TestRollingReason(t *testing.T) {
	p, err := strategy.Rolling{Replicas: 30, BatchSize: 3}.Plan(target, release)
	require.NoError(t, err)
	assert.Contains(t, p.Reason, "30 pods move to v2.0.0 3 at a time (10 batches; within a batch up to 3 new pod(s) start before old ones stop, none unavailable)")
	assert.NotContains(t, p.Reason, "surge 8")
	assert.Contains(t, p.Reason, "more than 5% of pods failing readiness 10m after a batch started undoes the update (the rollback ends once the previous revision is ready again)")
	assert.Contains(t, p.Reason, "the update is complete when the last batch is ready")
	assert.NotContains(t, p.Reason, "inconclusive")

	p, err = strategy.Rolling{Replicas: 30, Checks: checks}.Plan(target, release)
	require.NoError(t, err)
	assert.Contains(t, p.Reason, "a failing check (error-rate, latency-p95) or an inconclusive analysis (no data or NaN: missing data is never a pass) undoes it as well")
}

func TestRollingWithDefaults(t *testing.T) {
	d := strategy.Rolling{Replicas: 30}.WithDefaults()
	assert.Equal(t, strategy.Rolling{Replicas: 30, BatchSize: 8, Pace: 30 * time.Second, ReadyTimeout: 10 * time.Minute, MaxSurge: 8, MaxUnavailable: 7, ReadinessBudget: 5}, d)
	assert.Equal(t, strategy.Rolling{}, strategy.Rolling{}.WithDefaults(), "invalid options stay as they are")
}

func TestRollingInvalid(t *testing.T) {
	runBad(t, []badCase{
		{name: "zero replicas", strategy: strategy.Rolling{},
			fields: map[string]any{"rolling.replicas": 0}},
		{name: "negative replicas and batch", strategy: strategy.Rolling{Replicas: -2, BatchSize: -1},
			fields: map[string]any{"rolling.replicas": -2, "rolling.batchSize": -1}},
		{name: "batch larger than replicas", strategy: strategy.Rolling{Replicas: 30, BatchSize: 31},
			fields: map[string]any{"rolling.batchSize": 31}},
		{name: "batch size and percent", strategy: strategy.Rolling{Replicas: 30, BatchSize: 3, BatchPercent: 10},
			fields: map[string]any{"rolling.batchSize": 3}},
		{name: "batch percent out of range", strategy: strategy.Rolling{Replicas: 30, BatchPercent: 150},
			fields: map[string]any{"rolling.batchPercent": 150.0}},
		{name: "batch percent NaN", strategy: strategy.Rolling{Replicas: 30, BatchPercent: math.NaN()},
			fields: map[string]any{"rolling.batchPercent": nil}},
		{name: "surge and unavailable both none", strategy: strategy.Rolling{Replicas: 30, MaxSurge: strategy.NoPods, MaxUnavailable: strategy.NoPods},
			fields: map[string]any{"rolling.maxSurge": -1}},
		{name: "surge and unavailable below -1", strategy: strategy.Rolling{Replicas: 30, MaxSurge: -2, MaxUnavailable: -5},
			fields: map[string]any{"rolling.maxSurge": -2, "rolling.maxUnavailable": -5}},
		{name: "readiness budget out of range", strategy: strategy.Rolling{Replicas: 30, ReadinessBudget: 150},
			fields: map[string]any{"rolling.readinessBudget": 150.0}},
		{name: "negative pace", strategy: strategy.Rolling{Replicas: 30, Pace: -time.Second},
			fields: map[string]any{"rolling.pace": "-1s"}},
		{name: "too many batches", strategy: strategy.Rolling{Replicas: 5000, BatchSize: 1},
			fields: map[string]any{"rolling.batchSize": 1}},
		{name: "invalid optional check", strategy: strategy.Rolling{Replicas: 30, Checks: []progressive.Check{invalidCheck}},
			fields: map[string]any{"rolling.checks[0].query": nil}},
	})
}

func TestRollingHugeReplicasDoNotOverflow(t *testing.T) {
	r := strategy.Rolling{Replicas: progressive.MaxReplicas, BatchPercent: 50}
	p, err := r.Plan(target, release)
	requireValid(t, r, p, err)
	updated, _, _ := rolls(p)
	assert.Equal(t, progressive.MaxReplicas, updated[len(updated)-1])

	// Beyond the limit the plan is refused, and nothing overflows on the way.
	_, err = strategy.Rolling{Replicas: math.MaxInt, BatchPercent: 50}.Plan(target, release)
	require.ErrorIs(t, err, progressive.ErrInvalid)
	assert.ErrorContains(t, err, "must be at most 100000")
}

func repeat2[T any](a, b T, n int) []T {
	var s []T
	for range n {
		s = append(s, a, b)
	}
	return s
}

func seqInt(from, to int) []int {
	var s []int
	for i := from; i <= to; i++ {
		s = append(s, i)
	}
	return s
}

func TestRollingReadyTimeout(t *testing.T) {
	p, err := strategy.Rolling{Replicas: 4, BatchSize: 2, ReadyTimeout: 3 * time.Minute}.Plan(target, release)
	require.NoError(t, err)
	for _, s := range p.Steps {
		if s.Roll != nil {
			assert.Equal(t, 3*time.Minute, s.Roll.ReadyTimeout)
		}
	}
	p, err = strategy.Rolling{Replicas: 4}.Plan(target, release)
	require.NoError(t, err)
	assert.Equal(t, strategy.DefaultRollReadyTimeout, p.Steps[0].Roll.ReadyTimeout, "the default is written into the plan, where Explain shows it")

	err = strategy.Rolling{Replicas: 4, ReadyTimeout: -time.Second}.Validate()
	require.ErrorIs(t, err, progressive.ErrInvalid)
	assert.Contains(t, err.Error(), "rolling.readyTimeout")
	assert.Contains(t, err.Error(), "-1s")
}
