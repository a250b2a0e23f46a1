package rollout_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/analysis"
	"github.com/agentops/progressive/provider/sim"
	"github.com/agentops/progressive/rollout"
	"github.com/agentops/progressive/strategy"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func mustPlan(t *testing.T, s progressive.Strategy) progressive.Plan {
	t.Helper()
	p, err := s.Plan(service, release)
	require.NoError(t, err)
	return p
}

// seedCanary is the guide's payment-service canary: 10% -> 50% -> 100%, 15 minutes
// each, rolled back on error rate > 1% or p95 > 500 ms.
func seedCanary(t *testing.T) progressive.Plan {
	return mustPlan(t, strategy.Canary{Weights: []float64{10, 50, 100}, Soak: 15 * time.Minute, Checks: seedChecks(), Replicas: 2})
}

func TestCanaryHealthyIsPromoted(t *testing.T) {
	w := newWorld(t)
	st := w.execute(seedCanary(t))

	require.Equal(t, rollout.PhaseSucceeded, st.Phase, "decisions: %+v", st.Record.Decisions)
	assert.Equal(t, progressive.AllStable(), w.routes())
	status := w.status()
	assert.Equal(t, 0, status.Canary.Replicas, "finalize scales the canary away")
	assert.Equal(t, release.Version, status.Stable.Version)
	assert.Equal(t, 10, status.Stable.Ready)

	rec := w.record(st.ID)
	assert.Equal(t, rollout.OutcomePromoted, rec.Impact.Outcome)
	assert.Equal(t, 50.0, rec.Impact.MaxCanaryWeight)
	assert.Equal(t, 30*time.Minute, time.Duration(rec.Impact.Duration), "two 15-minute soaks")
	// 15 ticks of each of 3 checks per soak: at 1, 2, ..., 15 minutes (the 1m
	// window of the first lies after the weight change).
	assert.Equal(t, 2*15*3, len(rec.Observations))
	for _, m := range rec.Observations {
		var changed time.Time
		for _, d := range rec.Decisions {
			if d.Action == "route" && d.Time.Before(m.Time) {
				changed = d.Time
			}
		}
		assert.False(t, m.Time.Before(changed.Add(time.Minute)), "measured at %s, within a 1m window of the weight change at %s", m.Time, changed)
	}
	for _, m := range rec.Observations {
		if m.Severity != progressive.SeverityWarn {
			assert.Equal(t, analysis.OutcomePass, m.Outcome, "%+v", m)
		}
	}
	assert.NotEmpty(t, rec.Learning)
	assert.Equal(t, "canary", rec.Context.Strategy)
	assert.NotEmpty(t, rec.Context.Reason)
	assert.Len(t, rec.Solution.Steps, len(st.Plan.Steps))
}

func TestCanaryRegressionAtFiftyPercentRollsBack(t *testing.T) {
	w := newWorld(t)
	// The new version's error rate jumps to 5% 20 minutes in: during the 50% soak.
	w.inject(sim.ErrorRateSet, progressive.Canary, 5, 20*time.Minute)
	st := w.execute(seedCanary(t))

	require.Equal(t, rollout.PhaseRolledBack, st.Phase)
	rb := decisions(st, "rollback")
	require.Len(t, rb, 1)
	assert.Contains(t, rb[0].Reason, "error-rate")
	step := st.Plan.Steps[rb[0].Step]
	require.NotNil(t, step.Analyze, "rolled back during an analysis")
	require.NotNil(t, st.Plan.Steps[rb[0].Step-1].SetWeight)
	assert.Equal(t, 50.0, st.Plan.Steps[rb[0].Step-1].SetWeight.Weight, "at the 50%% step")

	assert.Equal(t, progressive.AllStable(), w.routes())
	status := w.status()
	assert.Equal(t, 0, status.Canary.Replicas)
	assert.Equal(t, "v1.5.0", status.Stable.Version, "stable untouched")

	im := st.Record.Impact
	assert.True(t, im.RolledBack)
	require.NotNil(t, im.TimeToDetect)
	assert.LessOrEqual(t, time.Duration(*im.TimeToDetect), time.Minute, "FailureLimit 0 and a 1m interval: caught at the first bad measurement")
	assert.Equal(t, time.Duration(0), time.Duration(*im.RollbackDuration), "one write, no waiting")
	assert.True(t, rb[0].Time.After(t0.Add(20*time.Minute-time.Nanosecond)))
}

