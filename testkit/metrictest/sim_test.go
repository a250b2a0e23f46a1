package metrictest_test

import (
	"testing"
	"time"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/provider/sim"
	"github.com/agentops/progressive/testkit/metrictest"
	"github.com/agentops/progressive/testkit/rollouttest"
	testingclock "k8s.io/utils/clock/testing"
)

var target = progressive.Target{Namespace: "shop", Name: "checkout"}

// TestSimMetrics runs the suite against provider/sim: a CPUSet incident gives
// an exact value, a canary without traffic no data, a NoTraffic incident NaN
// (0/0 requests), an unknown series a bad query, and a BackendDown incident an
// unreachable backend.
func TestSimMetrics(t *testing.T) {
	metrictest.Run(t, func(t *testing.T) metrictest.Setup {
		start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
		env := sim.New(sim.Options{Clock: testingclock.NewFakeClock(start)})
		other := progressive.Target{Namespace: "shop", Name: "quiet"}
		for _, tg := range []progressive.Target{target, other} {
			if err := env.Metrics.SetProfile(tg, sim.Profile{}); err != nil {
				t.Fatal(err)
			}
		}
		incidents := []sim.Incident{
			{Target: target, Kind: sim.CPUSet, Value: 42},
			{Target: other, Role: progressive.Stable, Kind: sim.NoTraffic},
		}
		for _, inc := range incidents {
			if err := env.Metrics.Inject(inc); err != nil {
				t.Fatal(err)
			}
		}
		return metrictest.Setup{
			Source:  env.Metrics,
			Value:   progressive.Query{Expr: sim.SeriesCPU, Target: target, Role: progressive.Stable},
			Want:    42,
			NoData:  progressive.Query{Expr: sim.SeriesErrorRate, Target: target, Role: progressive.Canary},
			NaN:     progressive.Query{Expr: sim.SeriesErrorRate, Target: other, Role: progressive.Stable},
			Invalid: progressive.Query{Expr: "no_such_series", Target: target},
			Down: func(t *testing.T) progressive.MetricSource {
				if err := env.Metrics.Inject(sim.Incident{Kind: sim.BackendDown}); err != nil {
					t.Fatal(err)
				}
				return env.Metrics
			},
		}
	})
}

// TestScriptedMetrics runs the suite against testkit/rollouttest's scripted
// source, whose answers are whatever the test says.
func TestScriptedMetrics(t *testing.T) {
	metrictest.Run(t, func(t *testing.T) metrictest.Setup {
		fc := testingclock.NewFakeClock(rollouttest.DefaultStart)
		m := rollouttest.NewMetrics(fc)
		m.Set("rate", "", rollouttest.Value(0.25)).Set("absent", "", rollouttest.NoData()).Set("ratio", "", rollouttest.NaN()).
			Set("bad", "", rollouttest.Invalid())
		return metrictest.Setup{
			Source: m,
			Value:  progressive.Query{Expr: "rate", Target: target}, Want: 0.25,
			NoData:  progressive.Query{Expr: "absent", Target: target},
			NaN:     progressive.Query{Expr: "ratio", Target: target},
			Invalid: progressive.Query{Expr: "bad", Target: target},
			Down: func(*testing.T) progressive.MetricSource {
				down := rollouttest.NewMetrics(fc)
				down.Set("rate", "", rollouttest.Transient()).Set("absent", "", rollouttest.Transient())
				return down
			},
		}
	})
}
