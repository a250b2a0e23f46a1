package strategy_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/strategy"
)

var gatewayFlag = progressive.FlagRef{Project: "payments", Environment: "production", Key: "payment_gateway_v2"}

func flagPercents(p progressive.Plan) []float64 {
	var ps []float64
	for _, s := range p.Steps {
		if s.SetFlag != nil {
			ps = append(ps, s.SetFlag.Percent)
		}
	}
	return ps
}

func TestFlagRolloutPlanShape(t *testing.T) {
	day := 24 * time.Hour
	week := 7 * day
	cases := []struct {
		name     string
		f        strategy.FlagRollout
		kinds    []progressive.StepKind
		percents []float64
		timed    []time.Duration
	}{
		{
			name:     "defaults are 1, 10, 50, 100 with a day each and no soak at 100",
			f:        strategy.FlagRollout{Flag: gatewayFlag, Variation: "on", Fallback: "off", Checks: checks},
			kinds:    []progressive.StepKind{F, A, F, A, F, A, F},
			percents: []float64{1, 10, 50, 100},
			timed:    repeat(day, 3),
		},
		{
			name:     "the design document's search algorithm: a week each for 5, 25, 75, 100",
			f:        strategy.FlagRollout{Flag: gatewayFlag, Variation: "on", Fallback: "off", Checks: checks, Percentages: []float64{5, 25, 75, 100}, Soak: week},
			kinds:    []progressive.StepKind{F, A, F, A, F, A, F},
			percents: []float64{5, 25, 75, 100},
			timed:    repeat(week, 3),
		},
		{
			name:     "full soak analyzes 100 too",
			f:        strategy.FlagRollout{Flag: gatewayFlag, Variation: "on", Fallback: "off", Checks: checks, Percentages: []float64{10, 100}, FullSoak: true, Soak: time.Hour},
			kinds:    []progressive.StepKind{F, A, F, A},
			percents: []float64{10, 100},
			timed:    repeat(time.Hour, 2),
		},
		{
			name:     "a partial rollout stops at its last percentage, analyzed",
			f:        strategy.FlagRollout{Flag: gatewayFlag, Variation: "on", Fallback: "off", Checks: checks, Percentages: []float64{1, 5}},
			kinds:    []progressive.StepKind{F, A, F, A},
			percents: []float64{1, 5},
			timed:    repeat(day, 2),
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, err := tc.f.Plan(target, release)
			requireValid(t, tc.f, p, err)
			assert.Equal(t, tc.kinds, kinds(p))
			assert.Equal(t, tc.percents, flagPercents(p))
			assert.Equal(t, tc.timed, timed(p))
			for _, s := range p.Steps {
				if s.SetFlag != nil {
					assert.Equal(t, gatewayFlag, s.SetFlag.Flag)
					assert.Equal(t, "on", s.SetFlag.Variation)
					assert.Equal(t, "off", s.SetFlag.Fallback)
				}
			}
			assert.Contains(t, p.Reason, `sets the flag back to 0% (everyone on "off") in one write`)
		})
	}
}

func TestFlagRolloutNameWithoutVersion(t *testing.T) {
	f := strategy.FlagRollout{Flag: gatewayFlag, Variation: "on", Fallback: "off", Checks: checks}
	p, err := f.Plan(target, progressive.Release{})
	require.NoError(t, err)
	require.NoError(t, p.Validate())
	assert.Equal(t, "payment-service-payment-gateway-v2", p.Name)
}

