package prometheus_test

import (
	"context"
	"fmt"
	"go.uber.org/goleak"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/analysis"
	"github.com/agentops/progressive/internal/promtest"
	"github.com/agentops/progressive/metrics"
	"github.com/agentops/progressive/provider/prometheus"
	"github.com/agentops/progressive/provider/sim"
	"github.com/agentops/progressive/rollout"
	"github.com/agentops/progressive/strategy"
)

// The live tests share one application and one Prometheus scraping it every
// second, started by the first test that needs them and stopped by TestMain.
var live struct {
	once sync.Once
	app  *promtest.App
	prom *promtest.Server
	err  error
}

// TestMain stops the shared Prometheus and application after the tests, then
// fails the run if a goroutine started by them (a query, a transport's
// connection, the application's booking loop) is still running: a leak in a
// long-lived controller process.
func TestMain(m *testing.M) {
	before := goleak.IgnoreCurrent() // the runtime's own, and the test framework's
	code := m.Run()
	if live.prom != nil {
		live.prom.Stop()
	}
	if live.app != nil {
		live.app.Close()
	}
	if code == 0 {
		if err := goleak.Find(before); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// liveEnv returns the shared application and Prometheus, once Prometheus has
// scraped the application (its first scrape comes about 5s after it is ready).
func liveEnv(t testing.TB) (*promtest.App, *promtest.Server) {
	t.Helper()
	live.once.Do(func() {
		live.app = promtest.NewApp()
		live.app.Service(promtest.ServiceSpec{Namespace: "shop", Name: "heartbeat"})
		live.prom, live.err = promtest.New(promtest.Options{Targets: []string{live.app.Addr()}})
		if live.err == nil {
			live.err = live.prom.WaitFor(context.Background(), `http_requests_total{service="heartbeat"}`, 30*time.Second)
		}
	})
	promtest.Check(t, live.err)
	return live.app, live.prom
}

// Test settings: a measurement every 2s over a 10s rate window, the first 10s
// after an analysis step begins (once the window holds only the canary's
// traffic; the initial delay is shorter), a soak of 20s at 50% of the traffic,
// so that several measurements follow the first.
const (
	testInterval     = 2 * time.Second
	testInitialDelay = 3 * time.Second
	testSoak         = 20 * time.Second
	testWindow       = "10s"
)

// seedChecks are the guide's monitor with the test's timing.
func seedChecks() []progressive.Check {
	checks := metrics.Monitor(metrics.App{Window: testWindow}, metrics.Kubernetes{Window: testWindow})
	for i := range checks {
		checks[i].Interval = testInterval
		checks[i].InitialDelay = testInitialDelay
	}
	return checks
}

// rehearsal is one rollout of a service of the shared application, routed by a
// simulated router whose weight sets the canary's share of the requests.
type rehearsal struct {
	target  progressive.Target
	env     *sim.Env
	svc     *promtest.Service
	src     *prometheus.Source
	runner  *rollout.Runner
	plan    progressive.Plan
	onEvent func(rollout.Event)
}

func newRehearsal(t *testing.T, name string, address string, canary promtest.Behavior, checks []progressive.Check) *rehearsal {
	t.Helper()
	app, _ := liveEnv(t)
	r := &rehearsal{target: progressive.Target{Namespace: "shop", Name: name}, env: sim.New(sim.Options{})}
	require.NoError(t, r.env.Workload.AddService(r.target, sim.ServiceSpec{Replicas: 2, Version: "v1", Image: "shop/" + name + ":v1"}))
	r.svc = app.Service(promtest.ServiceSpec{
		Namespace: "shop", Name: name, CanaryVersion: "v2", Canary: canary,
		CanaryShare: func() float64 {
			routes, err := r.env.Router.GetRoutes(context.Background(), r.target)
			if err != nil {
				return 0
			}
			return routes.CanaryWeight
		},
	})
	var err error
	r.src, err = prometheus.New(prometheus.Options{Address: address, Timeout: 5 * time.Second})
	require.NoError(t, err)
	r.runner, err = rollout.New(rollout.Options{
		Providers: rollout.Providers{
			Routers:   []progressive.TrafficRouter{r.env.Router},
			Metrics:   []progressive.MetricSource{r.src},
			Workloads: []progressive.Workload{r.env.Workload},
		},
		PollInterval: 250 * time.Millisecond,
		Logger:       slog.New(slog.DiscardHandler),
		Observers: []rollout.Observer{rollout.ObserverFunc(func(_ context.Context, e rollout.Event) {
			if r.onEvent != nil {
				r.onEvent(e)
			}
		})},
	})
	require.NoError(t, err)
	r.plan, err = strategy.Canary{Weights: []float64{50}, Soak: testSoak, Checks: checks}.Plan(r.target,
		progressive.Release{Version: "v2", Image: "shop/" + name + ":v2"})
	require.NoError(t, err)
	return r
}

// run executes the plan to its end and returns the final state and its record.
func (r *rehearsal) run(t *testing.T) (rollout.State, rollout.DecisionRecord) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	st, err := r.runner.Execute(ctx, r.plan)
	require.NoError(t, err)
	rec, err := r.runner.Record(ctx, st.ID)
	require.NoError(t, err)
	for _, d := range rec.Decisions {
		t.Logf("%s  %-10s %s", d.Time.Format("15:04:05.000"), d.Action, d.Reason)
	}
	return st, rec
}

// firstPass calls do once, when check first passes.
func firstPass(check string, do func()) func(rollout.Event) {
	var once sync.Once
	return func(e rollout.Event) {
		if e.Type != rollout.EventMeasured {
			return
		}
		for _, m := range e.Measurements {
			if m.Check == check && m.Outcome == analysis.OutcomePass {
				once.Do(do)
			}
		}
	}
}

func promoted(rec rollout.DecisionRecord) bool {
	for _, d := range rec.Decisions {
		if d.Action == "promoted" || d.Action == "promote" {
			return true
		}
	}
	return false
}

// TestRunnerAgainstPrometheus runs canary rollouts with the real runner, real
// clock and live queries.
func TestRunnerAgainstPrometheus(t *testing.T) {
	_, prom := liveEnv(t)

	t.Run("healthy canary is promoted, CPU only warns", func(t *testing.T) {
		t.Parallel()
		r := newRehearsal(t, "healthy", prom.URL, promtest.Behavior{ErrorPercent: 0.1, Latency: 80 * time.Millisecond, CPU: 90}, seedChecks())
		// CPU is a rate of a counter: until the canary's pod has run for a whole
		// window, rate() sees less than its use. Real pods run long before an
		// analysis; this one just started.
		require.NoError(t, prom.WaitFor(t.Context(), `container_cpu_usage_seconds_total{pod=~"healthy-canary-.*"} offset `+testWindow, 30*time.Second))
		st, rec := r.run(t)
		assert.Equal(t, rollout.PhaseSucceeded, st.Phase)
		assert.Equal(t, rollout.OutcomePromoted, rec.Impact.Outcome)
		var passes, warnings int
		for _, m := range rec.Observations {
			switch {
			case m.Check == metrics.NameCPU && m.Outcome == analysis.OutcomeFail:
				warnings++
				assert.Equal(t, progressive.SeverityWarn, m.Severity)
			case m.Outcome == analysis.OutcomePass:
				passes++
			}
		}
		assert.Positive(t, passes)
		assert.Positive(t, warnings, "CPU at 90%% of the limit is recorded as a warning, and does not roll back")
	})

	// Each regression begins at a given time after the check's first passing
	// measurement: right after it, or between two measurements.
	regression := func(name, check string, after time.Duration, bad promtest.Behavior) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r := newRehearsal(t, name, prom.URL, promtest.Behavior{}, seedChecks())
			var mu sync.Mutex
			var began time.Time
			r.onEvent = firstPass(check, func() {
				time.AfterFunc(after, func() {
					at := r.svc.SetCanary(bad)
					mu.Lock()
					began = at
					mu.Unlock()
				})
			})
			st, rec := r.run(t)
			mu.Lock()
			defer mu.Unlock()
			require.False(t, began.IsZero(), "the canary passed %s before it regressed", check)
			assert.Equal(t, rollout.PhaseRolledBack, st.Phase)
			assert.False(t, promoted(rec))
			assert.Contains(t, st.Rollback.Reason, "analysis failed")
			assert.Contains(t, st.Rollback.Reason, check)
			detect := rec.Impact.DetectedAt.Sub(began)
			t.Logf("%s: regression began %s, rollback decided %s: %s later (interval %s, window %s, scrape 1s)",
				check, began.Format("15:04:05.000"), rec.Impact.DetectedAt.Format("15:04:05.000"), detect.Round(time.Millisecond), testInterval, testWindow)
			assert.Less(t, detect, 4*testInterval, "a regression is caught within a few intervals")
			routes, err := r.env.Router.GetRoutes(t.Context(), r.target)
			require.NoError(t, err)
			assert.Equal(t, 0.0, routes.CanaryWeight, "all traffic is back on stable")
		})
	}
	regression("error-regression", metrics.NameErrorRate, testInterval/2, promtest.Behavior{ErrorPercent: 20})
	regression("latency-regression", metrics.NameLatencyP95, 0, promtest.Behavior{Latency: time.Second})

	t.Run("canary without traffic is never promoted", func(t *testing.T) {
		t.Parallel()
		r := newRehearsal(t, "silent", prom.URL, promtest.Behavior{NoTraffic: true}, seedChecks())
		st, rec := r.run(t)
		assert.Equal(t, rollout.PhaseRolledBack, st.Phase)
		assert.False(t, promoted(rec))
		assert.Contains(t, st.Rollback.Reason, "inconclusive")
		for _, m := range rec.Observations {
			if m.Check != metrics.NameCPU {
				assert.NotEqual(t, analysis.OutcomePass, m.Outcome, "no data never passes: %s", m.Reason)
			}
		}
	})

	t.Run("Prometheus stopped mid-rollout is never a promotion", func(t *testing.T) {
		t.Parallel()
		app, _ := liveEnv(t)
		own := promtest.Start(t, promtest.Options{Targets: []string{app.Addr()}})
		require.NoError(t, own.WaitFor(t.Context(), `http_requests_total{service="heartbeat"}`, 30*time.Second))
		r := newRehearsal(t, "blackout", own.URL, promtest.Behavior{}, seedChecks())
		var stoppedAt time.Time
		r.onEvent = firstPass(metrics.NameErrorRate, func() { stoppedAt = time.Now(); go own.Stop() })
		st, rec := r.run(t)
		require.False(t, stoppedAt.IsZero(), "a measurement passed before Prometheus went away")
		assert.Equal(t, rollout.PhaseRolledBack, st.Phase)
		assert.False(t, promoted(rec))
		assert.Contains(t, st.Rollback.Reason, "inconclusive")
		var unreachable int
		for _, m := range rec.Observations {
			if strings.Contains(m.Reason, "unreachable") {
				unreachable++
				assert.Equal(t, analysis.OutcomeInconclusive, m.Outcome)
			}
		}
		assert.Positive(t, unreachable)
		t.Logf("Prometheus stopped %s, rollback decided %s later", stoppedAt.Format("15:04:05.000"), rec.Impact.DetectedAt.Sub(stoppedAt).Round(time.Millisecond))
	})

	t.Run("bad query stops the rollout before traffic moves", func(t *testing.T) {
		t.Parallel()
		checks := append(seedChecks(), progressive.Check{
			Name: "typo", Max: progressive.Float(1),
			Query: `sum(rate(http_requests_total{service="{{.Service}}"}[{{.Interval}}])`,
		})
		r := newRehearsal(t, "typo", prom.URL, promtest.Behavior{}, checks)
		_, err := r.runner.Start(t.Context(), r.plan)
		require.Error(t, err)
		assert.ErrorIs(t, err, progressive.ErrInvalid)
		assert.Contains(t, err.Error(), "preflight")
		assert.Contains(t, err.Error(), `check "typo"`)
		assert.Contains(t, err.Error(), "bad query")
		assert.Contains(t, err.Error(), "parse error")
		assert.Zero(t, r.env.Router.Writes(r.target), "no route was written")
		_, err = r.runner.Get(t.Context(), r.plan.Name)
		assert.ErrorIs(t, err, progressive.ErrNotFound, "no rollout was stored")
	})
}

