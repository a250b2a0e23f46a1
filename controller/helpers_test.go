package controller_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	testingclock "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/controller"
	"github.com/agentops/progressive/provider/sim"
	"github.com/agentops/progressive/rollout"
	"github.com/agentops/progressive/strategy"
)

// Release is a small resource type for the tests and examples: a canary of
// a service to a version, with a status the binding fills.
type Release struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              ReleaseSpec   `json:"spec"`
	Status            ReleaseStatus `json:"status,omitempty"`
}

type ReleaseSpec struct {
	Service string `json:"service"`
	Version string `json:"version"`
}

type ReleaseStatus struct {
	RolloutID       string  `json:"rolloutID,omitempty"`
	Phase           string  `json:"phase,omitempty"`
	Step            string  `json:"step,omitempty"`
	Weight          float64 `json:"weight,omitempty"`
	Message         string  `json:"message,omitempty"`
	ObservedCommand string  `json:"observedCommand,omitempty"`
	// Analysis is the latest measurement of each check, as
	// "name=outcome value at time" lines: it changes at every measurement.
	Analysis   string             `json:"analysis,omitempty"`
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

func (r *Release) DeepCopyObject() runtime.Object {
	c := *r
	r.ObjectMeta.DeepCopyInto(&c.ObjectMeta)
	c.Status.Conditions = nil
	for _, cond := range r.Status.Conditions {
		c.Status.Conditions = append(c.Status.Conditions, *cond.DeepCopy())
	}
	return &c
}

type ReleaseList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Release `json:"items"`
}

func (l *ReleaseList) DeepCopyObject() runtime.Object {
	c := &ReleaseList{TypeMeta: l.TypeMeta}
	l.ListMeta.DeepCopyInto(&c.ListMeta)
	for i := range l.Items {
		c.Items = append(c.Items, *l.Items[i].DeepCopyObject().(*Release))
	}
	return c
}

var releaseGV = schema.GroupVersion{Group: "test.progressive.agentops.dev", Version: "v1"}

func newScheme() *runtime.Scheme {
	s := runtime.NewScheme()
	s.AddKnownTypes(releaseGV, &Release{}, &ReleaseList{})
	metav1.AddToGroupVersion(s, releaseGV)
	return s
}

// CommandAnnotation carries a command ("abort" or "abort: reason").
const CommandAnnotation = "test.progressive.agentops.dev/command"

// releaseBinding plans a canary of 10% then 50%, 10 minutes each, with one
// error-rate check; warn adds a latency check of severity warn that fails at
// every measurement (its warnings are stored, each with its new value).
type releaseBinding struct {
	namespace string
	warn      bool
}

func (b releaseBinding) Plan(_ context.Context, r *Release) (progressive.Plan, error) {
	if r.Spec.Version == "" {
		return progressive.Plan{}, fmt.Errorf("spec.version is required: %w", progressive.ErrInvalid)
	}
	checks := []progressive.Check{{Name: "error-rate", Query: "error_rate", Max: progressive.Float(1)}}
	if b.warn {
		checks = append(checks, progressive.Check{Name: "latency", Query: "latency_p95", Max: progressive.Float(1), Severity: progressive.SeverityWarn})
	}
	return strategy.Canary{
		Weights: []float64{10, 50},
		Soak:    10 * time.Minute,
		Checks:  checks,
	}.Plan(progressive.Target{Namespace: b.namespace, Name: r.Spec.Service}, progressive.Release{Version: r.Spec.Version, Image: r.Spec.Service + ":" + r.Spec.Version})
}

func (releaseBinding) SetStatus(r *Release, s controller.Status) {
	r.Status.RolloutID = s.RolloutID
	r.Status.Phase = string(s.Phase)
	r.Status.Step = s.StepText()
	r.Status.Weight = s.CanaryWeight
	r.Status.Message = s.Message
	if s.Command != "" {
		r.Status.ObservedCommand = s.Command
	}
	r.Status.Analysis = ""
	if s.Analysis != nil {
		for _, c := range s.Analysis.Checks {
			v := "none"
			if c.Value != nil {
				v = fmt.Sprintf("%.4f", *c.Value)
			}
			r.Status.Analysis += fmt.Sprintf("%s=%s %s at %s\n", c.Name, c.Outcome, v, c.Time.Format(time.RFC3339))
		}
	}
	controller.SetConditions(&r.Status.Conditions, s.Conditions)
}

// Ended implements controller.Ender: the status names the rollout and a
// phase it ended in.
func (releaseBinding) Ended(r *Release, id string) bool {
	switch controller.Phase(r.Status.Phase) {
	case controller.PhaseSucceeded, controller.PhaseRolledBack, controller.PhaseAborted:
		return r.Status.RolloutID == id
	}
	return false
}

func (releaseBinding) Command(r *Release) (controller.Command, bool) {
	v := r.Annotations[CommandAnnotation]
	if v == "" || v == r.Status.ObservedCommand {
		return controller.Command{}, false
	}
	kind, reason, _ := strings.Cut(v, ":")
	return controller.Command{Kind: rollout.CommandKind(strings.TrimSpace(kind)), Reason: strings.TrimSpace(reason), ID: v}, true
}

