package strategy_test

import (
	"strings"
	"testing"
	"unicode"

	"github.com/stretchr/testify/assert"

	"github.com/agentops/progressive/strategy"
)

func TestRecommend(t *testing.T) {
	cases := []struct {
		name     string
		profile  strategy.Profile
		strategy string
		alts     []string
		noAlts   []string
		reasons  []string // substrings, each in some reason
	}{
		// One rule at a time.
		{name: "high traffic", profile: strategy.Profile{RequestsPerSecond: 2500, HasServiceMesh: true},
			strategy: "canary", alts: []string{"blue-green", "mirror"},
			reasons: []string{"2500 requests per second, above the 1000", "exact shares of requests"}},
		{name: "exactly 1000 req/s is not high traffic", profile: strategy.Profile{RequestsPerSecond: 1000, LowRisk: true, ToleratesVersionMixing: true},
			strategy: "rolling", alts: []string{"canary"}, reasons: []string{"RequestsPerSecond=1000) is not above 1000"}},
		{name: "business-critical without mesh", profile: strategy.Profile{Critical: true},
			strategy: "canary", alts: []string{"blue-green"}, noAlts: []string{"mirror"},
			reasons: []string{"business-critical (Critical=true)", "still works by replica ratio"}},
		{name: "database migration", profile: strategy.Profile{DatabaseMigration: true},
			strategy: "blue-green", alts: []string{"canary"}, reasons: []string{"DatabaseMigration=true", "backwards compatible"}},
		{name: "long-running requests", profile: strategy.Profile{LongRunningRequests: true},
			strategy: "blue-green", reasons: []string{"LongRunningRequests=true", "mid-request"}},
		{name: "instant rollback", profile: strategy.Profile{NeedsInstantRollback: true},
			strategy: "blue-green", reasons: []string{"NeedsInstantRollback=true", "one write"}},
		{name: "decouple release", profile: strategy.Profile{DecoupleRelease: true},
			strategy: "flag-rollout", alts: []string{"canary"}, reasons: []string{"DecoupleRelease=true", "one flag write"}},
		{name: "user targeting with mesh", profile: strategy.Profile{UserTargeting: true, HasServiceMesh: true},
			strategy: "flag-rollout", alts: []string{"ab-test"}, reasons: []string{"UserTargeting=true", "A/B test"}},
		{name: "user targeting without mesh", profile: strategy.Profile{UserTargeting: true},
			strategy: "flag-rollout", noAlts: []string{"ab-test"}, reasons: []string{"HasServiceMesh=false"}},
		{name: "low risk and version mixing", profile: strategy.Profile{LowRisk: true, ToleratesVersionMixing: true, RequestsPerSecond: 50},
			strategy: "rolling", alts: []string{"canary"}, reasons: []string{"LowRisk=true", "ToleratesVersionMixing=true", "RequestsPerSecond=50"}},
		{name: "nothing stated: canary by default", profile: strategy.Profile{},
			strategy: "canary", alts: []string{"blue-green"}, reasons: []string{"safe default", "replica ratio"}},
		{name: "low risk alone is not enough for rolling", profile: strategy.Profile{LowRisk: true},
			strategy: "canary", alts: []string{"rolling"}, reasons: []string{"ToleratesVersionMixing=false"}},
		{name: "version mixing alone is not enough for rolling", profile: strategy.Profile{ToleratesVersionMixing: true},
			strategy: "canary", alts: []string{"rolling"}, reasons: []string{"LowRisk=false"}},

		// Conflicts, resolved by the documented precedence.
		{name: "migration beats high traffic", profile: strategy.Profile{DatabaseMigration: true, RequestsPerSecond: 5000, Critical: true},
			strategy: "blue-green", alts: []string{"canary"},
			reasons: []string{"5000 requests per second", "take precedence", "Critical=true"}},
		{name: "long requests beat decoupled release", profile: strategy.Profile{LongRunningRequests: true, DecoupleRelease: true},
			strategy: "blue-green", alts: []string{"canary", "flag-rollout"}, reasons: []string{"released behind a flag"}},
		{name: "decoupled release beats high traffic", profile: strategy.Profile{DecoupleRelease: true, RequestsPerSecond: 3000},
			strategy: "flag-rollout", alts: []string{"canary"}, reasons: []string{"3000 requests per second", "can itself be a canary"}},
		{name: "decoupled low-risk deploy can roll", profile: strategy.Profile{DecoupleRelease: true, LowRisk: true, ToleratesVersionMixing: true},
			strategy: "flag-rollout", alts: []string{"rolling", "canary"}},
		{name: "critical beats low risk", profile: strategy.Profile{Critical: true, LowRisk: true, ToleratesVersionMixing: true},
			strategy: "canary", alts: []string{"rolling", "blue-green"}, reasons: []string{"outweighs"}},
		{name: "high traffic beats low risk", profile: strategy.Profile{RequestsPerSecond: 1500, LowRisk: true, ToleratesVersionMixing: true},
			strategy: "canary", alts: []string{"rolling"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := strategy.Recommend(tc.profile)
			assert.Equal(t, tc.strategy, r.Strategy)
			assert.NoError(t, strategy.Lookup(r.Strategy))
			for _, a := range tc.alts {
				assert.Contains(t, r.Alternatives, a)
			}
			for _, a := range tc.noAlts {
				assert.NotContains(t, r.Alternatives, a)
			}
			assert.NotContains(t, r.Alternatives, r.Strategy)
			assert.NotEmpty(t, r.Alternatives)
			for _, a := range r.Alternatives {
				assert.NoError(t, strategy.Lookup(a))
			}
			all := strings.Join(r.Reasons, "\n")
			for _, want := range tc.reasons {
				assert.Contains(t, all, want)
			}
			for _, s := range r.Reasons {
				assert.True(t, unicode.IsUpper([]rune(s)[0]), "sentence starts upper-case: %q", s)
				assert.True(t, strings.HasSuffix(s, "."), "sentence ends with a period: %q", s)
				assert.NotContains(t, s, "%!", "formatting error in %q", s)
			}
		})
	}
}