func TestNoDataNeverPromotes(t *testing.T) {
	for _, policy := range []progressive.InconclusivePolicy{progressive.RollbackOnInconclusive, progressive.HoldOnInconclusive} {
		t.Run(string(policy), func(t *testing.T) {
			w := newWorld(t)
			w.inject(sim.NoTraffic, progressive.Canary, 0, 0)
			plan := mustPlan(t, strategy.Canary{Weights: []float64{10, 100}, Soak: 10 * time.Minute, Checks: seedChecks(), OnInconclusive: policy})
			r := w.runner()
			started, err := r.Start(context.Background(), plan)
			require.NoError(t, err)
			st, _ := drive(t, r, w.clock, started.ID, 200)

			assert.NotEqual(t, rollout.PhaseSucceeded, st.Phase)
			assert.Equal(t, "v1.5.0", w.status().Stable.Version, "never promoted")
			if policy == progressive.HoldOnInconclusive {
				assert.Equal(t, rollout.PhaseHeld, st.Phase)
				assert.Contains(t, st.HeldReason, "inconclusive")
				assert.Equal(t, 10.0, w.routes().CanaryWeight, "held at its current traffic")
				// A person decides: roll back.
				require.NoError(t, r.Rollback(context.Background(), st.ID, "no traffic reached the canary"))
				st, _ = drive(t, r, w.clock, st.ID, 10)
			}
			assert.Equal(t, rollout.PhaseRolledBack, st.Phase)
			assert.Equal(t, progressive.AllStable(), w.routes())
			for _, m := range w.record(st.ID).Observations {
				if m.Check == "cpu" {
					continue // the canary's pods run and use CPU without traffic
				}
				assert.NotEqual(t, analysis.OutcomePass, m.Outcome, "no request metric of a silent canary may pass: %+v", m)
			}
		})
	}
}

func TestMetricsBackendDownNeverPromotes(t *testing.T) {
	w := newWorld(t)
	w.inject(sim.BackendDown, "", 0, 5*time.Minute)
	st := w.execute(seedCanary(t))
	require.Equal(t, rollout.PhaseRolledBack, st.Phase)
	assert.Contains(t, decisions(st, "rollback")[0].Reason, "inconclusive")
	assert.Equal(t, "v1.5.0", w.status().Stable.Version)
}

func TestBadQueryStopsBeforeAnyTrafficMoves(t *testing.T) {
	w := newWorld(t)
	checks := append(seedChecks(), progressive.Check{Name: "typo", Query: "eror_rate", Max: progressive.Float(1)})
	plan := mustPlan(t, strategy.Canary{Weights: []float64{10, 100}, Checks: checks})
	_, err := w.runner().Start(context.Background(), plan)
	require.ErrorIs(t, err, progressive.ErrInvalid)
	assert.Contains(t, err.Error(), "typo")
	assert.Equal(t, 0, w.env.Router.Writes(service), "nothing was touched")
	assert.Equal(t, 0, w.status().Canary.Replicas)
}

func TestValidateAgainstProviders(t *testing.T) {
	w := newWorld(t)
	plan := seedCanary(t)
	plan.Providers = progressive.ProviderNames{Router: "istio", Metrics: "datadog"}
	plan.Hooks = []progressive.HookSpec{{Name: "smoke-tests", Phase: progressive.HookPrePromotion}}
	plan.Checks[1].Query = "latency_p95{{.Nope}}"
	err := w.runner().Validate(plan)
	require.ErrorIs(t, err, progressive.ErrInvalid)
	msg := err.Error()
	assert.Contains(t, msg, `providers.router: unknown router "istio"; known: sim`)
	assert.Contains(t, msg, `checks[0].metrics: unknown metric source "datadog"; known: sim`)
	assert.Contains(t, msg, `hooks[0].name: no Go hook is registered under this name`)
	assert.Contains(t, msg, "\n  - checks[1].query", "template problems carry their own field path, once")
	assert.NotContains(t, msg, "checks.checks")
}

