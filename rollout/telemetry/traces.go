package telemetry

import (
	"context"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/agentops/progressive/analysis"
	"github.com/agentops/progressive/rollout"
)

// DefaultTracerName names the instrumentation scope of the spans.
const DefaultTracerName = "github.com/agentops/progressive/rollout"

// Attribute keys of the spans.
const (
	AttrRollout         = attribute.Key("progressive.rollout")
	AttrTargetNamespace = attribute.Key("progressive.target.namespace")
	AttrTargetName      = attribute.Key("progressive.target.name")
	AttrReleaseVersion  = attribute.Key("progressive.release.version")
	AttrReleaseImage    = attribute.Key("progressive.release.image")
	AttrStepIndex       = attribute.Key("progressive.step.index")
	AttrStepKind        = attribute.Key("progressive.step.kind")
	AttrWeight          = attribute.Key("progressive.canary.weight")
	AttrVerdict         = attribute.Key("progressive.verdict")
	AttrOutcome         = attribute.Key("progressive.outcome")
	AttrResumed         = attribute.Key("progressive.resumed")
	AttrCheck           = attribute.Key("progressive.check")
	AttrValue           = attribute.Key("progressive.check.value")
	AttrCheckOutcome    = attribute.Key("progressive.check.outcome")
	AttrErrorKind       = attribute.Key("progressive.error.kind")
)

// TraceOptions configure Traces.
type TraceOptions struct {
	// Provider makes the tracer. Nil leaves tracing off: Observe returns at
	// once, which is the default so that a program that never set up
	// OpenTelemetry pays nothing.
	Provider trace.TracerProvider
	// TracerName names the instrumentation scope. Default DefaultTracerName.
	TracerName string
}

// Traces is a rollout.Observer that makes a span per rollout, with a child
// span per step and one for the rollback. The spans take their start and end
// times from the events, so they are timed by the runner's clock. A rollout
// span starts with the rollout's first event this process sees and, when that
// is the started event, as a child of the span in that call's context (the
// caller of Runner.Start); a process that takes a rollout over mid-way starts
// a span of its own marked progressive.resumed.
type Traces struct {
	tracer trace.Tracer // nil: off

	mu   sync.Mutex
	open map[string]*openSpans
}

type openSpans struct {
	ctx      context.Context // carries the rollout span, parent of the others
	rollout  trace.Span
	step     trace.Span
	stepIdx  int
	rollback trace.Span
}

// NewTraces returns the tracing observer; with a nil Provider it is off.
func NewTraces(opts TraceOptions) *Traces {
	if opts.Provider == nil {
		return &Traces{}
	}
	name := opts.TracerName
	if name == "" {
		name = DefaultTracerName
	}
	return &Traces{tracer: opts.Provider.Tracer(name), open: map[string]*openSpans{}}
}

// Enabled reports whether t makes spans.
func (t *Traces) Enabled() bool { return t != nil && t.tracer != nil }

// Observe implements rollout.Observer.
func (t *Traces) Observe(ctx context.Context, e rollout.Event) {
	if t == nil || t.tracer == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.open[e.Rollout]
	if s == nil {
		if e.Phase.Terminal() && e.Type != rollout.EventSucceeded && e.Type != rollout.EventRollbackCompleted {
			return // a late event of a rollout whose span already ended
		}
		s = t.startRollout(ctx, e)
		t.open[e.Rollout] = s
	}
	at := trace.WithTimestamp(e.Time)
	switch e.Type {
	case rollout.EventStarted:
		// The rollout span was started above.
	case rollout.EventStepStarted:
		t.startStep(s, e)
	case rollout.EventStepCompleted:
		if s.step != nil && s.stepIdx == e.Step {
			s.step.SetStatus(codes.Ok, "")
			s.step.End(at)
			s.step = nil
		}
	case rollout.EventRoutesChanged:
		if e.Routes != nil {
			w := AttrWeight.Float64(e.Routes.CanaryWeight)
			s.rollout.SetAttributes(w)
			t.current(s).SetAttributes(w)
			t.current(s).AddEvent("routes changed", trace.WithAttributes(w), at)
		}
	case rollout.EventFlagChanged, rollout.EventHeld, rollout.EventCommand, rollout.EventWaiting:
		t.current(s).AddEvent(string(e.Type), trace.WithAttributes(attribute.String("message", e.Message)), at)
	case rollout.EventMeasured:
		span := t.current(s)
		for _, m := range e.Measurements {
			span.AddEvent("measurement", at, trace.WithAttributes(
				AttrCheck.String(m.Check), AttrValue.Float64(m.Value), AttrCheckOutcome.String(string(m.Outcome)),
				attribute.String("reason", m.Reason)))
		}
		if verdictDone(e.Verdict) {
			span.SetAttributes(AttrVerdict.String(string(e.Verdict)))
			if e.Verdict != analysis.VerdictPass {
				span.SetStatus(codes.Error, e.Message)
			}
		}
	case rollout.EventError:
		span := t.current(s)
		if e.Err != nil {
			span.RecordError(e.Err, at, trace.WithAttributes(AttrErrorKind.String(ErrorKind(e.Err))))
		} else {
			span.AddEvent("error", at, trace.WithAttributes(attribute.String("message", e.Message)))
		}
	case rollout.EventRollbackStarted:
		if s.step != nil {
			if e.Err != nil {
				s.step.RecordError(e.Err, at, trace.WithAttributes(AttrErrorKind.String(ErrorKind(e.Err))))
			}
			s.step.SetStatus(codes.Error, e.Message)
			s.step.End(at)
			s.step = nil
		}
		if s.rollback == nil {
			_, s.rollback = t.tracer.Start(s.ctx, "rollback", at, trace.WithAttributes(attribute.String("reason", e.Message)))
		}
	case rollout.EventSucceeded, rollout.EventRollbackCompleted:
		t.finish(s, e)
		delete(t.open, e.Rollout)
	}
}

