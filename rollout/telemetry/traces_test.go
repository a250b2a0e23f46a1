package telemetry_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/analysis"
	"github.com/agentops/progressive/rollout"
	"github.com/agentops/progressive/rollout/telemetry"
)

func newTracing(t testing.TB) (*telemetry.Traces, *tracetest.InMemoryExporter, *sdktrace.TracerProvider) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	return telemetry.NewTraces(telemetry.TraceOptions{Provider: tp}), exp, tp
}

func attrs(s tracetest.SpanStub) map[attribute.Key]attribute.Value {
	m := map[attribute.Key]attribute.Value{}
	for _, kv := range s.Attributes {
		m[kv.Key] = kv.Value
	}
	return m
}

func TestTracesOfAHealthyCanary(t *testing.T) {
	tr, exp, tp := newTracing(t)
	// The caller's span becomes the rollout span's parent.
	ctx, caller := tp.Tracer("test").Start(context.Background(), "deploy pipeline")
	run := newSimRunCtx(ctx, t, "", false, tr)
	res := run.finish()
	caller.End()
	require.Equal(t, rollout.PhaseSucceeded, res.Phase)
	rec := run.record()
	assert.Zero(t, tr.Open(), "every span ended with the rollout")

	spans := exp.GetSpans()
	var root tracetest.SpanStub
	var steps []tracetest.SpanStub
	for _, s := range spans {
		switch {
		case s.Name == "rollout":
			root = s
		case len(s.Name) > 5 && s.Name[:5] == "step ":
			steps = append(steps, s)
		}
	}
	require.Equal(t, "rollout", root.Name)
	a := attrs(root)
	assert.Equal(t, run.id, a[telemetry.AttrRollout].AsString())
	assert.Equal(t, "shop", a[telemetry.AttrTargetNamespace].AsString())
	assert.Equal(t, "checkout", a[telemetry.AttrTargetName].AsString())
	assert.Equal(t, "v2", a[telemetry.AttrReleaseVersion].AsString())
	assert.Equal(t, "promoted", a[telemetry.AttrOutcome].AsString())
	assert.Equal(t, 0.0, a[telemetry.AttrWeight].AsFloat64(), "finalized: all traffic on stable, which now runs v2")
	assert.Equal(t, 50.0, a["progressive.max_canary_weight"].AsFloat64())
	assert.Equal(t, codes.Ok, root.Status.Code)
	assert.Equal(t, start, root.StartTime, "timed by the runner's clock")
	assert.Equal(t, time.Duration(rec.Impact.Duration), root.EndTime.Sub(root.StartTime))

	require.Len(t, steps, len(rec.Solution.Steps), "one span per step")
	var analyses int
	for _, s := range steps {
		assert.Equal(t, root.SpanContext.SpanID(), s.Parent.SpanID(), "steps are children of the rollout")
		assert.Equal(t, root.SpanContext.TraceID(), s.SpanContext.TraceID())
		sa := attrs(s)
		if sa[telemetry.AttrStepKind].AsString() == string(progressive.KindAnalyze) {
			analyses++
			assert.Equal(t, "pass", sa[telemetry.AttrVerdict].AsString())
			assert.InDelta(t, (10 * time.Minute).Seconds(), s.EndTime.Sub(s.StartTime).Seconds(), 60)
			var measured int
			for _, ev := range s.Events {
				if ev.Name == "measurement" {
					measured++
				}
			}
			assert.Positive(t, measured, "each measurement is a span event")
		}
	}
	assert.Equal(t, 2, analyses)
	assert.Equal(t, caller.SpanContext().SpanID(), root.Parent.SpanID(), "the rollout nests under the span of the call that started it")
}

func TestTracesOfARollback(t *testing.T) {
	tr, exp, _ := newTracing(t)
	run := newSimRun(t, true, tr)
	res := run.finish()
	require.Equal(t, rollout.PhaseRolledBack, res.Phase)

	byName := map[string][]tracetest.SpanStub{}
	for _, s := range exp.GetSpans() {
		byName[s.Name] = append(byName[s.Name], s)
	}
	require.Len(t, byName["rollout"], 1)
	root := byName["rollout"][0]
	assert.Equal(t, codes.Error, root.Status.Code)
	assert.Equal(t, "rolled-back", attrs(root)[telemetry.AttrOutcome].AsString())
	require.Len(t, byName["rollback"], 1)
	assert.Equal(t, root.SpanContext.SpanID(), byName["rollback"][0].Parent.SpanID())
	require.NotEmpty(t, byName["step analyze"])
	failed := byName["step analyze"][len(byName["step analyze"])-1]
	assert.Equal(t, codes.Error, failed.Status.Code)
	assert.Equal(t, string(analysis.VerdictFail), attrs(failed)[telemetry.AttrVerdict].AsString())
}

func TestTracesEndInterruptedRollouts(t *testing.T) {
	tr, exp, _ := newTracing(t)
	run := newSimRun(t, false, tr)
	run.until(func(r rollout.Result) bool { return r.Step >= 2 })
	assert.Equal(t, 1, tr.Open())
	for _, s := range exp.GetSpans() {
		require.NotEqual(t, "rollout", s.Name, "the rollout span is still open")
	}
	tr.End(run.clk.Now())
	assert.Zero(t, tr.Open())
	var found bool
	for _, s := range exp.GetSpans() {
		if s.Name == "rollout" {
			found = true
			assert.Equal(t, "interrupted", attrs(s)[telemetry.AttrOutcome].AsString())
		}
	}
	assert.True(t, found)
}

