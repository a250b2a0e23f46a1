package rollout

import (
	"context"
	"log/slog"
	"time"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/analysis"
)

// EventType names what happened.
type EventType string

const (
	EventStarted           EventType = "started"
	EventStepStarted       EventType = "step-started"
	EventStepCompleted     EventType = "step-completed"
	EventRoutesChanged     EventType = "routes-changed"
	EventFlagChanged       EventType = "flag-changed"
	EventMeasured          EventType = "measured"
	EventWaiting           EventType = "waiting"
	EventHeld              EventType = "held"
	EventRollbackStarted   EventType = "rollback-started"
	EventRollbackCompleted EventType = "rollback-completed"
	EventSucceeded         EventType = "succeeded"
	EventCommand           EventType = "command"
	EventError             EventType = "error"
)

// Event is delivered to observers as the runner works.
type Event struct {
	Time     time.Time            `json:"time"`
	Rollout  string               `json:"rollout"`
	Type     EventType            `json:"type"`
	Step     int                  `json:"step"`
	StepKind progressive.StepKind `json:"stepKind,omitempty"`
	Phase    Phase                `json:"phase"`
	Message  string               `json:"message"`
	// Routes are set on routes-changed: what the router reports as achieved.
	Routes *progressive.Routes `json:"routes,omitempty"`
	// Measurements and Verdict are set on measured.
	Measurements []analysis.Measurement `json:"measurements,omitempty"`
	Verdict      analysis.Verdict       `json:"verdict,omitempty"`
	// Target and Release are the rollout's, on every event, so that an
	// observer can label, trace or record on the target without loading the
	// state.
	Target  progressive.Target  `json:"target,omitzero"`
	Release progressive.Release `json:"release,omitzero"`
	// Checks are the checks of the analysis on measured events: the
	// thresholds the measurements were judged against.
	Checks []progressive.Check `json:"-"`
	// Err is the error behind an error event, or behind a rollback-started
	// event when a failed step caused the rollback, so that an observer can tell
	// its kind (progressive.ErrTransient, ErrInvalid, ...) without parsing
	// Message. Nil on every other event.
	Err error `json:"-"`
	// Impact is the decision record's impact on the events that end a rollout
	// (succeeded, rollback-completed): durations, time to detect and recover.
	Impact *Impact `json:"impact,omitempty"`
}

// Observer receives events synchronously, in order; it must return quickly.
type Observer interface {
	Observe(ctx context.Context, e Event)
}

// ObserverFunc adapts a function to Observer.
type ObserverFunc func(ctx context.Context, e Event)

// Observe implements Observer.
func (f ObserverFunc) Observe(ctx context.Context, e Event) { f(ctx, e) }

// SlogObserver logs every event as one structured line.
type SlogObserver struct {
	Logger *slog.Logger
}

// Observe implements Observer.
func (o SlogObserver) Observe(ctx context.Context, e Event) {
	l := o.Logger
	if l == nil {
		l = slog.Default()
	}
	level := slog.LevelInfo
	switch e.Type {
	case EventRollbackStarted, EventHeld, EventError:
		level = slog.LevelWarn
	case EventMeasured, EventWaiting:
		level = slog.LevelDebug
	}
	attrs := []slog.Attr{
		slog.String("rollout", e.Rollout),
		slog.String("event", string(e.Type)),
		slog.Int("step", e.Step),
		slog.String("phase", string(e.Phase)),
	}
	if e.StepKind != "" {
		attrs = append(attrs, slog.String("kind", string(e.StepKind)))
	}
	if e.Routes != nil {
		attrs = append(attrs, slog.Float64("canaryWeight", e.Routes.CanaryWeight))
	}
	if e.Verdict != "" {
		attrs = append(attrs, slog.String("verdict", string(e.Verdict)))
	}
	for _, m := range e.Measurements {
		attrs = append(attrs, slog.String("check."+m.Check, string(m.Outcome)+": "+m.Reason))
	}
	l.LogAttrs(ctx, level, e.Message, attrs...)
}
