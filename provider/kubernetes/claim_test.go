package kubernetes_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/agentops/progressive"
	k8s "github.com/agentops/progressive/provider/kubernetes"
	"github.com/agentops/progressive/provider/sim"
	"github.com/agentops/progressive/rollout"
	"github.com/agentops/progressive/strategy"
)

// claimRunner is one "process": its own provider (clients, informers) and
// runner over the shared namespace's store, with simulated traffic.
func claimRunner(t *testing.T, p *k8s.Provider, ns string) *rollout.Runner {
	t.Helper()
	store, err := p.Store(ns)
	require.NoError(t, err)
	env := sim.New(sim.Options{Seed: 1})
	tg := target(ns, "checkout")
	require.NoError(t, env.Metrics.SetProfile(tg, sim.Profile{RequestRate: 100}))
	require.NoError(t, env.Workload.AddService(tg, sim.ServiceSpec{Replicas: 4, Version: "v1"}))
	r, err := rollout.New(rollout.Options{
		Providers: rollout.Providers{
			Routers: []progressive.TrafficRouter{env.Router}, Metrics: []progressive.MetricSource{env.Metrics},
			Workloads: []progressive.Workload{env.Workload},
		},
		Store: store,
	})
	require.NoError(t, err)
	return r
}

func claimPlan(t *testing.T, ns, version string) progressive.Plan {
	t.Helper()
	plan, err := strategy.Canary{Weights: []float64{10}, Soak: time.Minute, Checks: []progressive.Check{
		{Name: "error-rate", Query: "error_rate", Max: progressive.Float(1), Interval: time.Minute},
	}}.Plan(target(ns, "checkout"), progressive.Release{Version: version})
	require.NoError(t, err)
	return plan
}

// Two processes start rollouts of one target at the same instant, many times:
// exactly one wins each round, the loser names the winner, and a rollout that
// ended gives the target to the next one.
func TestConcurrentStartsInTwoProcessesCreateOneRollout(t *testing.T) {
	e := env.Require(t)
	ns := e.NewNamespace(t)
	ctx := context.Background()
	procs := []*rollout.Runner{
		claimRunner(t, newProvider(t, e.Config(), fastOptions()), ns),
		claimRunner(t, newProvider(t, e.Config(), fastOptions()), ns),
	}
	const rounds = 8
	for round := range rounds {
		var wg sync.WaitGroup
		errs := make([]error, len(procs))
		ids := make([]string, len(procs))
		for i, r := range procs {
			plan := claimPlan(t, ns, fmt.Sprintf("v%d-%d", round, i))
			ids[i] = plan.Name
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = r.Start(ctx, plan)
			}()
		}
		wg.Wait()
		won := -1
		for i, err := range errs {
			if err == nil {
				require.Equal(t, -1, won, "round %d: both processes started a rollout of one target", round)
				won = i
				continue
			}
			require.ErrorIs(t, err, rollout.ErrTargetBusy, "round %d", round)
			require.ErrorIs(t, err, progressive.ErrConflict)
		}
		require.NotEqual(t, -1, won, "round %d: neither started: %v", round, errs)
		loser := 1 - won
		assert.Contains(t, errs[loser].Error(), ids[won], "the refusal names the holder")
		// Only the winner's state exists.
		_, err := procs[loser].Get(ctx, ids[loser])
		require.ErrorIs(t, err, progressive.ErrNotFound)
		// The winner ends; the next round may take the target.
		require.NoError(t, procs[won].Abort(ctx, ids[won], "next round"))
		for {
			res, err := procs[won].Reconcile(ctx, ids[won])
			require.NoError(t, err)
			if res.Phase.Terminal() {
				break
			}
		}
	}
}

func TestAClaimWhoseRolloutNeverAppearedIsTakenOverAfterTheGrace(t *testing.T) {
	e := env.Require(t)
	ns := e.NewNamespace(t)
	ctx := context.Background()
	p := newProvider(t, e.Config(), fastOptions())
	store, err := p.Store(ns)
	require.NoError(t, err)
	subject := []string{"target " + ns + "/checkout"}

	// A process claimed and died before creating its state.
	require.NoError(t, store.ClaimSubjects(ctx, "ghost", subject))
	err = store.ClaimSubjects(ctx, "next", subject)
	require.ErrorIs(t, err, rollout.ErrTargetBusy, "a fresh claim counts as held")
	assert.Contains(t, err.Error(), "claimed by rollout ghost")

	cms := e.Clientset().CoreV1().ConfigMaps(ns)
	cm, err := cms.Get(ctx, k8s.ClaimConfigMapName(subject[0]), metav1.GetOptions{})
	require.NoError(t, err)
	cm.Annotations[k8s.ClaimedAtAnnotation] = time.Now().Add(-k8s.ClaimGrace - time.Second).UTC().Format(time.RFC3339)
	_, err = cms.Update(ctx, cm, metav1.UpdateOptions{})
	require.NoError(t, err)
	require.NoError(t, store.ClaimSubjects(ctx, "next", subject))

	// Released claims are free at once.
	require.NoError(t, store.ReleaseSubjects(ctx, "next", subject))
	require.NoError(t, store.ClaimSubjects(ctx, "third", subject))
	cm, err = cms.Get(ctx, k8s.ClaimConfigMapName(subject[0]), metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, "third", cm.Data[k8s.ClaimHolderKey])
	require.NoError(t, store.ReleaseSubjects(ctx, "not-the-holder", subject))
	cm, err = cms.Get(ctx, k8s.ClaimConfigMapName(subject[0]), metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, "third", cm.Data[k8s.ClaimHolderKey], "only the holder releases")
}