// harness is a Reconciler of Releases on a fake client, driving rollouts in
// the simulator in virtual time.
type harness struct {
	t      *testing.T
	clk    *testingclock.FakeClock
	env    *sim.Env
	client client.Client
	runner *rollout.Runner
	rec    *events.FakeRecorder
	r      *controller.Reconciler[*Release]
	ns     string
	// statusPatches counts the Reconciler's writes of the status.
	statusPatches atomic.Int64
}

func newHarness(t *testing.T, opts controller.Options[*Release]) *harness {
	t.Helper()
	return newHarnessOf(t, releaseBinding{namespace: "shop"}, opts)
}

// newHarnessOf is newHarness with binding b.
func newHarnessOf(t *testing.T, b releaseBinding, opts controller.Options[*Release]) *harness {
	t.Helper()
	return newHarnessStore(t, b, opts, nil)
}

// newHarnessStore is newHarnessOf keeping the rollouts in store (nil: the
// runner's default).
func newHarnessStore(t *testing.T, b releaseBinding, opts controller.Options[*Release], store rollout.StateStore) *harness {
	t.Helper()
	h := &harness{t: t, ns: "shop", clk: testingclock.NewFakeClock(time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC))}
	h.env = sim.New(sim.Options{Clock: h.clk, Seed: 1})
	for _, name := range []string{"checkout", "search"} {
		target := progressive.Target{Namespace: h.ns, Name: name}
		require.NoError(t, h.env.Metrics.SetProfile(target, sim.Profile{RequestRate: 1000}))
		require.NoError(t, h.env.Workload.AddService(target, sim.ServiceSpec{Replicas: 10, Version: "v1", Image: name + ":v1"}))
	}
	h.rec = events.NewFakeRecorder(1000)
	var err error
	h.runner, err = rollout.New(rollout.Options{
		Providers: rollout.Providers{
			Routers:   []progressive.TrafficRouter{h.env.Router},
			Metrics:   []progressive.MetricSource{h.env.Metrics},
			Workloads: []progressive.Workload{h.env.Workload},
		},
		Clock:     h.clk,
		Store:     store,
		Observers: []rollout.Observer{controller.Events(h.rec)},
		Logger:    controller.Logger(testLogr(t)),
	})
	require.NoError(t, err)
	h.client = fake.NewClientBuilder().WithScheme(newScheme()).WithStatusSubresource(&Release{}).
		WithInterceptorFuncs(interceptor.Funcs{SubResourcePatch: func(ctx context.Context, c client.Client, sub string, obj client.Object, patch client.Patch, opts ...client.SubResourcePatchOption) error {
			h.statusPatches.Add(1)
			return c.SubResource(sub).Patch(ctx, obj, patch, opts...)
		}}).Build()
	if opts.Recorder == nil {
		opts.Recorder = h.rec
	}
	h.r, err = controller.NewReconciler(h.client, h.runner, controller.Binding[*Release](b), opts)
	require.NoError(t, err)
	return h
}

func (h *harness) create(name, service, version string) *Release {
	h.t.Helper()
	r := &Release{ObjectMeta: metav1.ObjectMeta{Namespace: h.ns, Name: name, UID: types.UID(fmt.Sprintf("%08x-0000-4000-8000-000000000000", len(name)*7919))}, Spec: ReleaseSpec{Service: service, Version: version}}
	require.NoError(h.t, h.client.Create(context.Background(), r))
	return r
}

func (h *harness) get(name string) *Release {
	h.t.Helper()
	var r Release
	require.NoError(h.t, h.client.Get(context.Background(), types.NamespacedName{Namespace: h.ns, Name: name}, &r))
	return &r
}

func (h *harness) reconcile(name string) reconcile.Result {
	h.t.Helper()
	res, err := h.r.Reconcile(context.Background(), reconcile.Request{NamespacedName: types.NamespacedName{Namespace: h.ns, Name: name}})
	require.NoError(h.t, err)
	return res
}

// until reconciles name, stepping the clock by each RequeueAfter, until done
// holds or the rollout needs no requeue; it returns the phases seen.
func (h *harness) until(name string, done func(*Release) bool) []string {
	h.t.Helper()
	var phases []string
	for i := 0; i < 10000; i++ {
		res := h.reconcile(name)
		r := h.get(name)
		if len(phases) == 0 || phases[len(phases)-1] != r.Status.Phase {
			phases = append(phases, r.Status.Phase)
		}
		if done(r) || res.RequeueAfter == 0 {
			return phases
		}
		h.clk.Step(res.RequeueAfter)
	}
	h.t.Fatalf("%s: no end after 10000 reconciles", name)
	return nil
}

// events drains the recorded Events.
func (h *harness) events() []string {
	var out []string
	for {
		select {
		case e := <-h.rec.Events:
			out = append(out, e)
		default:
			return out
		}
	}
}

func condition(r *Release, typ string) metav1.Condition {
	for _, c := range r.Status.Conditions {
		if c.Type == typ {
			return c
		}
	}
	return metav1.Condition{}
}

// objectMeta is the metadata of a new object at key, with a UID as the API
// server would give it (the fake client gives none).
func objectMeta(key types.NamespacedName) metav1.ObjectMeta {
	return metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name, UID: "5f0c2b1e-8a4d-4c3b-9e2f-1a2b3c4d5e6f"}
}