func TestBlueGreen(t *testing.T) {
	validation := progressive.HookSpec{Name: "smoke-tests"}
	migration := progressive.HookSpec{Name: "migrate-schema"}
	plan := func(t *testing.T) progressive.Plan {
		return mustPlan(t, strategy.BlueGreen{Replicas: 10, Migration: &migration, Validation: []progressive.HookSpec{validation},
			ManualApproval: "release-manager", Monitor: time.Hour, DecommissionDelay: 15 * time.Minute, Checks: seedChecks()})
	}
	setup := func(t *testing.T, smokeErr error) (*world, *[]string) {
		w := newWorld(t)
		var calls []string
		var mu sync.Mutex
		record := func(name string, err error) rollout.Hook {
			return rollout.HookFunc(func(ctx context.Context, req rollout.HookRequest) error {
				mu.Lock()
				defer mu.Unlock()
				calls = append(calls, name)
				return err
			})
		}
		w.hooks["migrate-schema"] = record("migrate-schema", nil)
		w.hooks["smoke-tests"] = record("smoke-tests", smokeErr)
		return w, &calls
	}

	t.Run("approved and healthy", func(t *testing.T) {
		w, calls := setup(t, nil)
		p := plan(t)
		w.gates.Approve(p.Name, "release-manager", "looks good")
		st := w.execute(p)
		require.Equal(t, rollout.PhaseSucceeded, st.Phase, "%+v", st.Record.Decisions)
		assert.Equal(t, []string{"migrate-schema", "smoke-tests"}, *calls, "migration before the switch, then smoke tests")
		assert.Equal(t, release.Version, w.status().Stable.Version)
		assert.Equal(t, 100.0, st.Record.Impact.MaxCanaryWeight, "an atomic switch: 0 then 100")
		for _, wr := range w.env.Router.History(service) {
			assert.Contains(t, []float64{0, 100}, wr.Routes.CanaryWeight, "never half-switched")
		}
		assert.GreaterOrEqual(t, time.Duration(st.Record.Impact.Duration), 75*time.Minute, "monitor 1h + 15m decommission delay")
	})

	t.Run("approval denied", func(t *testing.T) {
		w, _ := setup(t, nil)
		p := plan(t)
		w.gates.Deny(p.Name, "release-manager", "freeze week")
		st := w.execute(p)
		require.Equal(t, rollout.PhaseRolledBack, st.Phase)
		assert.Contains(t, decisions(st, "rollback")[0].Reason, "freeze week")
		assert.Zero(t, trafficMoves(w), "traffic never moved")
		assert.Equal(t, 0, w.status().Canary.Replicas, "green removed")
	})

	t.Run("smoke tests fail", func(t *testing.T) {
		w, _ := setup(t, assert.AnError)
		p := plan(t)
		st := w.execute(p)
		require.Equal(t, rollout.PhaseRolledBack, st.Phase)
		assert.Empty(t, w.gates.Waiting(), "never asked for approval")
		assert.Zero(t, trafficMoves(w), "traffic never moved")
	})

	t.Run("regression after the switch switches back at once", func(t *testing.T) {
		w, _ := setup(t, nil)
		p := plan(t)
		w.gates.Approve(p.Name, "release-manager", "")
		w.inject(sim.LatencyFactor, progressive.Canary, 6, 30*time.Minute)
		st := w.execute(p)
		require.Equal(t, rollout.PhaseRolledBack, st.Phase)
		assert.Contains(t, decisions(st, "rollback")[0].Reason, "latency-p95")
		hist := w.env.Router.History(service)
		require.GreaterOrEqual(t, len(hist), 2)
		last := hist[len(hist)-1]
		assert.Equal(t, progressive.AllStable(), last.Routes, "the switch back is one write")
		assert.Equal(t, "v1.5.0", w.status().Stable.Version, "blue still serves")
		assert.Equal(t, time.Duration(0), time.Duration(*st.Record.Impact.RollbackDuration))
	})
}

