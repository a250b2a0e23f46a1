package controller_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/controller"
	"github.com/agentops/progressive/provider/sim"
	"github.com/agentops/progressive/rollout"
)

func testLogr(t *testing.T) logr.Logger {
	return funcr.New(func(prefix, args string) { t.Log(prefix, args) }, funcr.Options{})
}

func TestReconcilerPromotes(t *testing.T) {
	h := newHarness(t, controller.Options[*Release]{})
	h.create("checkout-v2", "checkout", "v2")

	// The first reconcile starts the rollout and carries out what is due at
	// once (the canary's deploy), then asks to come back: it never waits.
	res := h.reconcile("checkout-v2")
	assert.Positive(t, res.RequeueAfter)
	r := h.get("checkout-v2")
	assert.Equal(t, "Progressing", r.Status.Phase)
	assert.Contains(t, r.Finalizers, controller.DefaultFinalizer, "the finalizer is set before the rollout starts")
	assert.Equal(t, metav1.ConditionTrue, condition(r, controller.ConditionProgressing).Status)

	var weights []float64
	phases := h.until("checkout-v2", func(r *Release) bool {
		if n := len(weights); n == 0 || weights[n-1] != r.Status.Weight {
			weights = append(weights, r.Status.Weight)
		}
		return false
	})
	r = h.get("checkout-v2")
	assert.Equal(t, []string{"Progressing", "Succeeded"}, phases)
	assert.Equal(t, "Succeeded", r.Status.Phase)
	assert.Contains(t, weights, 10.0)
	assert.Contains(t, weights, 50.0)
	assert.Equal(t, metav1.ConditionTrue, condition(r, controller.ConditionReady).Status)
	assert.Equal(t, metav1.ConditionFalse, condition(r, controller.ConditionDegraded).Status)
	assert.Equal(t, r.Generation, condition(r, controller.ConditionReady).ObservedGeneration)

	// An ended rollout is not requeued, and reconciling it again writes nothing.
	before := r.ResourceVersion
	assert.Zero(t, h.reconcile("checkout-v2").RequeueAfter)
	assert.Equal(t, before, h.get("checkout-v2").ResourceVersion)

	evs := strings.Join(h.events(), "\n")
	for _, want := range []string{"Normal Started", "Normal TrafficShifted", "Normal AnalysisPassed", "Normal Succeeded"} {
		assert.Contains(t, evs, want)
	}
	assert.NotContains(t, evs, "Measured", "measurements are not Events")
}

func TestReconcilerSecondObjectWaitsForTheTarget(t *testing.T) {
	h := newHarness(t, controller.Options[*Release]{BusyRetry: 30 * time.Second})
	first := h.create("checkout-v2", "checkout", "v2")
	h.reconcile("checkout-v2")
	h.create("checkout-v3", "checkout", "v3")

	res := h.reconcile("checkout-v3")
	assert.Equal(t, 30*time.Second, res.RequeueAfter, "tried again after BusyRetry")
	r := h.get("checkout-v3")
	assert.Equal(t, "Pending", r.Status.Phase)
	c := condition(r, controller.ConditionProgressing)
	assert.Equal(t, metav1.ConditionFalse, c.Status)
	assert.Equal(t, controller.ReasonTargetBusy, c.Reason)
	assert.Contains(t, c.Message, controller.RolloutID(first), "the condition names the holder")
	assert.Contains(t, strings.Join(h.events(), "\n"), "Warning TargetBusy")

	// A waiting object deleted goes at once: it has nothing to undo.
	h.create("checkout-v4", "checkout", "v4")
	h.reconcile("checkout-v4")
	require.NoError(t, h.client.Delete(context.Background(), h.get("checkout-v4")))
	assert.Zero(t, h.reconcile("checkout-v4"))
	err := h.client.Get(context.Background(), types.NamespacedName{Namespace: h.ns, Name: "checkout-v4"}, &Release{})
	assert.True(t, apierrors.IsNotFound(err), "%v", err)

	// Once the holder ended, the waiting object starts.
	h.until("checkout-v2", func(*Release) bool { return false })
	h.reconcile("checkout-v3")
	assert.Equal(t, "Progressing", h.get("checkout-v3").Status.Phase)
}

