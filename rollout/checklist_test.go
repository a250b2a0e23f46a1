package rollout_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/rollout"
	"github.com/agentops/progressive/strategy"
)

func checklistPlan(t *testing.T, ns string) progressive.Plan {
	t.Helper()
	tg := service
	tg.Namespace = ns
	plan, err := strategy.Canary{Weights: []float64{10, 50}, Soak: 5 * time.Minute, Checks: seedChecks()}.Plan(tg, release)
	require.NoError(t, err)
	return plan
}

// gatedRunner is a runner over w whose checklist is items, for production only.
func gatedRunner(t *testing.T, w *world, items []rollout.ChecklistItem, att rollout.AttestationSource) *rollout.Runner {
	t.Helper()
	r, err := rollout.New(rollout.Options{
		Providers: rollout.Providers{
			Routers:   []progressive.TrafficRouter{w.env.Router},
			Metrics:   []progressive.MetricSource{w.env.Metrics},
			Workloads: []progressive.Workload{w.env.Workload},
		},
		Store: w.store,
		Clock: w.clock,
		Checklist: &rollout.Checklist{
			Items:        items,
			Applies:      func(p progressive.Plan) bool { return p.Target.Namespace == "production" },
			Attestations: att,
		},
	})
	require.NoError(t, err)
	return r
}

func TestAProductionRolloutWithoutItsChecklistDoesNotStart(t *testing.T) {
	w := newWorld(t)
	staging := rollout.NewMemoryStore()
	items := rollout.ProductionChecklist(rollout.ProductionChecklistOptions{Staging: staging, StagingNamespace: "staging"})
	r := gatedRunner(t, w, items, rollout.NewAttestations())

	_, err := r.Start(context.Background(), checklistPlan(t, "production"))
	require.ErrorIs(t, err, rollout.ErrChecklist)
	require.ErrorIs(t, err, progressive.ErrInvalid)
	// Every item that does not hold is named at once, with why.
	for _, want := range []string{
		"staging-validated: no promoted rollout of payment-service v2.0.0",
		"rollback-tested: no completed rollback of payment-service",
		"monitoring-ready: needs an attestation", "on-call-notified: needs an attestation",
		"database-compatible", "dependencies-ready", "documentation-updated",
	} {
		assert.Contains(t, err.Error(), want)
	}
	assert.NotContains(t, err.Error(), "metrics-defined:", "the guide's checks answered at preflight")
	// Nothing was stored and nothing moved.
	states, err := w.store.List(context.Background())
	require.NoError(t, err)
	assert.Empty(t, states)
	_, err = w.env.Router.GetRoutes(context.Background(), service)
	assert.ErrorIs(t, err, progressive.ErrNotFound, "no route was written")

	// A plan the checklist does not apply to starts.
	_, err = r.Start(context.Background(), checklistPlan(t, "staging"))
	require.NoError(t, err)
}

