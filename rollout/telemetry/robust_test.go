package telemetry_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"k8s.io/client-go/tools/record"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/analysis"
	"github.com/agentops/progressive/rollout"
	"github.com/agentops/progressive/rollout/telemetry"
)

// Events in any order, with missing or odd fields, from many goroutines at
// once: the observers neither panic nor race (run with -race), and the
// registry still gathers.
func TestObserversTakeAnyEvent(t *testing.T) {
	m, err := telemetry.NewMetrics(telemetry.MetricsOptions{})
	require.NoError(t, err)
	reg := prometheus.NewPedanticRegistry()
	require.NoError(t, m.Register(reg))
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	defer func() { _ = tp.Shutdown(context.Background()) }()
	tr := telemetry.NewTraces(telemetry.TraceOptions{Provider: tp})
	k, err := telemetry.NewKubeEvents(telemetry.KubeEventsOptions{Recorder: telemetry.CoreV1Recorder(record.NewFakeRecorder(100000))})
	require.NoError(t, err)
	observers := []rollout.Observer{m, tr, k}

	nan := math.NaN()
	types := []rollout.EventType{rollout.EventSucceeded, rollout.EventMeasured, rollout.EventStarted, rollout.EventRollbackCompleted,
		rollout.EventStepCompleted, rollout.EventError, rollout.EventRoutesChanged, rollout.EventRollbackStarted, rollout.EventCommand,
		rollout.EventHeld, rollout.EventStepStarted, "made-up", ""}
	phases := []rollout.Phase{"", rollout.PhaseSucceeded, rollout.PhaseProgressing, rollout.PhaseRollingBack, rollout.PhaseAborted, "odd"}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 400 {
				e := rollout.Event{
					Time:     time.Unix(int64(1000-i), 0), // time running backwards
					Rollout:  fmt.Sprintf("r%d", (g+i)%5),
					Type:     types[i%len(types)],
					Phase:    phases[i%len(phases)],
					Step:     i % 7,
					StepKind: progressive.StepKind([]string{"", "analyze", "zzz"}[i%3]),
				}
				switch i % 4 {
				case 0:
					e.Routes = &progressive.Routes{CanaryWeight: nan}
					e.Err = errors.New("odd")
				case 1:
					e.Measurements = []analysis.Measurement{{Check: "c", Value: nan, Baseline: &nan, Compared: &nan, Error: "down"}}
					e.Checks = []progressive.Check{{Name: "c", Min: &nan, Baseline: &progressive.Baseline{}}}
					e.Verdict = analysis.VerdictFail
				case 2:
					d := rollout.Duration(-time.Hour)
					e.Impact = &rollout.Impact{TimeToDetect: &d, TimeToRecover: &d, Duration: d}
				}
				for _, o := range observers {
					o.Observe(context.Background(), e)
				}
			}
		}()
	}
	wg.Wait()
	families, err := reg.Gather()
	require.NoError(t, err)
	for _, f := range families {
		if f.GetName() == "progressive_rollouts" {
			var sum float64
			for _, s := range f.GetMetric() {
				assert.GreaterOrEqual(t, s.GetGauge().GetValue(), 0.0)
				sum += s.GetGauge().GetValue()
			}
			assert.LessOrEqual(t, sum, 5.0, "no more rollouts in flight than ids")
		}
	}
	tr.End(time.Unix(2000, 0))
	assert.Zero(t, tr.Open())
	assert.LessOrEqual(t, m.Tracked(), 5, "one entry per rollout id, whatever came")
}