func TestFlagRolloutInvalid(t *testing.T) {
	ok := strategy.FlagRollout{Flag: gatewayFlag, Variation: "on", Fallback: "off", Checks: checks}
	with := func(mod func(*strategy.FlagRollout)) strategy.FlagRollout {
		f := ok
		mod(&f)
		return f
	}
	runBad(t, []badCase{
		{name: "empty flag key", strategy: with(func(f *strategy.FlagRollout) { f.Flag = progressive.FlagRef{Environment: "production"} }),
			fields: map[string]any{"flagRollout.flag.key": nil}},
		{name: "percentage above 100", strategy: with(func(f *strategy.FlagRollout) { f.Percentages = []float64{1, 10, 150} }),
			fields: map[string]any{"flagRollout.percentages[2]": 150.0}},
		{name: "percentages not increasing", strategy: with(func(f *strategy.FlagRollout) { f.Percentages = []float64{10, 5, 100} }),
			fields: map[string]any{"flagRollout.percentages[1]": 5.0}},
		{name: "only 100 without full soak", strategy: with(func(f *strategy.FlagRollout) { f.Percentages = []float64{100} }),
			fields: map[string]any{"flagRollout.percentages": "[100]"}},
		{name: "variation and fallback missing", strategy: with(func(f *strategy.FlagRollout) { f.Variation, f.Fallback = "", "" }),
			fields: map[string]any{"flagRollout.variation": nil, "flagRollout.fallback": nil}},
		{name: "fallback equals variation", strategy: with(func(f *strategy.FlagRollout) { f.Fallback = "on" }),
			fields: map[string]any{"flagRollout.fallback": "on"}},
		{name: "no checks", strategy: with(func(f *strategy.FlagRollout) { f.Checks = nil }),
			fields: map[string]any{"flagRollout.checks": nil}},
		{name: "negative soak", strategy: with(func(f *strategy.FlagRollout) { f.Soak = -time.Hour }),
			fields: map[string]any{"flagRollout.soak": "-1h0m0s"}},
	})
}

func TestFlagRolloutTargetsFirst(t *testing.T) {
	f := strategy.FlagRollout{Flag: gatewayFlag, Variation: "on", Fallback: "off", Checks: checks,
		Targets: []string{"alice", "bob"}, Segments: []string{"beta-testers"}, TargetGate: "targets-ok", Percentages: []float64{10, 100}, Soak: time.Hour}
	p, err := f.Plan(target, progressive.Release{})
	require.NoError(t, err)
	require.NoError(t, p.Validate())
	kinds := make([]progressive.StepKind, 0, len(p.Steps))
	for _, s := range p.Steps {
		kinds = append(kinds, s.Kind())
	}
	assert.Equal(t, []progressive.StepKind{F, progressive.KindPause, progressive.KindApproval, F, A, F}, kinds,
		"the targeted stage is a soak without analysis (no data from a handful of users), then a gate")
	first := p.Steps[0].SetFlag
	assert.Equal(t, 0.0, first.Percent)
	assert.Equal(t, []string{"alice", "bob"}, first.Targets)
	assert.Equal(t, []string{"beta-testers"}, first.Segments)
	assert.Equal(t, time.Hour, p.Steps[1].Pause.Duration, "TargetSoak defaults to Soak")
	assert.Equal(t, "targets-ok", p.Steps[2].Approval.Gate)
	assert.Contains(t, p.Reason, "first to users alice, bob and segment(s) beta-testers alone for 1h without analysis")
	assert.Contains(t, p.Reason, "removes the targets it added")
}

func TestFlagRolloutTargetsValidation(t *testing.T) {
	base := strategy.FlagRollout{Flag: gatewayFlag, Variation: "on", Fallback: "off", Checks: checks}
	cases := []struct {
		name   string
		change func(*strategy.FlagRollout)
		field  string
		value  string
	}{
		{"empty key", func(f *strategy.FlagRollout) { f.Targets = []string{"alice", " "} }, "flagRollout.targets[1]", `" "`},
		{"duplicate key", func(f *strategy.FlagRollout) { f.Targets = []string{"alice", "alice"} }, "flagRollout.targets[1]", "alice"},
		{"empty segment", func(f *strategy.FlagRollout) { f.Segments = []string{""} }, "flagRollout.segments[0]", `""`},
		{"soak without targets", func(f *strategy.FlagRollout) { f.TargetSoak = time.Hour }, "flagRollout.targetSoak", "1h0m0s"},
		{"gate without targets", func(f *strategy.FlagRollout) { f.TargetGate = "ok" }, "flagRollout.targetGate", "ok"},
		{"negative soak", func(f *strategy.FlagRollout) { f.Targets = []string{"a"}; f.TargetSoak = -time.Hour }, "flagRollout.targetSoak", "-1h0m0s"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := base
			c.change(&f)
			err := f.Validate()
			require.ErrorIs(t, err, progressive.ErrInvalid)
			assert.Contains(t, err.Error(), c.field)
			assert.Contains(t, err.Error(), c.value)
		})
	}
}
