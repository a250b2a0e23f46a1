package telemetry

import (
	"context"
	"fmt"
	"sync"
	"time"
	"unicode/utf8"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/tools/record"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/analysis"
	"github.com/agentops/progressive/rollout"
)

// Recorder records one Kubernetes Event on an object. CoreV1Recorder and
// EventsV1Recorder adapt client-go's two recorders to it.
type Recorder interface {
	Record(object runtime.Object, eventType, reason, action, note string)
}

// CoreV1Recorder records through client-go's tools/record (core/v1 Events,
// what kubectl describe shows), dropping the action, which core/v1 Events
// recorded this way do not carry.
func CoreV1Recorder(r record.EventRecorder) Recorder { return coreV1{r} }

type coreV1 struct{ r record.EventRecorder }

func (c coreV1) Record(obj runtime.Object, typ, reason, _, note string) {
	c.r.Event(obj, typ, reason, note)
}

// EventsV1Recorder records through client-go's tools/events
// (events.k8s.io/v1, what controller-runtime's manager hands out).
func EventsV1Recorder(r events.EventRecorder) Recorder { return eventsV1{r} }

type eventsV1 struct{ r events.EventRecorder }

func (e eventsV1) Record(obj runtime.Object, typ, reason, action, note string) {
	e.r.Eventf(obj, nil, typ, reason, action, "%s", note)
}

// ObjectFunc chooses the object an event is recorded on; false records
// nothing.
type ObjectFunc func(ctx context.Context, e rollout.Event) (runtime.Object, bool)

// TargetDeployment records on the target's Deployment, by reference (no
// request). Without the Deployment's UID, kubectl describe deployment, which
// matches Events by UID, does not list them (kubectl get events does): use
// DeploymentLookup for that.
func TargetDeployment(_ context.Context, e rollout.Event) (runtime.Object, bool) {
	if e.Target.Name == "" {
		return nil, false
	}
	return deploymentRef(e.Target, ""), true
}

func deploymentRef(t progressive.Target, uid string) *corev1.ObjectReference {
	ns := t.Namespace
	if ns == "" {
		ns = metav1.NamespaceDefault
	}
	return &corev1.ObjectReference{Kind: "Deployment", APIVersion: "apps/v1", Namespace: ns, Name: t.Name, UID: types.UID(uid)}
}

// lookupTimeout bounds the one read DeploymentLookup makes per target:
// observers run inside the runner's reconcile.
const lookupTimeout = 2 * time.Second

// DeploymentLookup records on the target's Deployment with its UID, read once
// per target and rollout (a Get of apps/v1 Deployments: the recording identity
// needs get on deployments) and remembered, so that kubectl describe
// deployment lists the Events. When the read fails the Event is still
// recorded, by name only, and the read is tried again at the next event.
func DeploymentLookup(cs kubernetes.Interface) ObjectFunc {
	var mu sync.Mutex
	uids := map[progressive.Target]string{}
	return func(ctx context.Context, e rollout.Event) (runtime.Object, bool) {
		if e.Target.Name == "" || cs == nil {
			return TargetDeployment(ctx, e)
		}
		t := e.Target
		if t.Namespace == "" {
			t.Namespace = metav1.NamespaceDefault
		}
		mu.Lock()
		if e.Type == rollout.EventStarted {
			delete(uids, t) // a Deployment deleted and created again since has another UID
		}
		uid, ok := uids[t]
		mu.Unlock()
		if ok {
			return deploymentRef(t, uid), true
		}
		lctx, cancel := context.WithTimeout(ctx, lookupTimeout)
		defer cancel()
		d, err := cs.AppsV1().Deployments(t.Namespace).Get(lctx, t.Name, metav1.GetOptions{})
		if err != nil {
			if apierrors.IsNotFound(err) {
				// A flag rollout's target may be no Deployment at all.
				mu.Lock()
				uids[t] = ""
				mu.Unlock()
			}
			return deploymentRef(t, ""), true
		}
		mu.Lock()
		uids[t] = string(d.UID)
		mu.Unlock()
		return deploymentRef(t, string(d.UID)), true
	}
}

// KubeEventsOptions configure KubeEvents.
type KubeEventsOptions struct {
	// Recorder writes the Events. Required.
	Recorder Recorder
	// Object chooses what each event is recorded on. Default TargetDeployment.
	Object ObjectFunc
}

// KubeEvents is a rollout.Observer recording Kubernetes Events for the
// runner's phase changes and decisions. Measurements are recorded only when an
// analysis ends (AnalysisPassed, AnalysisFailed, AnalysisInconclusive), not at
// each tick, and waits not at all: Events are for people, and a status or the
// metrics carry the latest measurement.
type KubeEvents struct {
	rec    Recorder
	object ObjectFunc
}

// NewKubeEvents checks opts and returns the observer.
func NewKubeEvents(opts KubeEventsOptions) (*KubeEvents, error) {
	if opts.Recorder == nil {
		return nil, fmt.Errorf("telemetry: KubeEventsOptions.Recorder: must not be nil (wrap a recorder with CoreV1Recorder or EventsV1Recorder): %w", progressive.ErrInvalid)
	}
	if opts.Object == nil {
		opts.Object = TargetDeployment
	}
	return &KubeEvents{rec: opts.Recorder, object: opts.Object}, nil
}

// Observe implements rollout.Observer.
func (k *KubeEvents) Observe(ctx context.Context, e rollout.Event) {
	typ, reason, action, ok := EventReason(e)
	if !ok {
		return
	}
	obj, ok := k.object(ctx, e)
	if !ok || obj == nil {
		return
	}
	k.rec.Record(obj, typ, reason, action, EventNote(e.Message))
}

// EventReason maps a runner event to a Kubernetes Event's type, reason and
// action; ok is false for events not worth one (measurement ticks, waits).
func EventReason(e rollout.Event) (typ, reason, action string, ok bool) {
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

// MaxNote is the longest note an events.k8s.io Event accepts, in bytes.
const MaxNote = 1024

// EventNote cuts a message to what an Event's note may hold, at a rune
// boundary: the apiserver refuses a longer one, and the Event would be lost.
func EventNote(msg string) string {
	if len(msg) <= MaxNote {
		return msg
	}
	cut := MaxNote - len("...")
	for cut > 0 && !utf8.RuneStart(msg[cut]) {
		cut--
	}
	return msg[:cut] + "..."
}
