package strategy_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/strategy"
)

func TestNames(t *testing.T) {
	want := []string{"canary", "blue-green", "rolling", "ab-test", "mirror", "flag-rollout"}
	assert.Equal(t, want, strategy.Names())
	n := strategy.Names()
	n[0] = "changed"
	assert.Equal(t, want, strategy.Names(), "Names returns a copy")

	for _, s := range []progressive.Strategy{strategy.Canary{}, strategy.BlueGreen{}, strategy.Rolling{}, strategy.ABTest{}, strategy.Mirror{}, strategy.FlagRollout{}} {
		assert.Contains(t, want, s.Name())
		assert.NoError(t, strategy.Lookup(s.Name()))
	}
}

func TestLookupUnknown(t *testing.T) {
	for _, name := range []string{"", "Canary", "bluegreen", "istio", " canary"} {
		err := strategy.Lookup(name)
		got := problems(t, err)
		if assert.Contains(t, got, "strategy") {
			assert.Equal(t, name, got["strategy"].Value)
		}
		for _, known := range strategy.Names() {
			assert.Contains(t, err.Error(), known)
		}
	}
}