func TestReconcilerCommandThroughTheObject(t *testing.T) {
	h := newHarness(t, controller.Options[*Release]{})
	h.create("checkout-v2", "checkout", "v2")
	h.until("checkout-v2", func(r *Release) bool { return r.Status.Weight == 10 })

	r := h.get("checkout-v2")
	r.Annotations = map[string]string{CommandAnnotation: "abort: error budget spent elsewhere"}
	require.NoError(t, h.client.Update(context.Background(), r))
	// One reconcile (the annotation's change triggers it) stores the command
	// and carries it out: traffic is back on stable at once.
	h.reconcile("checkout-v2")
	r = h.get("checkout-v2")
	assert.Equal(t, "abort: error budget spent elsewhere", r.Status.ObservedCommand)
	assert.Equal(t, 0.0, r.Status.Weight)
	h.until("checkout-v2", func(*Release) bool { return false })
	r = h.get("checkout-v2")
	assert.Equal(t, "Aborted", r.Status.Phase)
	assert.Contains(t, r.Status.Message, "error budget spent elsewhere")
	assert.Equal(t, metav1.ConditionTrue, condition(r, controller.ConditionDegraded).Status)
	st, err := h.runner.Get(context.Background(), controller.RolloutID(r))
	require.NoError(t, err)
	assert.Equal(t, rollout.PhaseAborted, st.Phase)
}

func TestReconcilerRegressionRolledBack(t *testing.T) {
	h := newHarness(t, controller.Options[*Release]{})
	h.env.Metrics.Inject(sim.Incident{Target: progressive.Target{Namespace: h.ns, Name: "checkout"}, Role: progressive.Canary, Kind: sim.ErrorRateSet, Value: 8})
	h.create("checkout-v2", "checkout", "v2")
	phases := h.until("checkout-v2", func(*Release) bool { return false })
	r := h.get("checkout-v2")
	assert.Equal(t, "RolledBack", r.Status.Phase, "phases %v", phases)
	assert.Contains(t, r.Status.Message, "error-rate")
	assert.Equal(t, 0.0, r.Status.Weight)
	assert.Equal(t, controller.PhaseRolledBack, controller.Phase(condition(r, controller.ConditionDegraded).Reason))
	evs := strings.Join(h.events(), "\n")
	assert.Contains(t, evs, "Warning AnalysisFailed")
	assert.Contains(t, evs, "Warning RolledBack")
}

func TestReconcilerDeletingAborts(t *testing.T) {
	h := newHarness(t, controller.Options[*Release]{})
	h.create("checkout-v2", "checkout", "v2")
	h.until("checkout-v2", func(r *Release) bool { return r.Status.Weight == 10 })
	r := h.get("checkout-v2")
	id := controller.RolloutID(r)
	require.NoError(t, h.client.Delete(context.Background(), r))
	assert.NotNil(t, h.get("checkout-v2").DeletionTimestamp, "held by the finalizer")

	for i := 0; i < 100; i++ {
		res, err := h.r.Reconcile(context.Background(), reconcile.Request{NamespacedName: types.NamespacedName{Namespace: h.ns, Name: "checkout-v2"}})
		require.NoError(t, err)
		if res.RequeueAfter == 0 {
			break
		}
		h.clk.Step(res.RequeueAfter)
	}
	var gone Release
	err := h.client.Get(context.Background(), types.NamespacedName{Namespace: h.ns, Name: "checkout-v2"}, &gone)
	assert.True(t, apierrors.IsNotFound(err), "the object went once its rollout was aborted: %v", err)
	st, err := h.runner.Get(context.Background(), id)
	require.NoError(t, err)
	assert.Equal(t, rollout.PhaseAborted, st.Phase)
	assert.Contains(t, st.Rollback.Reason, "Release shop/checkout-v2 was deleted")
	routes, err := h.env.Router.GetRoutes(context.Background(), progressive.Target{Namespace: h.ns, Name: "checkout"})
	require.NoError(t, err)
	assert.Equal(t, 0.0, routes.CanaryWeight)
}

