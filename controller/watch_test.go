package controller_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/controller"
	"github.com/agentops/progressive/rollout"
)

// visible is what a person reads in a Release's status: everything but the
// values and times of the latest measurements.
func visible(r *Release) string {
	var outcomes []string
	for _, line := range strings.Split(strings.TrimSpace(r.Status.Analysis), "\n") {
		outcome, _, _ := strings.Cut(line, " ")
		outcomes = append(outcomes, outcome)
	}
	var conds []string
	for _, c := range r.Status.Conditions {
		conds = append(conds, c.Type+"="+string(c.Status)+"/"+c.Reason+"/"+c.Message)
	}
	return strings.Join([]string{r.Status.RolloutID, r.Status.Phase, r.Status.Step, r.Status.Message, r.Status.ObservedCommand,
		strings.Join(outcomes, ","), strings.Join(conds, ",")}, "|") + "|" + time.Duration(r.Status.Weight*1e6).String()
}

// runCounting drives a release to its end one reconcile at a time and
// returns the status patches, the reconciles and the distinct measurements
// seen; with check, it asserts that a reconcile patched the status exactly
// when something visible changed.
func runCounting(t *testing.T, opts controller.Options[*Release], check bool) (patches, reconciles, measurements int) {
	h := newHarnessOf(t, releaseBinding{namespace: "shop", warn: true}, opts)
	h.create("checkout-v2", "checkout", "v2")
	seen := map[string]bool{}
	before := &Release{}
	for i := 0; i < 10000; i++ {
		n := h.statusPatches.Load()
		res := h.reconcile("checkout-v2")
		reconciles++
		r := h.get("checkout-v2")
		patched := h.statusPatches.Load() > n
		if patched {
			patches++
		}
		if check {
			assert.Equal(t, visible(before) != visible(r), patched, "reconcile %d: patched %v; visible before %q, after %q", i, patched, visible(before), visible(r))
		}
		before = r
		for _, line := range strings.Split(r.Status.Analysis, "\n") {
			if line != "" {
				seen[line] = true
			}
		}
		if res.RequeueAfter == 0 {
			require.Equal(t, "Succeeded", r.Status.Phase)
			require.NotEmpty(t, seen, "the status showed measurements")
			return patches, reconciles, len(seen)
		}
		h.clk.Step(res.RequeueAfter)
	}
	t.Fatal("no end after 10000 reconciles")
	return
}

// A measurement that changes nothing a person acts on leaves the object
// alone. The latency check warns at every measurement, and each warning is
// stored with its new value (passing measurements are not even stored): the
// status is written when the weight or a check's outcome changes, not at
// each of a soak's ten measurements. EveryMeasurement writes each one.
func TestStatusWrittenWhenSomethingVisibleChanges(t *testing.T) {
	patches, reconciles, _ := runCounting(t, controller.Options[*Release]{}, true)
	every, everyReconciles, measurements := runCounting(t, controller.Options[*Release]{EveryMeasurement: true}, false)
	t.Logf("%d reconciles: %d status patches by default; with EveryMeasurement %d patches in %d reconciles (%d distinct check lines shown)", reconciles, patches, every, everyReconciles, measurements)
	assert.Less(t, patches, reconciles/2, "most reconciles of a soak write nothing")
	assert.Equal(t, everyReconciles, every, "EveryMeasurement writes each reconcile's new measurement")
}

func newQueue() workqueue.TypedRateLimitingInterface[reconcile.Request] {
	return workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[reconcile.Request]())
}

// drain returns the requests queued so far.
func drain(q workqueue.TypedRateLimitingInterface[reconcile.Request]) []reconcile.Request {
	var out []reconcile.Request
	for q.Len() > 0 {
		req, _ := q.Get()
		q.Done(req)
		q.Forget(req)
		out = append(out, req)
	}
	return out
}

