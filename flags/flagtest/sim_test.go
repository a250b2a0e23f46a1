package flagtest_test

import (
	"context"
	"testing"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/flags/flagtest"
	"github.com/agentops/progressive/provider/sim"
)

// The in-memory store of the simulator passes the conformance suite.
func TestSimConformance(t *testing.T) {
	flagtest.Run(t, func(t *testing.T) flagtest.Fixture {
		store := sim.NewFlagStore(sim.Options{})
		envs := [2]string{"staging", "production"}
		var refs []progressive.FlagRef
		for _, env := range envs {
			ref := progressive.FlagRef{Project: "shop", Environment: env, Key: "payment_gateway_v2"}
			refs = append(refs, ref)
			if err := store.AddFlag(progressive.Flag{
				Ref:          ref,
				Variations:   []progressive.Variation{{ID: "off", Name: "off", Value: false}, {ID: "on", Name: "on", Value: true}},
				OffVariation: "off",
				Fallthrough:  progressive.PercentRollout("off", "on", 100),
			}); err != nil {
				t.Fatal(err)
			}
		}
		store.AddSegment("beta-testers", "tess", "tom")
		return flagtest.Fixture{
			Store:          store,
			Project:        "shop",
			Environments:   envs,
			Flag:           "payment_gateway_v2",
			Segment:        "beta-testers",
			SegmentMembers: []string{"tess", "tom"},
			ClauseRules:    true,
			Evaluate: func(_ context.Context, ref progressive.FlagRef, key string, attrs map[string]string) (string, error) {
				return store.Evaluate(ref, key, attrs)
			},
			Requests: func() int { return store.Writes(refs[0]) + store.Writes(refs[1]) },
		}
	})
}
