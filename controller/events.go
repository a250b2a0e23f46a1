package controller

import (
	"context"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/events"

	"github.com/agentops/progressive/rollout"
	"github.com/agentops/progressive/rollout/telemetry"
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

// Events returns a rollout.Observer that records the runner's events as
// Kubernetes Events on the object of the context they were emitted with
// (ContextWithObject; the Reconciler's calls carry theirs). Events without an
// object, such as those of a Runner.Run loop, are not recorded. Pass it in
// rollout.Options.Observers, with the manager's recorder
// (manager.Manager.GetEventRecorder).
//
// It is telemetry.KubeEvents pointed at that object: the same reasons, the
// same choice of what is worth an Event. Add a telemetry.KubeEvents of your
// own to record them on the target Deployment as well.
func Events(rec events.EventRecorder) rollout.Observer {
	if rec == nil {
		return rollout.ObserverFunc(func(context.Context, rollout.Event) {})
	}
	k, err := telemetry.NewKubeEvents(telemetry.KubeEventsOptions{
		Recorder: telemetry.EventsV1Recorder(rec),
		Object: func(ctx context.Context, _ rollout.Event) (runtime.Object, bool) {
			return ObjectFromContext(ctx)
		},
	})
	if err != nil { // only a nil recorder fails, and that was handled above
		return rollout.ObserverFunc(func(context.Context, rollout.Event) {})
	}
	return k
}

// note cuts a message to what an Event's note may hold.
func note(msg string) string { return telemetry.EventNote(msg) }
