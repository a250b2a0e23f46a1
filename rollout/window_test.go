package rollout_test

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	testingclock "k8s.io/utils/clock/testing"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/analysis"
	"github.com/agentops/progressive/rollout"
	"github.com/agentops/progressive/strategy"
)

// windowedSource answers like Prometheus does and the simulator does not: a
// query is the average over its range window of what the canary served, so
// right after a weight change it still describes the weight before. The canary
// serves rps × weight requests a second, errorPct of them failing; the weight
// follows the routes the runner reports, and a regression starts the moment the
// canary reaches regressAt percent.
type windowedSource struct {
	clock *testingclock.FakeClock

	rps       float64
	healthy   float64
	regressed float64
	regressAt float64

	mu      sync.Mutex
	changes []weightChange // in time order
}

type weightChange struct {
	at      time.Time
	weight  float64
	errPct  float64
	regress bool
}

func (s *windowedSource) Name() string { return "windowed" }

// Observe follows the routes the runner read back.
func (s *windowedSource) Observe(_ context.Context, e rollout.Event) {
	if e.Type != rollout.EventRoutesChanged || e.Routes == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	regress := len(s.changes) > 0 && s.changes[len(s.changes)-1].regress
	if s.regressAt > 0 && e.Routes.CanaryWeight == s.regressAt {
		regress = true
	}
	pct := s.healthy
	if regress {
		pct = s.regressed
	}
	// The weight counts from when the runner read it back, a little after the
	// event's time (taken before the write).
	s.changes = append(s.changes, weightChange{at: s.clock.Now(), weight: e.Routes.CanaryWeight, errPct: pct, regress: regress})
}

// Query integrates the canary's requests and errors over the query's window.
func (s *windowedSource) Query(_ context.Context, q progressive.Query) (progressive.Result, error) {
	window, ok := analysis.QueryWindow(q.Expr)
	if !ok {
		window = time.Minute
	}
	from, to := q.Time.Add(-window), q.Time
	s.mu.Lock()
	defer s.mu.Unlock()
	var requests, errors float64
	for i, c := range s.changes {
		end := to
		if i+1 < len(s.changes) {
			end = s.changes[i+1].at
		}
		a, b := maxTime(c.at, from), minTime(end, to)
		if !b.After(a) {
			continue
		}
		n := s.rps * c.weight / 100 * b.Sub(a).Seconds()
		requests += n
		errors += n * c.errPct / 100
	}
	if strings.Contains(q.Expr, "increase(") {
		return progressive.Result{Status: progressive.StatusValue, Value: requests, Time: q.Time}, nil
	}
	if requests == 0 {
		return progressive.Result{Status: progressive.StatusNoData, Time: q.Time}, nil
	}
	return progressive.Result{Status: progressive.StatusValue, Value: 100 * errors / requests, Time: q.Time}, nil
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// TestEachWeightIsJudgedOnItsOwnTraffic is the live scenario in virtual time:
// steps of 10% to 50%, a 10s soak and 10s windows, a regression that starts the
// moment the canary reaches each weight in turn. Measured on the real stack
// before the engine placed windows after the weight change, a regression at 50%
// was promoted: every step was judged on the traffic of the step before.
func TestEachWeightIsJudgedOnItsOwnTraffic(t *testing.T) {
	checks := []progressive.Check{{
		Name:     "error-rate",
		Query:    `sum(rate(errors{version="{{.Version}}"}[{{.Interval}}])) / sum(rate(requests{version="{{.Version}}"}[{{.Interval}}])) * 100`,
		Interval: 10 * time.Second,
		Max:      progressive.Float(2),
		Samples:  &progressive.SampleSize{Query: `sum(increase(requests{version="{{.Version}}"}[{{.Interval}}]))`, Min: progressive.MinSamplesFor(2, 100)},
	}}
	plan := func(t *testing.T) progressive.Plan {
		return mustPlan(t, strategy.Canary{StepWeight: 10, MaxWeight: 50, Soak: 10 * time.Second, Checks: checks, Replicas: 2})
	}
	for _, at := range []float64{10, 20, 30, 40, 50} {
		t.Run("regression at "+formatPercent(at), func(t *testing.T) {
			w := newWorld(t)
			src := &windowedSource{clock: w.clock, rps: 100, healthy: 0.5, regressed: 10, regressAt: at}
			w.router = slowRouter{TrafficRouter: w.env.Router, clock: w.clock, latency: 20 * time.Millisecond}
			w.store = slowStore{StateStore: w.store, clock: w.clock, latency: 10 * time.Millisecond}
			w.store = slowStore{StateStore: w.store, clock: w.clock, latency: 10 * time.Millisecond}
			w.obs = append(w.obs, src)
			w.metrics = src
			st := w.execute(plan(t))
			require.Equal(t, rollout.PhaseRolledBack, st.Phase, "decisions: %+v", st.Record.Decisions)
			rec := w.record(st.ID)

			assert.Equal(t, at, rec.Impact.MaxCanaryWeight, "rolled back before the next weight was set")
			assert.Equal(t, progressive.AllStable(), w.routes())
		})
	}
	t.Run("healthy", func(t *testing.T) {
		w := newWorld(t)
		src := &windowedSource{clock: w.clock, rps: 100, healthy: 0.5}
		w.router = slowRouter{TrafficRouter: w.env.Router, clock: w.clock, latency: 20 * time.Millisecond}
		w.store = slowStore{StateStore: w.store, clock: w.clock, latency: 10 * time.Millisecond}
		w.obs = append(w.obs, src)
		w.metrics = src
		st := w.execute(plan(t))
		require.Equal(t, rollout.PhaseSucceeded, st.Phase, "decisions: %+v", st.Record.Decisions)
	})
}

func formatPercent(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) + "%" }

// slowRouter and slowStore take latency of the fake clock for every call, as real
// ones take milliseconds: a step's first measurement then comes a little after
// the step began, and with measurements due an interval after the previous one,
// the one covering the end of the soak fell due just after the deadline and was
// never taken.
type slowRouter struct {
	progressive.TrafficRouter
	clock   *testingclock.FakeClock
	latency time.Duration
}

func (r slowRouter) SetRoutes(ctx context.Context, t progressive.Target, routes progressive.Routes) error {
	r.clock.Step(r.latency)
	return r.TrafficRouter.SetRoutes(ctx, t, routes)
}

func (r slowRouter) GetRoutes(ctx context.Context, t progressive.Target) (progressive.Routes, error) {
	r.clock.Step(r.latency)
	return r.TrafficRouter.GetRoutes(ctx, t)
}

type slowStore struct {
	rollout.StateStore
	clock   *testingclock.FakeClock
	latency time.Duration
}

func (s slowStore) Update(ctx context.Context, st rollout.State) (rollout.State, error) {
	s.clock.Step(s.latency)
	return s.StateStore.Update(ctx, st)
}
