package rollout_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/provider/sim"
	"github.com/agentops/progressive/rollout"
	"github.com/agentops/progressive/strategy"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type resumeScenario struct {
	name  string
	plan  func(t *testing.T) progressive.Plan
	setup func(w *world, plan progressive.Plan)
	want  rollout.Phase
}

func resumeScenarios() []resumeScenario {
	bg := func(t *testing.T) progressive.Plan {
		return mustPlan(t, strategy.BlueGreen{Replicas: 10, ManualApproval: "release-manager", Monitor: 30 * time.Minute, DecommissionDelay: 10 * time.Minute, Checks: seedChecks()})
	}
	approve := func(w *world, p progressive.Plan) { w.gates.Approve(p.Name, "release-manager", "") }
	return []resumeScenario{
		{name: "canary healthy", plan: seedCanary, want: rollout.PhaseSucceeded},
		{name: "canary regression", plan: seedCanary, want: rollout.PhaseRolledBack, setup: func(w *world, _ progressive.Plan) {
			w.inject(sim.ErrorRateSet, progressive.Canary, 5, 22*time.Minute)
		}},
		{name: "canary held then rolled back", want: rollout.PhaseRolledBack, plan: func(t *testing.T) progressive.Plan {
			return mustPlan(t, strategy.Canary{Weights: []float64{10, 100}, Soak: 10 * time.Minute, Checks: seedChecks(), OnInconclusive: progressive.HoldOnInconclusive})
		}, setup: func(w *world, _ progressive.Plan) { w.inject(sim.BackendDown, "", 0, 4*time.Minute) }},
		{name: "blue-green healthy", plan: bg, setup: approve, want: rollout.PhaseSucceeded},
		{name: "blue-green switch back", plan: bg, want: rollout.PhaseRolledBack, setup: func(w *world, p progressive.Plan) {
			approve(w, p)
			w.inject(sim.ErrorRateSet, progressive.Canary, 3, 12*time.Minute)
		}},
		{name: "rolling healthy", want: rollout.PhaseSucceeded, plan: func(t *testing.T) progressive.Plan {
			return mustPlan(t, strategy.Rolling{Replicas: 10, BatchSize: 3, Pace: 30 * time.Second})
		}},
		{name: "rolling undo", want: rollout.PhaseRolledBack, plan: func(t *testing.T) progressive.Plan {
			p, err := strategy.Rolling{Replicas: 10, BatchSize: 3, Pace: 30 * time.Second}.Plan(service, progressive.Release{Version: "v3", Image: "payment-service:never-ready"})
			require.NoError(t, err)
			return p
		}, setup: func(w *world, _ progressive.Plan) { w.env.Workload.NeverReady("payment-service:never-ready") }},
		{name: "ab-test", want: rollout.PhaseSucceeded, plan: func(t *testing.T) progressive.Plan {
			return mustPlan(t, strategy.ABTest{Matches: []progressive.Match{{Kind: progressive.MatchHeader, Name: "x-version", Value: "green"}}, Duration: 20 * time.Minute, Checks: seedChecks()})
		}},
		{name: "flag rollout", want: rollout.PhaseSucceeded, plan: func(t *testing.T) progressive.Plan {
			return mustPlan(t, strategy.FlagRollout{Flag: flagRef, Variation: "on", Fallback: "off", Percentages: []float64{5, 25, 75, 100}, Soak: 20 * time.Minute, Checks: seedChecks()})
		}, setup: func(w *world, _ progressive.Plan) { w.bindFlag() }},
		{name: "flag rollout regression", want: rollout.PhaseRolledBack, plan: func(t *testing.T) progressive.Plan {
			return mustPlan(t, strategy.FlagRollout{Flag: flagRef, Variation: "on", Fallback: "off", Percentages: []float64{5, 25, 75, 100}, Soak: 20 * time.Minute, Checks: seedChecks()})
		}, setup: func(w *world, _ progressive.Plan) {
			w.bindFlag()
			w.inject(sim.LatencyFactor, progressive.Canary, 5, 30*time.Minute)
		}},
		{name: "mirror", want: rollout.PhaseSucceeded, plan: func(t *testing.T) progressive.Plan {
			return mustPlan(t, strategy.Mirror{Percent: 50, Duration: 10 * time.Minute, Checks: seedChecks()})
		}},
	}
}

