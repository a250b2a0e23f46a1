package flags_test

import (
	"context"
	"fmt"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/flags"
	"github.com/agentops/progressive/provider/sim"
)

// Staging serves the new gateway to everyone while production ramps: Plan lists
// the writes left, Apply makes them, one request each.
func ExampleEnvironments() {
	ctx := context.Background()
	store := sim.NewFlagStore(sim.Options{})
	for _, env := range []string{"staging", "production"} {
		_ = store.AddFlag(progressive.Flag{
			Ref:          progressive.FlagRef{Environment: env, Key: "payment_gateway_v2"},
			Variations:   []progressive.Variation{{ID: "off"}, {ID: "on"}},
			OffVariation: "off",
			Fallthrough:  progressive.PercentRollout("off", "on", 100),
		})
	}
	envs := flags.Environments{Key: "payment_gateway_v2", Variation: "on", Fallback: "off", States: []flags.EnvironmentState{
		{Environment: "staging", On: true, Percent: 100},
		{Environment: "production", On: true, Percent: 10},
	}}
	plan, _ := envs.Plan(ctx, store)
	for _, c := range plan {
		fmt.Println(c)
	}
	_, _ = envs.Apply(ctx, store, plan)
	st, _ := flags.Read(ctx, store, envs.Ref("production"), "on")
	fmt.Printf("production serves on to %g%%\n", st.Serving)
	// Output:
	// staging/payment_gateway_v2: serve 100% (now off, 0% on)
	// staging/payment_gateway_v2: turn on (now off, 0% on)
	// production/payment_gateway_v2: serve 10% (now off, 0% on)
	// production/payment_gateway_v2: turn on (now off, 0% on)
	// production serves on to 10%
}