func TestRolling(t *testing.T) {
	plan := func(t *testing.T) progressive.Plan {
		return mustPlan(t, strategy.Rolling{Replicas: 30, BatchSize: 3, Pace: 30 * time.Second, ReadinessBudget: 5})
	}
	t.Run("healthy", func(t *testing.T) {
		w := newWorld(t)
		require.NoError(t, w.env.Workload.AddService(progressive.Target{Namespace: "production", Name: "content-api"}, sim.ServiceSpec{Replicas: 30, Version: "v1", Image: "content-api:v1"}))
		p := plan(t)
		p.Target = progressive.Target{Namespace: "production", Name: "content-api"}
		st := w.execute(p)
		require.Equal(t, rollout.PhaseSucceeded, st.Phase, "%+v", st.Record.Decisions)
		rs, err := w.env.Workload.RollStatus(context.Background(), p.Target)
		require.NoError(t, err)
		assert.Equal(t, 30, rs.UpdatedReady)
		assert.Equal(t, 10*30*time.Second-30*time.Second, time.Duration(st.Record.Impact.Duration), "3 pods every 30s")
	})
	t.Run("pods failing readiness are undone", func(t *testing.T) {
		w := newWorld(t)
		target := progressive.Target{Namespace: "production", Name: "content-api"}
		require.NoError(t, w.env.Workload.AddService(target, sim.ServiceSpec{Replicas: 30, Version: "v1", Image: "content-api:v1"}))
		bad := progressive.Release{Version: "v2", Image: "content-api:v2-never-ready"}
		w.env.Workload.NeverReady(bad.Image)
		p, err := strategy.Rolling{Replicas: 30, BatchSize: 3, ReadinessBudget: 5}.Plan(target, bad)
		require.NoError(t, err)
		before, err := w.env.Workload.RollStatus(context.Background(), target)
		require.NoError(t, err)
		st := w.execute(p)
		require.Equal(t, rollout.PhaseRolledBack, st.Phase)
		assert.Contains(t, decisions(st, "rollback")[0].Reason, "fail readiness")
		assert.Equal(t, 0, decisions(st, "rollback")[0].Step, "undone at the first batch: 3 of 30 is over 5%")
		after, err := w.env.Workload.RollStatus(context.Background(), target)
		require.NoError(t, err)
		assert.Equal(t, 0, after.Unready)
		revs, err := w.env.Workload.Revisions(target)
		require.NoError(t, err)
		assert.Equal(t, "content-api:v1", revs[len(revs)-1].Release.Image, "the newest revision is the old template again (undo to revision %d)", before.Revision)
		assert.Greater(t, after.Revision, before.Revision, "undo makes a new revision, as kubectl rollout undo does")
	})
}

func TestABTestAndMirror(t *testing.T) {
	for _, s := range []progressive.Strategy{
		strategy.ABTest{Matches: []progressive.Match{{Kind: progressive.MatchHeader, Name: "x-version", Value: "green"}}, Duration: 30 * time.Minute, Checks: seedChecks()},
		strategy.Mirror{Percent: 20, Duration: 15 * time.Minute, Checks: seedChecks()},
	} {
		t.Run(s.Name(), func(t *testing.T) {
			w := newWorld(t)
			st := w.execute(mustPlan(t, s))
			require.Equal(t, rollout.PhaseSucceeded, st.Phase, "%+v", st.Record.Decisions)
			var sawSegment bool
			for _, wr := range w.env.Router.History(service) {
				if len(wr.Routes.Matches) > 0 || wr.Routes.MirrorPercent > 0 {
					sawSegment = true
					assert.Equal(t, 0.0, wr.Routes.CanaryWeight, "only the segment reaches the new version")
				}
			}
			assert.True(t, sawSegment)
			assert.Equal(t, progressive.AllStable(), w.routes(), "finalize removes the match and the mirror")
		})
	}
	t.Run("regressed segment rolls back", func(t *testing.T) {
		w := newWorld(t)
		w.inject(sim.ErrorRateSet, progressive.Canary, 20, 0)
		st := w.execute(mustPlan(t, strategy.ABTest{Matches: []progressive.Match{{Kind: progressive.MatchCookie, Name: "beta", Value: "1"}}, Duration: 30 * time.Minute, Checks: seedChecks()}))
		require.Equal(t, rollout.PhaseRolledBack, st.Phase)
		assert.Equal(t, progressive.AllStable(), w.routes())
	})
}

func flagPlan(t *testing.T) progressive.Plan {
	return mustPlan(t, strategy.FlagRollout{Flag: flagRef, Variation: "on", Fallback: "off", Percentages: []float64{1, 10, 50, 100}, Soak: 24 * time.Hour, Checks: seedChecks()})
}