func TestReconcilerInvalidPlan(t *testing.T) {
	h := newHarness(t, controller.Options[*Release]{})
	h.create("checkout-nothing", "checkout", "")
	res := h.reconcile("checkout-nothing")
	assert.Zero(t, res.RequeueAfter, "not tried again until the object changes")
	r := h.get("checkout-nothing")
	assert.Equal(t, "Invalid", r.Status.Phase)
	assert.Contains(t, r.Status.Message, "spec.version is required")
	assert.Equal(t, controller.ReasonPlanRejected, condition(r, controller.ConditionReady).Reason)
	assert.Contains(t, strings.Join(h.events(), "\n"), "Warning PlanRejected")
}

func TestReconcilerObjectGone(t *testing.T) {
	h := newHarness(t, controller.Options[*Release]{})
	res, err := h.r.Reconcile(context.Background(), reconcile.Request{NamespacedName: types.NamespacedName{Namespace: h.ns, Name: "nothing"}})
	require.NoError(t, err)
	assert.Zero(t, res)
}

func TestNewReconcilerRejects(t *testing.T) {
	h := newHarness(t, controller.Options[*Release]{})
	_, err := controller.NewReconciler[*Release](h.client, nil, releaseBinding{}, controller.Options[*Release]{})
	assert.ErrorIs(t, err, progressive.ErrInvalid)
	_, err = controller.NewReconciler(h.client, h.runner, controller.Binding[*Release](releaseBinding{}), controller.Options[*Release]{BusyRetry: -time.Second})
	assert.ErrorIs(t, err, progressive.ErrInvalid)
}

func TestResult(t *testing.T) {
	assert.Equal(t, reconcile.Result{RequeueAfter: 3 * time.Second},
		controller.Result(rollout.Result{Phase: rollout.PhaseProgressing, RequeueAfter: 3 * time.Second}))
	assert.Equal(t, reconcile.Result{}, controller.Result(rollout.Result{Phase: rollout.PhaseSucceeded, RequeueAfter: time.Second}), "an ended rollout is not requeued")
	assert.Equal(t, reconcile.Result{RequeueAfter: rollout.DefaultPollInterval}, controller.Result(rollout.Result{Phase: rollout.PhaseHeld}), "an unfinished one always is")
}

func TestRolloutID(t *testing.T) {
	r := &Release{ObjectMeta: metav1.ObjectMeta{Namespace: "Shop", Name: "checkout.v2", UID: "1B2C3D4E-aaaa-bbbb-cccc-dddddddddddd"}}
	assert.Equal(t, "shop-checkout-v2-1b2c3d4e", controller.RolloutID(r))
	r.Name = strings.Repeat("a", 80)
	id := controller.RolloutID(r)
	assert.Len(t, id, 63)
	assert.True(t, strings.HasSuffix(id, "-1b2c3d4e"), id)
	r.UID = ""
	assert.Len(t, controller.RolloutID(r), 63)
}

func TestStatusOfHeld(t *testing.T) {
	s := controller.StatusOf(rollout.State{
		ID:         "shop-checkout-v2",
		Phase:      rollout.PhaseHeld,
		HeldReason: "analysis inconclusive at 10%: no data",
		Plan:       progressive.Plan{Steps: []progressive.Step{{Name: "deploy"}, {Name: "weight-10"}, {Name: "analyze"}}},
		Step:       rollout.StepState{Index: 2},
		Applied:    rollout.Applied{Routes: &progressive.Routes{StableWeight: 90, CanaryWeight: 10}},
	})
	assert.Equal(t, controller.PhaseHeld, s.Phase)
	assert.Equal(t, "3/3", s.StepText())
	assert.Equal(t, "analyze", s.StepName)
	assert.Equal(t, 10.0, s.CanaryWeight)
	assert.Equal(t, "analysis inconclusive at 10%: no data", s.Message)
	var conds []metav1.Condition
	assert.True(t, controller.SetConditions(&conds, s.WithGeneration(4).Conditions))
	assert.False(t, controller.SetConditions(&conds, s.WithGeneration(4).Conditions), "unchanged conditions change nothing")
	for _, c := range conds {
		assert.Equal(t, int64(4), c.ObservedGeneration)
		assert.False(t, c.LastTransitionTime.IsZero())
	}
	assert.Equal(t, "Degraded", conds[2].Type)
	assert.Equal(t, metav1.ConditionTrue, conds[2].Status)
}