func TestTheChecklistHoldsOnEvidenceAndAttestationsAndIsRecorded(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	staging := rollout.NewMemoryStore()
	// Staging promoted this release and once rolled an earlier one back.
	promoted := checklistPlan(t, "staging")
	_, err := staging.Create(ctx, rollout.State{ID: promoted.Name, Plan: promoted, Phase: rollout.PhaseSucceeded, UpdatedAt: t0})
	require.NoError(t, err)
	earlier := checklistPlan(t, "staging")
	earlier.Name += "-earlier"
	earlier.Release.Version = "v1.9.0"
	_, err = staging.Create(ctx, rollout.State{ID: earlier.Name, Plan: earlier, Phase: rollout.PhaseRolledBack, UpdatedAt: t0})
	require.NoError(t, err)

	registry := prometheus.NewRegistry()
	registry.MustRegister(prometheus.NewGauge(prometheus.GaugeOpts{Name: "progressive_rollouts"}))
	items := rollout.ProductionChecklist(rollout.ProductionChecklistOptions{
		Staging: staging, StagingNamespace: "staging", Monitoring: registry,
	})
	att := rollout.NewAttestations()
	plan := checklistPlan(t, "production")
	for _, item := range []string{rollout.ItemOnCallNotified, rollout.ItemDatabaseCompatible, rollout.ItemDependenciesReady, rollout.ItemDocumentationUpdated} {
		att.Attest(plan.Name, rollout.Attestation{Item: item, By: "alice", At: t0.Add(-time.Hour)})
	}
	r := gatedRunner(t, w, items, att)

	st, err := r.Start(ctx, plan)
	require.NoError(t, err)
	got := decisions(st, "checklist")
	require.Len(t, got, 8, "one decision per item")
	reasons := make([]string, len(got))
	for i, d := range got {
		reasons[i] = d.Reason
	}
	all := strings.Join(reasons, "\n")
	assert.Contains(t, all, "staging-validated: rollout "+promoted.Name+" promoted payment-service v2.0.0 (registry.example.com/payment-service:v2.0.0) in staging at 2026-11-26T09:00:00Z")
	assert.Contains(t, all, "metrics-defined: 2 check(s) can roll back (error-rate, latency-p95)")
	assert.Contains(t, all, "rollback-tested: rollout "+earlier.Name+" rolled back in staging")
	assert.Contains(t, all, "monitoring-ready: metric family progressive_rollouts is exported")
	assert.Contains(t, all, "on-call-notified: attested by alice at 2026-11-26T08:00:00Z")
	final, _ := drive(t, r, w.clock, st.ID, 1000)
	assert.Equal(t, rollout.PhaseSucceeded, final.Phase)
}

func TestAnOverrideNeedsAPersonAndAReasonAndIsRecorded(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	plan := checklistPlan(t, "production")
	att := rollout.NewAttestations()
	items := []rollout.ChecklistItem{rollout.MetricsDefined(), rollout.AttestedItem(rollout.ItemOnCallNotified, "on-call knows")}
	r := gatedRunner(t, w, items, att)

	att.Override(plan.Name, rollout.Override{By: "bob"})
	_, err := r.Start(ctx, plan)
	require.ErrorIs(t, err, progressive.ErrInvalid)
	var ve *progressive.ValidationError
	require.True(t, errors.As(err, &ve), "%v", err)
	assert.Equal(t, "override.reason", ve.Problems[0].Field)

	att.Override(plan.Name, rollout.Override{By: "bob", Reason: "hotfix for incident 42", At: t0})
	st, err := r.Start(ctx, plan)
	require.NoError(t, err)
	over := decisions(st, "checklist-override")
	require.Len(t, over, 1)
	assert.Equal(t, "checklist overridden by bob at 2026-11-26T09:00:00Z: hotfix for incident 42 (not satisfied: on-call-notified)", over[0].Reason)
}

func TestAttestationsOfUnknownItemsOrWithoutAPersonAreRefused(t *testing.T) {
	w := newWorld(t)
	plan := checklistPlan(t, "production")
	att := rollout.NewAttestations()
	att.Attest(plan.Name, rollout.Attestation{Item: "on-call-notifed", By: "alice", At: t0})
	att.Attest(plan.Name, rollout.Attestation{Item: rollout.ItemOnCallNotified, At: t0})
	r := gatedRunner(t, w, []rollout.ChecklistItem{rollout.AttestedItem(rollout.ItemOnCallNotified, "")}, att)
	_, err := r.Start(context.Background(), plan)
	var ve *progressive.ValidationError
	require.True(t, errors.As(err, &ve), "%v", err)
	fields := []string{}
	for _, p := range ve.Problems {
		fields = append(fields, p.Field)
	}
	assert.Equal(t, []string{"attestations[0].item", "attestations[1].by"}, fields)
	assert.Contains(t, err.Error(), "on-call-notifed")
}

func TestChecklistItemNamesMustBeUnique(t *testing.T) {
	_, err := rollout.New(rollout.Options{Checklist: &rollout.Checklist{Items: []rollout.ChecklistItem{
		rollout.AttestedItem("gate", ""), rollout.AttestedItem("gate", ""), rollout.AttestedItem("Not OK", ""),
	}}})
	var ve *progressive.ValidationError
	require.True(t, errors.As(err, &ve), "%v", err)
	require.Len(t, ve.Problems, 2)
	assert.Equal(t, "checklist.items[1].name", ve.Problems[0].Field)
	assert.Equal(t, "checklist.items[2].name", ve.Problems[1].Field)
}

