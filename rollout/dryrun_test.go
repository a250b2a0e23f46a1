package rollout_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/rollout"
	"github.com/agentops/progressive/strategy"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// dryRouter is a router in dry-run mode: it checks routes and records them, and
// changes nothing.
type dryRouter struct {
	progressive.TrafficRouter
	mu      sync.Mutex
	checked []progressive.Routes
}

func (d *dryRouter) DryRun() bool { return true }

func (d *dryRouter) SetRoutes(_ context.Context, _ progressive.Target, r progressive.Routes) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.checked = append(d.checked, r)
	return r.Validate()
}

func TestDryRunChangesNothing(t *testing.T) {
	w := newWorld(t)
	router := &dryRouter{TrafficRouter: w.env.Router}
	r, err := rollout.New(rollout.Options{
		Providers: rollout.Providers{Routers: []progressive.TrafficRouter{router}, Metrics: []progressive.MetricSource{w.env.Metrics}, Workloads: []progressive.Workload{w.env.Workload}},
		Clock:     w.clock,
	})
	require.NoError(t, err)
	plan := seedCanary(t)
	report, err := r.DryRun(context.Background(), plan)
	require.NoError(t, err)
	assert.True(t, report.OK(), "%+v", report)
	assert.Contains(t, report.Explanation, "Rollback is automatic when")

	require.Len(t, report.Queries, 2*len(seedChecks()), "every check asked for both sides")
	for _, q := range report.Queries {
		if q.Role == progressive.Stable && q.Check != "cpu" {
			assert.Equal(t, progressive.StatusValue, q.Status, "%+v", q)
		}
		if q.Role == progressive.Canary && q.Check == "error-rate" {
			assert.Equal(t, progressive.StatusNoData, q.Status, "no canary yet: no data, and the report says so")
		}
	}
	var rehearsed []int
	for _, s := range report.Steps {
		if s.Rehearsed {
			rehearsed = append(rehearsed, s.Step)
		} else {
			assert.NotEmpty(t, s.Note)
		}
	}
	assert.Equal(t, []int{1, 3}, rehearsed, "the two weight changes went to the dry-run router; the workload has no dry-run mode")
	assert.Equal(t, []progressive.Routes{progressive.WeightedRoutes(10), progressive.WeightedRoutes(50)}, router.checked)

	assert.Equal(t, 0, w.env.Router.Writes(service), "nothing changed")
	assert.Equal(t, 0, w.status().Canary.Replicas)
	_, err = r.Get(context.Background(), plan.Name)
	assert.ErrorIs(t, err, progressive.ErrNotFound, "a dry run stores no state")

	bad := plan
	bad.Steps = append([]progressive.Step{{Pause: &progressive.PauseStep{Duration: -time.Second}}}, plan.Steps...)
	_, err = r.DryRun(context.Background(), bad)
	require.ErrorIs(t, err, progressive.ErrInvalid)
}

func TestDryRunValidatesBeforeAnyRehearsal(t *testing.T) {
	w := newWorld(t)
	router := &dryRouter{TrafficRouter: w.env.Router}
	r, err := rollout.New(rollout.Options{
		Providers: rollout.Providers{Routers: []progressive.TrafficRouter{router}, Metrics: []progressive.MetricSource{w.env.Metrics}, Workloads: []progressive.Workload{w.env.Workload}},
		Clock:     w.clock,
	})
	require.NoError(t, err)
	plan := mustPlan(t, strategy.ABTest{Matches: []progressive.Match{{Kind: progressive.MatchHeader, Name: "x-version", Value: "green"}}, Checks: seedChecks()})
	plan.Steps[1].SetRoutes.Routes.Matches[0].Kind = "query"
	_, err = r.DryRun(context.Background(), plan)
	require.ErrorIs(t, err, progressive.ErrInvalid)
	assert.Contains(t, err.Error(), "steps[1].setRoutes.routes.matches[0].kind")
	assert.Empty(t, router.checked, "validation stops the dry run before any write is rehearsed")
}

// silentMetrics answers no data to every query: a query whose labels match
// nothing.
type silentMetrics struct{}

func (silentMetrics) Name() string { return "silent" }
func (silentMetrics) Query(context.Context, progressive.Query) (progressive.Result, error) {
	return progressive.Result{Status: progressive.StatusNoData}, nil
}

func TestADryRunWhoseQueriesAllAnswerNoDataIsNotOK(t *testing.T) {
	w := newWorld(t)
	r, err := rollout.New(rollout.Options{
		Providers: rollout.Providers{Routers: []progressive.TrafficRouter{w.env.Router}, Metrics: []progressive.MetricSource{silentMetrics{}}, Workloads: []progressive.Workload{w.env.Workload}},
		Clock:     w.clock,
	})
	require.NoError(t, err)
	report, err := r.DryRun(context.Background(), seedCanary(t))
	require.NoError(t, err)
	assert.False(t, report.OK(), "nothing measured is not a rehearsal that passed")
	var stable []string
	for _, w := range report.Warnings {
		if strings.Contains(w.Message, "the stable side, which serves all traffic now, answers no-data") {
			stable = append(stable, w.Field)
		}
	}
	assert.Equal(t, []string{"checks[error-rate].query", "checks[latency-p95].query", "checks[cpu].query"}, stable)
}