// BenchmarkQuery measures one instant query against the real Prometheus: the
// guide's error-rate check for a canary, rendered once.
func BenchmarkQuery(b *testing.B) {
	app, prom := liveEnv(b)
	benchOnce.Do(func() {
		app.Service(promtest.ServiceSpec{Namespace: "shop", Name: "bench", CanaryVersion: "v2", CanaryShare: func() float64 { return 10 }})
	})
	src, err := prometheus.New(prometheus.Options{Address: prom.URL})
	require.NoError(b, err)
	for _, c := range []progressive.Check{metrics.ErrorRate(1), metrics.LatencyP95(500)} {
		c.Interval = 10 * time.Second
		expr, err := analysis.Render(c, analysis.Vars{Namespace: "shop", Service: "bench", CanaryVersion: "v2", StableVersion: "stable"}, progressive.Canary)
		require.NoError(b, err)
		require.NoError(b, prom.WaitFor(b.Context(), expr, 30*time.Second))
		b.Run(c.Name, func(b *testing.B) {
			q := progressive.Query{Name: c.Name, Expr: expr}
			for b.Loop() {
				res, err := src.Query(b.Context(), q)
				if err != nil || res.Status != progressive.StatusValue {
					b.Fatalf("%v %v", res, err)
				}
			}
		})
	}
}

var benchOnce sync.Once