func TestEventsWithoutObjectRecordNothing(t *testing.T) {
	h := newHarness(t, controller.Options[*Release]{})
	controller.Events(h.rec).Observe(context.Background(), rollout.Event{Type: rollout.EventStarted, Message: "no object"})
	controller.Events(h.rec).Observe(controller.ContextWithObject(context.Background(), &Release{}), rollout.Event{Type: rollout.EventWaiting})
	assert.Empty(t, h.events())
	long := strings.Repeat("é", 1000)
	controller.Events(h.rec).Observe(controller.ContextWithObject(context.Background(), &Release{}), rollout.Event{Type: rollout.EventError, Message: long})
	evs := h.events()
	require.Len(t, evs, 1)
	assert.LessOrEqual(t, len(strings.TrimPrefix(evs[0], "Warning StepError ")), 1024)
}

func TestReconcilerStoreErrorIsRetried(t *testing.T) {
	h := newHarness(t, controller.Options[*Release]{})
	h.create("checkout-v2", "checkout", "v2")
	h.reconcile("checkout-v2")
	h.env.Router.FailNextWrites(1, fmt.Errorf("apiserver busy: %w", progressive.ErrTransient))
	// A transient failure of a step is retried by the runner's backoff, not
	// reported as a reconcile error.
	h.until("checkout-v2", func(*Release) bool { return false })
	assert.Equal(t, "Succeeded", h.get("checkout-v2").Status.Phase)
}

// Two objects for one target, reconciled by two workers at the same instant:
// one starts, the other waits for the target, even when the start's metric
// queries (between the runner's check and its create) take a while.
func TestReconcilerConcurrentStartsOfOneTarget(t *testing.T) {
	h := newHarness(t, controller.Options[*Release]{})
	runner, err := rollout.New(rollout.Options{
		Providers: rollout.Providers{
			Routers:   []progressive.TrafficRouter{h.env.Router},
			Metrics:   []progressive.MetricSource{slowMetrics{h.env.Metrics, 20 * time.Millisecond}},
			Workloads: []progressive.Workload{h.env.Workload},
		},
		Clock: h.clk,
	})
	require.NoError(t, err)
	r, err := controller.NewReconciler(h.client, runner, controller.Binding[*Release](releaseBinding{namespace: h.ns}), controller.Options[*Release]{})
	require.NoError(t, err)
	h.create("checkout-v2", "checkout", "v2")
	h.create("checkout-v3", "checkout", "v3")
	var wg sync.WaitGroup
	for _, name := range []string{"checkout-v2", "checkout-v3"} {
		wg.Go(func() {
			_, err := r.Reconcile(context.Background(), reconcile.Request{NamespacedName: types.NamespacedName{Namespace: h.ns, Name: name}})
			assert.NoError(t, err)
		})
	}
	wg.Wait()
	phases := []string{h.get("checkout-v2").Status.Phase, h.get("checkout-v3").Status.Phase}
	assert.ElementsMatch(t, []string{"Progressing", "Pending"}, phases)
}

// slowMetrics answers after a delay.
type slowMetrics struct {
	progressive.MetricSource
	delay time.Duration
}

func (s slowMetrics) Query(ctx context.Context, q progressive.Query) (progressive.Result, error) {
	time.Sleep(s.delay)
	return s.MetricSource.Query(ctx, q)
}