// The store's watch (StateHandler) reconciles an object when its rollout's
// state holds a command stored elsewhere, or a version the Reconciler did
// not drive; the Reconciler's own writes and unknown rollouts queue nothing.
func TestStateHandlerQueuesForeignChanges(t *testing.T) {
	h := newHarness(t, controller.Options[*Release]{})
	h.create("checkout-v2", "checkout", "v2")
	ctx := context.Background()
	change := func(st rollout.State) (controller.StateChange, bool) {
		return controller.StateChange{ID: st.ID, Version: st.Version, Command: st.Command != nil}, true
	}
	hd := controller.StateHandler(h.r, change)
	q := newQueue()
	defer q.ShutDown()
	update := func(st rollout.State) []reconcile.Request {
		hd.Update(ctx, event.TypedUpdateEvent[rollout.State]{ObjectNew: st}, q)
		return drain(q)
	}
	key := types.NamespacedName{Namespace: h.ns, Name: "checkout-v2"}

	assert.Empty(t, update(rollout.State{ID: "someone-elses", Version: 9, Command: &rollout.Command{Kind: rollout.CommandAbort}}), "no object carries it")
	h.reconcile("checkout-v2")
	id := h.get("checkout-v2").Status.RolloutID
	st, err := h.runner.Get(ctx, id)
	require.NoError(t, err)
	assert.Empty(t, update(st), "the Reconciler's own write")

	// A CLI's Runner.Abort.
	require.NoError(t, h.runner.Abort(ctx, id, "from the CLI"))
	aborted, err := h.runner.Get(ctx, id)
	require.NoError(t, err)
	require.NotNil(t, aborted.Command)
	assert.Equal(t, []reconcile.Request{{NamespacedName: key}}, update(aborted))
	// A generic event (source.Channel) is handled alike.
	hd.Generic(ctx, event.TypedGenericEvent[rollout.State]{Object: aborted}, q)
	assert.Equal(t, []reconcile.Request{{NamespacedName: key}}, drain(q))

	// The reconcile carries the command out; its writes queue nothing more.
	h.reconcile("checkout-v2")
	assert.Equal(t, "Aborted", h.get("checkout-v2").Status.Phase)
	done, err := h.runner.Get(ctx, id)
	require.NoError(t, err)
	assert.Nil(t, done.Command)
	assert.Empty(t, update(done))

	// A newer version without a command (another writer) is worth a look too.
	done.Version++
	assert.Equal(t, []reconcile.Request{{NamespacedName: key}}, update(done))
	// The store's reads do not show it (their cache is behind the watch, or
	// never will: this version was not stored): the object is reconciled
	// again shortly, and not for good.
	res := h.reconcile("checkout-v2")
	assert.Equal(t, 20*time.Millisecond, res.RequeueAfter)
	for i := 0; i < 1000 && res.RequeueAfter > 0; i++ {
		res = h.reconcile("checkout-v2")
	}
	assert.Zero(t, res.RequeueAfter, "an ended rollout is not requeued once the wait is given up")
}

// A rollout that ended and whose state was pruned is not started again by
// its object (the binding is an Ender): the object keeps the status it had.
func TestPrunedRolloutStaysEnded(t *testing.T) {
	h := newHarness(t, controller.Options[*Release]{})
	h.create("checkout-v2", "checkout", "v2")
	h.until("checkout-v2", func(*Release) bool { return false })
	ended := h.get("checkout-v2")
	require.Equal(t, "Succeeded", ended.Status.Phase)

	_, err := controller.NewPruner(h.runner, controller.PrunerOptions{})
	assert.ErrorIs(t, err, progressive.ErrInvalid, "a retention of zero would keep everything")
	_, err = controller.NewPruner(h.runner, controller.PrunerOptions{Retention: rollout.Retention{MaxAge: -time.Hour}})
	assert.ErrorIs(t, err, progressive.ErrInvalid)
	p, err := controller.NewPruner(h.runner, controller.PrunerOptions{Retention: rollout.Retention{MaxAge: time.Hour}})
	require.NoError(t, err)
	assert.True(t, p.NeedLeaderElection())

	deleted, err := p.Prune(context.Background())
	require.NoError(t, err)
	assert.Empty(t, deleted, "ended less than an hour ago")
	h.clk.Step(2 * time.Hour)
	deleted, err = p.Prune(context.Background())
	require.NoError(t, err)
	assert.Equal(t, []string{ended.Status.RolloutID}, deleted)

	assert.Zero(t, h.reconcile("checkout-v2").RequeueAfter)
	_, err = h.runner.Get(context.Background(), ended.Status.RolloutID)
	assert.ErrorIs(t, err, progressive.ErrNotFound, "not started again")
	after := h.get("checkout-v2")
	assert.Equal(t, ended.ResourceVersion, after.ResourceVersion, "the object is left as it was")
	assert.Equal(t, "Succeeded", after.Status.Phase)
}