// current is the innermost open span: the rollback, the step or the rollout.
func (t *Traces) current(s *openSpans) trace.Span {
	switch {
	case s.rollback != nil:
		return s.rollback
	case s.step != nil:
		return s.step
	default:
		return s.rollout
	}
}

func (t *Traces) startRollout(ctx context.Context, e rollout.Event) *openSpans {
	attrs := []attribute.KeyValue{
		AttrRollout.String(e.Rollout),
		AttrTargetNamespace.String(e.Target.Namespace),
		AttrTargetName.String(e.Target.Name),
		AttrReleaseVersion.String(e.Release.Version),
	}
	if e.Release.Image != "" {
		attrs = append(attrs, AttrReleaseImage.String(e.Release.Image))
	}
	opts := []trace.SpanStartOption{trace.WithTimestamp(e.Time)}
	if e.Type != rollout.EventStarted {
		// Not the caller of Start: this call's context (one reconcile) is no
		// parent of the whole rollout.
		opts = append(opts, trace.WithNewRoot())
		attrs = append(attrs, AttrResumed.Bool(true))
	}
	opts = append(opts, trace.WithAttributes(attrs...))
	// The rollout outlives the call that started it: its span's context must
	// not carry that call's cancellation.
	sctx, span := t.tracer.Start(context.WithoutCancel(ctx), "rollout", opts...)
	s := &openSpans{ctx: sctx, rollout: span, stepIdx: -1}
	if e.Type != rollout.EventStarted && e.Type != rollout.EventStepStarted && !e.Phase.Terminal() && e.Phase != rollout.PhaseRollingBack {
		// Taken over mid-step: the step in flight gets a span from now on.
		t.startStep(s, e)
	}
	return s
}

func (t *Traces) startStep(s *openSpans, e rollout.Event) {
	at := trace.WithTimestamp(e.Time)
	if s.step != nil {
		s.step.End(at)
	}
	kind := stepKind(e.StepKind)
	_, s.step = t.tracer.Start(s.ctx, "step "+kind, at, trace.WithAttributes(
		AttrStepIndex.Int(e.Step), AttrStepKind.String(kind), attribute.String("description", e.Message)))
	s.stepIdx = e.Step
}

func (t *Traces) finish(s *openSpans, e rollout.Event) {
	at := trace.WithTimestamp(e.Time)
	outcome := outcomeOf(e)
	for _, span := range []trace.Span{s.step, s.rollback} {
		if span != nil {
			if e.Type == rollout.EventSucceeded {
				span.SetStatus(codes.Ok, "")
			}
			span.End(at)
		}
	}
	attrs := []attribute.KeyValue{AttrOutcome.String(outcome)}
	if e.Impact != nil {
		attrs = append(attrs, attribute.Float64("progressive.max_canary_weight", e.Impact.MaxCanaryWeight),
			attribute.Int("progressive.steps_completed", e.Impact.StepsCompleted))
		if d := e.Impact.TimeToDetect; d != nil {
			attrs = append(attrs, attribute.Float64("progressive.time_to_detect_seconds", time.Duration(*d).Seconds()))
		}
	}
	s.rollout.SetAttributes(attrs...)
	if e.Type == rollout.EventSucceeded {
		s.rollout.SetStatus(codes.Ok, "")
	} else {
		s.rollout.SetStatus(codes.Error, outcome+": "+e.Message)
	}
	s.rollout.End(at)
}

// End ends every span still open at now, marked progressive.outcome
// "interrupted": call it when the process stops driving rollouts (shutdown,
// lost leadership), before flushing the TracerProvider, so that rollouts
// another process finishes are not left with spans that never end.
func (t *Traces) End(now time.Time) {
	if t == nil || t.tracer == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	at := trace.WithTimestamp(now)
	for id, s := range t.open {
		for _, span := range []trace.Span{s.step, s.rollback} {
			if span != nil {
				span.End(at)
			}
		}
		s.rollout.SetAttributes(AttrOutcome.String("interrupted"))
		s.rollout.End(at)
		delete(t.open, id)
	}
}

// Open reports how many rollout spans are open.
func (t *Traces) Open() int {
	if t == nil || t.tracer == nil {
		return 0
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.open)
}
