package controller

import (
	"context"
	"unicode/utf8"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/events"

	"github.com/agentops/progressive/analysis"
	"github.com/agentops/progressive/rollout"
)

type objectKey struct{}

// ContextWithObject returns ctx carrying obj: the Events observer records the
// events of runner calls made with it on obj. The Reconciler does this for
// every call it makes; call it yourself to record on an object the events of
// runner calls you make (an Abort from an HTTP handler, say).
func ContextWithObject(ctx context.Context, obj runtime.Object) context.Context {
	return context.WithValue(ctx, objectKey{}, obj)
}

// ObjectFromContext returns the object ContextWithObject put in ctx.
func ObjectFromContext(ctx context.Context) (runtime.Object, bool) {
	obj, ok := ctx.Value(objectKey{}).(runtime.Object)
	return obj, ok && obj != nil
}

// maxNote is the longest note an events.k8s.io Event accepts (in bytes).
const maxNote = 1024

// Events returns a rollout.Observer that records the runner's events as
// Kubernetes Events on the object of the context they were emitted with
// (ContextWithObject; the Reconciler's calls carry theirs). Events without an
// object, such as those of a Runner.Run loop, are not recorded. Pass it in
// rollout.Options.Observers, with the manager's recorder
// (manager.Manager.GetEventRecorder).
//
// Measurements are recorded only when an analysis ends (AnalysisPassed,
// AnalysisFailed, AnalysisInconclusive), not at each tick, and waits not at
// all: Events are for people, and the status carries the latest measurement.
func Events(rec events.EventRecorder) rollout.Observer {
	return rollout.ObserverFunc(func(ctx context.Context, e rollout.Event) {
		obj, ok := ObjectFromContext(ctx)
		if !ok || rec == nil {
			return
		}
		typ, reason, action, ok := eventKind(e)
		if !ok {
			return
		}
		rec.Eventf(obj, nil, typ, reason, action, "%s", note(e.Message))
	})
}

// eventKind maps a runner event to an Event's type, reason and action; ok is
// false for events not worth a Kubernetes Event.
func eventKind(e rollout.Event) (typ, reason, action string, ok bool) {
	normal, warning := corev1.EventTypeNormal, corev1.EventTypeWarning
	switch e.Type {
	case rollout.EventStarted:
		return normal, "Started", "Start", true
	case rollout.EventStepStarted:
		return normal, "StepStarted", "Step", true
	case rollout.EventRoutesChanged:
		return normal, "TrafficShifted", "Route", true
	case rollout.EventFlagChanged:
		return normal, "FlagChanged", "Flag", true
	case rollout.EventMeasured:
		switch e.Verdict {
		case analysis.VerdictPass:
			return normal, "AnalysisPassed", "Analyze", true
		case analysis.VerdictFail:
			return warning, "AnalysisFailed", "Analyze", true
		case analysis.VerdictInconclusive:
			return warning, "AnalysisInconclusive", "Analyze", true
		}
		return "", "", "", false
	case rollout.EventHeld:
		return warning, "Held", "Hold", true
	case rollout.EventRollbackStarted:
		return warning, "RollbackStarted", "Rollback", true
	case rollout.EventRollbackCompleted:
		if e.Phase == rollout.PhaseAborted {
			return warning, "Aborted", "Rollback", true
		}
		return warning, "RolledBack", "Rollback", true
	case rollout.EventSucceeded:
		return normal, "Succeeded", "Promote", true
	case rollout.EventCommand:
		return normal, "Command", "Command", true
	case rollout.EventError:
		return warning, "StepError", "Step", true
	}
	return "", "", "", false
}

// note cuts a message to what an Event's note may hold, at a rune boundary.
func note(msg string) string {
	if len(msg) <= maxNote {
		return msg
	}
	cut := maxNote - len("...")
	for cut > 0 && !utf8.RuneStart(msg[cut]) {
		cut--
	}
	return msg[:cut] + "..."
}