func TestFlagRollout(t *testing.T) {
	t.Run("healthy reaches 100%", func(t *testing.T) {
		w := newWorld(t)
		w.bindFlag()
		st := w.execute(flagPlan(t))
		require.Equal(t, rollout.PhaseSucceeded, st.Phase, "%+v", st.Record.Decisions)
		f, err := w.env.Flags.GetFlag(context.Background(), flagRef)
		require.NoError(t, err)
		assert.True(t, f.On)
		assert.Equal(t, 100.0, f.Fallthrough.WeightOf("on"))
		assert.Equal(t, 72*time.Hour, time.Duration(st.Record.Impact.Duration), "three 24h soaks")
	})
	t.Run("regression at 10% goes to 0% in one write", func(t *testing.T) {
		w := newWorld(t)
		w.bindFlag()
		w.inject(sim.ErrorRateSet, "", 4, 30*time.Hour)
		st := w.execute(flagPlan(t))
		require.Equal(t, rollout.PhaseRolledBack, st.Phase)
		f, err := w.env.Flags.GetFlag(context.Background(), flagRef)
		require.NoError(t, err)
		assert.Equal(t, 0.0, f.Fallthrough.WeightOf("on"))
		assert.Equal(t, 10.0, st.Record.Impact.MaxFlagPercent)
		flagDecisions := decisions(st, "flag")
		assert.Len(t, flagDecisions, 2, "1%% and 10%%")
		// Writes: 1% + turn on, 10%, then the rollback.
		assert.Equal(t, 4, w.env.Flags.Writes(flagRef))
	})
}

func TestWebhooksSignedAndFailingPrePromotionRollsBack(t *testing.T) {
	secret := []byte("webhook-secret")
	var mu sync.Mutex
	var phases []string
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if !rollout.VerifySignature(secret, body, r.Header.Get(rollout.SignatureHeader)) {
			http.Error(rw, "bad signature", http.StatusUnauthorized)
			return
		}
		var req rollout.HookRequest
		if err := json.Unmarshal(body, &req); err != nil {
			http.Error(rw, err.Error(), http.StatusBadRequest)
			return
		}
		mu.Lock()
		phases = append(phases, string(req.Phase))
		mu.Unlock()
		if strings.HasSuffix(r.URL.Path, "/reject") {
			http.Error(rw, "load test failed", http.StatusConflict)
		}
	}))
	defer srv.Close()

	w := newWorld(t)
	hooks := []progressive.HookSpec{
		{Name: "announce", Phase: progressive.HookPreRollout, URL: srv.URL + "/ok"},
		{Name: "load-test", Phase: progressive.HookPrePromotion, URL: srv.URL + "/reject", Retries: -1},
		{Name: "alert", Phase: progressive.HookOnRollback, URL: srv.URL + "/ok"},
	}
	p := mustPlan(t, strategy.Canary{Weights: []float64{10, 100}, Soak: 5 * time.Minute, Checks: seedChecks(), Hooks: hooks})
	r, err := rollout.New(rollout.Options{
		Providers:     rollout.Providers{Routers: []progressive.TrafficRouter{w.env.Router}, Metrics: []progressive.MetricSource{w.env.Metrics}, Workloads: []progressive.Workload{w.env.Workload}},
		Clock:         w.clock,
		WebhookSecret: secret,
	})
	require.NoError(t, err)
	started, err := r.Start(context.Background(), p)
	require.NoError(t, err)
	st, _ := drive(t, r, w.clock, started.ID, 500)
	require.Equal(t, rollout.PhaseRolledBack, st.Phase)
	assert.Contains(t, decisions(st, "rollback")[0].Reason, "load test failed")
	assert.Equal(t, []string{"pre-rollout", "pre-promotion", "on-rollback"}, phases, "each signed hook called once, in order")
	assert.Equal(t, "v1.5.0", w.status().Stable.Version)
}

func TestManualCommands(t *testing.T) {
	t.Run("abort mid-analysis", func(t *testing.T) {
		w := newWorld(t)
		r := w.runner()
		started, err := r.Start(context.Background(), seedCanary(t))
		require.NoError(t, err)
		st, _ := drive(t, r, w.clock, started.ID, 6)
		require.Equal(t, rollout.PhaseProgressing, st.Phase)
		require.NoError(t, r.Abort(context.Background(), st.ID, "pager went off"))
		st, _ = drive(t, r, w.clock, st.ID, 5)
		assert.Equal(t, rollout.PhaseAborted, st.Phase)
		assert.Equal(t, rollout.OutcomeAborted, st.Record.Impact.Outcome)
		assert.Equal(t, progressive.AllStable(), w.routes())
		require.Error(t, r.Abort(context.Background(), st.ID, "again"), "an ended rollout takes no commands")
	})
	t.Run("promote skips the remaining soaks", func(t *testing.T) {
		w := newWorld(t)
		r := w.runner()
		started, err := r.Start(context.Background(), seedCanary(t))
		require.NoError(t, err)
		st, _ := drive(t, r, w.clock, started.ID, 4)
		require.NoError(t, r.Promote(context.Background(), st.ID, "hotfix"))
		st, _ = drive(t, r, w.clock, st.ID, 20)
		assert.Equal(t, rollout.PhaseSucceeded, st.Phase)
		assert.Less(t, time.Duration(st.Record.Impact.Duration), 15*time.Minute)
		assert.Equal(t, release.Version, w.status().Stable.Version)
	})
}