// rehearsalRouter is a router in dry-run mode: it records what it was asked and
// changes nothing.
type rehearsalRouter struct {
	progressive.TrafficRouter
	asked []progressive.Routes
	fail  error
}

func (d *rehearsalRouter) DryRun() bool { return true }
func (d *rehearsalRouter) SetRoutes(_ context.Context, _ progressive.Target, r progressive.Routes) error {
	d.asked = append(d.asked, r)
	return d.fail
}

type rehearsalWorkload struct {
	progressive.Workload
	asked int
}

func (d *rehearsalWorkload) DryRun() bool { return true }
func (d *rehearsalWorkload) RollbackCanary(context.Context, progressive.Target) error {
	d.asked++
	return progressive.ErrNotFound
}

func TestRollbackIsRehearsedThroughDryRunProviders(t *testing.T) {
	w := newWorld(t)
	router := &rehearsalRouter{TrafficRouter: w.env.Router}
	workload := &rehearsalWorkload{Workload: w.env.Workload}
	rehearsal := &rollout.Providers{Routers: []progressive.TrafficRouter{router}, Workloads: []progressive.Workload{workload}}
	item := rollout.RollbackTested(rehearsal, nil, "")
	r := gatedRunner(t, w, []rollout.ChecklistItem{item}, nil)
	st, err := r.Start(context.Background(), checklistPlan(t, "production"))
	require.NoError(t, err)
	assert.Equal(t, []progressive.Routes{progressive.AllStable()}, router.asked)
	assert.Equal(t, 1, workload.asked)
	assert.Equal(t, "rollback-tested: rollback rehearsed in dry-run mode: routes back to stable, canary scaled away", decisions(st, "checklist")[0].Reason)

	// A refused rehearsal is a reason not to start.
	w2 := newWorld(t)
	router.fail = errors.New("admission webhook denied the VirtualService")
	r = gatedRunner(t, w2, []rollout.ChecklistItem{item}, nil)
	_, err = r.Start(context.Background(), checklistPlan(t, "production"))
	require.ErrorIs(t, err, rollout.ErrChecklist)
	assert.Contains(t, err.Error(), "rehearsed routes back to stable: admission webhook denied")

	// Providers without a dry-run mode cannot rehearse.
	plain := &rollout.Providers{Routers: []progressive.TrafficRouter{w.env.Router}, Workloads: []progressive.Workload{w.env.Workload}}
	r = gatedRunner(t, newWorld(t), []rollout.ChecklistItem{rollout.RollbackTested(plain, nil, "")}, nil)
	_, err = r.Start(context.Background(), checklistPlan(t, "production"))
	require.ErrorIs(t, err, rollout.ErrChecklist)
	assert.Contains(t, err.Error(), "has no dry-run mode")
}

// failingStore cannot list: the staging cluster is unreachable.
type failingStore struct{ rollout.StateStore }

func (failingStore) List(context.Context) ([]rollout.State, error) {
	return nil, errors.New("dial tcp: connection refused")
}

func TestAnUnreachableStagingStoreIsTransientNotAVerdict(t *testing.T) {
	w := newWorld(t)
	r := gatedRunner(t, w, []rollout.ChecklistItem{rollout.StagingValidated(failingStore{}, "staging")}, nil)
	_, err := r.Start(context.Background(), checklistPlan(t, "production"))
	require.Error(t, err)
	assert.True(t, progressive.IsTransient(err), "%v", err)
	assert.NotErrorIs(t, err, rollout.ErrChecklist)
}

func TestAPlanWithoutChecksDoesNotHaveItsMetricsDefined(t *testing.T) {
	w := newWorld(t)
	// A rolling update may run without analysis; in production the checklist
	// wants success criteria.
	plan, err := strategy.Rolling{Replicas: 10, BatchSize: 5, Pace: time.Minute}.Plan(service, release)
	require.NoError(t, err)
	r := gatedRunner(t, w, []rollout.ChecklistItem{rollout.MetricsDefined()}, nil)
	_, err = r.Start(context.Background(), plan)
	require.ErrorIs(t, err, rollout.ErrChecklist)
	assert.Contains(t, err.Error(), "metrics-defined: no analysed check can roll the rollout back")
}