func TestTracesResumedMidway(t *testing.T) {
	tr, exp, _ := newTracing(t)
	ctx := context.Background()
	at := start
	ev := func(typ rollout.EventType, phase rollout.Phase, step int) rollout.Event {
		at = at.Add(time.Minute)
		return rollout.Event{Time: at, Rollout: "r", Type: typ, Phase: phase, Step: step, StepKind: progressive.KindAnalyze, Target: target, Release: v2}
	}
	// This process sees the rollout first in the middle of step 3.
	tr.Observe(ctx, ev(rollout.EventMeasured, rollout.PhaseProgressing, 3))
	tr.Observe(ctx, ev(rollout.EventStepCompleted, rollout.PhaseProgressing, 3))
	tr.Observe(ctx, ev(rollout.EventSucceeded, rollout.PhaseSucceeded, 4))
	spans := exp.GetSpans()
	require.Len(t, spans, 2)
	for _, s := range spans {
		if s.Name == "rollout" {
			assert.True(t, attrs(s)[telemetry.AttrResumed].AsBool())
			assert.False(t, s.Parent.IsValid(), "a new root, not a child of one reconcile")
		} else {
			assert.Equal(t, "step analyze", s.Name)
		}
	}
	// A late event of the ended rollout opens nothing.
	tr.Observe(ctx, ev(rollout.EventRollbackCompleted, rollout.PhaseRolledBack, 4))
	tr.Observe(ctx, ev(rollout.EventCommand, rollout.PhaseSucceeded, 4))
	assert.Zero(t, tr.Open())
}

func TestTracesOffByDefault(t *testing.T) {
	tr := telemetry.NewTraces(telemetry.TraceOptions{})
	assert.False(t, tr.Enabled())
	tr.Observe(context.Background(), rollout.Event{Type: rollout.EventStarted, Rollout: "r"})
	assert.Zero(t, tr.Open())
	var nilTraces *telemetry.Traces
	nilTraces.Observe(context.Background(), rollout.Event{Type: rollout.EventStarted, Rollout: "r"})
	assert.False(t, nilTraces.Enabled())
	allocs := testing.AllocsPerRun(1000, func() {
		tr.Observe(context.Background(), benchEvent)
	})
	assert.Zero(t, allocs, "off, tracing costs no allocation")
}

var benchEvent = rollout.Event{
	Time: start, Rollout: "checkout-v2", Type: rollout.EventRoutesChanged, Phase: rollout.PhaseProgressing,
	Step: 1, StepKind: progressive.KindSetWeight, Target: target, Release: v2,
	Routes: &progressive.Routes{CanaryWeight: 10, StableWeight: 90},
}

// BenchmarkTracesOff is the price of tracing left off (no Provider) on every
// event the runner emits.
func BenchmarkTracesOff(b *testing.B) {
	var obs rollout.Observer = telemetry.NewTraces(telemetry.TraceOptions{})
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		obs.Observe(ctx, benchEvent)
	}
}

// BenchmarkTracesNoopProvider is tracing on, with OpenTelemetry's no-op
// provider: what "off" would cost if it meant the global default provider.
func BenchmarkTracesNoopProvider(b *testing.B) {
	var obs rollout.Observer = telemetry.NewTraces(telemetry.TraceOptions{Provider: noop.NewTracerProvider()})
	ctx := context.Background()
	obs.Observe(ctx, rollout.Event{Time: start, Rollout: "checkout-v2", Type: rollout.EventStarted, Phase: rollout.PhaseProgressing, Target: target, Release: v2})
	b.ReportAllocs()
	for b.Loop() {
		obs.Observe(ctx, benchEvent)
	}
}

// BenchmarkTracesSDK is tracing on with the SDK and a span processor that
// exports nothing: the cost of the spans themselves.
func BenchmarkTracesSDK(b *testing.B) {
	tp := sdktrace.NewTracerProvider()
	b.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	var obs rollout.Observer = telemetry.NewTraces(telemetry.TraceOptions{Provider: tp})
	ctx := context.Background()
	obs.Observe(ctx, rollout.Event{Time: start, Rollout: "checkout-v2", Type: rollout.EventStarted, Phase: rollout.PhaseProgressing, Target: target, Release: v2})
	b.ReportAllocs()
	for b.Loop() {
		obs.Observe(ctx, benchEvent)
	}
}

// BenchmarkMetricsObserve is the price of the metrics observer per event.
func BenchmarkMetricsObserve(b *testing.B) {
	m, err := telemetry.NewMetrics(telemetry.MetricsOptions{})
	require.NoError(b, err)
	ctx := context.Background()
	m.Observe(ctx, rollout.Event{Time: start, Rollout: "checkout-v2", Type: rollout.EventStarted, Phase: rollout.PhaseProgressing, Target: target, Release: v2})
	b.ReportAllocs()
	for b.Loop() {
		m.Observe(ctx, benchEvent)
	}
}
