package rollout_test

import (
	"context"
	"testing"
	"time"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/rollout"
	"github.com/agentops/progressive/strategy"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// restartingWorkload is the simulator's workload with a stable Deployment that
// adopting restarts, as the Kubernetes provider reports an unlabelled one.
type restartingWorkload struct {
	progressive.Workload
	msg string
}

func (w restartingWorkload) RestartWarning(context.Context, progressive.Target) (string, error) {
	return w.msg, nil
}

func TestAdoptionRestartIsExplainedAndDryRun(t *testing.T) {
	plan := seedCanary(t)
	out := rollout.Explain(plan)
	assert.Contains(t, out, "Good to know:")
	assert.Contains(t, out, "On its first rollout the deploy step adopts the stable Deployment production/payment-service")
	assert.Contains(t, out, "restarts every stable pod once")

	w := newWorld(t)
	const msg = "adopting Deployment production/payment-service adds progressive.agentops.io/role=stable to its pod template: Kubernetes replaces all 10 of its pods once"
	r, err := rollout.New(rollout.Options{
		Providers: rollout.Providers{
			Routers:   []progressive.TrafficRouter{w.env.Router},
			Metrics:   []progressive.MetricSource{w.env.Metrics},
			Workloads: []progressive.Workload{restartingWorkload{Workload: w.env.Workload, msg: msg}},
		},
		Store: w.store, Clock: w.clock,
	})
	require.NoError(t, err)
	report, err := r.DryRun(context.Background(), plan)
	require.NoError(t, err)
	assert.Contains(t, report.Warnings, progressive.Warning{Field: "target", Message: msg}, "DryRun names the Deployment that restarts")

	report, err = w.runner().DryRun(context.Background(), plan)
	require.NoError(t, err)
	for _, warning := range report.Warnings {
		assert.NotContains(t, warning.Message, "adopting", "a workload that restarts nothing says nothing")
	}
}

func TestBlueGreenExplainSaysWhichPodsServeAfterPromotion(t *testing.T) {
	p := mustPlan(t, strategy.BlueGreen{Replicas: 10, Checks: seedChecks(), Monitor: time.Hour})
	out := rollout.Explain(p)
	assert.Contains(t, out, "promote: blue (stable) is re-rolled with v2.0.0")
	assert.Contains(t, out, "finalize: all traffic back to blue (now running the release), scale green to 0: blue's new pods serve from here")
	assert.Contains(t, out, "The pods serving afterwards are blue's new pods, not the green pods the analysis watched")
	assert.Contains(t, p.Reason, "not the green pods that were monitored")

	canary := rollout.Explain(seedCanary(t))
	assert.NotContains(t, canary, "blue", "a canary has no blue side")
	assert.Contains(t, canary, "promote: stable takes v2.0.0")
}
