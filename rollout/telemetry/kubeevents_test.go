package telemetry_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/tools/record"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/internal/testenv"
	"github.com/agentops/progressive/rollout"
	"github.com/agentops/progressive/rollout/telemetry"
)

// recorded is a Recorder that keeps what it is given.
type recorded struct {
	objects []runtime.Object
	lines   []string
}

func (r *recorded) Record(obj runtime.Object, typ, reason, action, note string) {
	r.objects = append(r.objects, obj)
	r.lines = append(r.lines, typ+" "+reason+" "+action+": "+note)
}

func TestKubeEventsForEveryPhaseChangeAndDecision(t *testing.T) {
	rec := &recorded{}
	k, err := telemetry.NewKubeEvents(telemetry.KubeEventsOptions{Recorder: rec})
	require.NoError(t, err)
	all := &eventLog{}
	run := newSimRun(t, true, k, all)
	require.Equal(t, rollout.PhaseRolledBack, run.finish().Phase)

	reasons := map[string]bool{}
	for _, l := range rec.lines {
		reasons[strings.SplitN(l, " ", 3)[1]] = true
	}
	for _, want := range []string{"Started", "StepStarted", "TrafficShifted", "AnalysisFailed", "RollbackStarted", "RolledBack"} {
		assert.True(t, reasons[want], "an Event %s among %v", want, rec.lines)
	}
	assert.False(t, reasons["AnalysisPassed"])
	// Every phase change has its Event.
	var changes int
	last := rollout.Phase("")
	for _, e := range all.list {
		if e.Phase != last {
			changes++
			last = e.Phase
			_, reason, _, ok := telemetry.EventReason(e)
			assert.True(t, ok, "phase change to %s by %s is recorded", e.Phase, e.Type)
			assert.NotEmpty(t, reason)
		}
	}
	assert.Equal(t, 3, changes, "progressing, rolling-back, rolled-back")
	// Measurement ticks without a verdict are not worth an Event.
	assert.Less(t, len(rec.lines), len(all.list))
	for _, obj := range rec.objects {
		ref, ok := obj.(*corev1.ObjectReference)
		require.True(t, ok)
		assert.Equal(t, corev1.ObjectReference{Kind: "Deployment", APIVersion: "apps/v1", Namespace: "shop", Name: "checkout"}, *ref)
	}
}

func TestKubeEventsThroughBothClientGoRecorders(t *testing.T) {
	core := record.NewFakeRecorder(10)
	k, err := telemetry.NewKubeEvents(telemetry.KubeEventsOptions{Recorder: telemetry.CoreV1Recorder(core)})
	require.NoError(t, err)
	k.Observe(context.Background(), rollout.Event{Type: rollout.EventHeld, Rollout: "r", Target: target, Message: "analysis inconclusive"})
	require.Len(t, core.Events, 1)
	assert.Equal(t, "Warning Held analysis inconclusive", <-core.Events)

	v1 := events.NewFakeRecorder(10)
	k, err = telemetry.NewKubeEvents(telemetry.KubeEventsOptions{Recorder: telemetry.EventsV1Recorder(v1)})
	require.NoError(t, err)
	long := strings.Repeat("é", 1000) // 2000 bytes: over the apiserver's limit for a note
	k.Observe(context.Background(), rollout.Event{Type: rollout.EventSucceeded, Rollout: "r", Target: target, Message: long})
	require.Len(t, v1.Events, 1)
	got := <-v1.Events
	assert.True(t, strings.HasPrefix(got, "Normal Succeeded "))
	assert.LessOrEqual(t, len(strings.TrimPrefix(got, "Normal Succeeded ")), telemetry.MaxNote)

	// No target, no Event (and no panic).
	k.Observe(context.Background(), rollout.Event{Type: rollout.EventSucceeded, Rollout: "r"})
	assert.Empty(t, v1.Events)
}

func TestKubeEventsOptionsAreChecked(t *testing.T) {
	_, err := telemetry.NewKubeEvents(telemetry.KubeEventsOptions{})
	require.ErrorIs(t, err, progressive.ErrInvalid)
	assert.Contains(t, err.Error(), "Recorder")
}

