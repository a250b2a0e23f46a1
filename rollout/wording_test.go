package rollout_test

import (
	"context"
	"testing"
	"time"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/provider/sim"
	"github.com/agentops/progressive/rollout"
	"github.com/agentops/progressive/strategy"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// approxRouter achieves weights the way a replica-ratio router does: 1 canary
// pod beside 10 stable ones is 9.090909...%.
type approxRouter struct{ progressive.TrafficRouter }

func (r approxRouter) SetRoutes(ctx context.Context, t progressive.Target, routes progressive.Routes) error {
	if routes.CanaryWeight > 0 && routes.CanaryWeight < 100 {
		routes = progressive.WeightedRoutes(100.0 / 11)
	}
	return r.TrafficRouter.SetRoutes(ctx, t, routes)
}

func TestWordsForPeople(t *testing.T) {
	t.Run("a flag release is named, and its rollback is not 'back on stable'", func(t *testing.T) {
		w := newWorld(t)
		w.bindFlag()
		w.inject(sim.ErrorRateSet, "", 4, 30*time.Hour)
		var events []rollout.Event
		w.obs = []rollout.Observer{rollout.ObserverFunc(func(_ context.Context, e rollout.Event) { events = append(events, e) })}
		// A flag release needs no version.
		plan, err := strategy.FlagRollout{Flag: flagRef, Variation: "on", Fallback: "off", Percentages: []float64{1, 10, 100}, Checks: seedChecks()}.Plan(service, progressive.Release{})
		require.NoError(t, err)
		st := w.execute(plan)
		require.Equal(t, rollout.PhaseRolledBack, st.Phase)
		assert.Equal(t, `rollout started: flag shop/production/payment_gateway_v2 variation "on"`, events[0].Message)
		last := events[len(events)-1]
		assert.Equal(t, rollout.EventRollbackCompleted, last.Type)
		assert.Contains(t, last.Message, `everyone is back on "off" of flag shop/production/payment_gateway_v2: `)
		assert.NotContains(t, last.Message, "stable")
		assert.Contains(t, rollout.Explain(plan), `Rollout payment-service-payment-gateway-v2: flag-rollout of production/payment-service to flag shop/production/payment_gateway_v2 variation "on"`)
		assert.Contains(t, rollout.Explain(plan), `done: flag shop/production/payment_gateway_v2 serves "on" to 100% of users`)
	})
	t.Run("percentages are rounded for people", func(t *testing.T) {
		w := newWorld(t)
		w.router = approxRouter{w.env.Router}
		var events []rollout.Event
		w.obs = []rollout.Observer{rollout.ObserverFunc(func(_ context.Context, e rollout.Event) { events = append(events, e) })}
		st := w.execute(mustPlan(t, strategy.Canary{Weights: []float64{10, 100}, Soak: 5 * time.Minute, Checks: seedChecks(), Replicas: 1}))
		require.Equal(t, rollout.PhaseSucceeded, st.Phase, "%+v", st.Record.Decisions)
		var routed []string
		for _, e := range events {
			if e.Type == rollout.EventRoutesChanged {
				routed = append(routed, e.Message)
			}
		}
		require.NotEmpty(t, routed)
		assert.Equal(t, "routes set: 90.91% stable / 9.09% canary (asked 10%, achieved 9.09%)", routed[0])
		for _, e := range events {
			assert.NotContains(t, e.Message, "90.9090", "event %s", e.Type)
		}
	})
}
