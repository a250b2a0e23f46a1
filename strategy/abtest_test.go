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

var greenHeader = progressive.Match{Kind: progressive.MatchHeader, Name: "x-version", Value: "green"}

func TestABTestPlanShape(t *testing.T) {
	beta := progressive.Match{Kind: progressive.MatchCookie, Name: "beta", Value: "^(yes|true)$", Regex: true}
	cases := []struct {
		name     string
		ab       strategy.ABTest
		duration time.Duration
		replicas int
	}{
		{"defaults", strategy.ABTest{Matches: []progressive.Match{greenHeader}, Checks: checks}, time.Hour, 1},
		{"explicit", strategy.ABTest{Matches: []progressive.Match{greenHeader, beta}, Checks: checks, Duration: 4 * time.Hour, Replicas: 3}, 4 * time.Hour, 3},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, err := tc.ab.Plan(target, release)
			requireValid(t, tc.ab, p, err)
			assert.Equal(t, []progressive.StepKind{D, R, A, PR, FI}, kinds(p))
			assert.Equal(t, tc.replicas, p.Steps[0].Deploy.Replicas)
			assert.Equal(t, progressive.Routes{StableWeight: 100, Matches: tc.ab.Matches}, p.Steps[1].SetRoutes.Routes)
			assert.Equal(t, []time.Duration{tc.duration}, timed(p))
			assert.Contains(t, p.Reason, "header x-version=green")
		})
	}
}

func TestMirrorPlanShape(t *testing.T) {
	cases := []struct {
		name     string
		m        strategy.Mirror
		percent  float64
		duration time.Duration
		replicas int
	}{
		{"defaults", strategy.Mirror{Checks: checks}, 100, 15 * time.Minute, 1},
		{"explicit", strategy.Mirror{Percent: 20, Duration: time.Hour, Replicas: 2, Checks: checks}, 20, time.Hour, 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, err := tc.m.Plan(target, release)
			requireValid(t, tc.m, p, err)
			assert.Equal(t, []progressive.StepKind{D, R, A, PR, FI}, kinds(p))
			assert.Equal(t, tc.replicas, p.Steps[0].Deploy.Replicas)
			assert.Equal(t, progressive.Routes{StableWeight: 100, MirrorPercent: tc.percent}, p.Steps[1].SetRoutes.Routes)
			assert.Equal(t, []time.Duration{tc.duration}, timed(p))
			assert.Contains(t, p.Reason, "answers discarded")
		})
	}
}

func TestABTestAndMirrorPlansDoNotAliasMatches(t *testing.T) {
	ms := []progressive.Match{greenHeader}
	p, err := strategy.ABTest{Matches: ms, Checks: checks}.Plan(target, release)
	require.NoError(t, err)
	p.Steps[1].SetRoutes.Routes.Matches[0].Value = "blue"
	assert.Equal(t, "green", ms[0].Value)
}

func TestABTestAndMirrorInvalid(t *testing.T) {
	runBad(t, []badCase{
		{name: "ab-test without matches", strategy: strategy.ABTest{Checks: checks},
			fields: map[string]any{"abTest.matches": nil}},
		{name: "ab-test bad match", strategy: strategy.ABTest{Checks: checks, Matches: []progressive.Match{greenHeader, {Kind: "query", Name: "v"}}},
			fields: map[string]any{"abTest.matches[1].kind": "query", "abTest.matches[1].value": nil}},
		{name: "ab-test without checks", strategy: strategy.ABTest{Matches: []progressive.Match{greenHeader}},
			fields: map[string]any{"abTest.checks": nil}},
		{name: "ab-test negative duration and replicas", strategy: strategy.ABTest{Matches: []progressive.Match{greenHeader}, Checks: checks, Duration: -1, Replicas: -1},
			fields: map[string]any{"abTest.duration": "-1ns", "abTest.replicas": -1}},
		{name: "mirror percent above 100", strategy: strategy.Mirror{Percent: 150, Checks: checks},
			fields: map[string]any{"mirror.percent": 150.0}},
		{name: "mirror percent negative", strategy: strategy.Mirror{Percent: -1, Checks: checks},
			fields: map[string]any{"mirror.percent": -1.0}},
		{name: "mirror percent NaN", strategy: strategy.Mirror{Percent: math.NaN(), Checks: checks},
			fields: map[string]any{"mirror.percent": nil}},
		{name: "mirror without checks", strategy: strategy.Mirror{},
			fields: map[string]any{"mirror.checks": nil}},
	})
}