func TestDeploymentLookupFindsTheUID(t *testing.T) {
	cs := fake.NewClientset(&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "checkout", UID: "uid-1"}})
	lookup := telemetry.DeploymentLookup(cs)
	ctx := context.Background()
	e := rollout.Event{Type: rollout.EventStarted, Target: target}
	obj, ok := lookup(ctx, e)
	require.True(t, ok)
	assert.Equal(t, "uid-1", string(obj.(*corev1.ObjectReference).UID))
	gets := func() int {
		n := 0
		for _, a := range cs.Actions() {
			if a.GetVerb() == "get" {
				n++
			}
		}
		return n
	}
	e.Type = rollout.EventStepStarted
	for range 5 {
		_, _ = lookup(ctx, e)
	}
	assert.Equal(t, 1, gets(), "read once per target, then remembered")

	// A missing Deployment (a flag rollout's target): recorded by name.
	obj, ok = lookup(ctx, rollout.Event{Type: rollout.EventStarted, Target: progressive.Target{Namespace: "shop", Name: "flags-only"}})
	require.True(t, ok)
	assert.Empty(t, obj.(*corev1.ObjectReference).UID)
	assert.Equal(t, "flags-only", obj.(*corev1.ObjectReference).Name)
}

// On a real control plane, through both recorders, the Events land on the
// target Deployment: listed by its UID, as kubectl describe deployment does.
func TestKubeEventsOnTheTargetDeployment(t *testing.T) {
	env := testenv.StartForTest(t, testenv.Options{Nodes: 1})
	ns := env.NewNamespace(t)
	cs := env.Clientset()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	deploy := func(name string) *appsv1.Deployment {
		labels := map[string]string{"app": name}
		d, err := cs.AppsV1().Deployments(ns).Create(ctx, &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
			Spec: appsv1.DeploymentSpec{
				Selector: &metav1.LabelSelector{MatchLabels: labels},
				Template: corev1.PodTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Labels: labels},
					Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "shop/" + name + ":v1"}}},
				},
			},
		}, metav1.CreateOptions{})
		require.NoError(t, err)
		return d
	}

	// core/v1 through tools/record.
	coreB := record.NewBroadcaster()
	defer coreB.Shutdown()
	coreB.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: cs.CoreV1().Events("")})
	coreRec := coreB.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "progressive-telemetry-test"})

	// events.k8s.io/v1 through tools/events.
	v1B := events.NewBroadcaster(&events.EventSinkImpl{Interface: cs.EventsV1()})
	defer v1B.Shutdown()
	v1B.StartRecordingToSink(ctx.Done())
	v1Rec := v1B.NewRecorder(scheme.Scheme, "progressive-telemetry-test")

	for _, tc := range []struct {
		name string
		rec  telemetry.Recorder
	}{
		{"core-v1", telemetry.CoreV1Recorder(coreRec)},
		{"events-v1", telemetry.EventsV1Recorder(v1Rec)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := deploy("checkout-" + tc.name)
			k, err := telemetry.NewKubeEvents(telemetry.KubeEventsOptions{Recorder: tc.rec, Object: telemetry.DeploymentLookup(cs)})
			require.NoError(t, err)
			rec := &recorded{}
			also, err := telemetry.NewKubeEvents(telemetry.KubeEventsOptions{Recorder: rec})
			require.NoError(t, err)
			run := newSimRunOn(t, progressive.Target{Namespace: ns, Name: d.Name}, k, also)
			require.Equal(t, rollout.PhaseSucceeded, run.finish().Phase)

			want := map[string]int{}
			for _, l := range rec.lines {
				want[strings.SplitN(l, " ", 3)[1]]++
			}
			require.Contains(t, want, "Succeeded")
			var got map[string]int
			err = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
				got, err = eventsOn(ctx, cs, d)
				if err != nil {
					return false, err
				}
				for reason := range want {
					if got[reason] == 0 {
						return false, nil
					}
				}
				return true, nil
			})
			require.NoError(t, err, "Events on Deployment %s/%s (uid %s): %v, want %v", ns, d.Name, d.UID, got, want)
			for reason, n := range want {
				// The core/v1 recorder folds repeats into one Event with a
				// count; events.k8s.io into a series. Either way: present.
				assert.Positive(t, got[reason], "reason %s (recorded %d times)", reason, n)
			}
		})
	}
}

// eventsOn counts the Events whose object is d, by reason, selected by UID.
func eventsOn(ctx context.Context, cs kubernetes.Interface, d *appsv1.Deployment) (map[string]int, error) {
	list, err := cs.CoreV1().Events(d.Namespace).List(ctx, metav1.ListOptions{
		FieldSelector: "involvedObject.uid=" + string(d.UID) + ",involvedObject.kind=Deployment",
	})
	if err != nil {
		return nil, err
	}
	got := map[string]int{}
	for _, e := range list.Items {
		got[e.Reason]++
	}
	return got, nil
}