// trace runs a scenario to the end and returns, per Reconcile call, the step index
// after it, plus the final state.
func (s resumeScenario) reference(t *testing.T) ([]int, rollout.State, string) {
	w := newWorld(t)
	plan := s.plan(t)
	if s.setup != nil {
		s.setup(w, plan)
	}
	r := w.runner()
	started, err := r.Start(context.Background(), plan)
	require.NoError(t, err)
	var steps []int
	for i := 0; i < 20_000; i++ {
		res, err := r.Reconcile(context.Background(), started.ID)
		require.NoError(t, err)
		steps = append(steps, res.Step)
		if res.Phase.Terminal() {
			st, err := r.Get(context.Background(), started.ID)
			require.NoError(t, err)
			return steps, st, recordJSON(t, r, st.ID)
		}
		if res.Phase == rollout.PhaseHeld {
			require.NoError(t, r.Rollback(context.Background(), started.ID, "held: rolled back by a person"))
		}
		w.clock.Step(res.RequeueAfter)
	}
	t.Fatal("reference run did not end")
	return nil, rollout.State{}, ""
}

// restartPoints are the calls after which a process dies: every step boundary and
// the middle of every step.
func restartPoints(steps []int) []int {
	var points []int
	start := 0
	for i := 1; i < len(steps); i++ {
		if steps[i] != steps[i-1] || i == len(steps)-1 {
			if mid := (start + i) / 2; mid > start {
				points = append(points, mid)
			}
			points = append(points, i)
			start = i
		}
	}
	return points
}

// TestCrashResumeAtEveryStepBoundary kills the runner after each step boundary
// (and mid-step) of every strategy, resumes from a file store in a new runner, and
// requires the same final state and the same decision record as an uninterrupted
// run.
func TestCrashResumeAtEveryStepBoundary(t *testing.T) {
	for _, sc := range resumeScenarios() {
		t.Run(sc.name, func(t *testing.T) {
			steps, want, wantJSON := sc.reference(t)
			require.Equal(t, sc.want, want.Phase, "%+v", want.Record.Decisions)
			points := restartPoints(steps)
			require.NotEmpty(t, points)
			for _, crashAfter := range points {
				t.Run(fmt.Sprintf("after call %d of %d", crashAfter, len(steps)), func(t *testing.T) {
					w := newWorld(t)
					fs, err := rollout.NewFileStore(t.TempDir())
					require.NoError(t, err)
					w.store = fs
					plan := sc.plan(t)
					if sc.setup != nil {
						sc.setup(w, plan)
					}
					first := w.runner()
					started, err := first.Start(context.Background(), plan)
					require.NoError(t, err)
					for i := 0; i < crashAfter; i++ {
						res, err := first.Reconcile(context.Background(), started.ID)
						require.NoError(t, err)
						if res.Phase == rollout.PhaseHeld {
							require.NoError(t, first.Rollback(context.Background(), started.ID, "held: rolled back by a person"))
						}
						w.clock.Step(res.RequeueAfter)
					}
					// The first process is gone; a new one resumes from the file store.
					second := w.runner()
					var got rollout.State
					for i := 0; i < 20_000; i++ {
						res, err := second.Reconcile(context.Background(), started.ID)
						require.NoError(t, err)
						if res.Phase.Terminal() {
							got, err = second.Get(context.Background(), started.ID)
							require.NoError(t, err)
							break
						}
						if res.Phase == rollout.PhaseHeld {
							require.NoError(t, second.Rollback(context.Background(), started.ID, "held: rolled back by a person"))
						}
						w.clock.Step(res.RequeueAfter)
					}
					require.Equal(t, want.Phase, got.Phase)
					assert.Equal(t, want.Applied, got.Applied)
					assert.JSONEq(t, wantJSON, recordJSON(t, second, got.ID))
				})
			}
		})
	}
}

func recordJSON(t *testing.T, r *rollout.Runner, id string) string {
	rec, err := r.Record(context.Background(), id)
	require.NoError(t, err)
	b, err := json.Marshal(rec)
	require.NoError(t, err)
	return string(b)
}