func TestRunWithDrivenClock(t *testing.T) {
	// Run waits on the clock between transitions; sim.Drive advances the fake clock
	// whenever the runner waits, so an hour-long rollout takes milliseconds.
	w := newWorld(t)
	r := w.runner()
	stop := sim.Drive(context.Background(), w.clock, time.Second)
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	st, err := r.Execute(ctx, seedCanary(t))
	require.NoError(t, err)
	assert.Equal(t, rollout.PhaseSucceeded, st.Phase)
	assert.Less(t, time.Since(start), 20*time.Second)
}

func TestTransientRouterFailureIsRetriedThenRollsBack(t *testing.T) {
	w := newWorld(t)
	w.env.Router.FailNextWrites(2, progressive.ErrTransient)
	st := w.execute(seedCanary(t))
	require.Equal(t, rollout.PhaseSucceeded, st.Phase, "two transient failures are retried")
	assert.Len(t, decisions(st, "retry"), 2)

	w = newWorld(t)
	w.env.Router.FailNextWrites(5, progressive.ErrTransient)
	st = w.execute(seedCanary(t))
	require.Equal(t, rollout.PhaseRolledBack, st.Phase, "after MaxAttempts the rollout gives up")
	assert.Equal(t, 0, w.status().Canary.Replicas)
}

func TestObserversSeeEveryTransition(t *testing.T) {
	w := newWorld(t)
	var events []rollout.Event
	w.obs = []rollout.Observer{rollout.ObserverFunc(func(_ context.Context, e rollout.Event) { events = append(events, e) })}
	w.execute(seedCanary(t))
	var types []rollout.EventType
	for _, e := range events {
		types = append(types, e.Type)
	}
	assert.Equal(t, rollout.EventStarted, types[0])
	assert.Equal(t, rollout.EventSucceeded, types[len(types)-1])
	assert.Contains(t, types, rollout.EventRoutesChanged)
	assert.Contains(t, types, rollout.EventMeasured)
}

// versionRecorder passes "series#anything" queries to the simulator as "series"
// and remembers the part after '#' per role.
type versionRecorder struct {
	progressive.MetricSource
	mu   sync.Mutex
	seen map[progressive.Role]string
}

func (v *versionRecorder) Query(ctx context.Context, q progressive.Query) (progressive.Result, error) {
	series, label, _ := strings.Cut(q.Expr, "#")
	v.mu.Lock()
	v.seen[q.Role] = label
	v.mu.Unlock()
	q.Expr = series
	return v.MetricSource.Query(ctx, q)
}

func TestTemplatesRenderBothVersions(t *testing.T) {
	w := newWorld(t)
	rec := &versionRecorder{MetricSource: w.env.Metrics, seen: map[progressive.Role]string{}}
	checks := []progressive.Check{{Name: "error-ratio", Query: "error_rate#{{.Version}}", Max: progressive.Float(3), Baseline: &progressive.Baseline{Mode: progressive.BaselineDifference}}}
	r, err := rollout.New(rollout.Options{
		Providers: rollout.Providers{Routers: []progressive.TrafficRouter{w.env.Router}, Metrics: []progressive.MetricSource{rec}, Workloads: []progressive.Workload{w.env.Workload}},
		Clock:     w.clock,
	})
	require.NoError(t, err)
	st, err := r.Start(context.Background(), mustPlan(t, strategy.Canary{Weights: []float64{10, 100}, Soak: 5 * time.Minute, Checks: checks}))
	require.NoError(t, err)
	final, _ := drive(t, r, w.clock, st.ID, 100)
	require.Equal(t, rollout.PhaseSucceeded, final.Phase)
	assert.Equal(t, map[progressive.Role]string{progressive.Canary: "v2.0.0", progressive.Stable: "v1.5.0"}, rec.seen)
}

// trafficMoves counts the route writes that gave the canary any traffic (the
// routes are prepared, all on stable, when the canary is deployed).
func trafficMoves(w *world) int {
	n := 0
	for _, wr := range w.env.Router.History(service) {
		if wr.Routes.CanaryWeight > 0 || wr.Routes.MirrorPercent > 0 || len(wr.Routes.Matches) > 0 {
			n++
		}
	}
	return n
}
